// Failed mail parked in Redis, over SMTP and a real Redis: raw bytes of a failed job expire after
// queue.failedRetentionDays and `queue failed` says when; one sender or one client address past
// its cap gets 451 at DATA while everything it parked stays; retrying or discarding frees room.
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { discardJob } from '../../src/admin/discard.js';
import { listFailed } from '../../src/admin/failed.js';
import { retryJob } from '../../src/admin/retry.js';
import type { JobData } from '../../src/queue/job.js';
import { QUEUE_NAME, keys } from '../../src/queue/keys.js';
import { parkFailed, parkUnrecordedFailed, parkedOwners, reconcileParked } from '../../src/queue/parked.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, startHarness, waitFor, type Double, type Harness } from '../support/harness.js';

const TO = 'support@help.example.com';
const DAY_MS = 86_400_000;

let double: Double;
let redis: Redis;
beforeAll(async () => {
  double = await startSirportlyDouble();
  redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
});
afterAll(async () => {
  redis?.disconnect();
  await double?.close();
});

interface Sent {
  code: number;
  response: string;
  id: string | null;
}

async function send(h: Harness, from: string, ticket: string, localAddress = '127.0.0.1'): Promise<Sent> {
  const tag = randomBytes(4).toString('hex');
  const raw = await compose({
    from,
    to: TO,
    subject: `[${ticket}] parked ${tag}`,
    messageId: `<${tag}@example.net>`,
    text: `body ${tag}`,
  });
  const transport = createTransport({ host: '127.0.0.1', port: h.smtpPort, ignoreTLS: true, localAddress });
  try {
    const info = await transport.sendMail({ envelope: { from, to: [TO] }, raw });
    const response = String(info.response);
    return { code: Number(response.slice(0, 3)), response, id: /queued as ([0-9a-f]+)/.exec(response)?.[1] ?? null };
  } catch (err) {
    const e = err as { responseCode?: number; response?: string; message: string };
    return { code: e.responseCode ?? 0, response: e.response ?? e.message, id: null };
  } finally {
    transport.close();
  }
}

function admin(h: Harness, queue: Queue<JobData>) {
  return { config: h.config, queue, redis, keys: keys(h.config.redis.prefix), now: Date.now };
}

/** Send to a ticket Sirportly does not know (404: the job fails for good) and wait for the failure. */
async function parkOne(
  h: Harness,
  queue: Queue<JobData>,
  from: string,
  localAddress?: string,
  ticket = 'ZZ-999999',
): Promise<string> {
  const r = await send(h, from, ticket, localAddress);
  expect(r.code).toBe(250);
  await waitFor('job failed', async () => (await (await queue.getJob(r.id!))?.getState()) === 'failed');
  // The worker records the failure just after BullMQ reports it.
  await waitFor(
    'raw bytes given their expiry',
    async () => (await redis.pttl(`${h.config.redis.prefix}:raw:${r.id}`)) > 0,
  );
  return r.id!;
}

describe('failed mail per sender', () => {
  let h: Harness;
  let queue: Queue<JobData>;
  beforeAll(async () => {
    h = await startHarness(inject('redisUrl'), double, {
      recipients: { domains: ['help.example.com'] },
      queue: {
        failedRetentionDays: 2,
        failedPerSenderMaxJobs: 2,
        failedPerSenderMaxBytes: 0,
        failedPerClientMaxJobs: 0,
        failedPerClientMaxBytes: 0,
      },
    });
    queue = new Queue<JobData>(QUEUE_NAME, { connection: redis, prefix: h.config.redis.prefix });
  });
  afterAll(async () => {
    await queue?.close();
    await h?.close();
  });

  it('raw bytes of a failed job expire after failedRetentionDays, and `queue failed` says when', async () => {
    const id = await parkOne(h, queue, 'eve@spam.example');
    const ttl = await redis.pttl(`${h.config.redis.prefix}:raw:${id}`);
    expect(ttl).toBeGreaterThan(DAY_MS);
    expect(ttl).toBeLessThanOrEqual(2 * DAY_MS);
    const [view] = (await listFailed(admin(h, queue), { limit: 10 })).filter((j) => j.id === id);
    expect(view!.raw.state).toBe('expires');
    const at = Date.parse((view!.raw as { at: string }).at);
    expect(Math.abs(at - (Date.parse(view!.failedAt!) + 2 * DAY_MS))).toBeLessThan(60_000);
  });

  it('a failed job found without retention (failed before it applied) gets it, and counts', async () => {
    const sender = 'old@spam.example';
    const id = await parkOne(h, queue, sender);
    const raw = `${h.config.redis.prefix}:raw:${id}`;
    const [owner] = parkedOwners(h.config.redis.prefix, {
      source: 'smtp',
      mailFrom: sender,
      remoteAddress: '127.0.0.1',
    });
    // As a gateway from before retention left it: bytes without expiry, nothing counted.
    await redis.persist(raw);
    await redis.del(owner!.set, `${owner!.set}:bytes`);
    expect(await parkUnrecordedFailed(redis, h.config)).toBe(1);
    expect(await redis.pttl(raw)).toBeGreaterThan(DAY_MS);
    expect(await redis.zcard(owner!.set)).toBe(1);
    // Once is enough: a second worker starting finds nothing left to do.
    expect(await parkUnrecordedFailed(redis, h.config)).toBe(0);
    await discardJob(admin(h, queue), id);
  });

  it('past the cap the sender gets 451 at DATA; others are accepted; nothing parked is discarded', async () => {
    const sender = 'mallory@spam.example';
    const parked = [await parkOne(h, queue, sender), await parkOne(h, queue, sender)];
    const refused = await send(h, sender, 'GJ-060309');
    expect(refused.code).toBe(451);
    expect(refused.response).toMatch(/4\.7\.1 Too much undeliverable mail from you/);
    expect((await send(h, 'ann@example.com', 'GJ-060309')).code).toBe(250);
    for (const id of parked) {
      expect(await (await queue.getJob(id))!.getState()).toBe('failed');
      expect(await redis.exists(`${h.config.redis.prefix}:raw:${id}`)).toBe(1);
    }
    const text = await (await fetch(`http://127.0.0.1:${h.httpPort}/metrics`)).text();
    expect(text).toMatch(/mailgate_door_verdicts_total\{verdict="rejected",reason="failed_parked"\} 1/);
    const line = h.logs.lines.find((l) => l.msg === 'door verdict' && l.reason === 'failed_parked');
    expect(String(line?.detail)).toMatch(/sender mallory@spam\.example has 2 failed messages/);

    // Discarding one frees room: the sender is accepted again.
    await discardJob(admin(h, queue), parked[0]!);
    expect((await send(h, sender, 'GJ-060309')).code).toBe(250);
  });

  it('a job retried from the dashboard that fails again counts once; one retried through the CLI and posted frees room', async () => {
    const sender = 'trudy@spam.example';
    const ref = `RT-${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`;
    const [a, b] = [await parkOne(h, queue, sender), await parkOne(h, queue, sender, undefined, ref)];
    expect((await send(h, sender, 'GJ-060309')).code).toBe(451);
    // BullMQ's own retry, as the dashboard does it: the counters are stale, the door recounts.
    await (await queue.getJob(a))!.retry('failed');
    await waitFor('failed again', async () => (await (await queue.getJob(a))!.getState()) === 'failed');
    // It failed again and counts again (once): still at the cap.
    await waitFor('recounted', async () => (await send(h, sender, 'GJ-060309')).code === 451);
    // The cause fixed (the ticket exists now), the CLI retries it: it is posted and counts no more.
    double.state.addTicket(ref, 'created after the mail failed');
    await retryJob(admin(h, queue), b);
    // Kept without expiry while queued, or the posted-mail retention once posted; never the failed one.
    const ttl = await redis.pttl(`${h.config.redis.prefix}:raw:${b}`);
    expect(ttl === -1 || ttl > 2 * DAY_MS).toBe(true);
    await waitFor('posted', async () => (await (await queue.getJob(b))!.getState()) === 'completed');
    expect((await send(h, sender, 'GJ-060309')).code).toBe(250);
  });
});

describe('failed mail per client address', () => {
  it('past the cap every sender from that address gets 451; another address is accepted', async () => {
    const h = await startHarness(inject('redisUrl'), double, {
      recipients: { domains: ['help.example.com'] },
      queue: {
        failedPerSenderMaxJobs: 0,
        failedPerSenderMaxBytes: 0,
        failedPerClientMaxJobs: 0,
        failedPerClientMaxBytes: 1,
      },
    });
    const queue = new Queue<JobData>(QUEUE_NAME, { connection: redis, prefix: h.config.redis.prefix });
    try {
      await parkOne(h, queue, 'one@spam.example', '127.0.0.2');
      const refused = await send(h, 'two@other.example', 'GJ-060309', '127.0.0.2');
      expect(refused.code).toBe(451);
      expect((await send(h, 'two@other.example', 'GJ-060309', '127.0.0.1')).code).toBe(250);
      const line = h.logs.lines.find((l) => l.msg === 'door verdict' && l.reason === 'failed_parked');
      expect(String(line?.detail)).toMatch(/client 127\.0\.0\.2 has 1 failed messages/);
    } finally {
      await queue.close();
      await h.close();
    }
  });
});

describe('expiry of parked entries', () => {
  it('an entry past its retention, or whose job left the failed state, no longer counts', async () => {
    const prefix = `t${randomBytes(5).toString('hex')}`;
    const config = { redis: { prefix }, queue: { failedRetentionDays: 1 } } as never;
    const envelope = {
      mailFrom: 'old@spam.example',
      rcptTo: [TO],
      receivedAt: new Date().toISOString(),
      source: 'smtp' as const,
      remoteAddress: '127.0.0.9',
    };
    await redis.set(`${prefix}:raw:k1`, 'x'.repeat(100));
    await redis.set(`${prefix}:raw:k2`, 'y'.repeat(50));
    // k2 failed just now, k1 two days ago (its retention is over); both still in the failed set.
    await parkFailed(redis, config, { key: 'k2', size: 50, envelope }, Date.now());
    await parkFailed(redis, config, { key: 'k1', size: 100, envelope }, Date.now() - 2 * DAY_MS);
    // k3 was retried from the dashboard and posted: no longer in the failed set.
    await parkFailed(redis, config, { key: 'k3', size: 7, envelope }, Date.now());
    await redis.zadd(`${prefix}:${QUEUE_NAME}:failed`, 1, 'k1', 2, 'k2');
    expect(await redis.exists(`${prefix}:raw:k1`)).toBe(0);
    const [sender] = parkedOwners(prefix, envelope);
    expect(await redis.get(`${sender!.set}:bytes`)).toBe('157');
    expect(await reconcileParked(redis, config, sender!)).toEqual({ jobs: 1, bytes: 50 });
    expect(await redis.get(`${sender!.set}:bytes`)).toBe('50');
  });
});
