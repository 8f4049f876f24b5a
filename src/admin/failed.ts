// The failed jobs, newest failure first, with what an operator needs to decide: retry or discard.
import type { Job } from 'bullmq';
import type { JobData } from '../queue/job.js';
import type { AdminContext } from './context.js';

export interface FailedJob {
  id: string;
  ticket: string;
  reason: string;
  attempts: number;
  /** When the gateway first received the message (the SMTP or replay time), ISO 8601. */
  firstSeen: string;
  /** When it failed for good, ISO 8601 (null if BullMQ kept no time). */
  failedAt: string | null;
  /**
   * What becomes of its raw bytes (needed to retry): "expires" with the time they go
   * (queue.failedRetentionDays after the failure), "kept" with no expiry (failed before
   * retention applied), or "gone" (expired or deleted: the job can only be discarded).
   */
  raw: { state: 'expires'; at: string } | { state: 'kept' } | { state: 'gone' };
}

export function failedJobView(job: Job<JobData>, rawTtlMs = -1, now = Date.now()): FailedJob {
  const received = job.data?.envelope?.receivedAt;
  return {
    id: job.id ?? '',
    ticket: job.data?.ticket ?? job.data?.checkpoint?.created ?? '(new ticket)',
    reason: job.failedReason ?? '',
    attempts: job.attemptsMade,
    firstSeen:
      received && !Number.isNaN(Date.parse(received))
        ? new Date(received).toISOString()
        : new Date(job.timestamp).toISOString(),
    failedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
    raw:
      rawTtlMs === -2
        ? { state: 'gone' }
        : rawTtlMs < 0
          ? { state: 'kept' }
          : { state: 'expires', at: new Date(now + rawTtlMs).toISOString() },
  };
}

export async function listFailed(
  ctx: Pick<AdminContext, 'queue' | 'redis' | 'keys' | 'now'>,
  opts: { limit: number },
): Promise<FailedJob[]> {
  if (opts.limit <= 0) return [];
  const jobs = await ctx.queue.getJobs(['failed'], 0, opts.limit - 1, false);
  const pipeline = ctx.redis.pipeline();
  for (const job of jobs) pipeline.pttl(ctx.keys.raw(job.data?.key ?? job.id ?? ''));
  const ttls = ((await pipeline.exec()) ?? []).map(([err, ttl]) => (err ? -1 : Number(ttl)));
  const now = ctx.now();
  return jobs.map((job, i) => failedJobView(job, ttls[i] ?? -1, now));
}

/** Every job failed at the time of the call, oldest failure first; for retry --all. */
export async function* allFailed(ctx: Pick<AdminContext, 'queue'>): AsyncGenerator<Job<JobData>> {
  // Ids first (cheap even for tens of thousands), then one job at a time: retrying removes jobs
  // from the set, which would shift any page read by position.
  const ids = await ctx.queue.getRanges(['failed'], 0, -1, true);
  for (const id of ids) {
    const job = await ctx.queue.getJob(id);
    if (job) yield job;
  }
}
