// The tickets/submit fields of mail that opens a ticket: who and what from the draft, where from
// the route, and the marker tag that lets a retry find the ticket again.
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { draft } from '../../../src/mail/draft/draft.js';
import { markerTag, NO_SUBJECT, newTicketFields } from '../../../src/mail/draft/new-ticket.js';
import { routeFor, type Route } from '../../../src/mail/door/route.js';
import type { Envelope } from '../../../src/mail/types.js';
import { doorVerdict } from '../../../src/mail/door/verdict.js';
import { isSearchableTag } from '../../../src/sirportly/client.js';
import { envelope, mail, testConfig } from '../helpers.js';

const TICKET = { brand: 'Help', department: 'Support', status: 'New', priority: 'Normal', team: 'Helpdesk' };
const config = testConfig({
  routes: [
    {
      name: 'sales',
      match: ['sales@example.com'],
      noReference: 'create',
      ticket: { ...TICKET, department: 'Sales', brand: 'Example', sla: 'Gold', tag_list: 'email, sales' },
    },
    // A department id needs no brand.
    {
      name: 'plain',
      match: ['plain@example.com'],
      noReference: 'create',
      ticket: { department: '12', status: 'New', priority: 'Normal', team: 'Helpdesk' },
    },
    { name: 'rest', noReference: 'reject' },
  ],
});
const sales = routeFor(config, ['sales@example.com']);
const plainRoute = routeFor(config, ['plain@example.com']);

const env = (over: Partial<Envelope> = {}): Envelope => envelope({ rcptTo: ['sales@example.com'], ...over });
const message = (...headers: string[]) =>
  mail(
    ...headers,
    'Message-ID: <nt1@example.net>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'The printer is on fire.',
  );

async function drafted(raw: Buffer, e: Envelope = env()) {
  return draft(raw, e, config, '');
}

describe('newTicketFields', () => {
  it('takes subject, contact and date from the draft and the ticket fields from the route', async () => {
    const raw = message(
      'From: "Jörg Müller" <Joerg@Example.COM>',
      'Subject: =?UTF-8?Q?Drucker_brennt?=',
      'Date: Wed, 1 May 2024 13:34:56 +0200',
    );
    const v = doorVerdict(raw, env(), config);
    expect(v).toMatchObject({ verdict: 'create', route: 'sales' });
    const d = await drafted(raw);
    const tag = markerTag(v.idempotencyKey);
    expect(newTicketFields(d, sales, tag)).toEqual({
      subject: 'Drucker brennt',
      brand: 'Example',
      department: 'Sales',
      status: 'New',
      priority: 'Normal',
      team: 'Helpdesk',
      sla: 'Gold',
      tag_list: `email, sales, ${tag}`,
      contact_method_type: 'email',
      contact_method_data: 'Joerg@Example.COM',
      contact_name: 'Jörg Müller',
      submitted_at: '2024-05-01T11:34:56Z',
    });
    expect(d.update.posted_at).toBe('2024-05-01T11:34:56Z');
  });

  it('leaves out what the route and the mail do not give', async () => {
    const d = await drafted(
      message('From: ann@example.net', 'Subject: Hello', 'Date: Thu, 02 May 2024 08:00:00 -0500'),
    );
    const f = newTicketFields(d, plainRoute, null);
    expect(f).toEqual({
      subject: 'Hello',
      department: '12',
      status: 'New',
      priority: 'Normal',
      team: 'Helpdesk',
      contact_method_type: 'email',
      contact_method_data: 'ann@example.net',
      // tickets/submit requires a contact name: a From without one gives the address.
      contact_name: 'ann@example.net',
      submitted_at: '2024-05-02T13:00:00Z',
    });
    expect(Object.keys(f)).not.toContain('tag_list');
    expect(Object.keys(f)).not.toContain('brand');
  });

  it('joins route tags and the marker tag with ", ", either alone when the other is missing', async () => {
    const d = await drafted(message('From: ann@example.net', 'Subject: Hello'));
    expect(newTicketFields(d, plainRoute, 'mailgate-0123456789abcdef').tag_list).toBe('mailgate-0123456789abcdef');
    expect(newTicketFields(d, sales, null).tag_list).toBe('email, sales');
    expect(newTicketFields(d, sales, 'mailgate-0123456789abcdef').tag_list).toBe(
      'email, sales, mailgate-0123456789abcdef',
    );
  });

  it('uses the archive date when the mail has no Date:', async () => {
    const d = await drafted(
      message('From: ann@example.net', 'Subject: Hello'),
      env({ receivedAt: '2023-11-05T06:07:08.000Z' }),
    );
    const f = newTicketFields(d, sales, null);
    expect(f.submitted_at).toBe('2023-11-05T06:07:08Z');
    expect(f.submitted_at).toBe(d.update.posted_at);
  });

  it('gives mail without a subject "(no subject)"', async () => {
    expect(NO_SUBJECT).toBe('(no subject)');
    for (const subject of [['Subject: '], ['Subject:    '], []]) {
      const d = await drafted(message('From: ann@example.net', ...subject));
      expect(newTicketFields(d, sales, null).subject, JSON.stringify(subject)).toBe('(no subject)');
    }
    // A subject of its own is kept as written, not trimmed to "(no subject)".
    const d = await drafted(message('From: ann@example.net', 'Subject: ?'));
    expect(newTicketFields(d, sales, null).subject).toBe('?');
  });

  it('takes the envelope sender when From: has no usable address, keeping its display name', async () => {
    const d = await drafted(message('From: Ann Smith <>', 'Subject: Hello'), env({ mailFrom: 'ann@example.net' }));
    const f = newTicketFields(d, sales, null);
    expect(f.contact_method_data).toBe('ann@example.net');
    expect(f.contact_name).toBe('Ann Smith');
  });

  it('is a bad_input error when the mail names no sender at all', async () => {
    const d = await drafted(message('Subject: Hello'), env({ mailFrom: '' }));
    expect(d.update.author_email).toBeUndefined();
    let err: unknown;
    try {
      newTicketFields(d, sales, 'mailgate-0123456789abcdef');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({
      kind: 'bad_input',
      message: 'no sender address (From: or envelope sender) to open a ticket for',
    });
    expect((err as GatewayError).retryable).toBe(false);
  });

  it('is a config error when the route lacks status, priority or team', async () => {
    const d = await drafted(message('From: ann@example.net', 'Subject: Hello'));
    const rest = routeFor(config, ['nobody@elsewhere.example']);
    expect(rest.name).toBe('rest');
    expect(() => newTicketFields(d, rest, null)).toThrow(GatewayError);
    for (const missing of ['status', 'priority', 'team'] as const) {
      const ticket: Record<string, string> = { ...TICKET };
      delete ticket[missing];
      const route: Route = { ...plainRoute, name: `no-${missing}`, ticket };
      let err: unknown;
      try {
        newTicketFields(d, route, null);
      } catch (e) {
        err = e;
      }
      expect(err, missing).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).kind).toBe('config');
      expect((err as GatewayError).message).toMatch(
        new RegExp(`^route "no-${missing}" has no ticket fields for new tickets`),
      );
    }
  });
});

describe('markerTag', () => {
  it('is "mailgate-" and the first 16 hex characters of the key, searchable by the client', () => {
    const raw = message('From: ann@example.net', 'Subject: Hello');
    const key = doorVerdict(raw, env(), config).idempotencyKey;
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    const tag = markerTag(key);
    expect(tag).toBe(`mailgate-${key.slice(0, 16)}`);
    expect(tag).toMatch(/^mailgate-[0-9a-f]{16}$/);
    expect(isSearchableTag(tag)).toBe(true);
    expect(markerTag('0123456789abcdef0123456789abcdef')).toBe('mailgate-0123456789abcdef');
    // Another message, another tag.
    const other = Buffer.from(raw.toString().replace('<nt1@', '<nt2@'));
    expect(markerTag(doorVerdict(other, env(), config).idempotencyKey)).not.toBe(tag);
  });
});
