// Real processes for chaos tests: the built `mailgate serve` with a role. (A redis-server with AOF
// on disk that can be killed and restarted on the same data is RedisServer.start('aof').)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../support/redis-server.js';
import { waitFor } from '../support/harness.js';

export const CLI = resolve(import.meta.dirname, '../../dist/src/cli.js');

export interface GatewayProcess {
  child: ChildProcess;
  smtpPort: number;
  httpPort: number;
  logs(): string;
  /** Log lines whose msg is `msg`, parsed. */
  lines(msg: string): Array<Record<string, unknown>>;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

export async function startGatewayProcess(opts: {
  role: 'all' | 'smtp' | 'worker';
  redisUrl: string;
  sirportly: { url: string; token: string; secret: string };
  /** YAML overlay (merged over config/default.yaml). */
  yaml: string;
  waitReady?: boolean;
}): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'mailgate-chaos-'));
  const cfg = join(dir, 'c.yaml');
  writeFileSync(cfg, opts.yaml);
  const smtpPort = await freePort();
  const httpPort = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve', '--role', opts.role], {
    env: {
      PATH: process.env.PATH ?? '',
      MAILGATE_CONFIG: cfg,
      REDIS_URL: opts.redisUrl,
      SIRPORTLY_URL: opts.sirportly.url,
      SIRPORTLY_TOKEN: opts.sirportly.token,
      SIRPORTLY_SECRET: opts.sirportly.secret,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtpPort),
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const gw: GatewayProcess = {
    child,
    smtpPort,
    httpPort,
    logs: () => text,
    lines: (msg) =>
      text
        .split('\n')
        .filter((l) => l.includes(`"msg":"${msg}"`))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    exited,
    kill: (signal) => child.kill(signal),
  };
  if (opts.waitReady !== false) {
    await waitFor(
      `${opts.role} process ready`,
      async () => {
        if (child.exitCode !== null) throw new Error(`mailgate exited ${child.exitCode}: ${text}`);
        return (await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => null))?.status === 200;
      },
      20_000,
    );
  }
  return gw;
}
