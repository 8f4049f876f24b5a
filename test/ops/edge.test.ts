// Edge safety: connections per client IP, STARTTLS required, secrets read from *_FILE variables.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { connectionRateLimit } from '../../src/intake/connection-rate.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, startHarness, waitFor, type Double } from '../support/harness.js';
import { selfSignedCert } from '../support/tls.js';

const FROM = 'customer@example.net';
const TO = ['support@help.example.com'];

/** The first reply line the server sends on a fresh connection. */
function greeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let text = '';
    sock.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\r\n')) {
        sock.destroy();
        resolve(text.split('\r\n')[0]!);
      }
    });
    sock.once('error', reject);
  });
}

let double: Double;
beforeAll(async () => {
  double = await startSirportlyDouble();
});
afterAll(async () => {
  await double?.close();
});

describe('connection rate limit per client IP', () => {
  it('counts connections in a fixed window and forgets them in the next', () => {
    let t = 0;
    const limit = connectionRateLimit({ max: 2, windowSeconds: 10 }, () => t);
    expect([limit.allow('a'), limit.allow('a'), limit.allow('a'), limit.allow('b')]).toEqual([true, true, false, true]);
    t = 10_000;
    expect(limit.allow('a')).toBe(true);
    expect(connectionRateLimit({ max: 0, windowSeconds: 1 }).allow('a')).toBe(true);
  });

  it('over the limit: 421 4.7.0 at connect, counted in /metrics', async () => {
    const h = await startHarness(inject('redisUrl'), double, {
      smtp: { connectionRateLimit: { max: 3, windowSeconds: 60 } },
    });
    try {
      const replies = [];
      for (let i = 0; i < 4; i++) replies.push(await greeting(h.smtpPort));
      expect(replies.slice(0, 3).every((r) => r.startsWith('220 '))).toBe(true);
      expect(replies[3]).toMatch(/^421 4\.7\.0 Too many connections/);
      const metrics = await (await fetch(`http://127.0.0.1:${h.httpPort}/metrics`)).text();
      expect(metrics).toMatch(/mailgate_smtp_sessions_total\{outcome="rate_limited"\} 1/);
      expect(metrics).toMatch(/mailgate_smtp_sessions_total\{outcome="accepted"\} 3/);
    } finally {
      await h.close();
    }
  });
});

describe('smtp.requireTls', () => {
  it('MAIL FROM without STARTTLS gets 530 5.7.0; after STARTTLS the mail goes through', async () => {
    const { keyFile, certFile } = selfSignedCert();
    const h = await startHarness(inject('redisUrl'), double, {
      smtp: { tls: { keyFile, certFile }, requireTls: true },
    });
    try {
      const tag = randomBytes(4).toString('hex');
      const raw = await compose({ from: FROM, to: TO[0], subject: `[GJ-060309] tls ${tag}`, text: tag });
      const plain = createTransport({ host: '127.0.0.1', port: h.smtpPort, ignoreTLS: true });
      const refused = await plain
        .sendMail({ envelope: { from: FROM, to: TO }, raw })
        .catch((e: { responseCode?: number; response?: string }) => e);
      plain.close();
      expect((refused as { responseCode?: number }).responseCode).toBe(530);
      expect((refused as { response?: string }).response).toMatch(/^530 5\.7\.0 Must issue a STARTTLS command first/);

      const secure = createTransport({
        host: '127.0.0.1',
        port: h.smtpPort,
        requireTLS: true,
        tls: { rejectUnauthorized: false },
      });
      const info = await secure.sendMail({ envelope: { from: FROM, to: TO }, raw });
      secure.close();
      expect(String(info.response)).toMatch(/^250/);
      await waitFor('update', () => double.state.updates('GJ-060309').find((u) => u.fields.subject?.includes(tag)));
      const metrics = await (await fetch(`http://127.0.0.1:${h.httpPort}/metrics`)).text();
      expect(metrics).toMatch(/mailgate_smtp_refused_total\{stage="MAIL",reason="tls_required"\} 1/);
    } finally {
      await h.close();
    }
  });

  it('without a certificate it is a configuration error', () => {
    expect(() => loadConfig({ env: {}, overrides: { smtp: { requireTls: true } } })).toThrow(
      /smtp\.requireTls: needs smtp\.tls\.keyFile/,
    );
  });
});

describe('secrets from *_FILE variables', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailgate-secrets-'));
  const file = (name: string, content: string) => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };

  it('reads SIRPORTLY_TOKEN_FILE, SIRPORTLY_SECRET_FILE, REDIS_URL_FILE without the trailing newline', () => {
    const config = loadConfig({
      env: {
        SIRPORTLY_TOKEN_FILE: file('token', 'tok-1234\n'),
        SIRPORTLY_SECRET_FILE: file('secret', 'sec-4567\r\n'),
        REDIS_URL_FILE: file('redis', 'redis://:pw-12345@10.0.0.9:6380/2\n'),
        ADMIN_TOKEN_FILE: file('admin', 'adm-7890'),
      },
    });
    expect(config.sirportly.token).toBe('tok-1234');
    expect(config.sirportly.secret).toBe('sec-4567');
    expect(config.redis.url).toBe('redis://:pw-12345@10.0.0.9:6380/2');
    expect(config.admin.token).toBe('adm-7890');
  });

  it('a file that cannot be read is a config error naming the variable', () => {
    expect(() => loadConfig({ env: { SIRPORTLY_SECRET_FILE: join(dir, 'missing') } })).toThrow(
      /^SIRPORTLY_SECRET_FILE=.*missing: cannot be read \(ENOENT\)$/,
    );
  });

  it('both NAME and NAME_FILE set is a config error', () => {
    expect(() =>
      loadConfig({ env: { SIRPORTLY_TOKEN: 'token-aaa', SIRPORTLY_TOKEN_FILE: file('t2', 'token-bbb') } }),
    ).toThrow(/SIRPORTLY_TOKEN and SIRPORTLY_TOKEN_FILE are both set/);
  });

  it('an empty NAME beside NAME_FILE is unset (compose passes ${NAME:-}): the file is read', () => {
    const config = loadConfig({
      env: {
        SIRPORTLY_TOKEN: '',
        SIRPORTLY_TOKEN_FILE: file('t3', 'token-from-file\n'),
        ADMIN_PASSWORD: '',
        ADMIN_PASSWORD_FILE: '',
      },
    });
    expect(config.sirportly.token).toBe('token-from-file');
    expect(config.admin.password).toBe('');
  });
});

describe('admin dashboard switch', () => {
  it('admin.enabled: true without a login is a config error', () => {
    expect(() => loadConfig({ env: {}, overrides: { admin: { enabled: true } } })).toThrow(
      /^admin\.enabled: needs admin\.token/,
    );
    expect(
      loadConfig({
        env: { ADMIN_USERNAME: 'ops', ADMIN_PASSWORD: 'pw-12345' },
        overrides: { admin: { enabled: true } },
      }).admin.password,
    ).toBe('pw-12345');
  });

  it('auto (the default): on when a token or a username and password are set, off without, and says why', () => {
    expect(loadConfig({ env: {} }).admin).toMatchObject({
      enabled: false,
      why: expect.stringMatching(/^no login: set ADMIN_TOKEN/),
    });
    expect(loadConfig({ env: { ADMIN_TOKEN: 'adm-token-1' } }).admin).toMatchObject({
      enabled: true,
      why: 'admin.token (ADMIN_TOKEN) is set (admin.enabled: auto)',
    });
    expect(loadConfig({ env: { ADMIN_USERNAME: 'ops', ADMIN_PASSWORD: 'pw-12345' } }).admin).toMatchObject({
      enabled: true,
      why: expect.stringMatching(/ADMIN_USERNAME, ADMIN_PASSWORD\) are set/),
    });
  });

  it('half a login is refused while the dashboard may be on; false wins over a login', () => {
    expect(() => loadConfig({ env: { ADMIN_USERNAME: 'ops' } })).toThrow(
      /^admin\.password \(ADMIN_PASSWORD\): is required with admin\.username/,
    );
    expect(() => loadConfig({ env: { ADMIN_PASSWORD: 'pw-12345' } })).toThrow(
      /^admin\.username \(ADMIN_USERNAME\): is required with admin\.password/,
    );
    expect(loadConfig({ env: { ADMIN_USERNAME: 'ops' }, overrides: { admin: { enabled: false } } }).admin.enabled).toBe(
      false,
    );
    expect(
      loadConfig({ env: { ADMIN_TOKEN: 'adm-token-1' }, overrides: { admin: { enabled: false } } }).admin,
    ).toMatchObject({
      enabled: false,
      why: 'admin.enabled is false (admin.token (ADMIN_TOKEN) is set but not used)',
    });
  });
});

describe('secrets shorter than 8 characters', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailgate-short-'));
  it('are refused with one line naming the setting, never the value', () => {
    const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
      [{ SIRPORTLY_TOKEN: 't' }, /^sirportly\.token \(SIRPORTLY_TOKEN\): must be at least 8 characters/],
      [{ SIRPORTLY_SECRET: 'sec-123' }, /^sirportly\.secret \(SIRPORTLY_SECRET\): must be at least 8/],
      [{ ADMIN_TOKEN: 'abc' }, /^admin\.token \(ADMIN_TOKEN\): must be at least 8/],
      [{ ADMIN_USERNAME: 'ops', ADMIN_PASSWORD: 'pw' }, /^admin\.password \(ADMIN_PASSWORD\): must be at least 8/],
      [{ REDIS_URL: 'redis://:pw@127.0.0.1:6379' }, /^redis\.url \(REDIS_URL\): its password must be at least 8/],
      [
        { REDIS_URL: 'redis://user:p%40ss@127.0.0.1:6379' },
        /^redis\.url \(REDIS_URL\): its password must be at least 8/,
      ],
    ];
    for (const [env, message] of cases) {
      let caught: unknown;
      try {
        loadConfig({ env });
      } catch (err) {
        caught = err;
      }
      expect(caught, JSON.stringify(env)).toBeInstanceOf(Error);
      const text = (caught as Error).message;
      expect(text).toMatch(message);
      expect(text.split('\n')).toHaveLength(1);
    }
    // Long enough, or not set at all: fine.
    expect(
      loadConfig({ env: { SIRPORTLY_TOKEN: '12345678', REDIS_URL: 'redis://user@127.0.0.1:6379' } }).sirportly.token,
    ).toBe('12345678');
  });

  it('a route account too: inline or from its file', () => {
    const tokenFile = join(dir, 'route-token');
    writeFileSync(tokenFile, 'short\n');
    const route = (sirportly: Record<string, string>) => ({ routes: [{ name: 'sales', sirportly }] });
    expect(() => loadConfig({ env: {}, overrides: route({ token: 'tiny', secret: 'sec-long-enough' }) })).toThrow(
      /^routes\[0\]\.sirportly\.token: must be at least 8/,
    );
    expect(() => loadConfig({ env: {}, overrides: route({ tokenFile, secret: 'sec-long-enough' }) })).toThrow(
      new RegExp(`^routes\\[0\\]\\.sirportly\\.tokenFile=${tokenFile}: must be at least 8`),
    );
  });
});
