// Real processes for chaos tests: the built `mailgate serve` with a role, and a redis-server with
// AOF on disk that can be killed and started again on the same data.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
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
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
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

function canConnect(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      r(true);
    });
    s.once('error', () => r(false));
  });
}

/** A redis-server whose every acknowledged write is on disk (appendfsync always), so a
 * SIGKILL loses nothing that was answered: the production setting "everysec" may lose up to
 * one second, which is Redis's promise, not the gateway's. */
export class AofRedis {
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'mailgate-aof-'));
  constructor(readonly port: number) {}
  static async start(): Promise<AofRedis> {
    const r = new AofRedis(await freePort());
    await r.start();
    return r;
  }
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction'],
      { stdio: 'ignore' },
    );
    await waitFor('redis listening', () => canConnect(this.port), 10_000);
  }
  async kill(): Promise<void> {
    const c = this.child;
    this.child = null;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((r) => {
      c.once('exit', () => r());
      c.kill('SIGKILL');
    });
  }
  async destroy(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
