// A job whose data the worker cannot read fails at once (a retry would read the same data), with
// the reason kept, instead of being retried for the whole retry period.
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { QUEUE_NAME } from '../../src/queue/keys.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { startHarness, waitFor, type Double, type Harness } from '../support/harness.js';

let double: Double;
let h: Harness;
let redis: Redis;
let queue: Queue;

beforeAll(async () => {
  double = await startSirportlyDouble();
  h = await startHarness(inject('redisUrl'), double, {}, 'worker');
  redis = new Redis(inject('redisUrl'));
  queue = new Queue(QUEUE_NAME, { connection: redis, prefix: h.config.redis.prefix });
});
afterAll(async () => {
  await h?.close();
  await queue?.close();
  redis?.disconnect();
  await double?.close();
});

it('job data that cannot be read: failed after one attempt, reason bad_job naming the field', async () => {
  const id = randomBytes(8).toString('hex');
  await queue.add(
    'update',
    { key: id, ticket: 42 },
    { jobId: id, attempts: 100_000, backoff: { type: 'fixed', delay: 50 } },
  );
  const job = await waitFor('failed', async () => {
    const j = await queue.getJob(id);
    return (await j?.getState()) === 'failed' ? j : null;
  });
  expect(job.attemptsMade).toBe(1);
  expect(job.failedReason).toMatch(/^bad_job: job data invalid: ticket: /);
  expect(double.state.allUpdates()).toHaveLength(0);
});
