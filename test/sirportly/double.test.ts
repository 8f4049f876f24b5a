// The double is what every Sirportly-facing test trusts, so its own contract is pinned here,
// spoken to with plain fetch rather than through the client under test.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSirportlyDouble, type SirportlyDouble } from '../support/sirportly-double.js';
import { waitFor } from '../support/wait.js';

let double: SirportlyDouble;

beforeEach(async () => {
  double = await startSirportlyDouble({ tickets: [{ reference: 'AB-123456', subject: 'Invoice' }] });
});
afterEach(async () => {
  await double.close();
});

function call(
  path: string,
  form: Record<string, string> = {},
  auth = true,
  d: SirportlyDouble = double,
): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth) Object.assign(headers, { 'x-auth-token': d.token, 'x-auth-secret': d.secret });
  return fetch(`${d.url}/api/v2/${path.includes('/') ? path : `tickets/${path}`}`, {
    method: 'POST',
    headers,
    body: new URLSearchParams(form).toString(),
  });
}

async function json(res: Response): Promise<unknown> {
  return res.json();
}

describe('sirportly double', () => {
  it('rejects missing credentials with 403 and counts the request anyway', async () => {
    const res = await call('ticket', { ticket: 'AB-123456' }, false);
    expect(res.status).toBe(403);
    expect(await json(res)).toEqual({ error: 'Authentication failed' });
    expect(double.state.requests['/api/v2/tickets/ticket']).toBe(1);
  });

  it('reads a ticket by ticket= or reference=, in the body or the query string', async () => {
    expect((await call('ticket', { reference: 'AB-123456' })).status).toBe(200);
    const viaQuery = await fetch(`${double.url}/api/v2/tickets/ticket?ticket=AB-123456`, {
      headers: { 'x-auth-token': double.token, 'x-auth-secret': double.secret },
    });
    expect(await json(viaQuery)).toMatchObject({ reference: 'AB-123456', subject: 'Invoice', updates: [] });
    expect(double.state.log.at(-1)?.query).toBe('?ticket=AB-123456');
    expect((await call('ticket', { ticket: 'GJ-060309' })).status).toBe(404);
  });

  it('posts as System without author fields and defaults subject and posted_at', async () => {
    const res = await call('post_update', { ticket: 'AB-123456', message: 'hello' });
    expect(res.status).toBe(201);
    const body = (await json(res)) as Record<string, unknown>;
    expect(body).toMatchObject({ subject: 'Invoice', author: null, from_address: null, attachments: [] });
    expect(String(body.posted_at)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
  });

  it('rejects an unknown attachment token with 422 on attachments', async () => {
    const res = await call('post_update', { ticket: 'AB-123456', message: 'x', attachments: 'nope' });
    expect(res.status).toBe(422);
    expect(await json(res)).toEqual({ errors: { attachments: ['Attachment token nope is not valid'] } });
  });

  it('applies faults only to the targeted endpoint, and failRate uses the given random source', async () => {
    double.faults.only = ['post_update'];
    double.faults.failRate = 0.5;
    double.faults.random = () => 0.4;
    expect((await call('ticket', { ticket: 'AB-123456' })).status).toBe(200);
    expect((await call('post_update', { ticket: 'AB-123456', message: 'x' })).status).toBe(500);
    double.faults.random = () => 0.6;
    expect((await call('post_update', { ticket: 'AB-123456', message: 'x' })).status).toBe(201);
    double.resetFaults();
    expect(double.faults.failRate).toBe(0);
  });

  it('fails exactly the next N calls, then recovers', async () => {
    double.faults.failNext = 2;
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call('ticket', { ticket: 'AB-123456' })).status);
    expect(statuses).toEqual([500, 500, 200]);
  });

  it('sends Retry-After as given with 429', async () => {
    double.faults.status429Next = 1;
    double.faults.retryAfter = 'Wed, 01 May 2030 12:00:30 GMT';
    const res = await call('ticket', { ticket: 'AB-123456' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('Wed, 01 May 2030 12:00:30 GMT');
    await res.body?.cancel();
  });

  it('delays answers by delayMs', async () => {
    double.faults.delayMs = 120;
    const started = Date.now();
    await (await call('ticket', { ticket: 'AB-123456' })).body?.cancel();
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  // An answer held for its full hangMs would outlast this test's bound.
  it('close() ends a hanging answer promptly', { timeout: 10_000 }, async () => {
    double.faults.commitThenHangNext = 1;
    double.faults.hangMs = 30_000;
    const pending = call('post_update', { ticket: 'AB-123456', message: 'x' }).then(
      (r) => r.status,
      () => 'closed',
    );
    await waitFor('the update to be recorded', () => double.state.updates('AB-123456').length > 0);
    await double.close();
    expect(await pending).toBe('closed');
  });
});

const SUBMIT = {
  subject: 'New printer',
  status: 'New',
  priority: 'Normal',
  team: 'First Line',
  contact_method_type: 'email',
  contact_method_data: 'grace@example.net',
  contact_name: 'Grace Hopper',
};

type TicketBody = {
  id: number;
  reference: string;
  subject: string;
  submitted_at: string;
  contact: { id: number; name: string };
  updates: Array<{ id: number; message: string; subject: string }>;
};

async function submit(form: Record<string, string> = {}): Promise<TicketBody> {
  const res = await call('submit', { ...SUBMIT, ...form });
  expect(res.status).toBe(201);
  return (await json(res)) as TicketBody;
}

function spql(query: string): Promise<Response> {
  return call('spql', { spql: query });
}

async function rows(query: string): Promise<unknown> {
  const res = await spql(query);
  expect(res.status).toBe(200);
  return ((await json(res)) as { results: unknown }).results;
}

describe('sirportly double: tickets/submit', () => {
  it('answers 201 with the ticket JSON and gives unique NT- references', async () => {
    const before = Date.now();
    const res = await call('submit', {
      ...SUBMIT,
      brand: 'Acme',
      department: 'Support',
      sla: 'Gold',
      tag_list: 'a, b,a  c',
    });
    expect(res.status).toBe(201);
    const body = (await json(res)) as Record<string, unknown>;
    expect(body).toMatchObject({
      reference: 'NT-100001',
      subject: 'New printer',
      status: { name: 'New' },
      priority: { name: 'Normal' },
      team: { name: 'First Line' },
      department: { name: 'Support' },
      brand: { name: 'Acme' },
      sla: { name: 'Gold' },
      tags: ['a', 'b', 'c'],
      contact: { name: 'Grace Hopper' },
      customer_contact_method: { method_type: 'email', data: 'grace@example.net' },
      updates: [],
    });
    expect(body.id).toBeTypeOf('number');
    // submitted_at defaults to now, in Sirportly's whole-second +00:00 form.
    expect(String(body.submitted_at)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
    expect(Date.parse(String(body.submitted_at))).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);

    double.state.addTicket('NT-100002');
    const refs = [(await submit()).reference, (await submit()).reference];
    expect(refs).toEqual(['NT-100003', 'NT-100004']);
    for (const r of refs) expect(r).toMatch(/^[A-Z]{2}-\d{6}$/);
    expect(double.state.submissions().map((s) => s.reference)).toEqual(['NT-100001', 'NT-100003', 'NT-100004']);
    expect(double.state.submissions()[0]).toMatchObject({
      tags: ['a', 'b', 'c'],
      fields: { tag_list: 'a, b,a  c', sla: 'Gold' },
    });
  });

  it('keeps submitted_at as given', async () => {
    const body = await submit({ submitted_at: '2024-05-01T12:34:56Z' });
    expect(body.submitted_at).toBe('2024-05-01T12:34:56+00:00');
    expect((await call('submit', { ...SUBMIT, submitted_at: 'yesterday-ish' })).status).toBe(422);
  });

  it('reuses a contact found by email ignoring case, ignoring contact_name; else creates one', async () => {
    const known = double.state.addContact('Ada@Example.org', 'Ada Lovelace');
    const a = await submit({ contact_method_data: 'ada@EXAMPLE.org', contact_name: 'Somebody Else' });
    expect(a.contact).toEqual({ id: known, name: 'Ada Lovelace' });

    const b = await submit();
    const c = await submit({ contact_method_data: 'GRACE@example.net', contact_name: 'G. H.' });
    expect(b.contact.name).toBe('Grace Hopper');
    expect(c.contact).toEqual(b.contact);
    expect(b.contact.id).not.toBe(known);
    expect(double.state.contacts()).toEqual([
      { id: known, name: 'Ada Lovelace', email: 'Ada@Example.org' },
      { id: b.contact.id, name: 'Grace Hopper', email: 'grace@example.net' },
    ]);
    expect(double.state.submissions().map((s) => s.contactId)).toEqual([known, b.contact.id, b.contact.id]);

    // post_update authors and submit contacts are the same contacts.
    await call('post_update', {
      ticket: 'AB-123456',
      message: 'hi',
      author_email: 'grace@EXAMPLE.net',
      author_name: 'x',
    });
    expect(double.state.updates('AB-123456')[0]?.json.author).toMatchObject({ id: b.contact.id });
  });

  it('accepts contact=<id> instead of a contact method; an unknown id is 404', async () => {
    const id = double.state.addContact('linus@example.com', 'Linus');
    const { contact_method_type: _t, contact_method_data: _d, contact_name: _n, ...noMethod } = SUBMIT;
    const res = await call('submit', { ...noMethod, contact: String(id) });
    expect(res.status).toBe(201);
    expect(await json(res)).toMatchObject({ contact: { id, name: 'Linus' } });
    const missing = await call('submit', { ...noMethod, contact: '999999' });
    expect(missing.status).toBe(404);
    expect(await json(missing)).toEqual({ error: 'Contact not found' });
  });

  it('422 names every blank required field and creates nothing', async () => {
    const one = await call('submit', { ...SUBMIT, priority: '  ' });
    expect(one.status).toBe(422);
    expect(await json(one)).toEqual({ errors: { priority: ["can't be blank"] } });

    const none = await call('submit', {});
    expect(none.status).toBe(422);
    expect(await json(none)).toEqual({
      errors: {
        subject: ["can't be blank"],
        status: ["can't be blank"],
        priority: ["can't be blank"],
        team: ["can't be blank"],
        contact_method_type: ["can't be blank"],
        contact_method_data: ["can't be blank"],
        contact_name: ["can't be blank"],
      },
    });
    expect(double.state.submissions()).toEqual([]);
    expect(double.state.tickets().map((t) => t.reference)).toEqual(['AB-123456']);
  });

  it('checks credentials like every endpoint', async () => {
    const res = await call('submit', SUBMIT, false);
    expect(res.status).toBe(403);
    expect(double.state.submissions()).toEqual([]);
  });

  it('a submitted ticket takes post_update, and tickets/ticket returns it with that update', async () => {
    const { reference } = await submit();
    const posted = await call('post_update', { ticket: reference, message: 'The first words' });
    expect(posted.status).toBe(201);
    const res = await call('ticket', { ticket: reference });
    expect(res.status).toBe(200);
    const body = (await json(res)) as TicketBody;
    expect(body.reference).toBe(reference);
    expect(body.updates.map((u) => [u.message, u.subject])).toEqual([['The first words', 'New printer']]);
    expect(double.state.tickets().find((t) => t.reference === reference)).toMatchObject({
      submitted: true,
      status: 'New',
      team: 'First Line',
      updates: [{ ticket: reference, fields: { message: 'The first words' } }],
    });
  });
});

describe('sirportly double: tickets/spql', () => {
  const q = (tag: string, rest = '') => `SELECT tickets.reference FROM tickets WHERE ticket_tags.tag = "${tag}"${rest}`;

  it('returns the tagged tickets newest submitted first and honours LIMIT', async () => {
    double.state.addTicket('GJ-060309', 'seeded', { tags: ['mg:t'], submittedAt: '2024-05-02T00:00:00Z' });
    const oldest = await submit({ tag_list: 'mg:t', submitted_at: '2024-05-01T00:00:00Z' });
    const newest = await submit({ tag_list: 'x,mg:t', submitted_at: '2024-05-03T00:00:00Z' });
    await submit({ tag_list: 'mg:t2 mg:tt', submitted_at: '2024-05-04T00:00:00Z' });

    expect(await rows(q('mg:t'))).toEqual([[newest.reference], ['GJ-060309'], [oldest.reference]]);
    expect(await rows(q('mg:t', ' ORDER BY tickets.submitted_at DESC'))).toEqual([
      [newest.reference],
      ['GJ-060309'],
      [oldest.reference],
    ]);
    expect(await rows(q('mg:t', ' ORDER BY tickets.submitted_at DESC LIMIT 2'))).toEqual([
      [newest.reference],
      ['GJ-060309'],
    ]);
    expect(await rows(q('mg:t', ' LIMIT 1'))).toEqual([[newest.reference]]);
    expect(await rows(q('mg:t', ' LIMIT 0'))).toEqual([]);
    expect(await rows(q('mg:nothing', ' LIMIT 1'))).toEqual([]);
  });

  it('accepts single quotes, extra whitespace and any keyword case; the tag keeps its case', async () => {
    const { reference } = await submit({ tag_list: 'MG:Case' });
    const res = await spql(
      "  select  tickets.reference\n from tickets where ticket_tags.tag='MG:Case'  order by tickets.submitted_at desc limit 5 ",
    );
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ fields: ['tickets.reference'], results: [[reference]] });
    // The Centreon plugin's spacing: no blanks around '='.
    expect(await rows('SELECT tickets.reference FROM tickets WHERE ticket_tags.tag="MG:Case" LIMIT 1')).toEqual([
      [reference],
    ]);
    expect(await rows(q('mg:case'))).toEqual([]);
  });

  it('answers any other query with 422', async () => {
    for (const query of [
      '',
      'SELECT tickets.reference,statuses.name FROM tickets WHERE ticket_tags.tag="x"',
      'SELECT tickets.reference FROM tickets WHERE contacts.id = 4',
      `${q('x')} OR 1=1`,
      q('x', ' ORDER BY tickets.submitted_at ASC'),
      q('x', ' LIMIT -1'),
    ]) {
      const res = await spql(query);
      expect(res.status, query).toBe(422);
      expect(await json(res)).toEqual({ errors: { base: ['SPQL: unsupported query'] } });
    }
  });
});

describe('sirportly double: faults on submit and spql', () => {
  it('failNext and status429Next hit only the named endpoints and create nothing', async () => {
    double.faults.only = ['submit'];
    double.faults.failNext = 1;
    expect((await call('submit', SUBMIT)).status).toBe(500);
    expect(double.state.submissions()).toEqual([]);
    expect((await call('post_update', { ticket: 'AB-123456', message: 'x' })).status).toBe(201);
    expect((await call('submit', SUBMIT)).status).toBe(201);

    double.faults.only = ['spql'];
    double.faults.status429Next = 1;
    expect((await call('submit', SUBMIT)).status).toBe(201);
    const limited = await spql('SELECT tickets.reference FROM tickets WHERE ticket_tags.tag = "x"');
    expect(limited.status).toBe(429);
    await limited.body?.cancel();
    expect(double.state.submissions()).toHaveLength(2);
  });

  it('failRate and delayMs apply to submit', async () => {
    double.faults.only = ['/api/v2/tickets/submit'];
    double.faults.failRate = 1;
    double.faults.random = () => 0;
    expect((await call('submit', SUBMIT)).status).toBe(500);
    double.resetFaults();
    double.faults.only = ['submit'];
    double.faults.delayMs = 120;
    const started = Date.now();
    expect((await call('submit', SUBMIT)).status).toBe(201);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it('commitThenHang on submit creates the ticket, then never answers', async () => {
    double.faults.only = ['submit'];
    double.faults.commitThenHangNext = 1;
    double.faults.hangMs = 150;
    const outcome = await call('submit', { ...SUBMIT, tag_list: 'mg:hang' }).then(
      (r) => r.status,
      () => 'no answer',
    );
    expect(outcome).toBe('no answer');
    const [submission] = double.state.submissions();
    expect(submission?.tags).toEqual(['mg:hang']);
    expect(await rows('SELECT tickets.reference FROM tickets WHERE ticket_tags.tag = "mg:hang" LIMIT 1')).toEqual([
      [submission?.reference],
    ]);
  });
});

describe('sirportly double: documented rules', () => {
  it('a department given by name without its brand is 404 {"error"}; an id or a name with its brand is taken', async () => {
    const byName = await call('submit', { ...SUBMIT, department: 'Support' });
    expect(byName.status).toBe(404);
    expect(await json(byName)).toMatchObject({ error: expect.stringMatching(/needs its brand/) });
    expect((await call('submit', { ...SUBMIT, department: '12' })).status).toBe(201);
    expect((await call('submit', { ...SUBMIT, department: 'Support', brand: 'Acme' })).status).toBe(201);
  });

  it('with objects: unknown names are 404 {"error"}, a team off the escalation path is 422 {"errors"}; objects/* lists them', async () => {
    const d = await startSirportlyDouble({ objects: OBJECTS });
    try {
      const ok = { ...SUBMIT, brand: 'acme', department: 'Support', team: 'First Line' };
      expect((await call('submit', ok, true, d)).status).toBe(201);
      for (const [field, value] of [
        ['brand', 'Nope'],
        ['department', 'Sales'],
        ['status', 'Gone'],
        ['priority', 'Urgent'],
        ['team', 'Nobody'],
      ]) {
        const res = await call('submit', { ...ok, [field!]: value! }, true, d);
        expect(res.status).toBe(404);
        expect(await json(res)).toEqual({ error: expect.stringContaining(value!) });
      }
      const offPath = await call('submit', { ...ok, team: 'Billing' }, true, d);
      expect(offPath.status).toBe(422);
      expect(await json(offPath)).toEqual({ errors: { team: [expect.stringMatching(/escalation path/)] } });
      const departments = await call('objects/departments', { brand: 'Acme' }, true, d);
      expect(await json(departments)).toEqual([
        {
          id: 21,
          name: 'Support',
          brand: { id: 1, name: 'Acme', url: null, phone: null },
          escalation_path: { id: 41, name: 'Front' },
          private: false,
        },
      ]);
      expect(await json(await call('objects/escalation_paths', {}, true, d))).toEqual([
        { id: 41, name: 'Front', teams: [{ id: 31, name: 'First Line' }] },
      ]);
      expect(await json(await call('objects/statuses', {}, true, d))).toEqual([{ id: 51, name: 'New' }]);
    } finally {
      await d.close();
    }
  });

  it('account.deny answers those methods 403 and serves the rest; account.revoked refuses everything', async () => {
    double.account.deny = ['spql'];
    const refused = await call('spql', { spql: 'SELECT tickets.reference FROM tickets WHERE ticket_tags.tag = "x"' });
    expect(refused.status).toBe(403);
    expect(await json(refused)).toEqual({ error: expect.stringMatching(/tickets\/spql/) });
    expect((await call('ticket', { ticket: 'AB-123456' })).status).toBe(200);
    double.account.revoked = true;
    expect((await call('ticket', { ticket: 'AB-123456' })).status).toBe(403);
  });
});

const OBJECTS = {
  brands: [
    { id: 1, name: 'Acme' },
    { id: 2, name: 'Other' },
  ],
  departments: [
    { id: 21, name: 'Support', brand: 'Acme', escalation_path: 'Front' },
    { id: 22, name: 'Support', brand: 'Other', escalation_path: null },
  ],
  statuses: [{ id: 51, name: 'New' }],
  priorities: [{ id: 61, name: 'Normal' }],
  teams: [
    { id: 31, name: 'First Line' },
    { id: 32, name: 'Billing' },
  ],
  escalation_paths: [{ id: 41, name: 'Front', teams: ['First Line'] }],
};

describe('sirportly double: the unfavourable reading', () => {
  it('stores posted_at as wall time in the account zone, drops from_*, normalises the message, nulls what is not needed', async () => {
    double.account.reading = 'unfavourable';
    double.account.offsetMinutes = 60;
    const posted = await call('post_update', {
      ticket: 'AB-123456',
      subject: 'Re: Invoice',
      message: '  Thanks\r\nAda\r\n',
      author_email: 'ada@example.org',
      author_name: 'Ada',
      posted_at: '2024-05-01T12:34:56Z',
    });
    expect(posted.status).toBe(201);
    const update = (await json(posted)) as Record<string, unknown>;
    expect(update).toMatchObject({
      posted_at: '2024-05-01T11:34:56+00:00',
      message: 'Thanks\nAda',
      from_address: null,
      from_name: null,
      subject: null,
      author: { type: null, id: null },
    });
    const ticket = (await json(await call('ticket', { ticket: 'AB-123456' }))) as {
      id: unknown;
      subject: unknown;
      updates: unknown[];
    };
    expect(ticket).toMatchObject({ id: null, subject: null });
    expect(ticket.updates).toEqual([update]);
  });
});
