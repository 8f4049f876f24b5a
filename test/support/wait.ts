// Waiting in tests on what is to happen (a log line, a job's end, a key in Redis), never for a
// fixed time: a test then takes as long as the behaviour does, and a slow host makes it slower,
// not wrong. The bound is only there to end a test whose event never comes.
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAME } from '../../src/queue/keys.js';

/** Polls fn until it gives a truthy value (returned), or throws after timeoutMs. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * The job once it has failed, read after its state says so: a job read before that check may be
 * the copy from while it was still active (attemptsMade and failedReason not yet written).
 */
export async function failedJob(queue: Queue, id: string, timeoutMs = 10_000): Promise<Job> {
  return waitFor(
    `job ${id} to fail`,
    async () => ((await queue.getJobState(id)) === 'failed' ? queue.getJob(id) : null),
    timeoutMs,
  );
}

type Line = Record<string, unknown>;

/** The first log line with this msg whose fields match `fields`, once it has been written. */
export function waitForLog(logs: { lines: Line[] }, msg: string, fields: Line = {}, timeoutMs = 10_000): Promise<Line> {
  const matches = (l: Line) => l.msg === msg && Object.entries(fields).every(([k, v]) => l[k] === v);
  return waitFor(`log line "${msg}" ${JSON.stringify(fields)}`, () => logs.lines.find(matches), timeoutMs);
}

/**
 * Resolves once no job of the update queue under this prefix is waiting, delayed or being worked
 * on: every job has ended (posted, skipped or failed), so nothing more will be posted for them.
 */
export async function queueSettled(redisUrl: string, prefix: string, timeoutMs = 30_000): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(QUEUE_NAME, { connection: redis, prefix });
  try {
    await waitFor(
      `the queue under ${prefix} to settle`,
      async () => {
        const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
        return Object.values(c).every((n) => n === 0);
      },
      timeoutMs,
    );
  } finally {
    await queue.close();
    redis.disconnect();
  }
}
