// The one place that turns a failed attempt into retry, fail now, or how long to back off. Pure:
// whether an error is worth retrying at all comes from its kind (errors.ts).
import { UnrecoverableError } from 'bullmq';
import type { Config } from '../config/schema.js';
import { GatewayError, hasTryLimit } from '../errors.js';
import type { UpdateJob } from './update-job.js';

/**
 * Turn a failure into BullMQ's terms: the error itself to retry, or an UnrecoverableError to fail
 * now. The only place that decides, from the error's kind (errors.ts); the processor throws
 * GatewayErrors and leaves the decision here.
 */
export function classifyFailure(err: unknown, job: UpdateJob, config: Config, now: number): Error {
  // Already in BullMQ's terms (nothing of ours throws one; kept so that it is never retried).
  if (err instanceof UnrecoverableError) return err;
  // Unknown errors (Redis hiccups, bugs) are retried: failing them for good could lose mail
  // over a transient fault, and the retry period still bounds them.
  if (!(err instanceof GatewayError)) return err instanceof Error ? err : new Error(String(err));
  if (!err.retryable) return new UnrecoverableError(err.reason);
  const tries = job.attemptsMade + 1;
  if (hasTryLimit(err) && tries >= config.draft.attempts) {
    return new UnrecoverableError(`${err.reason} (${tries} tries, draft.attempts)`);
  }
  const periodHours = config.queue.retryPeriodHours;
  if (now - job.timestamp >= periodHours * 3_600_000) {
    const expired = new GatewayError('expired', `still failing after ${periodHours} h: ${err.reason}`, { cause: err });
    return new UnrecoverableError(expired.reason);
  }
  return err;
}

/** Exponential backoff, honouring a server's Retry-After when longer. */
export function backoffDelay(attemptsMade: number, err: Error | undefined, config: Config): number {
  const exp = config.queue.backoffInitialMs * 2 ** Math.max(0, attemptsMade - 1);
  const delay = Math.min(exp, config.queue.backoffMaxMs);
  const retryAfter = err instanceof GatewayError ? err.retryAfterMs : undefined;
  return retryAfter !== undefined ? Math.max(delay, Math.min(retryAfter, config.queue.backoffMaxMs)) : delay;
}
