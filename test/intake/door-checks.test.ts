// The door's Redis checks against a real Redis: thread lookup, the loop limit and the
// known-sender rule, each switched by config, and a Redis outage as a 451-class error.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DoorChecks } from '../../src/intake/door-checks.js';
import { doorKeys } from '../../src/ticket-index/door-keys.js';
import { TicketIndex } from '../../src/ticket-index/ticket-index.js';
import { GatewayError } from '../../src/errors.js';
import { parseHeaders } from '../../src/mail/headers.js';
import { idempotencyKey } from '../../src/mail/door/idempotency.js';
import type { Envelope } from '../../src/mail/types.js';
import { verdictFromHeaders } from '../../src/mail/door/verdict.js';
import { envelope, mail, testConfig } from '../mail/helpers.js';
import { waitFor } from '../support/wait.js';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(inject('redisUrl'));
});
afterAll(() => redis.disconnect());

const smtp = (mailFrom = 'ann@example.com'): Envelope =>
  envelope({ source: 'smtp', mailFrom, remoteAddress: '192.0.2.1' });

function setup(overrides: Record<string, unknown> = {}) {
  const prefix = `door${randomBytes(4).toString('hex')}`;
  const config = testConfig({ redis: { prefix }, ...overrides });
  return { config, prefix, door: new DoorChecks(config, redis), index: new TicketIndex(config, redis) };
}

async function check(door: DoorChecks, config: ReturnType<typeof testConfig>, raw: Buffer, env: Envelope) {
  const headers = parseHeaders(raw);
  return door.refine(verdictFromHeaders(headers, raw, env, config), headers, raw, env);
}

const reply = (...extra: string[]) =>
  mail(
    'From: Ann <ann@example.com>',
    'Subject: Re: your question',
    'Message-ID: <r1@example.com>',
    ...extra,
    '',
    'thanks',
  );

describe('thread lookup', () => {
  it('posts a reply without a subject reference to the ticket of the message it answers', async () => {
    const { config, door, index, prefix } = setup();
    await index.recordPost('AB-123456', 'orig@example.com', 'ann@example.com');
    const { verdict } = await check(door, config, reply('In-Reply-To: <orig@example.com>'), smtp());
    expect(verdict).toMatchObject({
      verdict: 'post',
      reason: 'reference:thread',
      ticket: 'AB-123456',
      smtpReply: { code: 250 },
    });
    // A new idempotency key for the ticket found, the same as a subject reference would give.
    const direct = verdictFromHeaders(parseHeaders(reply()), reply(), smtp(), config);
    expect(verdict.idempotencyKey).not.toBe(direct.idempotencyKey);
    expect(await redis.ttl(doorKeys(prefix).thread('orig@example.com'))).toBeGreaterThan(89 * 86_400);
  });

  it('matches the ticket Message-ID at the root of References, newest reference first', async () => {
    const { config, door, index } = setup();
    await index.learnTicket({
      reference: 'gj-060309',
      subject: 's',
      message_id: 'ticket-root@sirportly.example',
      updates: [],
    });
    await index.recordPost('OC-820409', 'newer@example.com', undefined);
    const root = await check(door, config, reply('References: <ticket-root@sirportly.example> <unknown@x>'), smtp());
    expect(root.verdict).toMatchObject({ verdict: 'post', reason: 'reference:thread', ticket: 'GJ-060309' });
    const both = await check(
      door,
      config,
      reply('References: <ticket-root@sirportly.example> <newer@example.com>'),
      smtp(),
    );
    expect(both.verdict.ticket).toBe('OC-820409');
  });

  it('leaves the no-reference verdict when nothing matches, or when threads are off', async () => {
    const { config, door, index } = setup();
    expect((await check(door, config, reply('In-Reply-To: <nobody@x>'), smtp())).verdict).toMatchObject({
      verdict: 'reject',
      reason: 'no_reference',
    });
    const off = setup({ threads: { enabled: false } });
    await off.index.recordPost('AB-123456', 'orig2@example.com', undefined);
    expect(
      (await check(off.door, off.config, reply('In-Reply-To: <orig2@example.com>'), smtp())).verdict,
    ).toMatchObject({ verdict: 'reject' });
    void index;
  });

  it('does not look up machine mail: a bounce stays dropped', async () => {
    const { config, door, index } = setup();
    await index.recordPost('AB-123456', 'orig3@example.com', undefined);
    const bounce = mail(
      'From: MAILER-DAEMON@mx.example',
      'Subject: failure',
      'In-Reply-To: <orig3@example.com>',
      '',
      'x',
    );
    expect((await check(door, config, bounce, smtp(''))).verdict).toMatchObject({
      verdict: 'drop',
      reason: 'mailer_daemon',
    });
  });
});

describe('loop limit', () => {
  const post = (n: number) =>
    mail('From: bot@example.net', `Subject: [AB-123456] auto ${n}`, `Message-ID: <l${n}@example.net>`, '', 'x');

  it('drops the messages of one sender to one ticket past the limit, then counts afresh', async () => {
    const { config, door, prefix } = setup({ policy: { loopRateLimitMax: 3, loopRateLimitWindowSeconds: 1 } });
    const reasons: string[] = [];
    for (let n = 1; n <= 5; n++)
      reasons.push((await check(door, config, post(n), smtp('bot@example.net'))).verdict.reason);
    expect(reasons).toEqual([
      'reference:subject',
      'reference:subject',
      'reference:subject',
      'loop_rate_limit',
      'loop_rate_limit',
    ]);
    const dropped = (await check(door, config, post(6), smtp('bot@example.net'))).verdict;
    expect(dropped).toMatchObject({ verdict: 'drop', smtpReply: { code: 250 } });
    expect(dropped.detail).toMatch(/6 messages from bot@example.net to AB-123456 within 1 s \(limit 3\)/);
    // Another ticket and another sender have their own counters.
    const other = mail('From: bot@example.net', 'Subject: [GJ-060309] auto', '', 'x');
    expect((await check(door, config, other, smtp('bot@example.net'))).verdict.verdict).toBe('post');
    // The window is the counter's TTL: once Redis has let it go, the sender starts afresh.
    const counter = doorKeys(prefix).rate('bot@example.net', 'AB-123456');
    await waitFor('the loop counter to expire', async () => (await redis.exists(counter)) === 0);
    expect((await check(door, config, post(7), smtp('bot@example.net'))).verdict.verdict).toBe('post');
  });

  it('only notes the excess under policy post, and leaves replayed mail alone', async () => {
    const { config, door } = setup({ policy: { loopRateLimitMax: 1, loopRateLimit: 'post' } });
    await check(door, config, post(1), smtp('bot@example.net'));
    const second = await check(door, config, post(2), smtp('bot@example.net'));
    expect(second.verdict.verdict).toBe('post');
    expect(second.notes.rateLimit).toMatch(/posted \(policy.loopRateLimit is post\)/);
    const strict = setup({ policy: { loopRateLimitMax: 1 } });
    const replay = envelope({ source: 'replay', mailFrom: 'bot@example.net' });
    for (let n = 1; n <= 3; n++)
      expect((await check(strict.door, strict.config, post(n), replay)).verdict.verdict).toBe('post');
  });
});

describe('known senders only', () => {
  const on = { policy: { knownSendersOnly: true, knownSenderDomains: ['staff.example'] } };
  const from = (address: string) => mail(`From: ${address}`, 'Subject: [AB-123456] hello', '', 'x');

  it('posts from an address seen on the ticket or a trusted domain; rejects a stranger on a learned ticket', async () => {
    const { config, door, index } = setup(on);
    await index.learnTicket({
      reference: 'AB-123456',
      subject: null,
      updates: [
        {
          id: 1,
          subject: null,
          message: null,
          posted_at: '2024-01-01T00:00:00Z',
          from_name: 'Ann',
          from_address: 'Ann@Example.com',
        },
      ],
    });
    expect((await check(door, config, from('ann@example.com'), smtp())).verdict.verdict).toBe('post');
    expect((await check(door, config, from('boss@staff.example'), smtp('boss@staff.example'))).verdict.verdict).toBe(
      'post',
    );
    const stranger = (await check(door, config, from('eve@evil.example'), smtp('eve@evil.example'))).verdict;
    expect(stranger).toMatchObject({
      verdict: 'reject',
      reason: 'unknown_sender',
      smtpReply: { code: 550, enhanced: '5.7.1' },
    });
    expect(stranger.detail).toBe('eve@evil.example not seen on AB-123456');
    const dropping = setup({ policy: { ...on.policy, noReference: 'drop' } });
    await dropping.index.learnTicket({ reference: 'AB-123456', subject: null, updates: [] });
    expect(
      (await check(dropping.door, dropping.config, from('eve@evil.example'), smtp('eve@evil.example'))).verdict,
    ).toMatchObject({ verdict: 'drop', reason: 'unknown_sender' });
  });

  it('lets the worker decide for a ticket it has not read yet', async () => {
    const { config, door } = setup(on);
    const r = await check(door, config, from('eve@evil.example'), smtp('eve@evil.example'));
    expect(r.verdict.verdict).toBe('post');
    expect(r.notes.senderCheck).toMatch(/deferred to the worker/);
  });

  it('costs no Redis call when every check is off or not needed', async () => {
    const { config } = setup();
    const calls: string[] = [];
    const spy = new DoorChecks(config, {
      mget: (...a: unknown[]) => (calls.push('mget'), (redis.mget as (...x: unknown[]) => unknown)(...a)),
      set: (...a: unknown[]) => (calls.push('set'), (redis.set as (...x: unknown[]) => unknown)(...a)),
      incr: (...a: unknown[]) => (calls.push('incr'), (redis.incr as (...x: unknown[]) => unknown)(...a)),
      sismember: (...a: unknown[]) => (
        calls.push('sismember'),
        (redis.sismember as (...x: unknown[]) => unknown)(...a)
      ),
      exists: (...a: unknown[]) => (calls.push('exists'), (redis.exists as (...x: unknown[]) => unknown)(...a)),
    } as unknown as Redis);
    await check(spy, config, from('ann@example.com'), envelope({ source: 'replay' }));
    expect(calls).toEqual([]);
  });
});

describe('new-ticket limit', () => {
  const TICKET = { brand: 'Help', department: 'Support', status: 'New', priority: 'Normal', team: 'Helpdesk' };
  const create = (newTickets: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    setup({ policy: { noReference: 'create' }, routes: [{ name: 'all', ticket: TICKET }], newTickets, ...extra });
  const fresh = (n: number, from = 'ann@example.com') =>
    mail(`From: ${from}`, `Subject: New question ${n}`, `Message-ID: <new${n}@example.com>`, '', 'x');

  it('refuses the new tickets of one sender past perSenderMax with 550 and overLimitText', async () => {
    const { config, door, prefix } = create({ perSenderMax: 2, overLimitText: 'Too many\r\n  new tickets.' });
    const first = await check(door, config, fresh(1), smtp());
    expect(first.verdict).toMatchObject({
      verdict: 'create',
      reason: 'no_reference',
      ticket: null,
      route: 'all',
      smtpReply: { code: 250, enhanced: '2.0.0', text: 'Queued' },
    });
    expect((await check(door, config, fresh(2), smtp())).verdict.verdict).toBe('create');
    // Counted by the From address, case ignored, whatever the envelope says.
    const third = (await check(door, config, fresh(3, 'Ann <ANN@Example.com>'), smtp('bounces@lists.example'))).verdict;
    expect(third).toMatchObject({ verdict: 'reject', reason: 'new_ticket_limit', ticket: null, route: 'all' });
    expect(third.smtpReply).toEqual({ code: 550, enhanced: '5.7.1', text: 'Too many new tickets.' });
    expect(third.detail).toBe('3 new tickets from ann@example.com within 3600 s (limit 2)');
    expect((await check(door, config, fresh(4), smtp())).verdict.detail).toBe(
      '4 new tickets from ann@example.com within 3600 s (limit 2)',
    );
    // Another sender has a counter of its own.
    expect((await check(door, config, fresh(5, 'bob@example.com'), smtp('bob@example.com'))).verdict).toMatchObject({
      verdict: 'create',
      reason: 'no_reference',
    });
    const key = doorKeys(prefix).newTickets('ann@example.com');
    expect(await redis.get(key)).toBe('4');
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(3590);
    expect(ttl).toBeLessThanOrEqual(3600);
  });

  it('uses the default overLimitText on one line', async () => {
    const { config, door } = create({ perSenderMax: 1 });
    await check(door, config, fresh(1), smtp());
    const over = (await check(door, config, fresh(2), smtp())).verdict;
    expect(over.smtpReply).toEqual({ code: 550, enhanced: '5.7.1', text: config.newTickets.overLimitText });
    expect(over.smtpReply.text).toMatch(/^You have opened several new tickets/);
  });

  it('drops the excess with 250 under overLimit drop', async () => {
    const { config, door } = create({ perSenderMax: 2, overLimit: 'drop' });
    for (let n = 1; n <= 2; n++) expect((await check(door, config, fresh(n), smtp())).verdict.verdict).toBe('create');
    const over = (await check(door, config, fresh(3), smtp())).verdict;
    expect(over).toMatchObject({
      verdict: 'drop',
      reason: 'new_ticket_limit',
      smtpReply: { code: 250, enhanced: '2.0.0', text: 'Accepted' },
    });
    expect(over.detail).toBe('3 new tickets from ann@example.com within 3600 s (limit 2)');
  });

  it('counts afresh after the window', async () => {
    const { config, door, prefix } = create({ perSenderMax: 1, windowSeconds: 1 });
    expect((await check(door, config, fresh(1), smtp())).verdict.verdict).toBe('create');
    expect((await check(door, config, fresh(2), smtp())).verdict.verdict).toBe('reject');
    const counter = doorKeys(prefix).newTickets('ann@example.com');
    await waitFor('the new-ticket counter to expire', async () => (await redis.exists(counter)) === 0);
    expect((await check(door, config, fresh(3), smtp())).verdict.verdict).toBe('create');
  });

  it('exempts replayed mail and is off with perSenderMax 0', async () => {
    const replayed = create({ perSenderMax: 1 });
    const replay = envelope({ source: 'replay', mailFrom: 'ann@example.com' });
    for (let n = 1; n <= 3; n++)
      expect((await check(replayed.door, replayed.config, fresh(n), replay)).verdict).toMatchObject({
        verdict: 'create',
        reason: 'no_reference',
      });
    expect(await redis.exists(doorKeys(replayed.prefix).newTickets('ann@example.com'))).toBe(0);
    const off = create({ perSenderMax: 0 });
    for (let n = 1; n <= 4; n++)
      expect((await check(off.door, off.config, fresh(n), smtp())).verdict.verdict).toBe('create');
    expect(await redis.exists(doorKeys(off.prefix).newTickets('ann@example.com'))).toBe(0);
  });

  it('does not count posts to existing tickets', async () => {
    const { config, door, prefix } = create({ perSenderMax: 1 });
    for (let n = 1; n <= 3; n++) {
      const post = mail(
        'From: ann@example.com',
        `Subject: Re: [AB-123456] more ${n}`,
        `Message-ID: <p${n}@example.com>`,
        '',
        'x',
      );
      expect((await check(door, config, post, smtp())).verdict).toMatchObject({ verdict: 'post', ticket: 'AB-123456' });
    }
    expect(await redis.exists(doorKeys(prefix).newTickets('ann@example.com'))).toBe(0);
    expect((await check(door, config, fresh(1), smtp())).verdict.verdict).toBe('create');
    expect(await redis.get(doorKeys(prefix).newTickets('ann@example.com'))).toBe('1');
    expect((await check(door, config, fresh(2), smtp())).verdict.reason).toBe('new_ticket_limit');
  });

  it('posts a reply found in the thread index to its ticket instead of opening one, and does not count it', async () => {
    const { config, door, index, prefix } = create({ perSenderMax: 1 });
    await index.recordPost('GJ-060309', 'staff-reply@example.com', 'ann@example.com');
    expect((await check(door, config, fresh(1), smtp())).verdict.verdict).toBe('create');
    const raw = reply('In-Reply-To: <staff-reply@example.com>');
    const headers = parseHeaders(raw);
    expect(verdictFromHeaders(headers, raw, smtp(), config)).toMatchObject({
      verdict: 'create',
      reason: 'no_reference',
    });
    const { verdict } = await check(door, config, raw, smtp());
    expect(verdict).toMatchObject({
      verdict: 'post',
      reason: 'reference:thread',
      ticket: 'GJ-060309',
      route: 'all',
      smtpReply: { code: 250, enhanced: '2.0.0', text: 'Queued' },
    });
    expect(verdict.idempotencyKey).toBe(idempotencyKey('r1@example.com', raw, 'GJ-060309'));
    expect(await redis.get(doorKeys(prefix).newTickets('ann@example.com'))).toBe('1');
    // With the thread index off the same reply opens a ticket.
    const off = create({ perSenderMax: 0 }, { threads: { enabled: false } });
    await off.index.recordPost('GJ-060309', 'staff-reply@example.com', undefined);
    expect((await check(off.door, off.config, raw, smtp())).verdict).toMatchObject({ verdict: 'create', ticket: null });
  });

  it('machine mail let onto tickets (class policy post) on a create route: is posted to the ticket its In-Reply-To names, and dropped (never a new ticket) when none', async () => {
    const { config, door, index } = create(
      { perSenderMax: 0 },
      { policy: { noReference: 'create', autoSubmitted: 'post' } },
    );
    await index.recordPost('GJ-060309', 'staff-note@example.com', 'ann@example.com');
    const auto = (extra: string) =>
      mail(
        'From: ann@example.com',
        'Subject: Automatic reply: your ticket',
        'Auto-Submitted: auto-replied',
        'Message-ID: <auto1@example.com>',
        extra,
        '',
        'away',
      );
    const known = auto('In-Reply-To: <staff-note@example.com>');
    expect((await check(door, config, known, smtp())).verdict).toMatchObject({
      verdict: 'post',
      reason: 'reference:thread',
      ticket: 'GJ-060309',
    });
    const unknown = auto('In-Reply-To: <nobody@example.com>');
    const { verdict } = await check(door, config, unknown, smtp());
    expect(verdict).toMatchObject({ verdict: 'drop', reason: 'no_reference', ticket: null });
    expect(verdict.detail).toBe('Auto-Submitted: auto-replied; machine mail never opens a ticket');
  });
});

describe('Redis unavailable', () => {
  it('is a store_unavailable error (451), not a verdict', async () => {
    const config = testConfig({ redis: { prefix: 'down' }, smtp: { acceptTimeoutMs: 500 } });
    const dead = new Redis('redis://127.0.0.1:1', {
      enableOfflineQueue: false,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    const door = new DoorChecks(config, dead);
    const err = await check(door, config, reply('In-Reply-To: <x@y>'), smtp()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ kind: 'store_unavailable' });
    dead.disconnect();
  });
});
