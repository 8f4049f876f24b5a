// Failure paths end to end: Sirportly faults, oversize mail, and Redis going away under the door.
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { QUEUE_NAME } from '../../src/queue/keys.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, sendRaw, startHarness, waitFor, waitForLog, type Double, type Harness } from '../support/harness.js';
import { RedisServer, freePort } from '../support/redis-server.js';

const FROM = 'customer@example.net';
const TO = ['support@help.example.com'];

let double: Double;
let h: Harness;
let redis: Redis;
let queue: Queue;

beforeAll(async () => {
  double = await startSirportlyDouble();
  h = await startHarness(inject('redisUrl'), double, {
    smtp: { maxMessageBytes: 200_000 },
    sirportly: { requestTimeoutMs: 400 },
  });
  redis = new Redis(inject('redisUrl'));
  queue = new Queue(QUEUE_NAME, { connection: redis, prefix: h.config.redis.prefix });
});
afterAll(async () => {
  await h?.close();
  await queue?.close();
  redis?.disconnect();
  await double?.close();
});
beforeEach(() => double.resetFaults());

async function mail(
  subjectTicket: string,
  tag: string,
  extra: { attachments?: Array<{ filename: string; content: Buffer }> } = {},
) {
  return compose({
    from: FROM,
    to: TO[0],
    subject: `[${subjectTicket}] ${tag}`,
    messageId: `<${tag}@example.net>`,
    text: `body ${tag}`,
    ...extra,
  });
}

const postsFor = (ref: string, tag: string) => double.state.updates(ref).filter((u) => u.fields.subject?.includes(tag));

async function jobState(queueId: string) {
  const job = await queue.getJob(queueId);
  if (!job) return null;
  const state = await job.getState();
  // The job was read before its state: read it again so reason and attempts match the state.
  const now = (await queue.getJob(queueId)) ?? job;
  return { state, reason: now.failedReason, attempts: now.attemptsMade };
}

function queueIdOf(response: string): string {
  const m = /queued as ([0-9a-f]+)/.exec(response);
  if (!m) throw new Error(`no queue id in ${response}`);
  return m[1]!;
}

describe('Sirportly faults', () => {
  it('500 then success: one update', async () => {
    const tag = randomBytes(4).toString('hex');
    double.faults.only = ['post_update'];
    double.faults.failNext = 2;
    const r = await sendRaw(h.smtpPort, await mail('GJ-060309', tag), { from: FROM, to: TO });
    expect(r.code).toBe(250);
    await waitFor('update', () => postsFor('GJ-060309', tag).length > 0);
    const id = queueIdOf(r.response);
    await waitFor('completed', async () => (await jobState(id))?.state === 'completed');
    expect((await jobState(id))?.attempts).toBeGreaterThanOrEqual(2);
    expect(postsFor('GJ-060309', tag)).toHaveLength(1);
  });

  it('post committed, then the answer hangs past the client timeout: still one update', async () => {
    const tag = randomBytes(4).toString('hex');
    double.faults.only = ['post_update'];
    double.faults.commitThenHangNext = 1;
    double.faults.hangMs = 1500;
    const file = randomBytes(2000);
    const r = await sendRaw(
      h.smtpPort,
      await mail('GJ-060309', tag, { attachments: [{ filename: 'a.bin', content: file }] }),
      { from: FROM, to: TO },
    );
    expect(r.code).toBe(250);
    const id = queueIdOf(r.response);
    await waitFor('completed', async () => (await jobState(id))?.state === 'completed', 15_000);
    const posts = postsFor('GJ-060309', tag);
    expect(posts).toHaveLength(1);
    expect(posts[0]!.attachments).toHaveLength(1);
    // The retry read the ticket back instead of posting again.
    expect(double.state.requests['/api/v2/tickets/ticket'] ?? 0).toBeGreaterThan(0);
  });

  it('422 fails the job at once with the reason kept, no retry', async () => {
    const tag = randomBytes(4).toString('hex');
    // Tokens that expire at once make Sirportly refuse the post with 422.
    double.state.tokenTtlMs = -1000;
    const r = await sendRaw(
      h.smtpPort,
      await mail('GJ-060309', tag, { attachments: [{ filename: 'b.bin', content: randomBytes(100) }] }),
      { from: FROM, to: TO },
    );
    expect(r.code).toBe(250);
    const id = queueIdOf(r.response);
    const st = await waitFor('failed', async () => {
      const s = await jobState(id);
      return s?.state === 'failed' ? s : null;
    });
    double.state.tokenTtlMs = 3_600_000;
    expect(st.reason).toMatch(/validation/);
    expect(st.attempts).toBe(1);
    expect(postsFor('GJ-060309', tag)).toHaveLength(0);
    expect(h.logs.lines.some((l) => l.msg === 'job failed' && l.queueId === id)).toBe(true);
  });

  it('unknown ticket (404) fails at once with the reason kept', async () => {
    const tag = randomBytes(4).toString('hex');
    const r = await sendRaw(h.smtpPort, await mail('ZZ-999999', tag), { from: FROM, to: TO });
    expect(r.code).toBe(250);
    const id = queueIdOf(r.response);
    const st = await waitFor('failed', async () => {
      const s = await jobState(id);
      return s?.state === 'failed' ? s : null;
    });
    expect(st.reason).toMatch(/not_found/);
    expect(st.attempts).toBe(1);
    // The raw message is kept for a retry after the cause is fixed.
    expect(await redis.exists(`${h.config.redis.prefix}:raw:${id}`)).toBe(1);
  });

  it('429 is retried after Retry-After, one update', async () => {
    const tag = randomBytes(4).toString('hex');
    double.faults.only = ['post_update'];
    double.faults.status429Next = 1;
    double.faults.retryAfter = 1;
    const started = Date.now();
    const r = await sendRaw(h.smtpPort, await mail('GJ-060309', tag), { from: FROM, to: TO });
    await waitFor('update', () => postsFor('GJ-060309', tag).length > 0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(r.code).toBe(250);
    expect(postsFor('GJ-060309', tag)).toHaveLength(1);
  });
});

describe('door limits', () => {
  it('oversize mail: 552 after the data, nothing queued', async () => {
    const raw = await mail('GJ-060309', 'big', {
      attachments: [{ filename: 'big.bin', content: randomBytes(300_000) }],
    });
    const r = await sendRaw(h.smtpPort, raw, { from: FROM, to: TO });
    expect(r.code).toBe(552);
    expect(r.response).toMatch(/5\.3\.4/);
  });
});

describe('Redis outage at the door', () => {
  it('Redis stopped: 451 4.3.0 within the bound; restarted: accepted and posted', async () => {
    const server = await RedisServer.start();
    const d = await startSirportlyDouble();
    const g = await startHarness(server.url, d, { smtp: { acceptTimeoutMs: 1500 } });
    try {
      const tag = randomBytes(4).toString('hex');
      const raw = await mail('GJ-060309', tag);
      await server.stop();
      const t0 = Date.now();
      const down = await sendRaw(g.smtpPort, raw, { from: FROM, to: TO });
      expect(down.code).toBe(451);
      expect(down.response).toMatch(/^451 4\.3\.0/);
      expect(Date.now() - t0).toBeLessThan(5000);
      await server.start();
      const up = await waitFor('accepted after restart', async () => {
        const r = await sendRaw(g.smtpPort, raw, { from: FROM, to: TO });
        return r.code === 250 ? r : null;
      });
      expect(up.response).toMatch(/queued as/);
      await waitFor('update', () => d.state.updates('GJ-060309').some((u) => u.fields.subject?.includes(tag)), 15_000);
      expect(d.state.updates('GJ-060309').filter((u) => u.fields.subject?.includes(tag))).toHaveLength(1);
    } finally {
      await g.close();
      await d.close();
      await server.destroy();
    }
  });

  it('Redis hung (answers nothing): 451 4.3.0 within smtp.acceptTimeoutMs; once it answers again, accepted', async () => {
    const server = await RedisServer.start();
    const d = await startSirportlyDouble();
    const g = await startHarness(server.url, d, { smtp: { acceptTimeoutMs: 800 } });
    try {
      const tag = randomBytes(4).toString('hex');
      const raw = await mail('GJ-060309', tag);
      server.pause();
      const t0 = Date.now();
      const r = await sendRaw(g.smtpPort, raw, { from: FROM, to: TO });
      const took = Date.now() - t0;
      expect(r.code).toBe(451);
      expect(r.response).toMatch(/^451 4\.3\.0/);
      expect(took).toBeGreaterThanOrEqual(700);
      expect(took).toBeLessThan(3000);
      server.resume();
      const again = await sendRaw(g.smtpPort, raw, { from: FROM, to: TO });
      expect(again.code).toBe(250);
      // Its job has ended once the worker logs it posted: nothing more is posted for it after that.
      await waitForLog(g.logs, 'job posted', { queueId: queueIdOf(again.response) }, 15_000);
      expect(d.state.updates('GJ-060309').filter((u) => u.fields.subject?.includes(tag))).toHaveLength(1);
    } finally {
      server.resume();
      await g.close();
      await d.close();
      await server.destroy();
    }
  });

  it('Redis not up when the gateway starts: 451 until it is, then accepted and posted', async () => {
    const server = new RedisServer(await freePort());
    const d = await startSirportlyDouble();
    const g = await startHarness(server.url, d, { smtp: { acceptTimeoutMs: 1000 } });
    try {
      const tag = randomBytes(4).toString('hex');
      const raw = await mail('GJ-060309', tag);
      const down = await sendRaw(g.smtpPort, raw, { from: FROM, to: TO });
      expect(down.code).toBe(451);
      const ready = await fetch(`http://127.0.0.1:${g.httpPort}/readyz`);
      expect(ready.status).toBe(503);
      await server.start();
      await waitFor(
        'accepted',
        async () => (await sendRaw(g.smtpPort, raw, { from: FROM, to: TO })).code === 250,
        15_000,
      );
      await waitFor('update', () => d.state.updates('GJ-060309').some((u) => u.fields.subject?.includes(tag)), 15_000);
    } finally {
      await g.close();
      await d.close();
      await server.destroy();
    }
  });
});
