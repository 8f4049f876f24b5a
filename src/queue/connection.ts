// Redis connections. The door's connection fails fast when Redis is away (no offline queue),
// so the SMTP client gets a 451 at once instead of a hang; workers' connections wait and
// reconnect forever, as BullMQ requires.
import { within } from '../deadline.js';
import { safeRedisUrl } from '../redact.js';
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config/schema.js';

/** Where Redis is: redis.url alone, or the primary Sentinel names (the URL then gives credentials, TLS and database). */
export type RedisTarget = Pick<Config['redis'], 'url' | 'sentinels' | 'sentinelName'>;

/** The Redis of a URL alone (bench and test tools that have no config). */
export function urlTarget(url: string): RedisTarget {
  return { url, sentinels: [], sentinelName: '' };
}

function hostPort(s: string): { host: string; port: number } {
  const at = s.lastIndexOf(':');
  return { host: s.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(s.slice(at + 1)) };
}

/**
 * Connection options for a target. With Sentinel, ioredis asks the sentinels for the primary on
 * every (re)connect and follows +switch-master at once; a connection that lands on a primary
 * demoted meanwhile gets READONLY and reconnects, to the new one.
 */
export function targetOptions(target: RedisTarget): RedisOptions {
  if (target.sentinels.length === 0) return {};
  const u = new URL(target.url);
  const tls = u.protocol === 'rediss:';
  return {
    sentinels: target.sentinels.map(hostPort),
    name: target.sentinelName,
    role: 'master',
    failoverDetector: true,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    db: Number(u.pathname.slice(1) || '0'),
    ...(tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
    sentinelRetryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
  };
}

/** A new connection to the target with these options (the URL's own settings when no Sentinel). */
export function connectTo(target: RedisTarget, options: RedisOptions): Redis {
  return target.sentinels.length === 0
    ? new Redis(target.url, options)
    : new Redis({ ...options, ...targetOptions(target) });
}

/** The target for log lines, without the password. */
export function describeTarget(target: RedisTarget): string {
  return target.sentinels.length === 0
    ? safeRedisUrl(target.url)
    : `sentinel ${target.sentinelName} via ${target.sentinels.join(',')}`;
}

function retryStrategy(times: number): number {
  return Math.min(100 * 2 ** Math.min(times, 5), 2000);
}

const common: RedisOptions = {
  retryStrategy,
  connectTimeout: 5000,
  lazyConnect: false,
};

/**
 * For the SMTP door and replay: commands fail immediately while disconnected. Commands issued
 * in one tick share one write (auto-pipelining): many messages are at the door at once, and
 * this saves the syscalls of a write per command, for the door and for Redis.
 */
export function doorConnection(target: RedisTarget): Redis {
  return connectTo(target, {
    ...common,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 10_000,
    enableAutoPipelining: true,
  });
}

/** For BullMQ workers: blocking commands, unlimited retries per request. */
export function workerConnection(target: RedisTarget): Redis {
  return connectTo(target, { ...common, maxRetriesPerRequest: null, enableReadyCheck: true });
}

/** Resolve true when Redis answers PING within the time given. */
export async function redisAnswers(conn: Redis, timeoutMs: number): Promise<boolean> {
  if (conn.status !== 'ready') return false;
  return within(
    conn.ping().then(
      (pong) => pong === 'PONG',
      () => false,
    ),
    timeoutMs,
    () => false,
  );
}

/**
 * Resolve true once the connection is ready, false after `ms`. Connection errors meanwhile are
 * expected (Redis may be starting) unless `failOnError`: then the first one resolves false at once.
 */
export async function waitReady(conn: Redis, ms: number, opts: { failOnError?: boolean } = {}): Promise<boolean> {
  if (conn.status === 'ready') return true;
  let answer = (_ready: boolean): void => undefined;
  const ready = () => answer(true);
  const failed = () => answer(false);
  try {
    return await within(
      new Promise<boolean>((resolve) => {
        answer = resolve;
        conn.once('ready', ready);
        if (opts.failOnError) conn.once('error', failed);
      }),
      ms,
      () => false,
    );
  } finally {
    conn.off('ready', ready);
    conn.off('error', failed);
  }
}
