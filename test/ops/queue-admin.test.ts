// `mailgate queue …` against a running gateway's Redis: what an operator sees, and re-driving
// failed mail after the cause is fixed, without ever posting twice.
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAME, keys } from '../../src/queue/keys.js';
import { showJob } from '../../src/admin/show.js';
import { queueStats } from '../../src/admin/stats.js';
import { retryJob } from '../../src/admin/retry.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, sendRaw, startHarness, waitFor, type Double, type Harness } from '../support/harness.js';
import { runCli, runQueue } from './cli.js';
import { parseSince } from '../../src/admin/since.js';
import { table } from '../../src/admin/table.js';

const FROM = 'customer@example.net';
const TO = ['support@help.example.com'];

let double: Double;
let h: Harness;
let redis: Redis;
let queue: Queue;
let env: Record<string, string>;

const idOf = (response: string) => /queued as ([0-9a-f]+)/.exec(response)![1]!;

async function send(ticket: string, tag: string, body = `body ${tag}`) {
  const raw = await compose({
    from: FROM,
    to: TO[0],
    subject: `[${ticket}] ${tag}`,
    messageId: `<${tag}@example.net>`,
    text: body,
  });
  const r = await sendRaw(h.smtpPort, raw, { from: FROM, to: TO });
  expect(r.code).toBe(250);
  return { id: idOf(r.response), raw };
}

async function failedJob(ticket = 'ZZ-999999') {
  const tag = randomBytes(4).toString('hex');
  const sent = await send(ticket, tag, `PRIVATE-BODY-${tag}`);
  await waitFor('failed', async () => (await (await queue.getJob(sent.id))?.getState()) === 'failed');
  return { ...sent, tag };
}

beforeAll(async () => {
  double = await startSirportlyDouble();
  h = await startHarness(inject('redisUrl'), double);
  redis = new Redis(inject('redisUrl'));
  queue = new Queue(QUEUE_NAME, { connection: redis, prefix: h.config.redis.prefix });
  env = { REDIS_URL: inject('redisUrl'), MAILGATE_CONFIG: '', LOG_LEVEL: 'error' };
  // The CLI reads the prefix from config: give it the harness's through an overlay file.
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'mailgate-qa-'));
  writeFileSync(join(dir, 'c.yaml'), `redis:\n  prefix: ${h.config.redis.prefix}\n`);
  env.MAILGATE_CONFIG = join(dir, 'c.yaml');
});
afterAll(async () => {
  await h?.close();
  await queue?.close();
  redis?.disconnect();
  await double?.close();
});

describe('queue failed / show', () => {
  it('lists a failed job with id, ticket, reason, attempts and first seen; show gives the door verdict but never the body', async () => {
    const f = await failedJob();
    const [list, human, table, raw] = await Promise.all([
      runQueue(['failed', '--json'], env),
      runQueue(['failed', '--limit', '5'], env),
      runQueue(['show', f.id], env),
      // The real binary once: the bytes on its stdout are the message, unchanged.
      runCli(['queue', 'show', f.id, '--raw'], env),
    ]);
    expect(list.code).toBe(0);
    const jobs = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    const mine = jobs.find((j) => j.id === f.id);
    expect(mine).toMatchObject({ ticket: 'ZZ-999999', attempts: 1 });
    expect(String(mine!.reason)).toMatch(/not_found/);
    expect(Date.parse(String(mine!.firstSeen))).toBeGreaterThan(Date.now() - 60_000);

    expect(human.code).toBe(0);
    expect(human.stdout.split('\n')[0]).toMatch(
      /^id\s+ticket\s+attempts\s+first seen\s+failed at\s+raw bytes until\s+reason$/,
    );
    expect(human.stdout).toContain(f.id);

    // --json prints this object as it is.
    const view = (await showJob(
      { config: h.config, queue, redis, keys: keys(h.config.redis.prefix), now: Date.now },
      f.id,
    ))!;
    expect(view.state).toBe('failed');
    expect(view.door).toMatchObject({
      verdict: 'post',
      reason: 'reference:subject',
      ticket: 'ZZ-999999',
      messageId: `${f.tag}@example.net`,
    });
    expect(view.raw).toMatchObject({ stored: true, bytes: f.raw.length });
    expect(table.stdout).toMatch(/door verdict\s+post \(reference:subject\)/);
    for (const out of [JSON.stringify(view), table.stdout]) expect(out).not.toContain(`PRIVATE-BODY-${f.tag}`);

    expect(raw.code).toBe(0);
    expect(raw.stdoutBytes.equals(f.raw)).toBe(true);
  });
});

describe('queue stats', () => {
  it('counts by state and the oldest waiting job', async () => {
    // A gateway without workers, on its own prefix: its jobs wait.
    const d = await startSirportlyDouble();
    const g = await startHarness(inject('redisUrl'), d, {}, 'smtp');
    try {
      const raw = (tag: string) => compose({ from: FROM, to: TO[0], subject: `[GJ-060309] ${tag}`, text: tag });
      const first = await sendRaw(g.smtpPort, await raw('one'), { from: FROM, to: TO });
      await sendRaw(g.smtpPort, await raw('two'), { from: FROM, to: TO });
      const { mkdtempSync, writeFileSync } = await import('node:fs');
      const { join } = await import('node:path');
      const { tmpdir } = await import('node:os');
      const file = join(mkdtempSync(join(tmpdir(), 'mailgate-qs-')), 'c.yaml');
      writeFileSync(file, `redis:\n  prefix: ${g.config.redis.prefix}\n`);
      const human = await runQueue(['stats'], { ...env, MAILGATE_CONFIG: file });
      expect(human.stderr).toBe('');
      expect(human.code).toBe(0);
      // --json prints this object as it is.
      const q = new Queue(QUEUE_NAME, { connection: redis, prefix: g.config.redis.prefix });
      const firstJob = await q.getJob(idOf(first.response));
      // The clock the stats read is given: 90 s after the first message was queued.
      const stats = await queueStats({ queue: q, now: () => firstJob!.timestamp + 90_000 });
      await q.close();
      expect(stats.counts).toMatchObject({ waiting: 2, active: 0, failed: 0 });
      expect(stats.oldestWaiting).toEqual({
        id: idOf(first.response),
        since: new Date(firstJob!.timestamp).toISOString(),
        ageSeconds: 90,
      });
      expect(human.stdout).toMatch(/^waiting\s+2$/m);
      expect(human.stdout).toMatch(/oldest waiting: \d+s \(job [0-9a-f]+/);

      // The same figure on /metrics, by the gateway's own clock at the time of the request.
      const before = Date.now();
      const metrics = await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text();
      const after = Date.now();
      const age = Number(/^mailgate_queue_oldest_waiting_seconds (\S+)$/m.exec(metrics)?.[1]);
      expect(age).toBeGreaterThanOrEqual((before - firstJob!.timestamp) / 1000);
      expect(age).toBeLessThanOrEqual((after - firstJob!.timestamp) / 1000);
    } finally {
      await g.close();
      await d.close();
    }
  });

  it('Redis unreachable: one line naming it (password hidden) and exit 69', async () => {
    const r = await runCli(['queue', 'stats'], { REDIS_URL: 'redis://:hunter22@127.0.0.1:1' });
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/^mailgate: cannot reach Redis at redis:\/\/\*\*\*@127\.0\.0\.1:1/);
    expect(r.stderr).not.toContain('hunter22');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('queue retry', () => {
  it('after the cause is fixed, a retried job is posted once', async () => {
    const ref = `RT-${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`;
    const f = await failedJob(ref);
    double.state.addTicket(ref, 'created after the mail failed');
    const r = await runQueue(['retry', f.id], env);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`retried ${f.id}`);
    await waitFor('posted', () => double.state.updates(ref).length > 0);
    await waitFor('the job to complete', async () => (await (await queue.getJob(f.id))?.getState()) === 'completed');
    expect(double.state.updates(ref)).toHaveLength(1);
    const ctx = { config: h.config, queue, redis, keys: keys(h.config.redis.prefix), now: Date.now };
    await expect(retryJob(ctx, f.id)).rejects.toMatchObject({
      code: 'wrong_state',
      message: expect.stringMatching(/is completed, not failed/),
    });
  });

  it('retry --all --since only takes jobs that failed since then; the retry period starts again', async () => {
    const ref = `RS-${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`;
    const old = await failedJob(ref);
    // One millisecond after the old job failed: the fresh one fails later, after a message's round trip.
    const since = (await queue.getJob(old.id))!.finishedOn! + 1;
    const between = new Date(since).toISOString();
    const fresh = await failedJob(ref);
    expect((await queue.getJob(fresh.id))!.finishedOn).toBeGreaterThanOrEqual(since);
    // An old job: its retry period would be over, so without a fresh period one 5xx would fail it.
    const stamp = Date.now() - 100 * 3_600_000;
    await redis.hset(`${h.config.redis.prefix}:updates:${fresh.id}`, 'timestamp', String(stamp));
    double.state.addTicket(ref);
    double.faults.only = ['post_update'];
    double.faults.failNext = 1;
    const r = await runQueue(['retry', '--all', '--since', between, '--json'], env);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { retried: string[]; skipped: unknown[] };
    expect(out.retried).toEqual([fresh.id]);
    await waitFor('posted', () => double.state.updates(ref).some((u) => u.fields.subject?.includes(fresh.tag)));
    expect(double.state.updates(ref)).toHaveLength(1);
    expect(await (await queue.getJob(old.id))?.getState()).toBe('failed');
    double.resetFaults();
  });

  it('bad usage is exit 64, an unknown job exit 1, each with one line on stderr', async () => {
    const [none, since, unknown, limit] = await Promise.all([
      // The real binary: its exit codes are what scripts see.
      runCli(['queue', 'retry'], env),
      runQueue(['retry', '--all', '--since', 'yesterday'], env),
      runQueue(['show', 'nope123'], env),
      runQueue(['failed', '--limit', 'x'], env),
    ]);
    expect(limit.code).toBe(64);
    expect(limit.stderr).toMatch(/--limit/);
    expect(none.code).toBe(64);
    expect(none.stderr.trim()).toBe('mailgate: queue retry: give a job id or --all (not both)');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe('mailgate: no job nope123');
    expect(since.code).toBe(64);
    expect(since.stderr).toMatch(/--since yesterday/);
  });
});

describe('queue discard', () => {
  it('removes the job and its raw bytes; the same message sent again is not posted', async () => {
    const f = await failedJob();
    const r = await runQueue(['discard', f.id, '--json'], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ id: f.id, state: 'failed', rawDeleted: true });
    expect(await redis.exists(`${h.config.redis.prefix}:raw:${f.id}`)).toBe(0);
    expect(await queue.getJob(f.id)).toBeUndefined();
    const again = await sendRaw(h.smtpPort, f.raw, { from: FROM, to: TO });
    expect(again.response).toMatch(/already queued/);
  });
});

describe('helpers', () => {
  it('parseSince takes spans, days, ISO times and RFC 5322 dates', () => {
    const now = Date.parse('2024-05-01T12:00:00Z');
    expect(parseSince('90m', now)).toBe(now - 90 * 60_000);
    expect(parseSince('6h', now)).toBe(now - 6 * 3_600_000);
    expect(parseSince('2d', now)).toBe(now - 2 * 86_400_000);
    expect(parseSince('2024-05-01T10:00:00Z', now)).toBe(Date.parse('2024-05-01T10:00:00Z'));
    expect(parseSince('2024-05-01T10:00:00.123+02:00', now)).toBe(Date.parse('2024-05-01T08:00:00.123Z'));
    expect(parseSince('2024-04-30', now)).toBe(Date.parse('2024-04-30T00:00:00Z'));
    expect(parseSince('Tue, 30 Apr 2024 14:00:00 +0200', now)).toBe(Date.parse('2024-04-30T12:00:00Z'));
    expect(parseSince('2024-02-31', now)).toBeNull();
    expect(parseSince('yesterday', now)).toBeNull();
    expect(parseSince('6 hours', now)).toBeNull();
  });

  it('table aligns columns and cuts long cells', () => {
    expect(table(['a', 'bb'], [['xxx', 'y'.repeat(80)]], { maxWidth: 10 })).toBe(`a    bb\nxxx  ${'y'.repeat(9)}…`);
  });
});
