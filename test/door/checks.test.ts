// The door's Redis checks against a real Redis: thread lookup, the loop limit and the
// known-sender rule, each switched by config, and a Redis outage as a 451-class error.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DoorChecks } from '../../src/door/checks.js';
import { doorKeys } from '../../src/door/keys.js';
import { TicketIndex } from '../../src/door/ticket-index.js';
import { GatewayError } from '../../src/errors.js';
import { parseHeaders } from '../../src/mail/headers.js';
import type { Envelope } from '../../src/mail/types.js';
import { verdictFromHeaders } from '../../src/mail/verdict.js';
import { envelope, mail, testConfig } from '../mail/helpers.js';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(inject('redisUrl'));
});
afterAll(() => redis.disconnect());

const smtp = (mailFrom = 'ann@example.com'): Envelope => envelope({ source: 'smtp', mailFrom, remoteAddress: '192.0.2.1' });

function setup(overrides: Record<string, unknown> = {}) {
  const prefix = `door${randomBytes(4).toString('hex')}`;
  const config = testConfig({ redis: { prefix }, ...overrides });
  return { config, prefix, door: new DoorChecks(config, redis), index: new TicketIndex(config, redis) };
}

async function check(door: DoorChecks, config: ReturnType<typeof testConfig>, raw: Buffer, env: Envelope) {
  const headers = parseHeaders(raw);
  return door.refine(verdictFromHeaders(headers, raw, env, config), headers, raw, env);
}

const reply = (...extra: string[]) => mail('From: Ann <ann@example.com>', 'Subject: Re: your question', 'Message-ID: <r1@example.com>', ...extra, '', 'thanks');

describe('thread lookup', () => {
  it('posts a reply without a subject reference to the ticket of the message it answers', async () => {
    const { config, door, index, prefix } = setup();
    await index.recordPost('AB-123456', 'orig@example.com', 'ann@example.com');
    const { verdict } = await check(door, config, reply('In-Reply-To: <orig@example.com>'), smtp());
    expect(verdict).toMatchObject({ verdict: 'post', reason: 'reference:thread', ticket: 'AB-123456', smtpReply: { code: 250 } });
    // A new idempotency key for the ticket found, the same as a subject reference would give.
    const direct = verdictFromHeaders(parseHeaders(reply()), reply(), smtp(), config);
    expect(verdict.idempotencyKey).not.toBe(direct.idempotencyKey);
    expect(await redis.ttl(doorKeys(prefix).thread('orig@example.com'))).toBeGreaterThan(89 * 86_400);
  });

  it('matches the ticket Message-ID at the root of References, newest reference first', async () => {
    const { config, door, index } = setup();
    await index.learnTicket({ reference: 'gj-060309', subject: 's', message_id: 'ticket-root@sirportly.example', updates: [] });
    await index.recordPost('OC-820409', 'newer@example.com', undefined);
    const root = await check(door, config, reply('References: <ticket-root@sirportly.example> <unknown@x>'), smtp());
    expect(root.verdict).toMatchObject({ verdict: 'post', reason: 'reference:thread', ticket: 'GJ-060309' });
    const both = await check(door, config, reply('References: <ticket-root@sirportly.example> <newer@example.com>'), smtp());
    expect(both.verdict.ticket).toBe('OC-820409');
  });

  it('leaves the no-reference verdict when nothing matches, or when threads are off', async () => {
    const { config, door, index } = setup();
    expect((await check(door, config, reply('In-Reply-To: <nobody@x>'), smtp())).verdict).toMatchObject({ verdict: 'reject', reason: 'no_reference' });
    const off = setup({ threads: { enabled: false } });
    await off.index.recordPost('AB-123456', 'orig2@example.com', undefined);
    expect((await check(off.door, off.config, reply('In-Reply-To: <orig2@example.com>'), smtp())).verdict).toMatchObject({ verdict: 'reject' });
    void index;
  });

  it('does not look up machine mail: a bounce stays dropped', async () => {
    const { config, door, index } = setup();
    await index.recordPost('AB-123456', 'orig3@example.com', undefined);
    const bounce = mail('From: MAILER-DAEMON@mx.example', 'Subject: failure', 'In-Reply-To: <orig3@example.com>', '', 'x');
    expect((await check(door, config, bounce, smtp(''))).verdict).toMatchObject({ verdict: 'drop', reason: 'mailer_daemon' });
  });
});

describe('loop limit', () => {
  const post = (n: number) => mail('From: bot@example.net', `Subject: [AB-123456] auto ${n}`, `Message-ID: <l${n}@example.net>`, '', 'x');

  it('drops the messages of one sender to one ticket past the limit, then counts afresh', async () => {
    const { config, door } = setup({ policy: { loopRateLimitMax: 3, loopRateLimitWindowSeconds: 1 } });
    const reasons: string[] = [];
    for (let n = 1; n <= 5; n++) reasons.push((await check(door, config, post(n), smtp('bot@example.net'))).verdict.reason);
    expect(reasons).toEqual(['reference:subject', 'reference:subject', 'reference:subject', 'loop_rate_limit', 'loop_rate_limit']);
    const dropped = (await check(door, config, post(6), smtp('bot@example.net'))).verdict;
    expect(dropped).toMatchObject({ verdict: 'drop', smtpReply: { code: 250 } });
    expect(dropped.detail).toMatch(/6 messages from bot@example.net to AB-123456 within 1 s \(limit 3\)/);
    // Another ticket and another sender have their own counters.
    const other = mail('From: bot@example.net', 'Subject: [GJ-060309] auto', '', 'x');
    expect((await check(door, config, other, smtp('bot@example.net'))).verdict.verdict).toBe('post');
    await new Promise((r) => setTimeout(r, 1100));
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
    for (let n = 1; n <= 3; n++) expect((await check(strict.door, strict.config, post(n), replay)).verdict.verdict).toBe('post');
  });
});

describe('known senders only', () => {
  const on = { policy: { knownSendersOnly: true, knownSenderDomains: ['staff.example'] } };
  const from = (address: string) => mail(`From: ${address}`, 'Subject: [AB-123456] hello', '', 'x');

  it('posts from an address seen on the ticket or a trusted domain; rejects a stranger on a learned ticket', async () => {
    const { config, door, index } = setup(on);
    await index.learnTicket({ reference: 'AB-123456', subject: null, updates: [{ id: 1, subject: null, message: null, posted_at: '2024-01-01T00:00:00Z', from_name: 'Ann', from_address: 'Ann@Example.com' }] });
    expect((await check(door, config, from('ann@example.com'), smtp())).verdict.verdict).toBe('post');
    expect((await check(door, config, from('boss@staff.example'), smtp('boss@staff.example'))).verdict.verdict).toBe('post');
    const stranger = (await check(door, config, from('eve@evil.example'), smtp('eve@evil.example'))).verdict;
    expect(stranger).toMatchObject({ verdict: 'reject', reason: 'unknown_sender', smtpReply: { code: 550, enhanced: '5.7.1' } });
    expect(stranger.detail).toBe('eve@evil.example not seen on AB-123456');
    const dropping = setup({ policy: { ...on.policy, noReference: 'drop' } });
    await dropping.index.learnTicket({ reference: 'AB-123456', subject: null, updates: [] });
    expect((await check(dropping.door, dropping.config, from('eve@evil.example'), smtp('eve@evil.example'))).verdict).toMatchObject({ verdict: 'drop', reason: 'unknown_sender' });
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
      pipeline: () => (calls.push('pipeline'), redis.pipeline()),
    } as unknown as Redis);
    await check(spy, config, from('ann@example.com'), envelope({ source: 'replay' }));
    expect(calls).toEqual([]);
  });
});

describe('Redis unavailable', () => {
  it('is a store_unavailable error (451), not a verdict', async () => {
    const config = testConfig({ redis: { prefix: 'down' }, smtp: { acceptTimeoutMs: 500 } });
    const dead = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    const door = new DoorChecks(config, dead);
    const err = await check(door, config, reply('In-Reply-To: <x@y>'), smtp()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ kind: 'store_unavailable' });
    dead.disconnect();
  });
});
