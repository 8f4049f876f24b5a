// The door's verdict on routes that open tickets: mail without a reference gets "create" on a
// create route, keeps reject/drop on the others, and machine mail never opens a ticket.
import { describe, expect, it } from 'vitest';
import { parseHeaders } from '../../../src/mail/headers.js';
import { idempotencyKey } from '../../../src/mail/door/idempotency.js';
import type { Envelope } from '../../../src/mail/types.js';
import { doorVerdict, noMatchVerdict, verdictFromHeaders } from '../../../src/mail/door/verdict.js';
import {
  CREATE_ROUTES,
  envelope,
  fixture,
  fixtureFiles,
  mail,
  POLICY_ALL_POST,
  testConfig,
  TICKET,
} from '../helpers.js';

const config = testConfig({ routes: CREATE_ROUTES });
const lenient = testConfig({ routes: CREATE_ROUTES, policy: POLICY_ALL_POST });

const to = (rcpt: string, over: Partial<Envelope> = {}): Envelope => envelope({ rcptTo: [rcpt], ...over });
const plain = (...extra: string[]) =>
  mail(
    'From: Ann Smith <ann@example.net>',
    'Message-ID: <q1@example.net>',
    'Subject: Printer on fire',
    ...extra,
    '',
    'Help!',
  );
const QUEUED = { code: 250, enhanced: '2.0.0', text: 'Queued' };
const ACCEPTED = { code: 250, enhanced: '2.0.0', text: 'Accepted' };
const NEVER = '; machine mail never opens a ticket';

describe('create verdict', () => {
  it('opens a ticket for mail without a reference on a create route', () => {
    const raw = plain();
    const v = doorVerdict(raw, to('sales@example.com'), config);
    expect(v).toEqual({
      verdict: 'create',
      reason: 'no_reference',
      ticket: null,
      messageId: 'q1@example.net',
      subject: 'Printer on fire',
      idempotencyKey: idempotencyKey('q1@example.net', raw, null),
      route: 'sales',
      smtpReply: QUEUED,
    });
    // The same mail to the default route opens a ticket too, recorded under that route.
    expect(doorVerdict(raw, to('anyone@elsewhere.example'), config)).toMatchObject({
      verdict: 'create',
      route: 'rest',
      ticket: null,
    });
  });

  it('keys mail without a Message-ID by its bytes', () => {
    const raw = mail('From: ann@example.net', 'Subject: no id', '', 'x');
    const v = doorVerdict(raw, to('sales@example.com'), config);
    expect(v.verdict).toBe('create');
    expect(v.messageId).toBeNull();
    expect(v.idempotencyKey).toBe(idempotencyKey(null, raw, null));
    expect(v.idempotencyKey).not.toBe(idempotencyKey(null, Buffer.concat([raw, Buffer.from('!')]), null));
  });

  it('posts mail with a reference on the same route', () => {
    const raw = plain().toString().replace('Printer on fire', 'Re: [ab-123456] Printer on fire');
    const v = doorVerdict(Buffer.from(raw), to('sales@example.com'), config);
    expect(v).toMatchObject({
      verdict: 'post',
      reason: 'reference:subject',
      ticket: 'AB-123456',
      route: 'sales',
      smtpReply: QUEUED,
    });
    expect(v.idempotencyKey).toBe(idempotencyKey('q1@example.net', Buffer.from(raw), 'AB-123456'));
    // A plus-tag reference keeps the route of the address it is on.
    expect(doorVerdict(plain(), to('Sales+GJ-060309@Example.com'), config)).toMatchObject({
      verdict: 'post',
      reason: 'reference:plus_tag',
      ticket: 'GJ-060309',
      route: 'sales',
    });
  });

  it("keeps each route's own no-reference policy", () => {
    expect(doorVerdict(plain(), to('legal@example.com'), config)).toMatchObject({
      verdict: 'drop',
      reason: 'no_reference',
      route: 'legal',
      ticket: null,
      smtpReply: ACCEPTED,
    });
    const press = doorVerdict(plain(), to('press@example.com'), config);
    expect(press).toMatchObject({ verdict: 'reject', reason: 'no_reference', route: 'press' });
    expect(press.smtpReply).toEqual({ code: 550, enhanced: '5.7.1', text: config.policy.noReferenceText });
    // With a reference every route posts.
    for (const rcpt of ['legal@example.com', 'press@example.com']) {
      expect(doorVerdict(plain(), to(rcpt.replace('@', '+AB-123456@')), config)).toMatchObject({
        verdict: 'post',
        ticket: 'AB-123456',
      });
    }
  });

  it('takes policy.noReference for a route that sets none', () => {
    const c = testConfig({
      policy: { noReference: 'drop' },
      routes: [
        { name: 'sales', match: ['sales@example.com'], noReference: 'create', ticket: TICKET },
        { name: 'other' },
      ],
    });
    expect(doorVerdict(plain(), to('x@elsewhere.example'), c)).toMatchObject({
      verdict: 'drop',
      reason: 'no_reference',
      route: 'other',
    });
    expect(doorVerdict(plain(), to('sales@example.com'), c)).toMatchObject({ verdict: 'create', route: 'sales' });
  });
});

describe('machine mail never opens a ticket', () => {
  // Each class of machine mail, with the detail it is recognised by.
  const cases: Array<[string, string[], Partial<Envelope>, string]> = [
    ['auto_submitted', ['Auto-Submitted: auto-replied'], {}, 'Auto-Submitted: auto-replied'],
    ['precedence', ['Precedence: bulk'], {}, 'Precedence: bulk'],
    [
      'delivery_report',
      ['Content-Type: multipart/report; report-type=delivery-status; boundary=b'],
      {},
      'multipart/report; report-type=delivery-status',
    ],
    ['auto_reply_header', ['X-Autoreply: yes'], {}, 'x-autoreply: yes'],
    ['null_sender', [], { source: 'smtp', mailFrom: '' }, 'MAIL FROM:<>'],
    ['mailer_daemon', ['From: MAILER-DAEMON@mx.example.net'], {}, 'From: MAILER-DAEMON@mx.example.net'],
  ];
  const machine = (headers: string[], subject = 'Out of office') =>
    mail(
      ...(headers.some((h) => h.startsWith('From:')) ? [] : ['From: ann@example.net']),
      ...headers,
      'Message-ID: <m1@example.net>',
      `Subject: ${subject}`,
      '',
      'x',
    );

  it.each(cases)(
    '%s without a reference is dropped on a create route even under policy post',
    (reason, headers, env, detail) => {
      const raw = machine(headers);
      const v = doorVerdict(raw, to('sales@example.com', env), lenient);
      // Its reason stays no_reference (the door's thread lookup may still find its ticket); the
      // detail says what made it machine mail.
      expect(v).toEqual({
        verdict: 'drop',
        reason: 'no_reference',
        detail: `${detail}${NEVER}`,
        ticket: null,
        messageId: 'm1@example.net',
        subject: 'Out of office',
        idempotencyKey: idempotencyKey('m1@example.net', raw, null),
        route: 'sales',
        smtpReply: ACCEPTED,
      });
      // Under the default policy it is dropped as machine mail before anything else.
      expect(doorVerdict(raw, to('sales@example.com', env), config)).toMatchObject({ verdict: 'drop', reason, detail });
    },
  );

  it.each(cases)('%s with a reference is still posted under policy post', (_reason, headers, env) => {
    const v = doorVerdict(machine(headers, 'Re: [AB-123456] Out of office'), to('sales@example.com', env), lenient);
    expect(v).toMatchObject({
      verdict: 'post',
      reason: 'reference:subject',
      ticket: 'AB-123456',
      route: 'sales',
      smtpReply: QUEUED,
    });
    expect(v.detail).toBeUndefined();
  });

  it('a class under policy post on a reject route is rejected like any mail without a reference', () => {
    const v = doorVerdict(machine(['Auto-Submitted: auto-replied']), to('press@example.com'), lenient);
    expect(v).toMatchObject({ verdict: 'reject', reason: 'no_reference', route: 'press' });
  });

  // The machine mail of test/fixtures/mail/machine, and the two there that show no machine header.
  const human = ['machine/out-of-office-no-header.eml', 'machine/person.eml'];
  const machineFiles = fixtureFiles('machine').filter((f) => !human.includes(f));

  it('has test mail of every class', () => {
    const classes = machineFiles.map(
      (f) => doorVerdict(fixture(f), to('support+AB-123456@example.com'), testConfig()).reason,
    );
    expect(new Set(classes)).toEqual(
      new Set(['delivery_report', 'auto_submitted', 'auto_reply_header', 'precedence', 'mailer_daemon']),
    );
  });

  it('drops every bounce and auto-reply on a create route with every class under policy post', () => {
    for (const file of machineFiles) {
      const v = doorVerdict(fixture(file), to('sales@example.com'), lenient);
      expect({ verdict: v.verdict, reason: v.reason, ticket: v.ticket }, file).toEqual({
        verdict: 'drop',
        reason: 'no_reference',
        ticket: null,
      });
      expect(v.detail, file).toMatch(/; machine mail never opens a ticket$/);
      expect(v.smtpReply, file).toEqual(ACCEPTED);
    }
  });

  it('posts the same mail when it carries a reference', () => {
    for (const file of machineFiles) {
      const v = doorVerdict(fixture(file), to('sales+AB-123456@example.com'), lenient);
      expect({ verdict: v.verdict, reason: v.reason, route: v.route }, file).toEqual({
        verdict: 'post',
        reason: 'reference:plus_tag',
        route: 'sales',
      });
    }
  });

  it('opens tickets for the mail that shows no machine header', () => {
    for (const file of human) {
      const v = doorVerdict(fixture(file), to('sales@example.com'), config);
      expect({ verdict: v.verdict, reason: v.reason }, file).toEqual({ verdict: 'create', reason: 'no_reference' });
    }
  });

  it('a vacation reply and a DSN, by name', () => {
    const away = doorVerdict(fixture('machine/vacation.eml'), to('sales@example.com'), lenient);
    expect(away).toMatchObject({ verdict: 'drop', reason: 'no_reference' });
    expect(away.detail).toMatch(/^Auto-Submitted: auto-replied; machine mail never opens a ticket$/);
    const dsn = doorVerdict(fixture('machine/dsn.eml'), to('sales@example.com'), lenient);
    expect(dsn).toMatchObject({ verdict: 'drop', reason: 'no_reference' });
    expect(dsn.detail).toMatch(/^multipart\/report.*; machine mail never opens a ticket$/);
  });
});

describe('noMatchVerdict', () => {
  const raw = plain();
  const base = (route: string) => {
    const {
      verdict: _v,
      reason: _r,
      smtpReply: _s,
      ...rest
    } = verdictFromHeaders(parseHeaders(raw), raw, to(`${route}@example.com`), config);
    return { ...rest, ticket: 'AB-123456', route };
  };

  it('rejects an unknown sender on a create route: only mail without any reference opens a ticket', () => {
    const v = noMatchVerdict(base('sales'), 'unknown_sender', config);
    expect(v).toMatchObject({ verdict: 'reject', reason: 'unknown_sender', ticket: 'AB-123456', route: 'sales' });
    expect(v.smtpReply).toEqual({ code: 550, enhanced: '5.7.1', text: config.policy.noReferenceText });
  });

  it('gives create for no_reference on a create route, with no ticket', () => {
    expect(noMatchVerdict(base('sales'), 'no_reference', config)).toMatchObject({
      verdict: 'create',
      reason: 'no_reference',
      ticket: null,
      smtpReply: QUEUED,
    });
  });

  it("follows the route's drop, and policy.noReference for a route no longer configured", () => {
    expect(noMatchVerdict(base('legal'), 'unknown_sender', config)).toMatchObject({
      verdict: 'drop',
      reason: 'unknown_sender',
      smtpReply: ACCEPTED,
    });
    const dropping = testConfig({ policy: { noReference: 'drop' } });
    expect(noMatchVerdict(base('gone'), 'unknown_sender', dropping)).toMatchObject({ verdict: 'drop', route: 'gone' });
    expect(noMatchVerdict(base('gone'), 'unknown_sender', testConfig())).toMatchObject({
      verdict: 'reject',
      smtpReply: { code: 550 },
    });
  });
});
