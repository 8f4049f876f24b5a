// One update job: raw bytes → draft → uploads (checkpointed) → one post_update. Every step is
// written so that running it again after a crash or an ambiguous failure cannot post twice.
import { UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { draft } from '../mail/draft.js';
import type { DraftAttachment } from '../mail/types.js';
import type { SirportlyClient } from '../sirportly/client.js';
import { findPostedUpdate } from '../sirportly/find-update.js';
import type { JobData, JobResult, UploadCheckpoint } from './job.js';
import { keys } from './keys.js';

export type SirportlyApi = Pick<SirportlyClient, 'addAttachment' | 'postUpdate' | 'getTicket'>;

/** The part of a BullMQ job the processor uses (narrow, so tests can drive it directly). */
export interface UpdateJob {
  id?: string;
  data: JobData;
  timestamp: number;
  attemptsMade: number;
  updateData(data: JobData): Promise<void>;
}

export interface ProcessDeps {
  config: Config;
  redis: Redis;
  client: SirportlyApi;
  log: Logger;
  now?: () => number;
}

function tokenUsable(cp: UploadCheckpoint | undefined, att: DraftAttachment, marginMs: number, now: number): cp is UploadCheckpoint {
  if (!cp || cp.sha256 !== att.sha256) return false;
  if (cp.expiresAt === null) return true;
  const expires = Date.parse(cp.expiresAt);
  return Number.isFinite(expires) && expires - now > marginMs;
}

export async function processUpdateJob(job: UpdateJob, deps: ProcessDeps): Promise<JobResult> {
  const { config, redis, client, log } = deps;
  const now = deps.now ?? Date.now;
  const data = job.data;
  const raw = await redis.getBuffer(keys(config.redis.prefix).raw(data.key));
  if (!raw) throw new UnrecoverableError('raw message missing from Redis (expired or deleted)');

  let drafted;
  try {
    drafted = await draft(raw, data.envelope, config, data.ticket);
  } catch (err) {
    throw new UnrecoverableError(`cannot draft the update: ${(err as Error).message}`);
  }
  const fields = drafted.update;

  if (data.checkpoint.postStarted) {
    // A post was sent before and its outcome is unknown: look before posting again.
    const ticket = await client.getTicket(fields.ticket);
    const found = findPostedUpdate(ticket, fields);
    if (found) {
      log.info({ queueId: job.id, updateId: found.id }, 'update found already posted; not posting again');
      return { updateId: typeof found.id === 'number' ? found.id : null, recovered: true, attachments: drafted.attachments.length };
    }
  }

  const marginMs = config.queue.tokenRefreshMarginSeconds * 1000;
  const tokens: string[] = [];
  let reused = false;
  for (const [index, att] of drafted.attachments.entries()) {
    const cp = data.checkpoint.uploads[String(index)];
    if (tokenUsable(cp, att, marginMs, now())) {
      tokens.push(cp.token);
      reused = true;
      continue;
    }
    const up = await client.addAttachment({ filename: att.filename, contentType: att.contentType, content: att.content });
    data.checkpoint.uploads[String(index)] = { sha256: att.sha256, token: up.token, expiresAt: up.expiresAt };
    await job.updateData(data);
    tokens.push(up.token);
  }

  if (!data.checkpoint.postStarted) {
    data.checkpoint.postStarted = true;
    await job.updateData(data);
  }
  try {
    const update = await client.postUpdate({ ...fields, attachments: tokens.length ? tokens : undefined });
    return { updateId: typeof update.id === 'number' ? update.id : null, recovered: false, attachments: tokens.length };
  } catch (err) {
    if (reused && err instanceof GatewayError && err.kind === 'validation') {
      // A checkpointed token the server no longer honours: upload afresh on the next attempt
      // instead of failing the message for good.
      data.checkpoint.uploads = {};
      await job.updateData(data);
      throw new GatewayError('server', `attachment tokens refused, uploading again: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** Turn a failure into BullMQ's terms: retry (rethrow) or fail now (UnrecoverableError). */
export function classifyFailure(err: unknown, job: UpdateJob, config: Config, now: number): Error {
  if (err instanceof UnrecoverableError) return err;
  if (err instanceof GatewayError) {
    if (!err.retryable) return new UnrecoverableError(`${err.kind}: ${err.message}`);
    const ageMs = now - job.timestamp;
    const periodMs = config.queue.retryPeriodHours * 3_600_000;
    if (ageMs >= periodMs) {
      return new UnrecoverableError(`expired: still failing after ${config.queue.retryPeriodHours} h: ${err.kind}: ${err.message}`);
    }
    return err;
  }
  // Unknown errors (Redis hiccups, bugs) are retried: failing them for good could lose mail
  // over a transient fault, and the retry period still bounds them.
  return err instanceof Error ? err : new Error(String(err));
}

/** Exponential backoff, honouring a server's Retry-After when longer. */
export function backoffDelay(attemptsMade: number, err: Error | undefined, config: Config): number {
  const exp = config.queue.backoffInitialMs * 2 ** Math.max(0, attemptsMade - 1);
  const delay = Math.min(exp, config.queue.backoffMaxMs);
  const retryAfter = err instanceof GatewayError ? err.retryAfterMs : undefined;
  return retryAfter !== undefined ? Math.max(delay, Math.min(retryAfter, config.queue.backoffMaxMs)) : delay;
}
