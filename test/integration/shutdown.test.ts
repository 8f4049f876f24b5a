// SIGTERM to a real `serve` process: it ends within its close timeouts whatever Redis and
// Sirportly are doing, and a sender that connects meanwhile hears 421 instead of a closed port.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { freePort, RedisServer } from '../support/redis-server.js';
import { sendRaw, waitFor, type Double } from '../support/harness.js';
import { SmtpSession } from '../support/smtp-session.js';

const CLI = resolve(import.meta.dirname, '../../dist/src/cli.js');
const SMTP_CLOSE_MS = 2000;
const QUEUE_CLOSE_MS = 3000;

interface Serve {
  proc: ChildProcess;
  smtpPort: number;
  httpPort: number;
  logs: () => string;
  exited: Promise<{ code: number | null; at: number }>;
}

async function serve(redisUrl: string, double: Double, waitReadyz: boolean): Promise<Serve> {
  const smtpPort = await freePort();
  const httpPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mailgate-stop-'));
  const cfg = join(dir, 'c.yaml');
  writeFileSync(
    cfg,
    [
      `redis:\n  prefix: stop${randomBytes(4).toString('hex')}`,
      `smtp:\n  closeTimeoutMs: ${SMTP_CLOSE_MS}\n  doorThread: true`,
      `queue:\n  closeTimeoutMs: ${QUEUE_CLOSE_MS}\n  backoffInitialMs: 100\n  workerNiceness: 0`,
      `sirportly:\n  requestTimeoutMs: 60000`,
      '',
    ].join('\n'),
  );
  const proc = spawn(process.execPath, [CLI, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      REDIS_URL: redisUrl,
      SIRPORTLY_URL: double.url,
      SIRPORTLY_TOKEN: double.token,
      SIRPORTLY_SECRET: double.secret,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtpPort),
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      MAILGATE_CONFIG: cfg,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  proc.stdout.on('data', (d: Buffer) => (logs += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (logs += d.toString()));
  const exited = new Promise<{ code: number | null; at: number }>((r) =>
    proc.on('exit', (code) => r({ code, at: Date.now() })),
  );
  await waitFor('mailgate started', () => logs.includes('mailgate started'), 20_000);
  if (waitReadyz) {
    await waitFor(
      'readyz',
      async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => null))?.status === 200,
      10_000,
    );
  }
  return { proc, smtpPort, httpPort, logs: () => logs, exited };
}

/** Resolves with the exit once it comes, or with null once `ms` have passed without it. */
function exitWithin(s: Serve, ms: number): Promise<{ code: number | null; at: number } | null> {
  return Promise.race([s.exited, new Promise<null>((r) => setTimeout(() => r(null), ms))]);
}

describe('serve: SIGTERM always ends', () => {
  let double: Double;
  const procs: ChildProcess[] = [];
  beforeAll(async () => {
    double = await startSirportlyDouble();
  });
  afterEach(() => {
    for (const p of procs.splice(0)) p.kill('SIGKILL');
    double.resetFaults();
  });
  afterAll(async () => {
    await double.close();
  });

  it('with Redis stopped, the process exits within the larger close timeout plus a second', async () => {
    const redis = await RedisServer.start();
    const s = await serve(redis.url, double, true);
    procs.push(s.proc);
    await redis.destroy();
    // The gateway has seen Redis go (readiness fails) before the signal.
    await waitFor(
      'readyz to fail',
      async () => (await fetch(`http://127.0.0.1:${s.httpPort}/readyz`).catch(() => null))?.status === 503,
      10_000,
    );
    s.proc.kill('SIGTERM');
    const exit = await exitWithin(s, Math.max(SMTP_CLOSE_MS, QUEUE_CLOSE_MS) + 1000);
    expect(
      exit,
      `still running ${Math.max(SMTP_CLOSE_MS, QUEUE_CLOSE_MS) + 1000} ms after SIGTERM; logs:\n${s.logs().slice(-2000)}`,
    ).not.toBeNull();
    expect(s.logs()).toMatch(/shut down/);
  }, 60_000);

  it('with Sirportly holding a post, the process exits within queue.closeTimeoutMs plus a second; the job is left for another worker', async () => {
    const redis = await RedisServer.start();
    try {
      const s = await serve(redis.url, double, true);
      procs.push(s.proc);
      double.faults.delayMs = 120_000;
      const tag = randomBytes(4).toString('hex');
      const raw = Buffer.from(
        `From: ann@example.net\r\nTo: support@example.com\r\nSubject: [GJ-060309] slow ${tag}\r\nMessage-ID: <${tag}@x>\r\n\r\nbody\r\n`,
      );
      const r = await sendRaw(s.smtpPort, raw, { from: 'ann@example.net', to: ['support@example.com'] });
      expect(r.code).toBe(250);
      const queueId = /queued as ([0-9a-f]+)/.exec(r.response)![1]!;
      // The worker is inside a Sirportly call that will not answer before the deadline.
      await waitFor('a Sirportly request', () => double.state.log.length > 0, 10_000);
      s.proc.kill('SIGTERM');
      const exit = await exitWithin(s, QUEUE_CLOSE_MS + 1000);
      expect(
        exit,
        `still running ${QUEUE_CLOSE_MS + 1000} ms after SIGTERM; logs:\n${s.logs().slice(-2000)}`,
      ).not.toBeNull();
      expect(s.logs()).toMatch(/worker did not finish in time/);
      // Cut off, not completed: the job is still there (active, its lock left to lapse) for the next worker.
      const { Redis } = await import('ioredis');
      const { Queue } = await import('bullmq');
      const { QUEUE_NAME } = await import('../../src/queue/keys.js');
      const conn = new Redis(redis.url);
      const keysFound = await conn.keys(`*:raw:${queueId}`);
      expect(keysFound).toHaveLength(1);
      const bullPrefix = keysFound[0]!.slice(0, keysFound[0]!.indexOf(':raw:'));
      const queue = new Queue(QUEUE_NAME, { connection: conn, prefix: bullPrefix });
      expect(await queue.getJobState(queueId)).toBe('active');
      await queue.close();
      conn.disconnect();
    } finally {
      await redis.destroy();
    }
  }, 60_000);
});

describe('serve: connections during shutdown', () => {
  let double: Double;
  let redis: RedisServer;
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    double = await startSirportlyDouble();
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await double.close();
    await redis.destroy();
  });

  it('a new connection gets "421 4.3.2" while a message in DATA finishes and gets its 250', async () => {
    const s = await serve(redis.url, double, true);
    child = s.proc;
    const tag = randomBytes(4).toString('hex');
    const first = await SmtpSession.open(s.smtpPort);
    expect(await first.reply()).toMatch(/^220/);
    expect(await first.command('EHLO client.example')).toMatch(/^250/);
    expect(await first.command('MAIL FROM:<ann@example.net>')).toMatch(/^250/);
    expect(await first.command('RCPT TO:<support@example.com>')).toMatch(/^250/);
    expect(await first.command('DATA')).toMatch(/^354/);
    first.write(
      `From: ann@example.net\r\nTo: support@example.com\r\nSubject: [GJ-060309] closing ${tag}\r\nMessage-ID: <${tag}@x>\r\n\r\nfirst half\r\n`,
    );

    s.proc.kill('SIGTERM');
    await waitFor('shutdown to begin', () => s.logs().includes('shutting down'));
    const late = await SmtpSession.open(s.smtpPort);
    expect(await late.reply()).toMatch(/^421 4\.3\.2 /);
    late.close();

    first.write('second half\r\n.\r\n');
    expect(await first.reply()).toMatch(/^250 2\.0\.0 Ok: queued as/);
    first.close();
    expect((await s.exited).code).toBe(0);
    expect(s.logs()).toMatch(/shut down cleanly/);
  }, 60_000);
});
