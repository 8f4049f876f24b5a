// What every queue-admin function works on: the update queue and the Redis that holds the raw
// bytes, under the configured prefix. Opened by the CLI and closed after one command.
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { connectTo, describeTarget } from '../queue/connection.js';
import type { Config } from '../config/schema.js';
import type { JobData } from '../queue/job.js';
import { keys, type Keys } from '../queue/keys.js';
import { AdminError } from './errors.js';
import { createQueue } from '../queue/store.js';

export interface AdminContext {
  config: Config;
  queue: Queue<JobData>;
  redis: Redis;
  keys: Keys;
  now(): number;
}

export { AdminError } from './errors.js';

/** Connect once, without retrying: a CLI command should fail at once when Redis is away. */
export async function openAdmin(
  config: Config,
  opts: { connectTimeoutMs?: number } = {},
): Promise<AdminContext & { close(): Promise<void> }> {
  const redis = connectTo(config.redis, {
    lazyConnect: true,
    connectTimeout: opts.connectTimeoutMs ?? 5000,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  // Without a listener ioredis would print its connection errors itself.
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new AdminError(
      'unavailable',
      `cannot reach Redis at ${describeTarget(config.redis)} (${(err as Error).message})`,
    );
  }
  const queue = createQueue(config, redis);
  queue.on('error', () => undefined);
  return {
    config,
    queue,
    redis,
    keys: keys(config.redis.prefix),
    now: Date.now,
    async close() {
      await queue.close().catch(() => undefined);
      redis.disconnect();
    },
  };
}
