// The one ingest path: SMTP and replay both hand a raw message and its envelope here, and get
// back the reply to give. The door reads headers only; everything else is the worker's.
import type { Config } from '../config.js';
import { GatewayError, formatReply, replyFor } from '../errors.js';
import type { Logger } from '../log.js';
import type { DoorChecks } from '../door/checks.js';
import { parseHeaders, type HeaderBlock } from '../mail/headers.js';
import { verdictFromHeaders } from '../mail/verdict.js';
import type { DoorVerdict, Envelope, SmtpReply } from '../mail/types.js';
import type { Metrics } from '../ops/metrics.js';
import type { MessageStore } from '../queue/store.js';

export interface IngestDeps {
  config: Config;
  store: Pick<MessageStore, 'accept'>;
  log: Logger;
  metrics: Metrics;
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

export type IngestOutcomeKind = 'queued' | 'duplicate' | 'dropped' | 'rejected' | 'tempfail' | 'too_large';

export interface IngestOutcome {
  outcome: IngestOutcomeKind;
  reply: SmtpReply;
  verdict: DoorVerdict | null;
  queueId: string | null;
}

export async function ingest(raw: Buffer, envelope: Envelope, deps: IngestDeps): Promise<IngestOutcome> {
  const { config, store, log, metrics } = deps;
  const started = process.hrtime.bigint();
  const done = (o: IngestOutcome, extra: Record<string, unknown> = {}): IngestOutcome => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.acceptLatency.observe(seconds);
    metrics.doorVerdicts.inc({ verdict: o.outcome, reason: o.verdict?.reason ?? o.outcome });
    const line = {
      verdict: o.outcome,
      reason: o.verdict?.reason ?? o.outcome,
      queueId: o.queueId ?? undefined,
      ticket: o.verdict?.ticket ?? undefined,
      route: o.verdict?.route,
      detail: o.verdict?.detail,
      messageId: o.verdict?.messageId ?? undefined,
      size: raw.length,
      source: envelope.source,
      remote: envelope.remoteAddress,
      reply: formatReply(o.reply),
      ms: Math.round(seconds * 1000),
      ...extra,
    };
    if (o.outcome === 'tempfail') log.warn(line, 'door verdict');
    else log.info(line, 'door verdict');
    return o;
  };

  if (raw.length > config.smtp.maxMessageBytes) {
    return done({ outcome: 'too_large', reply: replyFor('too_large'), verdict: null, queueId: null });
  }

  const headers = parseHeaders(raw);
  let verdict = verdictFromHeaders(headers, raw, envelope, config);
  if (deps.threads) verdict = deps.threads(verdict, headers, raw);
  let notes: Record<string, unknown> = {};
  if (deps.door) {
    try {
      ({ verdict, notes } = await deps.door.refine(verdict, headers, raw, envelope));
    } catch (err) {
      const reply = err instanceof GatewayError ? err.smtpReply : replyFor('store_unavailable');
      return done({ outcome: 'tempfail', reply, verdict, queueId: null }, { err: (err as Error).message, kind: 'store_unavailable' });
    }
  }
  if (verdict.verdict === 'reject') return done({ outcome: 'rejected', reply: verdict.smtpReply, verdict, queueId: null }, notes);
  if (verdict.verdict !== 'post' && verdict.verdict !== 'create') {
    return done({ outcome: 'dropped', reply: { code: 250, enhanced: '2.0.0', text: `Accepted, not posted (${verdict.reason})` }, verdict, queueId: null }, notes);
  }

  try {
    const { queueId, duplicate } = await store.accept(raw, verdict, envelope);
    if (duplicate) {
      return done({ outcome: 'duplicate', reply: { code: 250, enhanced: '2.0.0', text: `Ok: already queued as ${queueId}` }, verdict, queueId }, notes);
    }
    metrics.rawBytesStored.inc(raw.length);
    return done({ outcome: 'queued', reply: { code: 250, enhanced: '2.0.0', text: `Ok: queued as ${queueId}` }, verdict, queueId }, notes);
  } catch (err) {
    const kind = err instanceof GatewayError ? err.kind : 'store_unavailable';
    const reply = err instanceof GatewayError ? err.smtpReply : replyFor('store_unavailable');
    return done({ outcome: 'tempfail', reply, verdict, queueId: null }, { err: (err as Error).message, kind });
  }
}
