// A private redis-server for tests: its own port and directory, so tests can stop and restart
// it without touching anyone else's Redis.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
        ...[
          '--port',
          String(this.port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--dir',
          this.dir,
          '--maxmemory-policy',
          'noeviction',
        ],
        ...(this.persistence === 'aof' ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
        ...this.extraArgs,
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (err) =>
        reject(new Error(`cannot start ${bin}: ${err.message} (install it: apt-get install redis-server)`)),
      );
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

/** One redis-sentinel on its own port and directory (it rewrites its config file, so each has one). */
export class RedisSentinel {
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'mailgate-sentinel-'));

  private constructor(readonly port: number) {}

  static async start(name: string, primaryPort: number, downAfterMs = 1000): Promise<RedisSentinel> {
    const s = new RedisSentinel(await freePort());
    const conf = join(s.dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${s.port}`,
        'bind 127.0.0.1',
        `dir ${s.dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
        `sentinel failover-timeout ${name} 10000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    const bin = process.env.REDIS_SENTINEL_BIN ?? 'redis-sentinel';
    const child = spawn(bin, [conf], { stdio: 'ignore' });
    s.child = child;
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (err) =>
        reject(new Error(`cannot start ${bin}: ${err.message} (install it: apt-get install redis-sentinel)`)),
      );
      child.once('exit', (code) => reject(new Error(`${bin} exited with code ${code}`)));
    });
    const ready = (async () => {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        if (await canConnect(s.port)) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`redis-sentinel did not listen on ${s.port} within 10 s`);
    })();
    await Promise.race([ready, failed]);
    child.removeAllListeners('exit');
    return s;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async destroy(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A primary, a replica and three sentinels on free ports, all with appendfsync always. The
 * primary is `servers[0]` at first; after a failover ask primaryPort() which one it is.
 */
export class SentinelLayout {
  private constructor(
    readonly name: string,
    readonly servers: RedisServer[],
    readonly sentinels: RedisSentinel[],
  ) {}

  static async start(name = 'mailgate'): Promise<SentinelLayout> {
    const primary = await RedisServer.start('aof');
    const replica = await RedisServer.start('aof', ['--replicaof', '127.0.0.1', String(primary.port)]);
    const sentinels = await Promise.all([0, 1, 2].map(() => RedisSentinel.start(name, primary.port)));
    const layout = new SentinelLayout(name, [primary, replica], sentinels);
    await layout.waitSettled(1);
    return layout;
  }

  /** host:port of each sentinel, as redis.sentinels takes them. */
  get sentinelAddresses(): string[] {
    return this.sentinels.map((s) => s.address);
  }

  /** The primary's port as the sentinels give it. */
  async primaryPort(): Promise<number> {
    const { Redis } = await import('ioredis');
    const conn = new Redis(this.sentinels[0]!.port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
    try {
      await conn.connect();
      const addr = (await conn.call('SENTINEL', 'get-master-addr-by-name', this.name)) as [string, string] | null;
      return Number(addr?.[1] ?? 0);
    } finally {
      conn.disconnect();
    }
  }

  server(port: number): RedisServer {
    const s = this.servers.find((x) => x.port === port);
    if (!s) throw new Error(`no server on ${port}`);
    return s;
  }

  /**
   * Until the primary has `replicas` replicas online and every sentinel knows them and the other
   * sentinels (a failover needs a majority that agrees).
   */
  async waitSettled(replicas: number, timeoutMs = 30_000): Promise<void> {
    const { Redis } = await import('ioredis');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let ok: boolean;
      try {
        const port = await this.primaryPort();
        const p = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
        try {
          await p.connect();
          const info = await p.info('replication');
          ok = /role:master/.test(info) && (info.match(/state=online/g) ?? []).length >= replicas;
        } finally {
          p.disconnect();
        }
        for (const s of this.sentinels) {
          if (!ok) break;
          const c = new Redis(s.port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
          try {
            await c.connect();
            const master = (await c.call('SENTINEL', 'master', this.name)) as string[];
            const field = (k: string) => Number(master[master.indexOf(k) + 1]);
            ok =
              Number(master[master.indexOf('port') + 1]) === port &&
              field('num-slaves') >= replicas &&
              field('num-other-sentinels') >= 2;
          } finally {
            c.disconnect();
          }
        }
      } catch {
        ok = false;
      }
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`sentinel layout not settled within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async destroy(): Promise<void> {
    await Promise.all(this.sentinels.map((s) => s.destroy()));
    await Promise.all(this.servers.map((s) => s.destroy()));
  }
}
