// Give up on a message for good: the job and its raw bytes go. The "seen" marker stays, so the
// same message delivered again is still answered "already queued" and not posted.
import type { AdminContext } from './context.js';
import { AdminError } from './errors.js';
import { unparkFailed } from '../queue/parked.js';

export interface DiscardOutcome {
  id: string;
  state: string;
  rawDeleted: boolean;
}

export async function discardJob(ctx: AdminContext, id: string): Promise<DiscardOutcome> {
  const job = await ctx.queue.getJob(id);
  if (!job) throw new AdminError('not_found', `no job ${id}`);
  const state = await job.getState();
  if (state === 'active')
    throw new AdminError(
      'wrong_state',
      `job ${id} is being worked on right now; try again when it has finished or failed`,
    );
  const rawKey = ctx.keys.raw(job.data.key ?? id);
  // Job first: if removing it fails (taken by a worker meanwhile), the bytes it needs are still there.
  await job.remove();
  const deleted = await ctx.redis.del(rawKey);
  await unparkFailed(ctx.redis, ctx.config, job.data);
  return { id, state, rawDeleted: deleted > 0 };
}
