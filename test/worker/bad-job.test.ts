// A job whose data the worker cannot read fails at once (a retry would read the same data), with
// the reason kept, instead of being retried for the whole retry period.
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { QUEUE_NAME } from '../../src/queue/keys.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { failedJob, startHarness, type Double, type Harness } from '../support/harness.js';

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
  const job = await failedJob(queue, id);
  expect(job.attemptsMade).toBe(1);
  expect(job.failedReason).toMatch(/^bad_job: job data invalid: ticket: /);
  expect(double.state.allUpdates()).toHaveLength(0);
});

// Valid job data the worker still cannot act on: the processor's GatewayErrors go through the
// classifier like any other and fail the job at once, the reason an operator reads unchanged.
const readable = (key: string, route?: string) => ({
  key,
  ticket: 'AB-123456',
  ...(route === undefined ? {} : { route }),
  messageId: null,
  subject: 's',
  reason: 'reference:subject',
  envelope: {
    mailFrom: 'ann@example.com',
    rcptTo: ['support@help.example'],
    receivedAt: '2024-05-01T12:00:00.000Z',
    source: 'smtp',
  },
  size: 10,
});

it.each([
  ['raw bytes gone', undefined, 'raw message missing from Redis (expired or deleted)'],
  ['route no longer configured', 'gone', 'route "gone" is no longer configured; add it back or discard the job'],
])('%s: failed after one attempt, with the same reason', async (_what, route, reason) => {
  const id = randomBytes(8).toString('hex');
  await queue.add('update', readable(id, route), {
    jobId: id,
    attempts: 100_000,
    backoff: { type: 'fixed', delay: 50 },
  });
  const job = await failedJob(queue, id);
  expect(job.attemptsMade).toBe(1);
  expect(job.failedReason).toBe(reason);
  expect(double.state.allUpdates()).toHaveLength(0);
});
