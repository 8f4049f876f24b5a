// The one ingest path: SMTP and replay both hand a raw message and its envelope here, and get
// back the reply to give. The door reads headers only; everything else is the worker's.
import type { Config } from '../config/schema.js';
import { GatewayError, replyFor } from '../errors.js';
import type { Logger } from '../log.js';
import type { DoorChecks } from './door-checks.js';
import { clipped } from '../mail/clean.js';
import { parseHeaders, type HeaderBlock } from '../mail/headers.js';
import { verdictFromHeaders } from '../mail/door/verdict.js';
import type { DoorVerdict, Envelope, SmtpReply } from '../mail/types.js';
import type { Metrics } from '../ops/metrics.js';
import type { MessageStore } from '../queue/store.js';
import { formatReply, REPLY } from '../smtp-replies.js';

/** What deciding a message needs: no logger, no metrics, so it can run in the door thread. */
export interface DecideDeps {
  config: Config;
  store: Pick<MessageStore, 'accept' | 'seen'>;
  /**
   * Redis-backed checks after the header verdict (thread lookup, known senders, loop limit).
   * Absent (replay, tests of the bare door): the header verdict stands.
   */
  door?: Pick<DoorChecks, 'refine'>;
  /**
   * Replay: places the message in its archive thread (one ticket per thread). Called
   * synchronously, before anything is awaited, so calls happen in the order ingest() was called.
   */
  threads?: (verdict: DoorVerdict, headers: HeaderBlock, raw: Buffer) => DoorVerdict;
}

export interface IngestDeps extends DecideDeps {
  log: Logger;
  metrics: Metrics;
}

export type IngestOutcomeKind = 'queued' | 'duplicate' | 'dropped' | 'rejected' | 'tempfail' | 'too_large';

export interface IngestOutcome {
  outcome: IngestOutcomeKind;
  reply: SmtpReply;
  verdict: DoorVerdict | null;
  queueId: string | null;
}

/** An outcome and the facts for its log line; plain data (it crosses from the door thread). */
export interface IngestDecision {
  outcome: IngestOutcome;
  notes: Record<string, unknown>;
}

/** Everything ingest() does but its log line and metrics. */
export async function decide(raw: Buffer, envelope: Envelope, deps: DecideDeps): Promise<IngestDecision> {
  const { config, store } = deps;
  const done = (outcome: IngestOutcome, notes: Record<string, unknown> = {}): IngestDecision => ({ outcome, notes });

  if (raw.length > config.smtp.maxMessageBytes) {
    return done({ outcome: 'too_large', reply: replyFor('too_large'), verdict: null, queueId: null });
  }

  const headers = parseHeaders(raw);
  let verdict = verdictFromHeaders(headers, raw, envelope, config);
  if (deps.threads) verdict = deps.threads(verdict, headers, raw);
  let notes: Record<string, unknown> = {};
  // A reference from the headers fixes the key: the door checks can still turn the message away
  // but not change it, so the duplicate check goes out with them, in the same round trip.
  const earlyKey = verdict.verdict === 'post' && verdict.ticket !== null ? verdict.idempotencyKey : null;
  const seen = earlyKey !== null && deps.door ? store.seen(earlyKey) : undefined;
  seen?.catch(() => undefined); // awaited below only if the message is stored; an error then is a 451
  if (deps.door) {
    try {
      ({ verdict, notes } = await deps.door.refine(verdict, headers, raw, envelope));
    } catch (err) {
      const reply = err instanceof GatewayError ? err.smtpReply : replyFor('store_unavailable');
      return done(
        { outcome: 'tempfail', reply, verdict, queueId: null },
        { err: (err as Error).message, kind: 'store_unavailable' },
      );
    }
  }
  if (verdict.verdict === 'reject')
    return done({ outcome: 'rejected', reply: verdict.smtpReply, verdict, queueId: null }, notes);
  if (verdict.verdict !== 'post' && verdict.verdict !== 'create') {
    return done({ outcome: 'dropped', reply: REPLY.acceptedNotPosted(verdict.reason), verdict, queueId: null }, notes);
  }

  try {
    const sameKey = seen !== undefined && verdict.idempotencyKey === earlyKey;
    const { queueId, duplicate } = await store.accept(raw, verdict, envelope, sameKey ? seen : undefined);
    if (duplicate) {
      return done({ outcome: 'duplicate', reply: REPLY.alreadyQueued(queueId), verdict, queueId }, notes);
    }
    return done({ outcome: 'queued', reply: REPLY.queuedAs(queueId), verdict, queueId }, notes);
  } catch (err) {
    const kind = err instanceof GatewayError ? err.kind : 'store_unavailable';
    const reply = err instanceof GatewayError ? err.smtpReply : replyFor('store_unavailable');
    return done({ outcome: 'tempfail', reply, verdict, queueId: null }, { err: (err as Error).message, kind });
  }
}

/** The door's log line and metrics for one decided message. */
export function record(
  d: IngestDecision,
  size: number,
  envelope: Envelope,
  seconds: number,
  deps: { log: Logger; metrics: Metrics },
): IngestOutcome {
  const o = d.outcome;
  deps.metrics.acceptLatency.observe(seconds);
  deps.metrics.doorVerdicts.inc({ verdict: o.outcome, reason: o.verdict?.reason ?? o.outcome });
  if (o.outcome === 'queued') deps.metrics.rawBytesStored.inc(size);
  const line = {
    verdict: o.outcome,
    reason: o.verdict?.reason ?? o.outcome,
    queueId: o.queueId ?? undefined,
    ticket: o.verdict?.ticket ?? undefined,
    route: o.verdict?.route,
    // Values the sender wrote: bounded, so one message cannot write a megabyte of log.
    detail: clipped(o.verdict?.detail),
    messageId: clipped(o.verdict?.messageId),
    size,
    source: envelope.source,
    remote: envelope.remoteAddress,
    reply: formatReply(o.reply),
    ms: Math.round(seconds * 1000),
    ...d.notes,
  };
  if (o.outcome === 'tempfail') deps.log.warn(line, 'door verdict');
  else deps.log.info(line, 'door verdict');
  return o;
}

/** Seconds since a process.hrtime.bigint() reading. */
export function secondsSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export async function ingest(raw: Buffer, envelope: Envelope, deps: IngestDeps): Promise<IngestOutcome> {
  const started = process.hrtime.bigint();
  const d = await decide(raw, envelope, deps);
  return record(d, raw.length, envelope, secondsSince(started), deps);
}
