// One ticket per thread when an archive is replayed: the first message of a thread without a
// reference opens the ticket, later ones join it; a reference anywhere in the thread wins.
import { describe, expect, it } from 'vitest';
import { parseHeaders } from '../../src/mail/headers.js';
import { idempotencyKey, keyOf, messageIdentity } from '../../src/mail/door/idempotency.js';
import type { DoorVerdict } from '../../src/mail/types.js';
import { verdictFromHeaders } from '../../src/mail/door/verdict.js';
import { ArchiveThreads, normaliseSubject, threadFacts, type ThreadClaim } from '../../src/replay/conversations.js';
import { envelope, mail, testConfig } from '../mail/helpers.js';

const TICKET = { brand: 'Help', department: 'Support', status: 'New', priority: 'Normal', team: 'Helpdesk' };
const config = testConfig({
  policy: { noReference: 'create' },
  routes: [
    { name: 'press', match: ['press@example.com'], noReference: 'reject' },
    { name: 'all', ticket: TICKET },
  ],
});

interface Msg {
  from?: string;
  to?: string;
  cc?: string;
  subject: string;
  id?: string;
  inReplyTo?: string;
  references?: string;
  extra?: string[];
  rcpt?: string;
}

function build(m: Msg): Buffer {
  return mail(
    `From: ${m.from ?? 'Ann <ann@example.net>'}`,
    `To: ${m.to ?? 'Support <support@example.com>'}`,
    ...(m.cc ? [`Cc: ${m.cc}`] : []),
    `Subject: ${m.subject}`,
    ...(m.id ? [`Message-ID: <${m.id}>`] : []),
    ...(m.inReplyTo ? [`In-Reply-To: <${m.inReplyTo}>`] : []),
    ...(m.references ? [`References: ${m.references}`] : []),
    ...(m.extra ?? []),
    '',
    'body',
  );
}

/** The door's verdict on a built message and what the archive makes of it. */
function claim(threads: ArchiveThreads, m: Msg): { raw: Buffer; v: DoorVerdict; c: ThreadClaim } {
  const raw = build(m);
  const headers = parseHeaders(raw);
  const v = verdictFromHeaders(headers, raw, envelope({ rcptTo: [m.rcpt ?? 'support@example.com'] }), config);
  return { raw, v, c: threads.claim(v, threadFacts(headers, raw)) };
}

describe('normaliseSubject', () => {
  it('strips reply and forward prefixes in many languages, spaces and case', () => {
    expect(normaliseSubject('Re: AW:  Printer  on fire ')).toBe('printer on fire');
    expect(normaliseSubject('RE[2]: Fwd: FW: re: Printer on fire')).toBe('printer on fire');
    expect(normaliseSubject('SV: VS: Antw: WG: TR: Printer on fire')).toBe('printer on fire');
    expect(normaliseSubject('Re(3): Printer on fire')).toBe('printer on fire');
    expect(normaliseSubject('Regarding: the printer')).toBe('regarding: the printer');
    expect(normaliseSubject('Re:')).toBe('');
    expect(normaliseSubject('')).toBe('');
  });
});

describe('threadFacts', () => {
  it('collects the Message-ID, In-Reply-To then References newest first, the identity and a subject key', () => {
    const raw = build({
      subject: 'Re: x',
      id: 'me@example.net',
      inReplyTo: 'parent@example.net',
      references: '<root@example.net> <parent@example.net> <mid@example.net>',
    });
    const f = threadFacts(parseHeaders(raw), raw);
    expect(f.messageId).toBe('me@example.net');
    expect(f.refs).toEqual(['parent@example.net', 'mid@example.net', 'root@example.net']);
    expect(f.identity).toBe(messageIdentity('me@example.net', raw));
    expect(f.identity).toBe('mid:me@example.net');
    expect(f.subjectKey).toMatch(/^\S{16}$/);
  });

  it('gives the same subject key to a reply between the same people, another to other people, none to no subject', () => {
    const facts = (m: Msg) => {
      const raw = build(m);
      return threadFacts(parseHeaders(raw), raw);
    };
    const first = facts({ subject: 'Printer on fire' });
    expect(
      facts({ subject: 'Re: AW: Fwd: printer ON fire', from: 'support@example.com', to: 'Ann <ANN@example.net>' })
        .subjectKey,
    ).toBe(first.subjectKey);
    expect(facts({ subject: 'Printer on fire', from: 'bob@example.org' }).subjectKey).not.toBe(first.subjectKey);
    expect(facts({ subject: 'Printer on fire', cc: 'carol@example.org' }).subjectKey).not.toBe(first.subjectKey);
    expect(facts({ subject: '' }).subjectKey).toBeNull();
    expect(facts({ subject: 'Re: ' }).subjectKey).toBeNull();
    const noId = build({ subject: 'x' });
    expect(threadFacts(parseHeaders(noId), noId)).toMatchObject({
      messageId: null,
      identity: messageIdentity(null, noId),
    });
    expect(messageIdentity(null, noId)).toMatch(/^raw:[0-9a-f]{64}$/);
  });
});

describe('ArchiveThreads.claim', () => {
  it('lets the first message of a thread open the ticket and joins the replies to it', () => {
    const threads = new ArchiveThreads();
    const root = claim(threads, { subject: 'Printer on fire', id: 'a1@example.net' });
    expect(root.v).toMatchObject({ verdict: 'create', reason: 'no_reference', ticket: null, route: 'all' });
    expect(root.c).toEqual({ verdict: root.v });
    expect(root.c.verdict.parentKey).toBeUndefined();

    // A reply by In-Reply-To, with a subject of its own.
    const reply = claim(threads, {
      subject: 'Something else entirely',
      id: 'b1@example.net',
      inReplyTo: 'a1@example.net',
      from: 'bob@example.org',
    });
    expect(reply.c.verdict).toEqual({
      ...reply.v,
      verdict: 'create',
      reason: 'thread_in_archive',
      parentKey: root.v.idempotencyKey,
    });
    expect(reply.c.sameTicketAs).toBe('a1@example.net');
    // It keeps its own key: it is still its own message.
    expect(reply.c.verdict.idempotencyKey).toBe(idempotencyKey('b1@example.net', reply.raw, null));

    // Found only by References (the newest one it names is the reply, which joined the root).
    const deeper = claim(threads, {
      subject: 'Unrelated words',
      id: 'c1@example.net',
      references: '<unknown@elsewhere.example> <b1@example.net>',
      from: 'carol@example.org',
    });
    expect(deeper.c.verdict).toMatchObject({
      verdict: 'create',
      reason: 'thread_in_archive',
      parentKey: root.v.idempotencyKey,
    });
    expect(deeper.c.sameTicketAs).toBe('a1@example.net');
  });

  it('finds a reply by References alone', () => {
    const threads = new ArchiveThreads();
    const root = claim(threads, { subject: 'Root', id: 'r1@example.net' });
    const c = claim(threads, {
      subject: 'Other',
      id: 'r2@example.net',
      references: '<r1@example.net>',
      from: 'zed@example.org',
    }).c;
    expect(c.verdict).toMatchObject({
      verdict: 'create',
      reason: 'thread_in_archive',
      parentKey: root.v.idempotencyKey,
    });
    expect(c.sameTicketAs).toBe('r1@example.net');
  });

  it('joins two replies to a message that is not in the archive', () => {
    const threads = new ArchiveThreads();
    // The helpdesk's own answer (sent from Sirportly) is missing; both customer replies point at it.
    const first = claim(threads, {
      subject: 'Re: Printer',
      id: 'x1@example.net',
      inReplyTo: 'from-helpdesk@example.com',
    });
    const second = claim(threads, {
      subject: 'Still broken',
      id: 'x2@example.net',
      references: '<from-helpdesk@example.com>',
      from: 'bob@example.org',
    });
    expect(first.c.verdict).toMatchObject({ verdict: 'create', reason: 'no_reference' });
    expect(second.c.verdict).toMatchObject({
      verdict: 'create',
      reason: 'thread_in_archive',
      parentKey: first.v.idempotencyKey,
    });
  });

  it('matches a subject with the reference or a list tag to one without', () => {
    const threads = new ArchiveThreads();
    claim(threads, { subject: '[AB-123456] Invoice question', id: 'i1@example.net' });
    const reply = claim(threads, {
      subject: 'Re: [support-list] Invoice question',
      id: 'i2@example.net',
      from: 'Support <support@example.com>',
      to: 'ann@example.net',
    });
    expect(reply.c.verdict).toMatchObject({ verdict: 'post', reason: 'reference:archive_thread', ticket: 'AB-123456' });
    expect(normaliseSubject('Re: [AB-123456]  Invoice  question')).toBe('invoice question');
  });

  it('joins by the same subject after stripping "Re: AW: Fwd:" between the same people', () => {
    const threads = new ArchiveThreads();
    const root = claim(threads, { subject: 'Printer on fire', id: 's1@example.net' });
    const answer = claim(threads, {
      subject: 'Re: AW: Fwd: Printer on fire',
      id: 's2@example.net',
      from: 'Support <support@example.com>',
      to: 'ann@example.net',
    });
    expect(answer.c.verdict).toMatchObject({
      verdict: 'create',
      reason: 'thread_in_archive',
      parentKey: root.v.idempotencyKey,
    });
    expect(answer.c.sameTicketAs).toBe('s1@example.net');
  });

  it('opens another ticket for the same subject between other people', () => {
    const threads = new ArchiveThreads();
    const ann = claim(threads, { subject: 'Printer on fire', id: 'p1@example.net' });
    const bob = claim(threads, { subject: 'Re: Printer on fire', id: 'p2@example.net', from: 'bob@example.org' });
    expect(bob.c).toEqual({ verdict: bob.v });
    expect(bob.c.verdict).toMatchObject({ verdict: 'create', reason: 'no_reference' });
    // Each has its own thread from now on.
    const bobAgain = claim(threads, {
      subject: 'Printer on fire',
      id: 'p3@example.net',
      from: 'support@example.com',
      to: 'bob@example.org',
    });
    expect(bobAgain.c.verdict.parentKey).toBe(bob.v.idempotencyKey);
    const annAgain = claim(threads, { subject: 'RE: printer on fire', id: 'p4@example.net' });
    expect(annAgain.c.verdict.parentKey).toBe(ann.v.idempotencyKey);
  });

  it('never matches an empty subject', () => {
    const threads = new ArchiveThreads();
    const first = claim(threads, { subject: '', id: 'e1@example.net' });
    const second = claim(threads, { subject: '', id: 'e2@example.net' });
    const third = claim(threads, { subject: 'Re:', id: 'e3@example.net' });
    for (const m of [first, second, third]) {
      expect(m.c).toEqual({ verdict: m.v });
      expect(m.c.verdict).toMatchObject({ verdict: 'create', reason: 'no_reference' });
    }
  });

  it('leaves a message claimed twice (a duplicate in the archive) as the root it is', () => {
    const threads = new ArchiveThreads();
    const once = claim(threads, { subject: 'Dup', id: 'd1@example.net' });
    const twice = claim(threads, { subject: 'Dup', id: 'd1@example.net' });
    expect(twice.v.idempotencyKey).toBe(once.v.idempotencyKey);
    expect(twice.c).toEqual({ verdict: twice.v });
  });

  it('lets a message with a reference teach its thread the ticket', () => {
    const threads = new ArchiveThreads();
    const known = claim(threads, { subject: '[AB-123456] Invoice', id: 'k1@example.net' });
    expect(known.v).toMatchObject({ verdict: 'post', reason: 'reference:subject', ticket: 'AB-123456' });
    expect(known.c).toEqual({ verdict: known.v });

    const later = claim(threads, {
      subject: 'Re: the invoice',
      id: 'k2@example.net',
      inReplyTo: 'k1@example.net',
      from: 'bob@example.org',
    });
    expect(later.v.verdict).toBe('create');
    const key = keyOf(messageIdentity('k2@example.net', later.raw), 'AB-123456');
    expect(key).toBe(idempotencyKey('k2@example.net', later.raw, 'AB-123456'));
    expect(later.c.verdict).toEqual({
      verdict: 'post',
      reason: 'reference:archive_thread',
      ticket: 'AB-123456',
      messageId: 'k2@example.net',
      subject: 'Re: the invoice',
      idempotencyKey: key,
      route: 'all',
      smtpReply: { code: 250, enhanced: '2.0.0', text: 'Queued' },
    });
    expect(later.c.sameTicketAs).toBe('AB-123456');

    // By subject too (the reference of this thread came as a plus-tag, so the subject is plain),
    // and for a message without a Message-ID (keyed by its bytes).
    const tagged = claim(threads, { subject: 'Invoice', id: 'k3@example.net', rcpt: 'support+AB-123456@example.com' });
    expect(tagged.c.verdict).toMatchObject({ verdict: 'post', reason: 'reference:plus_tag', ticket: 'AB-123456' });
    const bySubject = claim(threads, { subject: 'Re: Invoice', from: 'support@example.com', to: 'ann@example.net' });
    expect(bySubject.c.verdict).toMatchObject({
      verdict: 'post',
      reason: 'reference:archive_thread',
      ticket: 'AB-123456',
      messageId: null,
    });
    expect(bySubject.c.verdict.idempotencyKey).toBe(idempotencyKey(null, bySubject.raw, 'AB-123456'));
  });

  it('a reference later in a thread opened by the archive sends the rest of the thread to that ticket', () => {
    const threads = new ArchiveThreads();
    const root = claim(threads, { subject: 'Need help', id: 't1@example.net' });
    expect(root.c.verdict.verdict).toBe('create');
    const withRef = claim(threads, {
      subject: 'Re: [GJ-060309] Need help',
      id: 't2@example.net',
      inReplyTo: 't1@example.net',
      from: 'support@example.com',
      to: 'ann@example.net',
    });
    expect(withRef.c).toEqual({ verdict: withRef.v });
    const after = claim(threads, { subject: 'Re: Need help', id: 't3@example.net', inReplyTo: 't2@example.net' });
    expect(after.c.verdict).toMatchObject({
      verdict: 'post',
      reason: 'reference:archive_thread',
      ticket: 'GJ-060309',
      idempotencyKey: idempotencyKey('t3@example.net', after.raw, 'GJ-060309'),
    });
    expect(after.c.verdict.parentKey).toBeUndefined();
  });

  it('keeps the first ticket a thread learned', () => {
    const threads = new ArchiveThreads();
    claim(threads, { subject: '[AB-123456] x', id: 'f1@example.net' });
    claim(threads, { subject: 'Re: [GJ-060309] x', id: 'f2@example.net', inReplyTo: 'f1@example.net' });
    const after = claim(threads, { subject: 'Re: x', id: 'f3@example.net', inReplyTo: 'f2@example.net' });
    expect(after.c.verdict.ticket).toBe('AB-123456');
  });

  it('passes drop and reject verdicts through untouched, and they root no thread', () => {
    const threads = new ArchiveThreads();
    const root = claim(threads, { subject: 'Printer on fire', id: 'a1@example.net' });
    const auto = claim(threads, {
      subject: 'Out of office',
      id: 'o1@example.net',
      inReplyTo: 'a1@example.net',
      extra: ['Auto-Submitted: auto-replied'],
    });
    expect(auto.v).toMatchObject({ verdict: 'drop', reason: 'auto_submitted' });
    expect(auto.c.verdict).toBe(auto.v);
    expect(auto.c.sameTicketAs).toBeUndefined();
    const press = claim(threads, {
      subject: 'Re: Printer on fire',
      id: 'o2@example.net',
      inReplyTo: 'a1@example.net',
      rcpt: 'press@example.com',
    });
    expect(press.v).toMatchObject({ verdict: 'reject', reason: 'no_reference', route: 'press' });
    expect(press.c.verdict).toBe(press.v);
    // A reply to the dropped message is not joined to anything through it.
    const toAuto = claim(threads, {
      subject: 'Re: Out of office',
      id: 'o3@example.net',
      inReplyTo: 'o1@example.net',
      from: 'zed@example.org',
    });
    expect(toAuto.c).toEqual({ verdict: toAuto.v });
    // The thread of the root is still there.
    expect(
      claim(threads, { subject: 'x', id: 'o4@example.net', inReplyTo: 'a1@example.net', from: 'q@example.org' }).c
        .verdict.parentKey,
    ).toBe(root.v.idempotencyKey);
  });

  it('a dropped or rejected message with a reference teaches nothing', () => {
    const threads = new ArchiveThreads();
    const auto = claim(threads, {
      subject: '[AB-123456] Out of office',
      id: 'x1@example.net',
      extra: ['Auto-Submitted: auto-replied'],
    });
    expect(auto.c.verdict).toMatchObject({ verdict: 'drop', ticket: 'AB-123456' });
    const reply = claim(threads, { subject: 'Re: hello', id: 'x2@example.net', inReplyTo: 'x1@example.net' });
    expect(reply.c.verdict).toMatchObject({ verdict: 'create', reason: 'no_reference', ticket: null });
  });
});
