// One update job, stage by stage: route and raw bytes → draft → the ticket (ticket-of.ts) →
// known-sender check → authenticity → read-back of an earlier post → uploads (checkpointed) → one
// post_update → what the door learns. Every step is written so that running it again after a crash
// or an ambiguous failure cannot post twice.
import type { Config } from '../config/schema.js';
import { TicketIndex } from '../ticket-index/ticket-index.js';
import { GatewayError, hasTryLimit } from '../errors.js';
import type { Logger } from '../log.js';
import { authenticityOf, authorToAuthenticate } from '../mail/auth/verify.js';
import type { DnsResolver } from '../mail/auth/resolver.js';
import { systemResolver } from '../dns-resolver.js';
import { clip, clipped } from '../mail/clean.js';
import { draft } from '../mail/draft/draft.js';
import type { Draft, DraftAttachment, UpdateFields } from '../mail/types.js';
import { routeNamed, type Route } from '../mail/door/route.js';
import type { SirportlyApi, SirportlyTicket } from '../sirportly/client.js';
import { readBack } from '../sirportly/find-update.js';
import { accountKey, PostedAtOffsets } from '../sirportly/posted-at-offset.js';
import type { JobResult, UploadCheckpoint } from '../queue/job.js';
import { keys } from '../queue/keys.js';
import { ticketOf, unsureReadBack } from './ticket-of.js';
import type { ProcessDeps, UpdateJob } from './update-job.js';

export type { SirportlyApi } from '../sirportly/client.js';

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
    // A drafting limit (deadline, heap, decoded size) is tried again a few times (classifyFailure, retry-or-fail.ts);
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

/** Index writes never fail a job: the update is what matters, the index only helps later mail. */
async function quietly(log: Logger, what: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    log.warn({ err: (err as Error).message }, `${what} failed (the update is not affected)`);
  }
}
