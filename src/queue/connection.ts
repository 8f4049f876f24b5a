// Redis connections. The door's connection fails fast when Redis is away (no offline queue),
// so the SMTP client gets a 451 at once instead of a hang; workers' connections wait and
// reconnect forever, as BullMQ requires.
import { Redis, type RedisOptions } from 'ioredis';

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
export function doorConnection(url: string): Redis {
  return new Redis(url, { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 10_000, enableAutoPipelining: true });
}

/** For BullMQ workers: blocking commands, unlimited retries per request. */
export function workerConnection(url: string): Redis {
  return new Redis(url, { ...common, maxRetriesPerRequest: null, enableReadyCheck: true });
}

/** Resolve true when Redis answers PING within the time given. */
export async function redisAnswers(conn: Redis, timeoutMs: number): Promise<boolean> {
  if (conn.status !== 'ready') return false;
  let timer: NodeJS.Timeout | undefined;
  try {
    const pong = await Promise.race([
      conn.ping(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
      }),
    ]);
    return pong === 'PONG';
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Wait for the first connection; connection errors meanwhile are expected, not fatal. */
export function waitReady(conn: Redis, ms: number): Promise<boolean> {
  if (conn.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      conn.off('ready', onReady);
      resolve(false);
    }, ms);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    conn.once('ready', onReady);
  });
}
