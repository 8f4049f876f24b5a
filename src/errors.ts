// Every failure the gateway can meet is classified here, once: whether it is worth retrying,
// and what an SMTP client is told. The SMTP door, the worker and the CLI all derive from this.
import type { SmtpReply } from './mail/types.js';

export type ErrorKind =
  | 'config' // bad or missing setting: exit 78
  | 'store_unavailable' // Redis down or slow at the door: 451
  | 'too_large' // message over the size limit: 552
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
  config: { retryable: false, reply: { code: 451, enhanced: '4.3.5', text: 'Gateway misconfigured, try again later' } },
  store_unavailable: {
    retryable: true,
    reply: { code: 451, enhanced: '4.3.0', text: 'Temporary storage problem, please try again later' },
  },
  too_large: { retryable: false, reply: { code: 552, enhanced: '5.3.4', text: 'Message exceeds the size limit' } },
  bad_input: { retryable: false, reply: { code: 554, enhanced: '5.6.0', text: 'Message could not be processed' } },
  bad_job: { retryable: false, reply: { code: 554, enhanced: '5.6.0', text: 'Message could not be processed' } },
  // Retried, but only a few times: a busy host can slow a draft past its deadline once, while a
  // message built to exhaust the drafter hits the same limit every time.
  draft_limit: {
    retryable: true,
    maxTries: true,
    reply: { code: 554, enhanced: '5.3.4', text: 'Message too complex to process' },
  },
  auth: { retryable: false, reply: { code: 451, enhanced: '4.3.0', text: 'Helpdesk rejected our credentials' } },
  not_found: { retryable: false, reply: { code: 550, enhanced: '5.1.1', text: 'Ticket not found' } },
  validation: { retryable: false, reply: { code: 550, enhanced: '5.6.0', text: 'Helpdesk rejected the message' } },
  rate_limited: { retryable: true, reply: { code: 451, enhanced: '4.7.0', text: 'Helpdesk busy, try again later' } },
  server: { retryable: true, reply: { code: 451, enhanced: '4.3.0', text: 'Helpdesk unavailable, try again later' } },
  timeout: { retryable: true, reply: { code: 451, enhanced: '4.4.1', text: 'Helpdesk did not answer in time' } },
  network: { retryable: true, reply: { code: 451, enhanced: '4.4.1', text: 'Helpdesk unreachable' } },
  unsure: { retryable: false, reply: { code: 554, enhanced: '5.6.0', text: 'Message could not be processed' } },
  expired: { retryable: false, reply: { code: 554, enhanced: '5.4.7', text: 'Delivery period expired' } },
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

/** Format an SMTP reply as one line, e.g. `451 4.3.0 Temporary storage problem`. */
export function formatReply(reply: SmtpReply): string {
  return `${reply.code} ${reply.enhanced} ${reply.text}`;
}

export function replyFor(kind: ErrorKind): SmtpReply {
  return KINDS[kind].reply;
}

/**
 * Replies of the SMTP door's own limits on sessions and senders (not verdicts on a message).
 * 421 closes the connection; 451 asks the sending server to try the message again later.
 */
export const LIMIT_REPLIES = {
  connectionRate: { code: 421, enhanced: '4.7.0', text: 'Too many connections from your address, try again later' },
  concurrentSessions: {
    code: 421,
    enhanced: '4.7.0',
    text: 'Too many open connections from your address, try again later',
  },
  refusedCommands: { code: 421, enhanced: '4.7.0', text: 'Too many refused commands, closing connection' },
  transactionTimeout: { code: 421, enhanced: '4.4.2', text: 'Transaction took too long, closing connection' },
  dataTimeout: { code: 421, enhanced: '4.4.2', text: 'Message data took too long, closing connection' },
  failedParked: {
    code: 451,
    enhanced: '4.7.1',
    text: 'Too much undeliverable mail from you is waiting here, try again later',
  },
} as const satisfies Record<string, SmtpReply>;
