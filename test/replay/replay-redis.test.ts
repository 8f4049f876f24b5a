// Replay into a real Redis, posted by real gateway workers to the Sirportly double: one update per
// message, nothing new on a second run, back-pressure when no worker drains the queue, and a
// clean stop when Redis goes away.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { QUEUE_NAME } from '../../src/queue/keys.js';
import { runReplay, type ReplayOptions } from '../../src/replay/replay.js';
import {
  LogSink,
  queueSettled,
  startHarness,
  testConfig,
  waitFor,
  waitForLog,
  type Double,
  type Harness,
} from '../support/harness.js';
import { RedisServer } from '../support/redis-server.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { buildArchive, Capture } from './helpers.js';

const redisUrl = inject('redisUrl');

function options(paths: string[], extra: Partial<ReplayOptions> = {}): ReplayOptions {
  return { paths, dryRun: false, format: 'auto', since: null, until: null, json: true, ...extra };
}

async function replay(paths: string[], config: Config, extra: Partial<ReplayOptions> = {}, logs = new LogSink()) {
  const stdout = new Capture();
  const stderr = new Capture();
  const result = await runReplay(options(paths, extra), config, createLogger('warn', logs), {
    stdout,
    stderr,
  });
  return {
    ...result,
    stdout: stdout.text,
    stderr: stderr.text,
    json: (extra.json === false ? null : JSON.parse(stdout.text)) as Record<string, unknown> | null,
  };
}

function updatesWith(double: Double, marker: string) {
  return double.state.allUpdates().filter((u) => u.fields.subject?.includes(`(${marker})`));
}

describe('replay into Redis, posted by the workers', () => {
  let double: Double;
  let workers: Harness;
  const dir = mkdtempSync(join(tmpdir(), 'replay-redis-'));

  beforeAll(async () => {
    double = await startSirportlyDouble();
    workers = await startHarness(redisUrl, double, {}, 'worker');
  });
  afterAll(async () => {
    await workers.close();
    await double.close();
  });

  it('one update per message; a second run of the same archive adds none', async () => {
    const archive = buildArchive(dir, 24, 'twice');
    const first = await replay([archive.path], workers.config);
    expect(first.exitCode).toBe(0);
    const s1 = first.json as {
      accepted: number;
      duplicates: number;
      dropped: { total: number };
      rejected: { total: number };
      messages: number;
    };
    expect(s1.messages).toBe(24);
    expect(s1.rejected.total).toBe(0);
    expect(s1.accepted + s1.dropped.total).toBe(24);
    expect(s1.accepted).toBeGreaterThanOrEqual(20);
    await waitFor(
      'every accepted message posted',
      () => archive.markers.filter((m) => updatesWith(double, m).length > 0).length === s1.accepted,
      20_000,
    );
    // Every job ended: nothing more is posted for the first run.
    await queueSettled(redisUrl, workers.config.redis.prefix);
    for (const m of archive.markers) expect(updatesWith(double, m).length).toBeLessThanOrEqual(1);
    const posted = double.state.allUpdates().length;

    const second = await replay([archive.path], workers.config);
    expect(second.exitCode).toBe(0);
    expect(second.json).toMatchObject({ accepted: 0, duplicates: s1.accepted, dropped: { total: s1.dropped.total } });
    await queueSettled(redisUrl, workers.config.redis.prefix);
    expect(double.state.allUpdates().length).toBe(posted);
    // Posted with the archive's own dates (Date: header), not the time of the run.
    const u = updatesWith(double, archive.markers[0]!)[0]!;
    expect(u.fields.posted_at).toMatch(/^2017-12-/);
  });

  it('--since/--until pick messages by their date; the others are skipped, not rejected', async () => {
    const archive = buildArchive(dir, 12, 'dates', 1);
    const r = await replay([archive.path], workers.config, {
      since: new Date('2017-12-01T12:00:00Z'),
      until: new Date('2017-12-02T00:00:00Z'),
    });
    expect(r.exitCode).toBe(0);
    const s = r.json as { accepted: number; skipped: { total: number; reasons: Record<string, { count: number }> } };
    // In the window: 1 Dec 12:20, 14:45, 16:05 (11:05 -0500), 17:18, 19:02, 21:40, 23:59 UTC; three
    // earlier that morning (one written +0100), two on 2 Dec (01:10 and 10:15 UTC).
    expect(s.accepted).toBe(7);
    expect(s.skipped.reasons).toEqual({
      before_since: expect.objectContaining({ count: 3 }),
      after_until: expect.objectContaining({ count: 2 }),
    });
    expect(s.accepted + s.skipped.total).toBe(12);
    await waitFor(
      'posted',
      () => archive.markers.filter((m) => updatesWith(double, m).length > 0).length === s.accepted,
      20_000,
    );
    for (const m of archive.markers) {
      for (const u of updatesWith(double, m)) {
        expect(u.fields.posted_at! >= '2017-12-01T12:00:00Z' && u.fields.posted_at! < '2017-12-02T00:00:00Z').toBe(
          true,
        );
      }
    }
  });
});

describe('back-pressure', () => {
  it('pauses while too many jobs wait, and goes on when workers drain the queue', async () => {
    const double = await startSirportlyDouble();
    const config = testConfig(
      redisUrl,
      { url: double.url, token: double.token, secret: double.secret },
      { replay: { maxWaitingJobs: 5, maxInFlight: 2 } },
    );
    const dir = mkdtempSync(join(tmpdir(), 'replay-bp-'));
    const archive = buildArchive(dir, 30, 'bp');
    const conn = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    const queue = new Queue(QUEUE_NAME, { connection: conn, prefix: config.redis.prefix });
    let workers: Harness | null = null;
    try {
      let finished = false;
      const logs = new LogSink();
      const run = replay([archive.path], config, {}, logs).finally(() => (finished = true));
      // No worker yet: the replay pauses near the limit (5 + checked every 1 + 2 in flight).
      await waitForLog(logs, 'replay paused');
      const waiting = await queue.getWaitingCount();
      expect(finished).toBe(false);
      expect(waiting).toBeGreaterThanOrEqual(5);
      expect(waiting).toBeLessThanOrEqual(8);
      workers = await startHarness(redisUrl, double, { redis: { prefix: config.redis.prefix } }, 'worker');
      const r = await run;
      expect(r.exitCode).toBe(0);
      await waitFor('all posted', () => archive.markers.every((m) => updatesWith(double, m).length === 1), 20_000);
      expect(double.state.allUpdates()).toHaveLength((r.json as { accepted: number }).accepted);
    } finally {
      await workers?.close();
      await queue.close();
      conn.disconnect();
      await double.close();
    }
  });
});

describe('Redis goes away', () => {
  it('retries a bounded number of times, then stops: rejected store_unavailable, exit 75 (run again)', async () => {
    const server = await RedisServer.start();
    const double = await startSirportlyDouble();
    const config = testConfig(
      server.url,
      { url: double.url, token: double.token, secret: double.secret },
      {
        smtp: { acceptTimeoutMs: 500 },
        replay: { maxWaitingJobs: 3, maxInFlight: 1, tempfailAttempts: 3, tempfailBackoffMs: 50 },
      },
    );
    const dir = mkdtempSync(join(tmpdir(), 'replay-down-'));
    const archive = buildArchive(dir, 20, 'down');
    const conn = new Redis(server.url, { maxRetriesPerRequest: 1 });
    conn.on('error', () => undefined);
    const queue = new Queue(QUEUE_NAME, { connection: conn, prefix: config.redis.prefix });
    queue.on('error', () => undefined);
    try {
      const run = replay([archive.path], config, { json: false });
      // Paused by back-pressure with 3 jobs queued: now Redis dies.
      await waitFor('three queued', async () => (await queue.getWaitingCount()) >= 3, 10_000);
      await server.stop();
      const r = await run;
      expect(r.exitCode).toBe(75);
      expect(r.stdout).toMatch(/rejected +1 +store_unavailable 1/);
      expect(r.stdout).toMatch(/stopped: Redis did not take a message after 3 attempts \(451 4\.3\.0/);
      expect(r.stdout).toMatch(/Run the same command again/);
      // Three were queued when Redis died (the third may have been cut off before its seen marker:
      // then it is the one that was retried and rejected).
      expect(r.stdout).toMatch(/accepted +[23]\b/);
    } finally {
      await queue.close().catch(() => undefined);
      conn.disconnect();
      await double.close();
      await server.destroy();
    }
  });
});
