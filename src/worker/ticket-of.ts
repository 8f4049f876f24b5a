// Which ticket an update job posts to (the reference it carries, the one its thread opened, or a new
// one), and the wait-then-hand-over when a read-back cannot tell whether an earlier post took effect.
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Draft, UpdateFields } from '../mail/types.js';
import { markerTag, newTicketFields } from '../mail/draft/new-ticket.js';
import type { Route } from '../mail/door/route.js';
import type { SirportlyApi } from '../sirportly/client.js';
import type { ReadBack } from '../sirportly/find-update.js';
import { keys } from '../queue/keys.js';
import { WaitError, type ProcessDeps, type UpdateJob } from './update-job.js';

/** How long a replayed reply waits before looking again for the ticket its thread opens. */
const PARENT_WAIT_MS = 2_000;
/** A read-back that cannot tell (see find-update.ts) looks again this often, for at most this long. */
const UNSURE_RECHECK_MS = 2_000;
const UNSURE_WAIT_MAX_MS = 3_600_000;

/**
 * The ticket a job without a reference posts to: the one it opened on an earlier attempt, the
 * one the first message of its archive thread opened, or a new one. Checkpointed at each step so
 * that no retry, crash or lost answer can open a second ticket for the same message.
 */
export async function ticketOf(
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

/** The read-back found updates that may be ours at an offset not yet vouched for: wait, then hand over to a person. */
export async function unsureReadBack(
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
