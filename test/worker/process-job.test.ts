// What the worker adds around a post, driven through processUpdateJob with a real Redis, the
// Sirportly double over HTTP and a stub DNS: authenticated=1 from DMARC, the thread index and the
// ticket learned after a post, and the known-sender rule for tickets the door could not judge.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { dkimSign } from 'mailauth';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { doorKeys } from '../../src/ticket-index/door-keys.js';
import { TicketIndex } from '../../src/ticket-index/ticket-index.js';
import { createLogger } from '../../src/log.js';
import { idempotencyKey } from '../../src/mail/door/idempotency.js';
import type { Envelope } from '../../src/mail/types.js';
import type { JobData } from '../../src/queue/job.js';
import { keys } from '../../src/queue/keys.js';
import { processUpdateJob } from '../../src/worker/process-job.js';
import { SirportlyClient } from '../../src/sirportly/client.js';
import { startSirportlyDouble, type SirportlyDouble } from '../support/sirportly-double.js';
import { dkimKey, stubDns } from '../mail/dns-stub.js';
import { mail, testConfig } from '../mail/helpers.js';

let redis: Redis;
let double: SirportlyDouble;
let client: SirportlyClient;
const key = dkimKey();
const silent = createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() }));

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'));
  double = await startSirportlyDouble();
  client = new SirportlyClient({
    url: double.url,
    token: double.token,
    secret: double.secret,
    requestTimeoutMs: 2000,
    connections: 2,
  });
});
afterAll(async () => {
  await client.close();
  await double.close();
  redis.disconnect();
});
beforeEach(() => double.resetFaults());

const dns = () => {
  const d = stubDns();
  d.txt('s1._domainkey.example.com', key.record);
  d.txt('_dmarc.example.com', 'v=DMARC1; p=reject');
  return d;
};

async function run(raw: Buffer, ticket: string, overrides: Record<string, unknown> = {}, env: Partial<Envelope> = {}) {
  const prefix = (overrides.redis as { prefix?: string } | undefined)?.prefix ?? `w${randomBytes(4).toString('hex')}`;
  const config = testConfig({ ...overrides, redis: { prefix } });
  const tag = randomBytes(4).toString('hex');
  const messageId = `${tag}@example.com`;
  const jobKey = idempotencyKey(messageId, raw, ticket);
  await redis.set(keys(prefix).raw(jobKey), raw);
  const data: JobData = {
    key: jobKey,
    ticket,
    messageId,
    subject: 's',
    reason: 'reference:subject',
    envelope: {
      mailFrom: 'ann@example.com',
      rcptTo: ['support@help.example'],
      receivedAt: '2024-05-01T12:00:00.000Z',
      source: 'smtp',
      remoteAddress: '192.0.2.10',
      helo: 'mail.example.com',
      ...env,
    },
    size: raw.length,
    checkpoint: { uploads: {}, postStarted: false, submitStarted: false, submitStartedAt: null, created: null },
  };
  const result = await processUpdateJob(
    { id: jobKey, data, timestamp: Date.now(), attemptsMade: 0, updateData: async () => undefined },
    { config, redis, client, log: silent, resolver: dns().resolver },
  );
  return { result, config, prefix, messageId };
}

function message(tag: string, from = 'Ann <ann@example.com>'): Buffer {
  return mail(
    `From: ${from}`,
    `Subject: [AB-123456] ${tag}`,
    'Date: Wed, 1 May 2024 12:00:00 +0000',
    `Message-ID: <${tag}@example.com>`,
    '',
    `body ${tag}`,
    '',
  );
}

async function signed(raw: Buffer): Promise<Buffer> {
  const { signatures } = await dkimSign(raw, {
    signatureData: [{ signingDomain: 'example.com', selector: 's1', privateKey: key.privateKey }],
  } as Parameters<typeof dkimSign>[1]);
  return Buffer.concat([Buffer.from(signatures), raw]);
}

const posted = (tag: string) => double.state.updates('AB-123456').find((u) => u.fields.message?.includes(tag));

describe('authenticated', () => {
  it('is sent as 1 when DMARC passes for the From address, judged with the stored session', async () => {
    const tag = randomBytes(4).toString('hex');
    await run(await signed(message(tag)), 'AB-123456');
    expect(posted(tag)?.fields.authenticated).toBe('1');
  });

  it('is not sent for unsigned mail, for replayed mail, or when auth is off', async () => {
    const a = randomBytes(4).toString('hex');
    await run(message(a), 'AB-123456');
    expect(posted(a)?.fields).not.toHaveProperty('authenticated');
    const b = randomBytes(4).toString('hex');
    await run(await signed(message(b)), 'AB-123456', {}, { source: 'replay' });
    expect(posted(b)?.fields).not.toHaveProperty('authenticated');
    const c = randomBytes(4).toString('hex');
    await run(await signed(message(c)), 'AB-123456', { auth: { enabled: false } });
    expect(posted(c)?.fields).not.toHaveProperty('authenticated');
  });

  it('reads jobs queued before helo was recorded', async () => {
    const tag = randomBytes(4).toString('hex');
    const { result } = await run(await signed(message(tag)), 'AB-123456', {}, { helo: undefined });
    expect(result.updateId).not.toBeNull();
    expect(posted(tag)?.fields.authenticated).toBe('1');
  });
});

describe('after a post', () => {
  it('records the message for threads, the author as a known sender, and learns the ticket once', async () => {
    const tag = randomBytes(4).toString('hex');
    const before = double.state.requests['/api/v2/tickets/ticket'] ?? 0;
    const { prefix, messageId, config } = await run(message(tag), 'AB-123456');
    const k = doorKeys(prefix);
    expect(await redis.get(k.thread(messageId))).toBe('AB-123456');
    expect(await redis.sismember(k.senders('AB-123456'), 'ann@example.com')).toBe(1);
    const ticket = await client.getTicket('AB-123456');
    expect(ticket.message_id).toBeTruthy();
    expect(await redis.get(k.thread(ticket.message_id!))).toBe('AB-123456');
    expect(await new TicketIndex(config, redis).learned('AB-123456')).toBe(true);
    // Read once after the post (and once by this test); a second post does not read again.
    expect((double.state.requests['/api/v2/tickets/ticket'] ?? 0) - before).toBe(2);
    await run(message(randomBytes(4).toString('hex')), 'AB-123456', { redis: { prefix } });
    expect((double.state.requests['/api/v2/tickets/ticket'] ?? 0) - before).toBe(2);
  });

  it('does not fail the job when learning the ticket fails', async () => {
    const tag = randomBytes(4).toString('hex');
    double.faults.only = ['ticket'];
    double.faults.failNext = 1;
    const { result } = await run(message(tag), 'AB-123456');
    expect(result.updateId).not.toBeNull();
    expect(posted(tag)).toBeDefined();
  });

  it('skips learning when threads.learnFromTicket is off', async () => {
    const before = double.state.requests['/api/v2/tickets/ticket'] ?? 0;
    await run(message(randomBytes(4).toString('hex')), 'AB-123456', { threads: { learnFromTicket: false } });
    expect(double.state.requests['/api/v2/tickets/ticket'] ?? 0).toBe(before);
  });
});

describe('known senders only, for a ticket the door had not learned', () => {
  const on = { policy: { knownSendersOnly: true } };

  it('reads the ticket, then skips a stranger and posts for an address on it', async () => {
    double.state.addTicket('KS-000001', 'known senders');
    const first = randomBytes(4).toString('hex');
    // Someone already wrote on the ticket (through Sirportly itself, say).
    await client.postUpdate({
      ticket: 'KS-000001',
      subject: 's',
      message: `first ${first}`,
      posted_at: '2024-01-01T00:00:00Z',
      author_email: 'ann@example.com',
    });
    const prefix = `ks${randomBytes(4).toString('hex')}`;
    const stranger = randomBytes(4).toString('hex');
    const skipped = await run(
      message(stranger, 'Eve <eve@evil.example>'),
      'KS-000001',
      { ...on, redis: { prefix } },
      { mailFrom: 'eve@evil.example' },
    );
    expect(skipped.result).toMatchObject({ updateId: null, skipped: 'unknown_sender' });
    expect(double.state.updates('KS-000001').some((u) => u.fields.message?.includes(stranger))).toBe(false);
    const known = randomBytes(4).toString('hex');
    const ok = await run(message(known), 'KS-000001', { ...on, redis: { prefix } });
    expect(ok.result.updateId).not.toBeNull();
  });
});
