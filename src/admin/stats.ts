// Counts by state and the age of the oldest waiting job: "is the gateway keeping up?"
import type { AdminContext } from './context.js';

export const STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;
export type QueueState = (typeof STATES)[number];

export interface OldestJob {
  id: string;
  /** When the job was queued (or last re-driven), ISO 8601. */
  since: string;
  ageSeconds: number;
}

export interface QueueStats {
  counts: Record<QueueState, number>;
  oldestWaiting: OldestJob | null;
  oldestFailed: OldestJob | null;
}

/**
 * The first job of a list in BullMQ's order, asc = oldest first (the wait list is read from its
 * tail; the failed set is ordered by failure time). Its age is since the message was queued.
 */
async function oldestIn(ctx: Pick<AdminContext, 'queue' | 'now'>, list: 'wait' | 'failed'): Promise<OldestJob | null> {
  const [job] = await ctx.queue.getJobs([list], 0, 0, true);
  if (!job?.id) return null;
  return {
    id: job.id,
    since: new Date(job.timestamp).toISOString(),
    ageSeconds: Math.max(0, (ctx.now() - job.timestamp) / 1000),
  };
}

/** The job that has waited longest for a worker, or null when none waits. */
export function oldestWaiting(ctx: Pick<AdminContext, 'queue' | 'now'>): Promise<OldestJob | null> {
  return oldestIn(ctx, 'wait');
}

export async function queueStats(ctx: Pick<AdminContext, 'queue' | 'now'>): Promise<QueueStats> {
  const raw = await ctx.queue.getJobCounts(...STATES);
  const counts = Object.fromEntries(STATES.map((s) => [s, raw[s] ?? 0])) as Record<QueueState, number>;
  const [waiting, failed] = await Promise.all([oldestWaiting(ctx), oldestIn(ctx, 'failed')]);
  return { counts, oldestWaiting: waiting, oldestFailed: failed };
}
