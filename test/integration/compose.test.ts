// The shipped docker-compose.yml, as far as it can be run without Docker: the gateway started
// with the environment compose gives it (with and without the Docker-secrets override of the
// README), and redis-server started with compose's own arguments.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { freePort } from '../support/redis-server.js';
import { waitFor, type Double } from '../support/harness.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/src/cli.js');

interface ComposeFile {
  services: {
    redis: { command: string[] };
    mailgate: { environment: Record<string, string>; ports: string[]; command: string[] };
  };
}

const compose = parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as ComposeFile;

/** Compose's interpolation of ${NAME:-default}, ${NAME-default}, ${NAME:?err} and ${NAME}. */
function interpolate(value: string, host: Record<string, string>): string {
  return value.replace(
    /\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}/g,
    (_, name: string, op: string | undefined, arg: string | undefined) => {
      const v = host[name];
      if (op === ':-') return v === undefined || v === '' ? (arg ?? '') : v;
      if (op === '-') return v ?? arg ?? '';
      if (op === ':?' || op === '?') {
        if (v === undefined || (op === ':?' && v === '')) throw new Error(`compose refuses: ${name}: ${arg}`);
        return v;
      }
      return v ?? '';
    },
  );
}

function composeEnv(host: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(compose.services.mailgate.environment).map(([k, v]) => [k, interpolate(String(v), host)]),
  );
}

interface Serving {
  child: ChildProcess;
  logs: () => string;
  started: Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

function serve(env: Record<string, string>): Serving {
  const child = spawn(process.execPath, [CLI, ...compose.services.mailgate.command], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const started = new Promise<Record<string, unknown>>((res, rej) => {
    const onData = (d: Buffer) => {
      logs += d.toString();
      const line = logs.split('\n').find((l) => l.includes('"msg":"mailgate started"'));
      if (line) res(JSON.parse(line) as Record<string, unknown>);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => rej(new Error(`mailgate exited ${code} before starting: ${logs}`)));
  });
  started.catch(() => undefined);
  return { child, logs: () => logs, started, exited };
}

describe('the gateway with the environment of docker-compose.yml', () => {
  let double: Double;
  let dir: string;
  let local: Record<string, string>;
  let httpPort: number;
  const running: ChildProcess[] = [];
  beforeAll(async () => {
    double = await startSirportlyDouble();
    dir = mkdtempSync(join(tmpdir(), 'mailgate-compose-'));
    httpPort = await freePort();
    // What differs from a container here: where Redis and Sirportly are, and free ports.
    local = {
      REDIS_URL: inject('redisUrl'),
      SIRPORTLY_URL: double.url,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(await freePort()),
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
    };
  });
  afterAll(async () => {
    for (const c of running) c.kill('SIGKILL');
    await double?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('publishes HTTP on 127.0.0.1 only and runs serve itself', () => {
    expect(compose.services.mailgate.ports).toContain('127.0.0.1:8080:8080');
    expect(compose.services.mailgate.ports.filter((p) => p.includes('8080'))).toHaveLength(1);
    expect(compose.services.mailgate.command).toEqual(['serve']);
  });

  it('Docker secrets as in the README (NAME_FILE, NAME left unset on the host) start it; ADMIN_TOKEN alone turns the dashboard on', async () => {
    const token = join(dir, 'sirportly_token');
    const secret = join(dir, 'sirportly_secret');
    writeFileSync(token, `${double.token}\n`);
    writeFileSync(secret, `${double.secret}\n`);
    const adminToken = 'admin-token-from-host';
    const env: Record<string, string> = {
      ...composeEnv({ ADMIN_TOKEN: adminToken }),
      // The override file of the README.
      SIRPORTLY_TOKEN_FILE: token,
      SIRPORTLY_SECRET_FILE: secret,
      ...local,
    };
    expect(env.SIRPORTLY_TOKEN).toBe('');
    const s = serve(env);
    running.push(s.child);
    const line = await s.started;
    expect(line).toMatchObject({
      admin: 'read-only',
      adminWhy: 'admin.token (ADMIN_TOKEN) is set (admin.enabled: auto)',
    });
    const base = `http://127.0.0.1:${httpPort}/admin`;
    expect((await fetch(base)).status).toBe(401);
    expect((await fetch(base, { headers: { authorization: `Bearer ${adminToken}` } })).status).toBe(200);
    await waitFor('ready', async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status === 200);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.logs()).not.toContain(double.token);
    expect(s.logs()).not.toContain(adminToken);
  });

  it('without an admin login the dashboard is off and the start-up line says why', async () => {
    const s = serve({ ...composeEnv({ SIRPORTLY_TOKEN: double.token, SIRPORTLY_SECRET: double.secret }), ...local });
    running.push(s.child);
    expect(await s.started).toMatchObject({
      admin: 'off',
      adminWhy: expect.stringMatching(/^no login: set ADMIN_TOKEN, or ADMIN_USERNAME and ADMIN_PASSWORD/),
    });
    expect((await fetch(`http://127.0.0.1:${httpPort}/admin`)).status).toBe(404);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  });

  it('refuses with exit 78 and one line: NAME and NAME_FILE both with a value, a short secret, half an admin login', async () => {
    const file = join(dir, 'token2');
    writeFileSync(file, 'token-from-file\n');
    const cases: Array<[Record<string, string>, Record<string, string>, RegExp]> = [
      [
        { SIRPORTLY_TOKEN: double.token, SIRPORTLY_SECRET: double.secret },
        { SIRPORTLY_TOKEN_FILE: file },
        /^mailgate: config: SIRPORTLY_TOKEN and SIRPORTLY_TOKEN_FILE are both set: use one$/,
      ],
      [
        { SIRPORTLY_TOKEN: 't', SIRPORTLY_SECRET: double.secret },
        {},
        /^mailgate: config: sirportly\.token \(SIRPORTLY_TOKEN\): must be at least 8 characters/,
      ],
      [
        { SIRPORTLY_TOKEN: double.token, SIRPORTLY_SECRET: double.secret, ADMIN_PASSWORD: 'pw' },
        {},
        /^mailgate: config: admin\.password \(ADMIN_PASSWORD\): must be at least 8 characters/,
      ],
      [
        { SIRPORTLY_TOKEN: double.token, SIRPORTLY_SECRET: double.secret, ADMIN_USERNAME: 'ops' },
        {},
        /^mailgate: config: admin\.password \(ADMIN_PASSWORD\): is required with admin\.username/,
      ],
    ];
    for (const [host, extra, message] of cases) {
      const s = serve({ ...composeEnv(host), ...extra, ...local });
      running.push(s.child);
      expect(await s.exited).toBe(78);
      const lines = s.logs().trim().split('\n');
      expect(lines, s.logs()).toHaveLength(1);
      expect(lines[0]).toMatch(message);
    }
  });
});

describe("Redis with docker-compose.yml's arguments", () => {
  it('has a maxmemory (REDIS_MAXMEMORY or the default), noeviction and AOF', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'mailgate-compose-redis-'));
    const [bin, ...args] = compose.services.redis.command.map((a) => interpolate(a, {}));
    const child = spawn(bin!, [...args, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''], {
      stdio: 'ignore',
    });
    const redis = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 200,
    });
    redis.on('error', () => undefined);
    try {
      await waitFor('redis', async () => (await redis.ping().catch(() => null)) === 'PONG');
      expect(await redis.config('GET', 'maxmemory')).toEqual(['maxmemory', String(1536 * 1024 * 1024)]);
      expect(await redis.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
      expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      // Full: Redis refuses the write (the door then answers 451) instead of evicting queued mail.
      await redis.config('SET', 'maxmemory', '1');
      await expect(redis.set('k', 'v')).rejects.toThrow(/OOM/);
    } finally {
      redis.disconnect();
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
    expect(compose.services.redis.command.map((a) => interpolate(a, { REDIS_MAXMEMORY: '4gb' }))).toContain('4gb');
  });
});
