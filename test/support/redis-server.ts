// A private redis-server for tests: its own port and directory, so tests can stop and restart
// it without touching anyone else's Redis.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export class RedisServer {
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'mailgate-redis-'));

  /**
   * aof: every acknowledged write is on disk (appendfsync always), so a SIGKILL loses nothing that
   * was answered. Production's "everysec" may lose up to a second, which is Redis's promise, not
   * the gateway's; chaos tests need the stricter one to count losses exactly.
   */
  constructor(
    readonly port: number,
    private readonly persistence: 'none' | 'aof' = 'none',
    /** More redis-server arguments, e.g. ['--replicaof', '127.0.0.1', '6400'] or ['--appendfsync', 'everysec']. */
    private readonly extraArgs: string[] = [],
  ) {}

  static async start(persistence: 'none' | 'aof' = 'none', extraArgs: string[] = []): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), persistence, extraArgs);
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.child) return;
    const bin = process.env.REDIS_SERVER_BIN ?? 'redis-server';
    const child = spawn(
      bin,
      [
        ...['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--dir', this.dir, '--maxmemory-policy', 'noeviction'],
        ...(this.persistence === 'aof' ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
        ...this.extraArgs,
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (err) => reject(new Error(`cannot start ${bin}: ${err.message} (install it: apt-get install redis-server)`)));
      child.once('exit', (code) => reject(new Error(`${bin} exited with code ${code}`)));
    });
    const deadline = Date.now() + 10_000;
    const ready = (async () => {
      while (Date.now() < deadline) {
        if (await canConnect(this.port)) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`redis-server did not listen on ${this.port} within 10 s`);
    })();
    await Promise.race([ready, failed]);
    child.removeAllListeners('exit');
  }

  /** Freeze the server (SIGSTOP): connections stay open, commands get no answer. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    });
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
