// `mailgate inspect` and `replay --dry-run`: what the gateway would do with one message, built
// from the very functions the door and the worker run, so the answer cannot drift from reality.
import type { Config } from '../config/schema.js';
import { authenticityOf, authorToAuthenticate, type AuthVerdict } from './auth/verify.js';
import type { DnsResolver } from './auth/resolver.js';
import { systemResolver } from '../dns-resolver.js';
import { draft } from './draft/draft.js';
import { markerTag, newTicketFields, type NewTicketFields } from './draft/new-ticket.js';
import { routeNamed } from './door/route.js';
import { parseHeaders, type HeaderBlock } from './headers.js';
import { referencedMessageIds } from './door/reply-keys.js';
import type { DoorVerdict, Draft, Envelope, UpdateFields, VerdictKind } from './types.js';
import { verdictFromHeaders } from './door/verdict.js';
import { formatReply } from '../smtp-replies.js';

export interface InspectAttachment {
  filename: string;
  content_type: string;
  size: number;
  sha256: string;
}

/** The door's Redis checks cannot run offline; inspect says which would have run. */
export interface InspectChecks {
  thread: string;
  known_sender: string;
  loop_rate_limit: string;
  new_ticket_limit: string;
}

export interface InspectResult {
  verdict: VerdictKind;
  reason: string;
  // detail, checks and auth are always set here; optional in the type because replay --dry-run
  // writes lines of this shape itself for messages it could not read.
  /** What gave a drop or reject away (e.g. "Precedence: bulk"), or null. */
  detail?: string | null;
  smtp_reply: string;
  message_id: string | null;
  idempotency_key: string;
  /** The route the recipients chose (its account, policy and new-ticket fields). */
  route?: string;
  /** Verdict create: the tickets/submit fields; null otherwise (or when they cannot be built: see warnings). */
  new_ticket?: NewTicketFields | null;
  /** Replay: the Message-ID (or key) of the archive message whose new ticket this one is posted to. */
  same_ticket_as?: string | null;
  update: {
    /** Null when the message opens a new ticket: its reference is known only once Sirportly made it. */
    ticket: string | null;
    subject: string;
    message: string;
    html_body: string | null;
    html_safe: '1' | null;
    author_name: string | null;
    author_email: string | null;
    posted_at: string;
    authenticated: '1' | null;
  } | null;
  attachments: InspectAttachment[];
  warnings: string[];
  checks?: InspectChecks;
  /** SPF/DKIM/DMARC as the worker would judge them (no SMTP session here, so SPF is not_run). */
  auth?: AuthVerdict | null;
}

export interface InspectOptions {
  /** DNS for the authenticity check; the system resolver when absent. */
  resolver?: DnsResolver;
  /** The message's header block when the caller has read it already (replay has). */
  headers?: HeaderBlock;
  /**
   * Drafts the update, as the worker does: `mailgate inspect` hands it to the drafting pool, so a
   * message built to run for minutes meets the same deadline and heap cap there. In-process when absent.
   */
  draft?: (raw: Buffer, envelope: Envelope, ticket: string) => Promise<Draft>;
}

const OFFLINE = 'not run: needs Redis (not available offline)';

function offlineChecks(v: DoorVerdict, headers: HeaderBlock, envelope: Envelope, config: Config): InspectChecks {
  let thread = 'not needed: the headers name the ticket';
  if (v.reason === 'no_reference') {
    const ids = referencedMessageIds(headers, config.threads.maxReferences).length;
    if (!config.threads.enabled) thread = 'off (threads.enabled)';
    else
      thread =
        ids > 0
          ? `${OFFLINE}; would look up ${ids} Message-ID(s) from In-Reply-To/References`
          : 'nothing to look up: no In-Reply-To/References';
  }
  const posting = v.verdict === 'post';
  const replayed = envelope.source === 'replay';
  return {
    thread,
    known_sender: !config.policy.knownSendersOnly ? 'off (policy.knownSendersOnly)' : posting ? OFFLINE : 'not needed',
    loop_rate_limit: !posting ? 'not needed' : replayed ? 'not applied to replayed mail' : OFFLINE,
    new_ticket_limit:
      v.verdict !== 'create'
        ? 'not needed'
        : config.newTickets.perSenderMax === 0
          ? 'off (newTickets.perSenderMax is 0)'
          : replayed
            ? 'not applied to replayed mail'
            : OFFLINE,
  };
}

function updateView(u: UpdateFields): NonNullable<InspectResult['update']> {
  // Every key present (null when not sent) so the JSON shape is the same for every message.
  return {
    ticket: u.ticket === '' ? null : u.ticket,
    subject: u.subject,
    message: u.message,
    html_body: u.html_body ?? null,
    html_safe: u.html_safe ?? null,
    author_name: u.author_name ?? null,
    author_email: u.author_email ?? null,
    posted_at: u.posted_at,
    authenticated: u.authenticated ?? null,
  };
}

export async function inspectMessage(
  raw: Buffer,
  envelope: Envelope,
  config: Config,
  opts: InspectOptions = {},
): Promise<InspectResult> {
  return (await inspectWithVerdict(raw, envelope, config, opts)).result;
}

/** The inspect object and the door verdict it was built from (replay places the verdict in the archive's threads). */
export async function inspectWithVerdict(
  raw: Buffer,
  envelope: Envelope,
  config: Config,
  opts: InspectOptions = {},
): Promise<{ result: InspectResult; verdict: DoorVerdict }> {
  const headers = opts.headers ?? parseHeaders(raw);
  const v = verdictFromHeaders(headers, raw, envelope, config);
  const result: InspectResult = {
    verdict: v.verdict,
    reason: v.reason,
    detail: v.detail ?? null,
    smtp_reply: formatReply(v.smtpReply),
    message_id: v.messageId,
    idempotency_key: v.idempotencyKey,
    route: v.route,
    new_ticket: null,
    same_ticket_as: null,
    update: null,
    attachments: [],
    warnings: [],
    checks: offlineChecks(v, headers, envelope, config),
    auth: null,
  };
  return { result: await inspectVerdict(v, raw, envelope, config, result, { ...opts, headers }), verdict: v };
}

/** The rest of the inspect object for a verdict already taken. */
export async function inspectVerdict(
  v: DoorVerdict,
  raw: Buffer,
  envelope: Envelope,
  config: Config,
  result: InspectResult,
  opts: InspectOptions & { sameTicketAs?: string } = {},
): Promise<InspectResult> {
  if (v.verdict !== 'post' && v.verdict !== 'create') return result;
  const ticket = v.ticket ?? '';
  const d = opts.draft
    ? await opts.draft(raw, envelope, ticket)
    : await draft(raw, envelope, config, ticket, opts.headers);
  if (v.verdict === 'create') {
    if (opts.sameTicketAs !== undefined) result.same_ticket_as = opts.sameTicketAs;
    else {
      const route = routeNamed(config, v.route);
      try {
        if (!route) throw new Error(`route "${v.route}" is not configured`);
        result.new_ticket = newTicketFields(d, route, config.newTickets.markerTag ? markerTag(v.idempotencyKey) : null);
      } catch (err) {
        d.warnings.push(`cannot open a ticket: ${(err as Error).message}`);
      }
    }
  }
  // As in the worker: the same check, and the flag only when it passes.
  result.auth = await authenticityOf(
    raw,
    envelope,
    config,
    authorToAuthenticate(d),
    opts.resolver ?? systemResolver(config.auth.dnsTimeoutMs),
  );
  if (result.auth.authenticated) d.update.authenticated = '1';
  result.update = updateView(d.update);
  result.attachments = d.attachments.map((a) => ({
    filename: a.filename,
    content_type: a.contentType,
    size: a.size,
    sha256: a.sha256,
  }));
  result.warnings = d.warnings;
  return result;
}
