import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import type { UpdateFields } from '../../src/mail/types.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { instrumentSirportly } from '../../src/ops/instrumented-sirportly.js';
import {
  SirportlyClient,
  type SirportlyApi,
  type SirportlyClientOptions,
  type SubmitTicketFields,
} from '../../src/sirportly/client.js';
import { findPostedUpdate } from '../../src/sirportly/find-update.js';
import { startSirportlyDouble, type SirportlyDouble } from '../support/sirportly-double.js';

const REF = 'GJ-060309';
const POST_UPDATE = '/api/v2/tickets/post_update';

let double: SirportlyDouble;
const clients: SirportlyClient[] = [];
const servers: Server[] = [];

function client(overrides: Partial<SirportlyClientOptions> = {}): SirportlyClient {
  const c = new SirportlyClient({
    url: double.url,
    token: double.token,
    secret: double.secret,
    requestTimeoutMs: 2000,
    connections: 4,
    ...overrides,
  });
  clients.push(c);
  return c;
}

function fields(overrides: Partial<UpdateFields> = {}): UpdateFields {
  return {
    ticket: REF,
    subject: 'Re: Printer on fire',
    message: 'It is still burning.\r\nPlease advise.',
    author_name: 'Ada Lovelace',
    author_email: 'Ada@Example.org',
    posted_at: '2024-05-01T12:34:56Z',
    ...overrides,
  };
}

/** The GatewayError a call rejects with; fails the test when it resolves or throws anything else. */
async function failure(p: Promise<unknown>): Promise<GatewayError> {
  const err = await p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GatewayError);
  const ge = err as GatewayError;
  // No failure may ever carry the credentials into a log line.
  expect(ge.message).not.toContain(double.token);
  expect(ge.message).not.toContain(double.secret);
  return ge;
}

/** A bare HTTP server for answers the double does not model (non-JSON 2xx, trickling bodies). */
async function rawServer(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const srv = createServer(handler);
  servers.push(srv);
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
}

function ticketFields(overrides: Partial<SubmitTicketFields> = {}): SubmitTicketFields {
  return {
    subject: 'Printer on fire again',
    status: 'New',
    priority: 'Normal',
    team: 'First Line',
    brand: 'Acme',
    department: 'Support',
    tag_list: 'mailgate,mg:3f9a0c',
    contact_method_type: 'email',
    contact_method_data: 'Ada@Example.org',
    contact_name: 'Ada Lovelace',
    submitted_at: '2024-05-01T12:34:56Z',
    ...overrides,
  };
}

/** A bare server that answers every request with `body` and keeps each request's form fields. */
async function recordingServer(status: number, body: string): Promise<{ url: string; forms: URLSearchParams[] }> {
  const forms: URLSearchParams[] = [];
  const url = await rawServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      forms.push(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  return { url, forms };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeEach(async () => {
  double = await startSirportlyDouble();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await double.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

describe('postUpdate', () => {
  it('posts the fields form-encoded in the body and returns the update', async () => {
    const update = await client().postUpdate(fields({ html_body: '<p>It is still burning.</p>', html_safe: '1' }));

    expect(update.id).toBeTypeOf('number');
    expect(update.posted_at).toBe('2024-05-01T12:34:56+00:00');
    expect(update.from_address).toBe('Ada@Example.org');
    expect(update.author).toMatchObject({ type: 'Customer' });

    const [recorded] = double.state.updates(REF);
    expect(recorded?.fields).toEqual({
      ticket: REF,
      subject: 'Re: Printer on fire',
      message: 'It is still burning.\r\nPlease advise.',
      html_body: '<p>It is still burning.</p>',
      html_safe: '1',
      author_name: 'Ada Lovelace',
      author_email: 'Ada@Example.org',
      posted_at: '2024-05-01T12:34:56Z',
    });
    const entry = double.state.log.find((e) => e.path === POST_UPDATE);
    expect(entry?.query).toBe('');
    expect(entry?.contentType).toMatch(/^application\/x-www-form-urlencoded/);
  });

  it('omits undefined fields and never forwards parse_ticket_variables or outgoing', async () => {
    const sneaky = { ...fields({ author_name: undefined }), parse_ticket_variables: '1', outgoing: 'x@y.z' };
    await client().postUpdate(sneaky);
    const names = double.state.log.find((e) => e.path === POST_UPDATE)?.fieldNames;
    expect(names).toEqual(['ticket', 'subject', 'message', 'author_email', 'posted_at']);
  });

  it('leaves a blank subject out rather than sending subject= (Sirportly then uses the ticket subject)', async () => {
    await client().postUpdate(fields({ subject: '  ' }));
    const names = double.state.log.find((e) => e.path === POST_UPDATE)?.fieldNames;
    expect(names).not.toContain('subject');
    expect(double.state.updates(REF)[0]?.json.subject).toBe('Printer on fire');
  });
});

describe('attachments', () => {
  it('uploads files, links their tokens and the bytes arrive unchanged', async () => {
    const c = client();
    const pdf = randomBytes(200_000);
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0xff]),
      randomBytes(999),
    ]);
    const a = await c.addAttachment({ filename: 'résumé "final".pdf', contentType: 'application/pdf', content: pdf });
    const b = await c.addAttachment({ filename: 'logo.png', contentType: 'image/png', content: png });
    expect(a.token).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(a.expiresAt ?? '')).toBeGreaterThan(Date.now());

    const update = await c.postUpdate({ ...fields(), attachments: [a.token, b.token] });

    expect(double.state.updates(REF)[0]?.fields.attachments).toBe(`${a.token},${b.token}`);
    const stored = double.state.updates(REF)[0]?.attachments ?? [];
    expect(stored.map((f) => [f.filename, f.contentType, f.sha256])).toEqual([
      ['résumé "final".pdf', 'application/pdf', sha256(pdf)],
      ['logo.png', 'image/png', sha256(png)],
    ]);
    expect(update.attachments?.map((x) => [x.name, x.file_size])).toEqual([
      ['résumé "final".pdf', pdf.length],
      ['logo.png', png.length],
    ]);
  });

  it('a token works once: reusing it is a validation error and posts nothing', async () => {
    const c = client();
    const { token } = await c.addAttachment({
      filename: 'a.txt',
      contentType: 'text/plain',
      content: Buffer.from('hi'),
    });
    await c.postUpdate({ ...fields(), attachments: [token] });

    const err = await failure(c.postUpdate({ ...fields({ message: 'again' }), attachments: [token] }));
    expect(err.kind).toBe('validation');
    expect(err.status).toBe(422);
    expect(err.message).toContain('attachments: ');
    expect(err.message).toContain('already been used');
    expect(double.state.updates(REF)).toHaveLength(1);
  });

  it('an expired token is a validation error', async () => {
    // A double on a clock the test moves.
    let clock = Date.now();
    await double.close();
    double = await startSirportlyDouble({ now: () => clock });
    double.state.tokenTtlMs = 20;
    const c = client();
    const { token } = await c.addAttachment({
      filename: 'a.txt',
      contentType: 'text/plain',
      content: Buffer.from('hi'),
    });
    clock += 40;

    const err = await failure(c.postUpdate({ ...fields(), attachments: [token] }));
    expect(err.kind).toBe('validation');
    expect(err.message).toContain('expired');
    expect(double.state.updates(REF)).toHaveLength(0);
  });
});

describe('getTicket', () => {
  it('returns the ticket with its updates, which findPostedUpdate recognises', async () => {
    const c = client();
    await c.postUpdate(fields({ message: 'first', posted_at: '2024-05-01T12:00:00Z' }));
    const mine = await c.postUpdate(fields());

    const ticket = await c.getTicket(REF);
    expect(ticket.reference).toBe(REF);
    expect(ticket.updates.map((u) => u.id)).toHaveLength(2);
    expect(findPostedUpdate(ticket, fields())?.id).toBe(mine.id);
    expect(findPostedUpdate(ticket, fields({ message: 'never sent' }))).toBeNull();

    const entry = double.state.log.find((e) => e.path === '/api/v2/tickets/ticket');
    expect(entry?.fieldNames).toEqual(['ticket']);
  });
});

describe('submitTicket', () => {
  it('posts the allowlisted fields form-encoded and returns the new reference and id', async () => {
    // `message` and `user` are not SubmitTicketFields: they must not reach submit even if a caller slips them in.
    const sneaky = { ...ticketFields(), message: 'body goes in post_update', user: 'admin' } as SubmitTicketFields;
    const created = await client().submitTicket(sneaky);

    expect(created.reference).toMatch(/^[A-Z]{2}-\d{6}$/);
    const [submission] = double.state.submissions();
    expect(submission?.reference).toBe(created.reference);
    expect(created.id).toBe(double.state.tickets().find((t) => t.reference === created.reference)?.id);
    expect(created.id).toBeTypeOf('number');
    expect(submission?.fields).toEqual({
      subject: 'Printer on fire again',
      status: 'New',
      priority: 'Normal',
      team: 'First Line',
      brand: 'Acme',
      department: 'Support',
      tag_list: 'mailgate,mg:3f9a0c',
      contact_method_type: 'email',
      contact_method_data: 'Ada@Example.org',
      contact_name: 'Ada Lovelace',
      submitted_at: '2024-05-01T12:34:56Z',
    });
    expect(submission?.tags).toEqual(['mailgate', 'mg:3f9a0c']);
    const entry = double.state.log.find((e) => e.path === '/api/v2/tickets/submit');
    expect(entry?.query).toBe('');
    expect(entry?.contentType).toMatch(/^application\/x-www-form-urlencoded/);
    expect(entry?.fieldNames).not.toContain('message');
  });

  it('omits optional fields that are undefined', async () => {
    await client().submitTicket(
      ticketFields({ brand: undefined, department: undefined, tag_list: undefined, submitted_at: undefined }),
    );
    const names = double.state.log.find((e) => e.path === '/api/v2/tickets/submit')?.fieldNames;
    expect(names).toEqual([
      'subject',
      'status',
      'priority',
      'team',
      'contact_method_type',
      'contact_method_data',
      'contact_name',
    ]);
  });

  it('the ticket it creates takes post_update and reads back with that update', async () => {
    const c = client();
    const { reference } = await c.submitTicket(ticketFields());
    const update = await c.postUpdate(fields({ ticket: reference }));
    const ticket = await c.getTicket(reference);
    expect(ticket.reference).toBe(reference);
    expect(ticket.subject).toBe('Printer on fire again');
    expect(ticket.updates.map((u) => u.id)).toEqual([update.id]);
    expect(findPostedUpdate(ticket, fields({ ticket: reference }))?.id).toBe(update.id);
  });

  it('422 for a blank required field is a non-retryable validation error naming the field', async () => {
    const err = await failure(client().submitTicket(ticketFields({ team: '' })));
    expect(err.kind).toBe('validation');
    expect(err.status).toBe(422);
    expect(err.ambiguous).toBe(false);
    expect(err.retryable).toBe(false);
    expect(err.message).toBe("Sirportly tickets/submit: 422 team: can't be blank");
    expect(double.state.submissions()).toEqual([]);
  });

  it('a 201 without a reference is server and ambiguous (the ticket may exist)', async () => {
    const { url } = await recordingServer(201, '{"id":12,"subject":"x"}');
    const err = await failure(client({ url }).submitTicket(ticketFields()));
    expect(err.kind).toBe('server');
    expect(err.ambiguous).toBe(true);
    expect(err.message).toContain('reference');
  });

  it('commit-then-hang is an ambiguous timeout, and the ticket it created is found by its tag', async () => {
    double.faults.only = ['submit'];
    double.faults.commitThenHangNext = 1;
    double.faults.hangMs = 10_000;
    const c = client({ requestTimeoutMs: 300 });

    const err = await failure(c.submitTicket(ticketFields({ tag_list: 'mg:lost-answer' })));
    expect(err.kind).toBe('timeout');
    expect(err.ambiguous).toBe(true);

    const [submission] = double.state.submissions();
    expect(submission?.reference).toMatch(/^[A-Z]{2}-\d{6}$/);
    expect(await c.findTicketByTag('mg:lost-answer')).toBe(submission?.reference);
  });
});

describe('findTicketByTag', () => {
  it('finds the ticket submitted with the tag in its tag_list and null for an unknown tag', async () => {
    const c = client();
    await c.submitTicket(ticketFields({ tag_list: 'other' }));
    const { reference } = await c.submitTicket(ticketFields({ tag_list: 'mailgate, mg:77aa01 x' }));
    expect(await c.findTicketByTag('mg:77aa01')).toBe(reference);
    expect(await c.findTicketByTag('mg:77aa0')).toBeNull();
    expect(await c.findTicketByTag('mg:000000')).toBeNull();
    expect(double.state.log.filter((e) => e.path === '/api/v2/tickets/spql').map((e) => e.fieldNames)).toEqual([
      ['spql'],
      ['spql'],
      ['spql'],
    ]);
  });

  it('returns the newest ticket when several carry the tag', async () => {
    const c = client();
    const older = await c.submitTicket(ticketFields({ tag_list: 'mg:dup', submitted_at: '2024-05-01T10:00:00Z' }));
    const newer = await c.submitTicket(ticketFields({ tag_list: 'mg:dup', submitted_at: '2024-05-02T10:00:00Z' }));
    await c.submitTicket(ticketFields({ tag_list: 'mg:dup', submitted_at: '2024-04-30T10:00:00Z' }));
    expect(older.reference).not.toBe(newer.reference);
    expect(await c.findTicketByTag('mg:dup')).toBe(newer.reference);
  });

  it('sends exactly the documented query in the body', async () => {
    const { url, forms } = await recordingServer(200, '{"fields":["tickets.reference"],"results":[["GJ-060309"]]}');
    expect(await client({ url }).findTicketByTag('mg:a.b_c-1')).toBe('GJ-060309');
    expect(forms.map((f) => [...f.keys()])).toEqual([['spql']]);
    expect(forms[0]?.get('spql')).toBe(
      'SELECT tickets.reference FROM tickets WHERE ticket_tags.tag = "mg:a.b_c-1" ORDER BY tickets.submitted_at DESC LIMIT 1',
    );
  });

  it('an answer of the wrong shape is server and ambiguous; an empty result is null', async () => {
    const bad = await recordingServer(200, '{"fields":["tickets.reference"],"results":[[42]]}');
    const err = await failure(client({ url: bad.url }).findTicketByTag('mg:x'));
    expect(err.kind).toBe('server');
    expect(err.ambiguous).toBe(true);
    expect(err.message).toContain('results');

    const none = await recordingServer(200, '{"fields":["tickets.reference"],"results":[]}');
    expect(await client({ url: none.url }).findTicketByTag('mg:x')).toBeNull();
  });

  it.each([['mg:"x" OR 1=1'], ['a b'], [''], ['x'.repeat(101)], ["it's"], ['tag\n'], ['ümlaut']])(
    'refuses the tag %j with a plain Error before any request',
    async (tag) => {
      const err = await client()
        .findTicketByTag(tag)
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(GatewayError);
      expect((err as Error).message).toMatch(/^findTicketByTag: unsafe tag/);
      expect(double.state.log).toEqual([]);
    },
  );

  it('accepts a tag of exactly 100 allowed characters', async () => {
    expect(await client().findTicketByTag('a'.repeat(100))).toBeNull();
    expect(double.state.requests['/api/v2/tickets/spql']).toBe(1);
  });
});

describe('instrumentSirportly', () => {
  it('labels submit and spql calls, and does not count a refused tag', async () => {
    const metrics = createMetrics({ defaults: false });
    const api: SirportlyApi = instrumentSirportly(client(), metrics);
    await api.submitTicket(ticketFields({ tag_list: 'mg:m1' }));
    await failure(api.submitTicket(ticketFields({ subject: '' })));
    expect(await api.findTicketByTag('mg:m1')).toMatch(/^NT-\d{6}$/);
    await expect(api.findTicketByTag('no spaces')).rejects.toThrow('unsafe tag');

    const text = await metrics.registry.metrics();
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line ? Number(line.slice(series.length + 1)) : undefined;
    };
    expect(value('mailgate_sirportly_requests_total{method="submit",status="2xx"}')).toBe(1);
    expect(value('mailgate_sirportly_requests_total{method="submit",status="422"}')).toBe(1);
    expect(value('mailgate_sirportly_requests_total{method="spql",status="2xx"}')).toBe(1);
    expect(value('mailgate_sirportly_request_seconds_count{method="spql"}')).toBe(1);
    expect(text).not.toContain('status="error"');
  });
});

describe('error classification over the wire', () => {
  it('403 for a wrong secret is auth, and the secret is not in the message', async () => {
    const err = await failure(client({ secret: 'wrong-secret-xyz' }).getTicket(REF));
    expect(err.kind).toBe('auth');
    expect(err.status).toBe(403);
    expect(err.ambiguous).toBe(false);
    expect(err.message).toContain('Authentication failed');
    expect(err.message).not.toContain('wrong-secret-xyz');
  });

  it('404 for an unknown ticket is not_found with the server text', async () => {
    const c = client();
    const posted = await failure(c.postUpdate(fields({ ticket: 'ZZ-999999' })));
    expect(posted.kind).toBe('not_found');
    expect(posted.message).toContain('Ticket not found');
    const read = await failure(c.getTicket('ZZ-999999'));
    expect(read.kind).toBe('not_found');
  });

  it('422 for an empty message carries the base message', async () => {
    const err = await failure(client().postUpdate(fields({ message: '  \r\n ' })));
    expect(err.kind).toBe('validation');
    expect(err.status).toBe(422);
    expect(err.ambiguous).toBe(false);
    expect(err.message).toContain('base: You must enter a message');
    expect(err.retryable).toBe(false);
  });

  it('429 is rate_limited with Retry-After in ms, and the next call succeeds', async () => {
    double.faults.status429Next = 1;
    double.faults.retryAfter = 7;
    const c = client();
    const err = await failure(c.postUpdate(fields()));
    expect(err.kind).toBe('rate_limited');
    expect(err.retryAfterMs).toBe(7000);
    expect(err.ambiguous).toBe(false);
    await expect(c.postUpdate(fields())).resolves.toMatchObject({ message: fields().message });
  });

  it('500 is server and ambiguous', async () => {
    double.faults.failNext = 1;
    const err = await failure(client().postUpdate(fields()));
    expect(err.kind).toBe('server');
    expect(err.status).toBe(500);
    expect(err.ambiguous).toBe(true);
    expect(err.retryable).toBe(true);
    expect(double.state.updates(REF)).toHaveLength(0);
  });

  it('commit-then-hang is a timeout, ambiguous, bounded by requestTimeoutMs, and the update exists', async () => {
    double.faults.only = ['post_update'];
    double.faults.commitThenHangNext = 1;
    double.faults.hangMs = 10_000;
    const c = client({ requestTimeoutMs: 300 });

    // Unbounded, the call would end only when the double drops the connection, 10 s on: no timeout.
    const err = await failure(c.postUpdate(fields()));
    expect(err.kind).toBe('timeout');
    expect(err.ambiguous).toBe(true);

    // The worker's recovery path: the post did land, and reading back finds it.
    expect(double.state.updates(REF)).toHaveLength(1);
    expect(double.state.requests[POST_UPDATE]).toBe(1);
    const found = findPostedUpdate(await c.getTicket(REF), fields());
    expect(found?.id).toBe(double.state.updates(REF)[0]?.id);
  });

  it('a body that keeps trickling is cut off by the overall deadline', async () => {
    // Each chunk arrives well inside bodyTimeout, so only the per-call deadline can stop this.
    const url = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"reference":"GJ-060309","updates":[');
      const timer = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(timer));
    });
    // The body never ends: only the deadline can end this call.
    const err = await failure(client({ url, requestTimeoutMs: 300 }).getTicket(REF));
    expect(err.kind).toBe('timeout');
  });

  it('a 2xx that is not JSON is server and ambiguous', async () => {
    const url = await rawServer((_req, res) => {
      res.writeHead(201, { 'content-type': 'text/html' });
      res.end('<html>maintenance</html>');
    });
    const err = await failure(client({ url }).postUpdate(fields()));
    expect(err.kind).toBe('server');
    expect(err.ambiguous).toBe(true);
    expect(err.message).toContain('not JSON');
  });

  it('a 2xx JSON of the wrong shape is server (a ticket without updates must not look empty)', async () => {
    const url = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"reference":"GJ-060309","subject":"x"}');
    });
    const err = await failure(client({ url }).getTicket(REF));
    expect(err.kind).toBe('server');
    expect(err.message).toContain('updates');
  });

  it('connection refused is network and not ambiguous', async () => {
    const url = double.url;
    await double.close();
    const err = await failure(client({ url }).postUpdate(fields()));
    expect(err.kind).toBe('network');
    expect(err.ambiguous).toBe(false);
    expect(err.message).toContain('ECONNREFUSED');
  });
});

describe('connection cap', () => {
  it('never opens more sockets than `connections`', async () => {
    double.faults.delayMs = 40;
    const c = client({ connections: 2 });
    await Promise.all(Array.from({ length: 8 }, () => c.getTicket(REF)));
    expect(double.state.requests['/api/v2/tickets/ticket']).toBe(8);
    expect(double.state.peakConnections).toBeLessThanOrEqual(2);
    expect(double.state.peakConnections).toBeGreaterThan(0);
  });
});
