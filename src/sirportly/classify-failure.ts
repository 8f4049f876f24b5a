// Every way a Sirportly call can fail is turned into a GatewayError here and nowhere else, so the
// worker's retry/ambiguity decisions rest on one table. `ambiguous` is the flag that matters most:
// it tells the worker to read the ticket back before posting again (exactly one update per mail).
import { GatewayError, type ErrorKind } from '../errors.js';
import { redactSecrets } from '../redact.js';

export type ResponseHeaders = Record<string, string | string[] | undefined>;

export type SirportlyFailure =
  /** The server answered with a status we do not treat as success. */
  | { type: 'status'; status: number; headers: ResponseHeaders; body: string }
  /** A 2xx whose body we could not use (not JSON, or not the expected shape). */
  | { type: 'bad_body'; status: number; reason: string }
  /** No (complete) answer: undici/Node error, abort, timeout. */
  | { type: 'error'; error: unknown };

export interface ClassifyContext {
  /** Method name for the message, e.g. 'tickets/post_update'. */
  operation: string;
  /** Strings that must never appear in an error message (API token and secret). */
  secrets: readonly string[];
  /** Clock for HTTP-date Retry-After values; injectable for tests. */
  now?: () => number;
}

// The connection was never established, so the request cannot have reached Sirportly.
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED', // our own pool was closed: the request was never dispatched
  'UND_ERR_INVALID_ARG',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_ABORTED']);
const MAX_DETAIL = 300;

export function classifySirportlyFailure(failure: SirportlyFailure, ctx: ClassifyContext): GatewayError {
  const make = (kind: ErrorKind, detail: string, opts: ConstructorParameters<typeof GatewayError>[2] = {}) =>
    new GatewayError(kind, redactSecrets(`Sirportly ${ctx.operation}: ${detail}`, ctx.secrets), opts);

  if (failure.type === 'bad_body') {
    // A 2xx means the server did the work; we just cannot prove it from the answer.
    return make('server', `${failure.status} with an unusable body (${failure.reason})`, {
      status: failure.status,
      ambiguous: true,
    });
  }

  if (failure.type === 'error') {
    const err = failure.error;
    const code = errorCode(err);
    const name = err instanceof Error ? err.name : '';
    const text = err instanceof Error ? err.message : String(err);
    // AbortSignal.timeout() rejects with a DOMException named TimeoutError; undici passes the
    // signal's reason through unchanged.
    if ((code !== undefined && TIMEOUT_CODES.has(code)) || name === 'TimeoutError' || name === 'AbortError') {
      return make('timeout', `no complete answer in time (${code ?? name})`, { ambiguous: true, cause: err });
    }
    if (code !== undefined && NOT_SENT_CODES.has(code)) {
      return make('network', `cannot connect (${code})`, { ambiguous: false, cause: err });
    }
    // UND_ERR_SOCKET, ECONNRESET, EPIPE and anything unknown: the bytes may have left.
    return make('network', `connection failed (${code ?? (name || 'error')}: ${clip(text)})`, {
      ambiguous: true,
      cause: err,
    });
  }

  const { status, headers, body } = failure;
  if (status === 401 || status === 403) {
    return make('auth', `${status} ${errorText(body) || 'authentication failed'}`, { status });
  }
  if (status === 404) {
    return make('not_found', `404 ${errorText(body) || 'not found'}`, { status });
  }
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(header(headers, 'retry-after'), ctx.now ?? Date.now);
    return make(
      'rate_limited',
      `429 rate limited${retryAfterMs === undefined ? '' : ` (retry after ${retryAfterMs} ms)`}`,
      {
        status,
        retryAfterMs,
      },
    );
  }
  if (status >= 400 && status < 500) {
    // 422 is the documented validation answer; 409 and other 4xx are refusals that a retry
    // of the same request cannot change.
    return make('validation', `${status} ${errorText(body) || 'request rejected'}`, { status });
  }
  // 5xx, 3xx, unexpected 2xx/1xx: the server may have acted on the request.
  return make('server', `${status} ${errorText(body) || 'unexpected status'}`, { status, ambiguous: true });
}

/**
 * Human text of a Sirportly error body: `{"error": "…"}` or `{"errors": {field: ["…"]}}`
 * ("base: You must enter a message; attachments: …"). Falls back to a clipped raw body.
 */
export function errorText(body: string): string {
  const trimmed = body.trim();
  if (trimmed === '') return '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    return clip(trimmed.replace(/\s+/g, ' '));
  }
  if (!isRecord(parsed)) return clip(trimmed);
  const parts: string[] = [];
  if (typeof parsed.error === 'string') parts.push(parsed.error);
  const errors = parsed.errors;
  if (isRecord(errors)) {
    for (const [field, messages] of Object.entries(errors)) {
      const list = Array.isArray(messages) ? messages : [messages];
      for (const m of list) parts.push(`${field}: ${typeof m === 'string' ? m : JSON.stringify(m)}`);
    }
  } else if (Array.isArray(errors)) {
    for (const m of errors) parts.push(typeof m === 'string' ? m : JSON.stringify(m));
  } else if (typeof errors === 'string') {
    parts.push(errors);
  }
  return parts.length > 0 ? clip(parts.join('; ')) : clip(trimmed);
}

/** Retry-After is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | undefined, now: () => number = Date.now): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now());
}

/** The first string `code` on the error, its cause chain or an AggregateError's members. */
function errorCode(err: unknown, depth = 0): string | undefined {
  if (!isRecord(err) || depth > 4) return undefined;
  if (typeof err.code === 'string') return err.code;
  if (err instanceof AggregateError) {
    for (const inner of err.errors) {
      const c = errorCode(inner, depth + 1);
      if (c !== undefined) return c;
    }
  }
  return errorCode(err.cause, depth + 1);
}

function header(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function clip(text: string): string {
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}…` : text;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}
