// Every failure the gateway can meet is classified here, once: whether it is worth retrying,
// and which reply (smtp-replies.ts) an SMTP client is told. The SMTP door, the worker and the CLI
// all derive from this.
import type { SmtpReply } from './mail/types.js';
import { REPLY } from './smtp-replies.js';

export type ErrorKind =
  | 'config' // bad or missing setting: exit 78
  | 'store_unavailable' // Redis down or slow at the door: the sender tries again later
  | 'too_large' // message over the size limit: refused for good
  | 'bad_input' // mail that cannot be parsed or drafted: permanent
  | 'bad_job' // queued job data the worker cannot read: permanent (a retry reads the same data)
  | 'draft_limit' // drafting hit its deadline or a resource cap: tried draft.attempts times in all, then permanent
  | 'auth' // Sirportly 401/403: permanent
  | 'not_found' // Sirportly 404 (unknown ticket): permanent
  | 'validation' // Sirportly 422: permanent
  | 'rate_limited' // Sirportly 429: retry after a delay
  | 'server' // Sirportly 5xx or an unexpected status: retry
  | 'timeout' // no (complete) answer in time: retry, outcome unknown
  | 'network' // connection refused/reset: retry, outcome unknown once the request was sent
  | 'unsure' // an earlier request may have taken effect and nothing can tell: permanent, a person decides
  | 'expired'; // retried for the whole retry period (queue.retryPeriodHours): permanent

interface KindInfo {
  retryable: boolean;
  /** Retried at most draft.attempts times in all, not for the whole retry period. */
  maxTries?: true;
  reply: SmtpReply;
}

const KINDS: Record<ErrorKind, KindInfo> = {
  config: { retryable: false, reply: REPLY.misconfigured },
  store_unavailable: { retryable: true, reply: REPLY.storeUnavailable },
  too_large: { retryable: false, reply: REPLY.tooLarge },
  bad_input: { retryable: false, reply: REPLY.notProcessed },
  bad_job: { retryable: false, reply: REPLY.notProcessed },
  // Retried, but only a few times: a busy host can slow a draft past its deadline once, while a
  // message built to exhaust the drafter hits the same limit every time.
  draft_limit: { retryable: true, maxTries: true, reply: REPLY.tooComplex },
  auth: { retryable: false, reply: REPLY.helpdeskCredentials },
  not_found: { retryable: false, reply: REPLY.ticketNotFound },
  validation: { retryable: false, reply: REPLY.helpdeskRejected },
  rate_limited: { retryable: true, reply: REPLY.helpdeskBusy },
  server: { retryable: true, reply: REPLY.helpdeskUnavailable },
  timeout: { retryable: true, reply: REPLY.helpdeskTimeout },
  network: { retryable: true, reply: REPLY.helpdeskUnreachable },
  unsure: { retryable: false, reply: REPLY.notProcessed },
  expired: { retryable: false, reply: REPLY.deliveryExpired },
};

export interface GatewayErrorOptions {
  cause?: unknown;
  /** HTTP status, when the error came from Sirportly. */
  status?: number;
  /** Milliseconds the server asked us to wait (Retry-After). */
  retryAfterMs?: number;
  /** True when the request may have taken effect although we saw no success. */
  ambiguous?: boolean;
  /** The message alone is the failed job's reason, without the kind in front (it says what to do). */
  plainReason?: boolean;
}

export class GatewayError extends Error {
  readonly kind: ErrorKind;
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly ambiguous: boolean;
  private readonly plainReason: boolean;

  constructor(kind: ErrorKind, message: string, opts: GatewayErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GatewayError';
    this.kind = kind;
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
    this.ambiguous = opts.ambiguous ?? false;
    this.plainReason = opts.plainReason ?? false;
    Object.setPrototypeOf(this, new.target.prototype);
  }

  get retryable(): boolean {
    return KINDS[this.kind].retryable;
  }

  get smtpReply(): SmtpReply {
    return KINDS[this.kind].reply;
  }

  /** What an operator reads as the reason of a job failed by this error, e.g. `not_found: …`. */
  get reason(): string {
    return this.plainReason ? this.message : `${this.kind}: ${this.message}`;
  }
}

/** The error's kind is retried a bounded number of times (draft.attempts), not for the retry period. */
export function hasTryLimit(err: unknown): boolean {
  return err instanceof GatewayError && KINDS[err.kind].maxTries === true;
}

export function isRetryable(err: unknown): boolean {
  return err instanceof GatewayError ? err.retryable : false;
}

export function replyFor(kind: ErrorKind): SmtpReply {
  return KINDS[kind].reply;
}
