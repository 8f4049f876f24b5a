// Re-drive failed jobs after the cause is fixed (a ticket created, credentials corrected, an
// outage over). The raw bytes were kept for exactly this; a job without them is not retried.
import type { Job } from 'bullmq';
import type { JobData } from '../queue/job.js';
import type { AdminContext } from './context.js';
import { AdminError } from './errors.js';
import { allFailed } from './failed.js';
import { unparkFailed } from '../queue/parked.js';

export interface RetryOutcome {
  retried: string[];
  skipped: Array<{ id: string; why: string }>;
}

async function retryOne(ctx: AdminContext, job: Job<JobData>): Promise<void> {
  const id = job.id!;
  if (!(await ctx.redis.exists(ctx.keys.raw(job.data.key ?? id)))) {
    throw new AdminError(
      'raw_missing',
      `job ${id}: the raw message is gone (expired or deleted); it cannot be posted again`,
    );
  }
  // The retry period (queue.retryPeriodHours) runs from the job's timestamp; restart it, or a
  // message that failed as "expired" would get a single attempt. When the mail first arrived
  // stays in the job data (envelope.receivedAt).
  await ctx.redis.hset(ctx.queue.toKey(id), 'timestamp', String(ctx.now()));
  // Attempts restart too; the checkpoint (tokens, "post started") is kept, so a post that may
  // have gone through before is looked for on the ticket first, never sent twice.
  await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
  // Queued again: its bytes are kept as for any queued job, and it no longer counts as parked.
  await ctx.redis.persist(ctx.keys.raw(job.data.key ?? id));
  await unparkFailed(ctx.redis, ctx.config, job.data);
}

export async function retryJob(ctx: AdminContext, id: string): Promise<void> {
  const job = await ctx.queue.getJob(id);
  if (!job) throw new AdminError('not_found', `no job ${id}`);
  const state = await job.getState();
  if (state !== 'failed') throw new AdminError('wrong_state', `job ${id} is ${state}, not failed: nothing to retry`);
  await retryOne(ctx, job);
}

/** Retry every failed job (that failed at or after `since`, epoch ms, when given). */
export async function retryAll(ctx: AdminContext, opts: { since?: number } = {}): Promise<RetryOutcome> {
  const out: RetryOutcome = { retried: [], skipped: [] };
  for await (const job of allFailed(ctx)) {
    if (opts.since !== undefined && (job.finishedOn ?? job.timestamp) < opts.since) continue;
    try {
      await retryOne(ctx, job);
      out.retried.push(job.id!);
    } catch (err) {
      // One job in a bad way (bytes gone, taken meanwhile) must not stop the others.
      out.skipped.push({ id: job.id!, why: (err as Error).message });
    }
  }
  return out;
}
