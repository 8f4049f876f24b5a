// One update job: raw bytes → draft → uploads (checkpointed) → one post_update. Every step is
// written so that running it again after a crash or an ambiguous failure cannot post twice.
import { UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/load.js';
import { TicketIndex } from '../ticket-index/ticket-index.js';
import { GatewayError, hasTryLimit } from '../errors.js';
import type { Logger } from '../log.js';
import { authenticityOf, authorToAuthenticate } from '../mail/auth/verify.js';
import type { DnsResolver } from '../mail/auth/resolver.js';
import { systemResolver } from '../dns-resolver.js';
import { clip, clipped } from '../mail/clean.js';
import { draft } from '../mail/draft/draft.js';
import type { Draft, DraftAttachment, UpdateFields } from '../mail/types.js';
import { markerTag, newTicketFields } from '../mail/draft/new-ticket.js';
import { routeNamed, type Route } from '../mail/door/route.js';
import type { SirportlyApi, SirportlyTicket } from '../sirportly/client.js';
import { readBack, type ReadBack } from '../sirportly/find-update.js';
import { accountKey, PostedAtOffsets } from '../sirportly/posted-at-offset.js';
import type { JobData, JobResult, UploadCheckpoint } from '../queue/job.js';
import { keys } from '../queue/keys.js';

export type { SirportlyApi } from '../sirportly/client.js';

/** Thrown to put a job back for a while without counting an attempt (see update-worker.ts). */
export class WaitError extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
  }
}

/** BullMQ job states as Queue.getJobState names them ('unknown' when there is no such job). */
export type JobStateName = string;

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
  /** The main Sirportly account (routes without their own). */
  client: SirportlyApi;
  /** Clients of routes with their own account, by route name. */
  routeClients?: ReadonlyMap<string, SirportlyApi>;
  /** State of another job (replay threads wait for the job that opens their ticket). */
  jobState?: (id: string) => Promise<JobStateName>;
  log: Logger;
  now?: () => number;
  /** DNS for SPF/DKIM/DMARC; the system resolver (bounded by auth.dnsTimeoutMs) when absent. */
  resolver?: DnsResolver;
  /** Drafts the update off this event loop (the drafting pool); draft() in-process when absent. */
  drafter?: Drafter;
}

export type Drafter = (raw: Buffer, envelope: JobData['envelope'], ticket: string) => Promise<Draft>;

// One system resolver per timeout setting, shared by all jobs of the process.
const systemResolvers = new Map<number, DnsResolver>();
function defaultResolver(config: Config): DnsResolver {
  let r = systemResolvers.get(config.auth.dnsTimeoutMs);
  if (!r) {
    r = systemResolver(config.auth.dnsTimeoutMs);
    systemResolvers.set(config.auth.dnsTimeoutMs, r);
  }
  return r;
}

/** Index writes never fail a job: the update is what matters, the index only helps later mail. */
async function quietly(log: Logger, what: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    log.warn({ err: (err as Error).message }, `${what} failed (the update is not affected)`);
  }
}

/**
 * policy.knownSendersOnly for mail the door let through because the ticket was not learned yet:
 * read the ticket, learn its addresses, then decide.
 */
async function senderAllowed(
  fields: UpdateFields,
  index: TicketIndex,
  client: SirportlyApi,
  log: Logger,
): Promise<boolean> {
  const sender = fields.author_email?.toLowerCase();
  if (!sender) return false;
  if (await index.senderKnown(fields.ticket, sender)) return true;
  if (await index.learned(fields.ticket)) return false;
  const ticket = await client.getTicket(fields.ticket);
  await quietly(log, 'learning the ticket', () => index.learnTicket(ticket));
  return index.senderKnown(fields.ticket, sender);
}

function tokenUsable(
  cp: UploadCheckpoint | undefined,
  att: DraftAttachment,
  marginMs: number,
  now: number,
): cp is UploadCheckpoint {
  if (!cp || cp.sha256 !== att.sha256) return false;
  if (cp.expiresAt === null) return true;
  const expires = Date.parse(cp.expiresAt);
  return Number.isFinite(expires) && expires - now > marginMs;
}

function clientFor(route: Route, deps: ProcessDeps): SirportlyApi {
  if (route.account === null) return deps.client;
  const c = deps.routeClients?.get(route.name);
  if (!c)
    throw new GatewayError(
      'config',
      `route "${route.name}" has its own Sirportly account but no client was set up for it`,
      { plainReason: true },
    );
  return c;
}

/** How long a replayed reply waits before looking again for the ticket its thread opens. */
const PARENT_WAIT_MS = 2_000;
/** A read-back that cannot tell (see find-update.ts) looks again this often, for at most this long. */
const UNSURE_RECHECK_MS = 2_000;
const UNSURE_WAIT_MAX_MS = 3_600_000;

/** The read-back found updates that may be ours at an offset not yet vouched for: wait, then hand over to a person. */
async function unsureReadBack(
  job: UpdateJob,
  result: Extract<ReadBack, { kind: 'unsure' }>,
  fields: UpdateFields,
  now: number,
  log: Logger,
): Promise<never> {
  const data = job.data;
  const seen = result.candidates.map((c) => `update ${c.update.id ?? '?'} at ${c.offsetSeconds / 60} min`).join(', ');
  if (data.checkpoint.unsureSince == null) {
    data.checkpoint.unsureSince = new Date(now).toISOString();
    await job.updateData(data);
    log.warn(
      { queueId: job.id, ticket: fields.ticket, candidates: seen },
      'read-back unsure: an update with this author and text exists at another posted_at offset than the one learned; waiting for more posts to learn the offset',
    );
  }
  // From the later of the first unsure read-back and the job's (re)start: `queue retry` gives it a new hour.
  const first = Date.parse(data.checkpoint.unsureSince ?? '');
  const since = Math.max(Number.isNaN(first) ? 0 : first, job.timestamp);
  if (now - since < UNSURE_WAIT_MAX_MS) {
    throw new WaitError(
      `read-back unsure (${seen}); looking again once more posted_at offsets are learned`,
      UNSURE_RECHECK_MS,
    );
  }
  throw new GatewayError(
    'unsure',
    `cannot tell whether an earlier post of this message took effect: ${fields.ticket} has ${seen} with its author and text, ` +
      "and the account's posted_at offset at this date is not known; if that update is this message discard the job, otherwise post the message by hand",
    { plainReason: true },
  );
}

/**
 * The ticket a job without a reference posts to: the one it opened on an earlier attempt, the
 * one the first message of its archive thread opened, or a new one. Checkpointed at each step so
 * that no retry, crash or lost answer can open a second ticket for the same message.
 */
async function ticketOf(
  job: UpdateJob,
  drafted: Draft,
  route: Route,
  client: SirportlyApi,
  deps: ProcessDeps,
): Promise<{ ticket: string; created: boolean }> {
  const { config, redis, log } = deps;
  const data = job.data;
  const k = keys(config.redis.prefix);
  if (data.ticket !== null) return { ticket: data.ticket, created: false };
  if (data.checkpoint.created !== null) return { ticket: data.checkpoint.created, created: true };

  if (data.parentKey !== undefined && !data.checkpoint.submitStarted) {
    const parentTicket = await redis.get(k.created(data.parentKey));
    if (parentTicket) {
      data.ticket = parentTicket;
      await job.updateData(data);
      return { ticket: parentTicket, created: false };
    }
    const state = deps.jobState ? await deps.jobState(data.parentKey) : 'unknown';
    if (state !== 'failed' && state !== 'unknown' && state !== 'completed') {
      throw new WaitError(
        `waiting for the ticket of the first message of its thread (job ${data.parentKey}, ${state})`,
        PARENT_WAIT_MS,
      );
    }
    // The first message of the thread opened nothing (it failed, was removed or skipped): this
    // one opens the thread's ticket itself rather than wait for ever.
    log.info(
      { queueId: job.id, parent: data.parentKey, parentState: state },
      'first message of the thread opened no ticket; opening one',
    );
  }

  const tag = markerTag(data.key);
  let ticket: string | null = null;
  if (data.checkpoint.submitStarted) {
    // A submit was sent before and its outcome is unknown: look before submitting again.
    if (!config.newTickets.markerTag) {
      throw new GatewayError(
        'unsure',
        'a ticket may already have been opened for this message (an earlier submit got no answer) and newTickets.markerTag is off, so it cannot be looked up: check Sirportly, then retry or discard the job',
        { plainReason: true },
      );
    }
    // A server may still be working on the request we gave up on: look only once that is unlikely
    // (twice the request timeout after the submit was sent), or the lookup finds nothing yet and
    // a second ticket follows.
    const startedAt = data.checkpoint.submitStartedAt === null ? null : Date.parse(data.checkpoint.submitStartedAt);
    const settle = 2 * config.sirportly.requestTimeoutMs;
    const since = startedAt === null || Number.isNaN(startedAt) ? settle : (deps.now ?? Date.now)() - startedAt;
    if (since < settle)
      throw new WaitError(
        `an earlier submit may still be in progress at Sirportly; looking for its ticket in ${settle - since} ms`,
        settle - since,
      );
    try {
      ticket = await client.findTicketByTag(tag);
    } catch (err) {
      if (err instanceof GatewayError && err.kind === 'auth') {
        // Usually a token limited to some methods: say which one, so the fix and `queue retry` follow.
        throw new GatewayError(
          'auth',
          `the Sirportly API token is refused tickets/spql, which finds the ticket an earlier unanswered submit may have opened (${err.message}): allow the token tickets/spql, then re-drive the job with \`mailgate queue retry\``,
          { status: err.status, cause: err },
        );
      }
      throw err;
    }
    if (ticket) log.info({ queueId: job.id, ticket, tag }, 'ticket found already opened; not submitting again');
  }
  if (ticket === null) {
    const fields = newTicketFields(drafted, route, config.newTickets.markerTag ? tag : null);
    data.checkpoint.submitStarted = true;
    data.checkpoint.submitStartedAt = new Date((deps.now ?? Date.now)()).toISOString();
    await job.updateData(data);
    const submitted = await client.submitTicket(fields);
    ticket = submitted.reference;
    log.info({ queueId: job.id, ticket, route: route.name }, 'ticket opened');
  }
  data.checkpoint.created = ticket;
  await job.updateData(data);
  // For replayed replies of the same thread (they wait for this key), kept as long as duplicates are.
  await redis.set(k.created(data.key), ticket, 'EX', Math.round(config.queue.seenTtlDays * 86_400));
  return { ticket, created: true };
}

export async function processUpdateJob(job: UpdateJob, deps: ProcessDeps): Promise<JobResult> {
  const { config, redis, log } = deps;
  const now = deps.now ?? Date.now;
  const data = job.data;
  const route = routeNamed(config, data.route);
  if (!route)
    throw new GatewayError('config', `route "${data.route}" is no longer configured; add it back or discard the job`, {
      plainReason: true,
    });
  const client = clientFor(route, deps);
  const raw = await redis.getBuffer(keys(config.redis.prefix).raw(data.key));
  if (!raw)
    throw new GatewayError('bad_job', 'raw message missing from Redis (expired or deleted)', { plainReason: true });

  let drafted: Draft;
  try {
    const ticket = data.ticket ?? data.checkpoint.created ?? '';
    drafted = await (deps.drafter
      ? deps.drafter(raw, data.envelope, ticket)
      : draft(raw, data.envelope, config, ticket));
  } catch (err) {
    // A drafting limit (deadline, heap, decoded size) is tried again a few times (classifyFailure);
    // anything else drafting the same bytes would meet again.
    if (hasTryLimit(err)) throw err;
    throw new GatewayError('bad_input', `cannot draft the update: ${(err as Error).message}`, {
      cause: err,
      plainReason: true,
    });
  }
  // What was changed or left out of the update (HTML past its limits, attachments not uploaded...).
  if (drafted.warnings.length > 0)
    log.info({ queueId: job.id, warnings: drafted.warnings.map((w) => clip(w)) }, 'drafted with warnings');
  const target = await ticketOf(job, drafted, route, client, deps);
  const fields = drafted.update;
  fields.ticket = target.ticket;
  const index = new TicketIndex(config, redis);

  // The author of mail that opened its ticket is that ticket's contact: nothing to check.
  if (
    !target.created &&
    !data.checkpoint.postStarted &&
    config.policy.knownSendersOnly &&
    !(await senderAllowed(fields, index, client, log))
  ) {
    log.warn(
      { queueId: job.id, ticket: fields.ticket, sender: clipped(fields.author_email) },
      'not posted: sender not seen on the ticket (policy.knownSendersOnly)',
    );
    return { updateId: null, recovered: false, attachments: 0, skipped: 'unknown_sender' };
  }

  // Authenticity is judged before uploads, at every attempt, with the session data stored at accept.
  const auth = await authenticityOf(
    raw,
    data.envelope,
    config,
    authorToAuthenticate(drafted),
    deps.resolver ?? defaultResolver(config),
  );
  if (auth.authenticated) fields.authenticated = '1';
  log.info(
    {
      queueId: job.id,
      spf: auth.spf,
      dkim: auth.dkim,
      dmarc: auth.dmarc,
      authenticated: auth.authenticated,
      why: auth.reason,
    },
    'authenticity',
  );

  const offsets = new PostedAtOffsets(
    redis,
    keys(config.redis.prefix).postedAtOffsets(accountKey(route.account ?? config.sirportly)),
  );
  if (data.checkpoint.postStarted) {
    // A post was sent before and its outcome is unknown: look before posting again.
    const ticket = await client.getTicket(fields.ticket);
    await quietly(log, 'learning the ticket', () => index.learnTicket(ticket));
    const result = readBack(ticket, fields, await offsets.at(fields.posted_at));
    if (result.kind === 'unsure') await unsureReadBack(job, result, fields, now(), log);
    if (result.kind === 'found') {
      const found = result.update;
      log.info(
        { queueId: job.id, updateId: found.id, offsetSeconds: result.offsetSeconds },
        'update found already posted; not posting again',
      );
      await quietly(log, 'recording the thread', () =>
        index.recordPost(fields.ticket, data.messageId, fields.author_email),
      );
      return {
        updateId: typeof found.id === 'number' ? found.id : null,
        recovered: true,
        attachments: drafted.attachments.length,
        ticket: target.ticket,
        created: target.created,
      };
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
    const up = await client.addAttachment({
      filename: att.filename,
      contentType: att.contentType,
      content: att.content,
    });
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
    await quietly(log, 'recording the posted_at offset', async () => {
      const offset = await offsets.record(fields.posted_at, update.posted_at);
      if (offset === null)
        log.warn(
          { queueId: job.id, sent: fields.posted_at, answered: update.posted_at },
          'Sirportly did not keep posted_at as sent (nor at a plausible account offset): a read-back after a lost answer may not find the update',
        );
    });
    await afterPost(fields, data.messageId, index, client, deps);
    return {
      updateId: typeof update.id === 'number' ? update.id : null,
      recovered: false,
      attachments: tokens.length,
      ticket: target.ticket,
      created: target.created,
    };
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

/** Teach the door: this message's Message-ID and author, and once per ticket the ticket itself. */
async function afterPost(
  fields: UpdateFields,
  messageId: string | null,
  index: TicketIndex,
  client: SirportlyApi,
  deps: ProcessDeps,
): Promise<void> {
  const { config, log } = deps;
  await quietly(log, 'recording the thread', () => index.recordPost(fields.ticket, messageId, fields.author_email));
  if (!config.threads.learnFromTicket) return;
  await quietly(log, 'learning the ticket', async () => {
    if (await index.learned(fields.ticket)) return;
    const ticket: SirportlyTicket = await client.getTicket(fields.ticket);
    await index.learnTicket(ticket);
  });
}

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
