// The door thread: the real one against a real Redis, and a stand-in thread that dies or never
// answers, to show the SMTP side never answers 250 for what the thread did not decide.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { startDoorThread, type DoorThread } from '../../src/intake/door-thread.js';
import { createLogger } from '../../src/log.js';
import type { Envelope } from '../../src/mail/types.js';
import { keys } from '../../src/queue/keys.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { LogSink, sendRaw, startHarness, testConfig, waitFor, type Double } from '../support/harness.js';

const STUB = new URL('../support/door-thread-stub.mjs', import.meta.url);
const NO_SIRPORTLY = { url: 'http://127.0.0.1:9', token: 'unused-token', secret: 'unused-secret' };

const envelope = (mailFrom = 'customer@example.net'): Envelope => ({
  mailFrom,
  rcptTo: ['support@example.com'],
  receivedAt: new Date().toISOString(),
  source: 'smtp',
  remoteAddress: '127.0.0.1',
});

const message = (tag: string, bodyBytes: number): Buffer =>
  Buffer.from(
    [
      `From: Customer <customer@example.net>`,
      `To: support@example.com`,
      `Subject: Re: [GJ-060309] door thread ${tag}`,
      `Message-ID: <${tag}@example.net>`,
      '',
      'x'.repeat(bodyBytes),
      '',
    ].join('\r\n'),
  );

function start(config: Config, url?: URL): Promise<{ thread: DoorThread; logs: LogSink; restarted: () => number }> {
  const logs = new LogSink();
  let restarted = 0;
  const onRestart = () => void restarted++;
  return startDoorThread(config, createLogger('debug', logs), url ? { url, onRestart } : { onRestart }).then(
    (thread) => ({ thread, logs, restarted: () => restarted }),
  );
}

describe('door thread against Redis', () => {
  let config: Config;
  let thread: DoorThread;
  let redis: Redis;

  beforeAll(async () => {
    config = testConfig(inject('redisUrl'), NO_SIRPORTLY);
    ({ thread } = await start(config));
    redis = new Redis(inject('redisUrl'));
  });
  afterAll(async () => {
    await thread?.close();
    redis?.disconnect();
  });

  it('stores raw bytes and job from its own connections; the bytes are handed over, not copied', async () => {
    // Larger than Node's buffer pool (Buffer.poolSize: 64 KiB on Node 24), so the bytes own their ArrayBuffer.
    const raw = message(`big${Date.now()}`, 2 * Buffer.poolSize);
    const original = Buffer.from(raw);
    const d = await thread.decide(raw, envelope());
    expect(d.outcome.outcome).toBe('queued');
    expect(d.outcome.reply).toMatchObject({ code: 250 });
    expect(d.outcome.verdict).toMatchObject({ verdict: 'post', ticket: 'GJ-060309' });
    const queueId = d.outcome.queueId!;
    expect(await redis.getBuffer(keys(config.redis.prefix).raw(queueId))).toEqual(original);
    // Transferred: this side's view of the bytes is gone (no second copy of a large message).
    expect(raw.length).toBe(0);

    const again = await thread.decide(Buffer.from(original), envelope());
    expect(again.outcome).toMatchObject({ outcome: 'duplicate', queueId });
  });

  it('copies a small message instead: the shared buffer pool it sits in stays usable', async () => {
    const neighbour = Buffer.from('neighbour in the pool');
    const raw = message(`small${Date.now()}`, 100);
    expect(raw.buffer).toBe(neighbour.buffer); // both slices of Node's pool
    const d = await thread.decide(raw, envelope());
    expect(d.outcome.outcome).toBe('queued');
    expect(neighbour.toString()).toBe('neighbour in the pool');
    expect(raw.toString()).toContain('door thread small');
  });

  it('answers a message that is not for a ticket with its verdict, stores nothing', async () => {
    const raw = Buffer.from('From: a@example.net\r\nSubject: no reference here\r\n\r\nhello\r\n');
    const d = await thread.decide(raw, envelope());
    expect(d.outcome).toMatchObject({ outcome: 'rejected', queueId: null });
    expect(d.outcome.reply.code).toBe(550);
  });
});

describe('door thread that dies or hangs (stand-in thread)', () => {
  it('a thread that dies: 451 for its message, a new thread, then 250 again', async () => {
    const { thread, logs, restarted } = await start(testConfig(inject('redisUrl'), NO_SIRPORTLY), STUB);
    try {
      const d = await thread.decide(message('c', 10), envelope('crash@example.net'));
      expect(d.outcome).toMatchObject({ outcome: 'tempfail', queueId: null });
      expect(d.outcome.reply).toMatchObject({ code: 451, enhanced: '4.3.0' });
      expect(d.notes).toMatchObject({ kind: 'door_thread', err: 'door thread exited (code 3)' });
      // Until the new thread is up, mail is refused for now, not taken (and /readyz says so).
      expect(thread.running()).toBe(false);
      const meanwhile = await thread.decide(message('m', 10), envelope());
      expect(meanwhile.outcome.reply.code).toBe(451);
      await waitFor('a new door thread', () => thread.restarts() === 1 && thread.running(), 5000);
      await waitFor(
        'the new thread taking mail',
        async () => (await thread.decide(message('n', 10), envelope())).outcome.reply.code === 250,
        5000,
      );
      expect(logs.lines.some((l) => l.msg === 'door thread exited; SMTP answers 451 until a new one is ready')).toBe(
        true,
      );
      expect(restarted()).toBe(1);
    } finally {
      await thread.close();
    }
  });

  it('a thread that does not answer: 451 after twice acceptTimeoutMs and a second', async () => {
    const { thread } = await start(
      testConfig(inject('redisUrl'), NO_SIRPORTLY, { smtp: { acceptTimeoutMs: 100 } }),
      STUB,
    );
    try {
      const t0 = Date.now();
      const d = await thread.decide(message('h', 10), envelope('hang@example.net'));
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1150);
      expect(d.outcome.reply.code).toBe(451);
      expect(d.notes.err).toBe('door thread did not answer within 1200 ms');
      // The thread itself is fine: the next message is answered.
      expect((await thread.decide(message('ok', 10), envelope())).outcome.reply.code).toBe(250);
    } finally {
      await thread.close();
    }
  });

  it('after close(), messages get 451', async () => {
    const { thread } = await start(testConfig(inject('redisUrl'), NO_SIRPORTLY), STUB);
    await thread.close();
    const d = await thread.decide(message('late', 10), envelope());
    expect(d.outcome.reply.code).toBe(451);
    expect(d.notes.err).toBe('shutting down');
  });
});

describe('SMTP with and without the door thread', () => {
  let double: Double;
  beforeAll(async () => {
    double = await startSirportlyDouble();
  });
  afterAll(async () => {
    await double?.close();
  });

  for (const doorThread of [true, false]) {
    it(`smtp.doorThread: ${doorThread}: 250, the door's log line and metrics in the SMTP process, one update`, async () => {
      const h = await startHarness(inject('redisUrl'), double, { smtp: { doorThread } });
      try {
        const tag = `dt${doorThread}${Date.now()}`;
        const reply = await sendRaw(h.smtpPort, message(tag, 20_000), {
          from: 'customer@example.net',
          to: ['support@example.com'],
        });
        expect(reply.code).toBe(250);
        const queueId = /queued as ([0-9a-f]+)/.exec(reply.response)?.[1];
        expect(queueId).toBeDefined();
        const line = h.logs.lines.find((l) => l.msg === 'door verdict' && l.queueId === queueId);
        expect(line).toMatchObject({ verdict: 'queued', ticket: 'GJ-060309', source: 'smtp', remote: '127.0.0.1' });
        expect(line?.size).toBeGreaterThan(20_000);
        const metrics = await h.gateway.metrics.registry.metrics();
        expect(metrics).toMatch(/mailgate_door_verdicts_total\{verdict="queued",reason="reference:subject"\} 1/);
        await waitFor('the update', () =>
          double.state.updates('GJ-060309').some((u) => u.fields.subject?.includes(tag)),
        );
      } finally {
        await h.close();
      }
    });
  }
});
