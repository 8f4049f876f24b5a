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

/** For the SMTP door and CLI writes: commands fail immediately while disconnected. */
export function doorConnection(url: string): Redis {
  return new Redis(url, { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 10_000 });
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
