// One message of `replay --dry-run`: the object `mailgate inspect` prints, computed by the same
// inspectMessage() as `mailgate inspect`, with the envelope replay would use and where the message
// was found. Runs in the drafting threads (drafting/thread-main.ts).
import type { Config } from '../../config/schema.js';
import { GatewayError, replyFor } from '../../errors.js';
import { parseHeaders } from '../../mail/headers.js';
import type { DnsResolver } from '../../mail/auth/resolver.js';
import { inspectWithVerdict, type InspectResult } from '../../mail/inspect.js';
import type { DoorVerdict } from '../../mail/types.js';
import { formatReply, REPLY } from '../../smtp-replies.js';
import { messageTime, replayEnvelope } from '../archive/envelope.js';
import { threadFacts, type ThreadFacts } from '../conversations.js';
import type { Example, Outcome } from '../summary.js';

export interface DateFilter {
  /** Epoch ms, inclusive. */
  since: number | null;
  /** Epoch ms, exclusive. */
  until: number | null;
}

export interface DryRunInput {
  seq: number;
  path: string;
  index: number;
  raw: Uint8Array | null;
  size: number;
  fromLine: string | null;
  /** Epoch ms, or null. */
  deliveredAt: number | null;
}

export interface DryRunOutput {
  seq: number;
  /** For the archive's thread map (main thread, in order): set for mail that posts or opens a ticket. */
  thread?: { verdict: DoorVerdict; facts: ThreadFacts };
  /** The JSON line to print, or null for a message outside --since/--until. */
  line: string | null;
  outcome: Outcome;
  reason: string;
  example: Example;
}

/** The inspect object plus where the message came from; too-large messages have no key. */
export type DryRunLine = Omit<InspectResult, 'idempotency_key'> & {
  idempotency_key: string | null;
  source: { path: string; index: number; size: number };
};

/**
 * Replayed mail is not checked for SPF/DKIM/DMARC (its keys and senders' records have moved on
 * since), so no DNS is asked; this stands in for the resolver inspect would otherwise build for
 * every message.
 */
const NO_DNS: DnsResolver = (name) =>
  Promise.reject(Object.assign(new Error(`replay asks no DNS (${name})`), { code: 'ENOTFOUND' }));

export function outsideDates(t: Date, filter: DateFilter): string | null {
  if (filter.since !== null && t.getTime() < filter.since) return 'before_since';
  if (filter.until !== null && t.getTime() >= filter.until) return 'after_until';
  return null;
}

/**
 * The line of a message the door would take but the worker could not draft: it would end as a
 * failed job (reason bad_input, or draft_limit when it hit a drafting limit).
 */
export function undraftable(
  input: DryRunInput,
  reason: 'bad_input' | 'draft_limit',
  why: string,
  subject: string | null = null,
): DryRunOutput {
  const line: DryRunLine = {
    verdict: 'post',
    reason,
    smtp_reply: formatReply(REPLY.queued),
    message_id: null,
    idempotency_key: null,
    update: null,
    attachments: [],
    warnings: [`the worker could not draft this message: ${why}`],
    source: { path: input.path, index: input.index, size: input.size },
  };
  const example: Example = { path: input.path, index: input.index, message_id: null, subject, ticket: null };
  return { seq: input.seq, line: JSON.stringify(line), outcome: 'rejected', reason, example };
}

export async function dryRunOne(input: DryRunInput, config: Config, filter: DateFilter): Promise<DryRunOutput> {
  const source = { path: input.path, index: input.index, size: input.size };
  const base: Example = { path: input.path, index: input.index, message_id: null, subject: null, ticket: null };
  if (input.raw === null) {
    const line: DryRunLine = {
      verdict: 'reject',
      reason: 'too_large',
      smtp_reply: formatReply(replyFor('too_large')),
      message_id: null,
      idempotency_key: null,
      update: null,
      attachments: [],
      warnings: [
        `message of ${input.size} bytes exceeds smtp.maxMessageBytes (${config.smtp.maxMessageBytes}); not read`,
      ],
      source,
    };
    return {
      seq: input.seq,
      line: JSON.stringify(line),
      outcome: 'rejected',
      reason: 'too_large',
      example: { ...base, detail: `${input.size} bytes` },
    };
  }
  const raw = Buffer.from(input.raw.buffer, input.raw.byteOffset, input.raw.byteLength);
  const headers = parseHeaders(raw);
  const envelope = replayEnvelope(
    raw,
    { fromLine: input.fromLine, deliveredAt: input.deliveredAt === null ? null : new Date(input.deliveredAt) },
    new Date(),
    headers,
  );
  const example: Example = { ...base, message_id: null, subject: headers.get('subject') ?? null };
  if (filter.since !== null || filter.until !== null) {
    const outside = outsideDates(messageTime(headers, envelope), filter);
    if (outside) return { seq: input.seq, line: null, outcome: 'skipped', reason: outside, example };
  }
  let result: InspectResult;
  let verdict: DoorVerdict;
  try {
    // The header block read above serves the verdict and the draft too: read once, not three times.
    ({ result, verdict } = await inspectWithVerdict(raw, envelope, config, { resolver: NO_DNS, headers }));
  } catch (err) {
    // The door would take it; the worker could not draft it: it would end as a failed job.
    const limit = err instanceof GatewayError && err.kind === 'draft_limit';
    return undraftable(input, limit ? 'draft_limit' : 'bad_input', (err as Error).message, example.subject);
  }
  example.message_id = result.message_id;
  example.ticket = result.update?.ticket ?? null;
  const line: DryRunLine = { ...result, source };
  const outcome: Outcome =
    result.verdict === 'post' || result.verdict === 'create'
      ? 'accepted'
      : result.verdict === 'drop'
        ? 'dropped'
        : 'rejected';
  const out: DryRunOutput = { seq: input.seq, line: JSON.stringify(line), outcome, reason: result.reason, example };
  if (result.verdict === 'post' || result.verdict === 'create') {
    // The header verdict inspect took; the main thread places it in the archive's threads.
    out.thread = { verdict, facts: threadFacts(headers, raw) };
  }
  return out;
}
