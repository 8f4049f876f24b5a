// The Sirportly token and secret, the admin login and the Redis password never appear in a log
// line, at any level (trace prints everything the lower levels print, and more), on the good
// path and on every error path that has a log line: 5xx, 429, timeouts, refused credentials,
// Redis away, a failed admin login, and the real process with secrets from *_FILE variables.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, sendRaw, startHarness, waitFor, type Double } from '../support/harness.js';
import { freePort } from '../support/redis-server.js';
import { CLI } from './cli.js';

const FROM = 'customer@example.net';
const TO = ['support@help.example.com'];
const ADMIN_TOKEN = `admin-tok-${randomBytes(6).toString('hex')}`;
const ADMIN_PASSWORD = `admin-pw-${randomBytes(6).toString('hex')}`;
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

let double: Double;
beforeAll(async () => {
  double = await startSirportlyDouble({
    token: `tok-${randomBytes(8).toString('hex')}`,
    secret: `sec-${randomBytes(8).toString('hex')}`,
  });
});
afterAll(async () => {
  await double?.close();
});

function expectClean(text: string, secrets: string[]): void {
  for (const s of secrets) expect(text, `a log line carries ${s.slice(0, 6)}…`).not.toContain(s);
}

const mail = async (ticket: string, tag: string) =>
  compose({
    from: FROM,
    to: TO[0],
    subject: `[${ticket}] ${tag}`,
    messageId: `<${tag}@example.net>`,
    text: `BODY-${tag}`,
  });

describe.each(LEVELS)('at level %s', (level) => {
  it('good path, 5xx, 429, a hung post, refused credentials and a failed admin login', async () => {
    const h = await startHarness(inject('redisUrl'), double, {
      log: { level },
      sirportly: { requestTimeoutMs: 300 },
      admin: { enabled: true, token: ADMIN_TOKEN, username: 'ops', password: ADMIN_PASSWORD },
    });
    const wrong = `wrong-secret-${randomBytes(6).toString('hex')}`;
    const bad = await startHarness(inject('redisUrl'), double, { log: { level }, sirportly: { secret: wrong } });
    try {
      double.resetFaults();
      double.faults.only = ['post_update'];
      double.faults.failNext = 1;
      double.faults.status429Next = 1;
      double.faults.retryAfter = 0;
      double.faults.commitThenHangNext = level === 'trace' ? 1 : 0;
      double.faults.hangMs = 600;
      const tag = randomBytes(4).toString('hex');
      await sendRaw(h.smtpPort, await mail('GJ-060309', tag), { from: FROM, to: TO });
      await waitFor(
        'posted',
        () => double.state.updates('GJ-060309').some((u) => u.fields.subject?.includes(tag)),
        15_000,
      );
      const tag2 = randomBytes(4).toString('hex');
      await sendRaw(bad.smtpPort, await mail('GJ-060309', tag2), { from: FROM, to: TO });
      // Refused credentials: logged once at error level, and the job waits for them to be fixed.
      const refused = (l: Record<string, unknown>) => /^Sirportly refuses the credentials/.test(String(l.msg));
      await waitFor('refused', () => bad.logs.lines.some(refused) || level === 'fatal', 10_000);
      const base = `http://127.0.0.1:${h.httpPort}/admin/`;
      await fetch(base, { headers: { authorization: `Bearer ${ADMIN_TOKEN}x` } });
      await fetch(base, {
        headers: { authorization: `Basic ${Buffer.from(`ops:${ADMIN_PASSWORD}x`).toString('base64')}` },
      });
      await waitFor(
        'logged',
        () => h.logs.lines.some((l) => l.msg === 'job posted') || !['trace', 'debug', 'info'].includes(level),
      );
      if (level === 'trace') {
        expect(h.logs.lines.some((l) => l.msg === 'job will be retried')).toBe(true);
        expect(bad.logs.lines.some((l) => refused(l) && l.level === 50)).toBe(true);
      }
      const all = [...h.logs.text, ...bad.logs.text].join('\n');
      expectClean(all, [
        double.token,
        double.secret,
        wrong,
        ADMIN_TOKEN,
        ADMIN_PASSWORD,
        `BODY-${tag}`,
        `BODY-${tag2}`,
      ]);
    } finally {
      double.resetFaults();
      await h.close();
      await bad.close();
    }
  });
});

describe('the real process, secrets from *_FILE, Redis with a password', () => {
  it('at trace level through a Redis restart, a failed post and SIGTERM: no secret in stdout or stderr', async () => {
    const redisPassword = `redis-pw-${randomBytes(6).toString('hex')}`;
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'mailgate-logsec-'));
    const startRedis = () =>
      spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
          '--requirepass',
          redisPassword,
        ],
        { stdio: 'ignore' },
      );
    let redis = startRedis();
    const file = (name: string, content: string) => {
      const p = join(dir, name);
      writeFileSync(p, `${content}\n`);
      return p;
    };
    const smtpPort = await freePort();
    const httpPort = await freePort();
    const prefix = `ls${randomBytes(4).toString('hex')}`;
    const cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, `redis:\n  prefix: ${prefix}\nqueue:\n  backoffInitialMs: 100\nadmin:\n  enabled: true\n`);
    const proc = spawn(process.execPath, [CLI, 'serve'], {
      env: {
        PATH: process.env.PATH ?? '',
        LOG_LEVEL: 'trace',
        MAILGATE_CONFIG: cfg,
        REDIS_URL_FILE: file('redis_url', `redis://:${redisPassword}@127.0.0.1:${port}`),
        SIRPORTLY_URL: double.url,
        SIRPORTLY_TOKEN_FILE: file('token', double.token),
        SIRPORTLY_SECRET_FILE: file('secret', double.secret),
        ADMIN_TOKEN_FILE: file('admin_token', ADMIN_TOKEN),
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(smtpPort),
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(httpPort),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let logs = '';
    proc.stdout.on('data', (d: Buffer) => (logs += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (logs += d.toString()));
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    try {
      await waitFor(
        'ready',
        async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => null))?.status === 200,
        15_000,
      );
      double.faults.only = ['post_update'];
      double.faults.failNext = 1;
      const tag = randomBytes(4).toString('hex');
      expect((await sendRaw(smtpPort, await mail('GJ-060309', tag), { from: FROM, to: TO })).code).toBe(250);
      await waitFor(
        'posted',
        () => double.state.updates('GJ-060309').some((u) => u.fields.subject?.includes(tag)),
        15_000,
      );
      // Redis goes away and comes back: connection errors are logged.
      redis.kill('SIGKILL');
      await new Promise((r) => redis.once('exit', r));
      expect((await sendRaw(smtpPort, await mail('GJ-060309', `${tag}b`), { from: FROM, to: TO })).code).toBe(451);
      // Down long enough for reconnect attempts to fail and be logged.
      await waitFor('connection errors logged', () => logs.includes('connection error'), 5000).catch(() => undefined);
      redis = startRedis();
      await waitFor(
        'ready again',
        async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => null))?.status === 200,
        15_000,
      );
      await fetch(`http://127.0.0.1:${httpPort}/admin/`, { headers: { authorization: 'Bearer nope' } });
      proc.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(logs).toMatch(/"msg":"mailgate started"/);
      expect(logs).toMatch(/"verdict":"tempfail"/);
      expectClean(logs, [double.token, double.secret, ADMIN_TOKEN, redisPassword, `BODY-${tag}`]);
    } finally {
      double.resetFaults();
      proc.kill('SIGKILL');
      redis.kill('SIGKILL');
    }
  }, 45_000);
});
