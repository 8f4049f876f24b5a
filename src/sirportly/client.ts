// The one place that speaks HTTP to Sirportly. Every call is a POST with a form body (never the
// query string: long messages hit 414), streamed (see form-body.ts), bounded in time, and every
// failure leaves as a classified GatewayError. There is no retry here: BullMQ attempts are the
// single retry layer.
import { Readable } from 'node:stream';
import { FormData, Pool } from 'undici';
import type { z } from 'zod';
import type { NewTicketFields } from '../mail/draft/new-ticket.js';
import type { UpdateFields } from '../mail/types.js';
import { classifySirportlyFailure } from './classify-failure.js';
import { formBody } from './form-body.js';
import {
  objectListSchema,
  spqlReferenceSchema,
  submittedTicketSchema,
  temporaryAttachmentSchema,
  ticketSchema,
  updateSchema,
  type SirportlyObject,
  type SirportlyTicket,
  type SirportlyUpdate,
  type SubmittedTicket,
  type TemporaryAttachment,
} from './types.js';

/** The objects/* lists `mailgate check` reads. */
export type ObjectKind = 'brands' | 'departments' | 'statuses' | 'priorities' | 'teams' | 'escalation_paths' | 'slas';

export type {
  SirportlyObject,
  SirportlyAttachment,
  SirportlyAuthor,
  SirportlyTicket,
  SirportlyUpdate,
  SubmittedTicket,
  TemporaryAttachment,
} from './types.js';

export interface SirportlyClientOptions {
  /** Base URL, e.g. https://api.sirportly.com (a path prefix is kept for self-hosted installs). */
  url: string;
  token: string;
  secret: string;
  /** Upper bound for one call, from queueing for a socket to the last body byte. */
  requestTimeoutMs: number;
  /** Socket cap towards Sirportly; size it to the worker concurrency. */
  connections: number;
}

export interface AttachmentFile {
  filename: string;
  contentType: string;
  content: Buffer;
}

export type PostUpdateFields = UpdateFields & { attachments?: string[] };

// An allowlist rather than "everything the caller passed": parse_ticket_variables and outgoing
// must never reach Sirportly (customer text stays literal; the gateway never sends mail).
const UPDATE_FIELDS = [
  'ticket',
  'subject',
  'message',
  'html_body',
  'html_safe',
  'author_name',
  'author_email',
  'posted_at',
  'authenticated',
] as const satisfies ReadonlyArray<keyof UpdateFields>;

/**
 * tickets/submit: the ticket record only (its content follows as a post_update). The fields are
 * the ones src/mail/draft/new-ticket.ts builds: names or ids for status, priority, team, brand,
 * department and sla; the contact by email (an existing contact with it is reused).
 */
export type SubmitTicketFields = NewTicketFields;

// Allowlisted like UPDATE_FIELDS: `message` in particular never goes to submit (Sirportly's submit
// adds no content, https://sirportly.com/docs/api-specification/tickets/submitting-a-new-ticket;
// the text is posted as an update), nor do user/custom fields the gateway does not own.
const SUBMIT_FIELDS = [
  'subject',
  'status',
  'priority',
  'team',
  'brand',
  'department',
  'sla',
  'tag_list',
  'contact_method_type',
  'contact_method_data',
  'contact_name',
  'submitted_at',
] as const satisfies ReadonlyArray<keyof SubmitTicketFields>;

/** Tags findTicketByTag accepts: nothing that could close the quoted SPQL string or add syntax. */
const TAG_PATTERN = /^[A-Za-z0-9:_.-]{1,100}$/;

/** Whether findTicketByTag accepts `tag` (1-100 of A-Z a-z 0-9 : _ . -); anything else it throws on. */
export function isSearchableTag(tag: string): boolean {
  return TAG_PATTERN.test(tag);
}

const CONNECT_TIMEOUT_CAP_MS = 10_000;

// Form fields as name/value pairs, not URLSearchParams: appending a 20 MB value to one converts
// it whole on the event loop; form-body.ts encodes it in slices instead.
type RequestBody = { kind: 'form'; pairs: Array<[string, string]> } | { kind: 'multipart'; form: FormData };

export class SirportlyClient {
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly token: string;
  private readonly secret: string;
  private readonly requestTimeoutMs: number;

  constructor(opts: SirportlyClientOptions) {
    const base = new URL(opts.url);
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.token = opts.token;
    this.secret = opts.secret;
    this.requestTimeoutMs = opts.requestTimeoutMs;
    // headersTimeout/bodyTimeout alone do not bound a call (bodyTimeout is per chunk, and time
    // waiting for a free socket is not counted), hence also the AbortSignal deadline per call.
    this.pool = new Pool(base.origin, {
      connections: opts.connections,
      headersTimeout: opts.requestTimeoutMs,
      bodyTimeout: opts.requestTimeoutMs,
      connect: { timeout: Math.min(opts.requestTimeoutMs, CONNECT_TIMEOUT_CAP_MS) },
    });
  }

  /** Upload a file as a temporary attachment; its token is linked to an update by postUpdate. */
  async addAttachment(file: AttachmentFile): Promise<TemporaryAttachment> {
    // undici's own FormData: Node's global one is not understood by npm undici's request().
    const form = new FormData();
    form.append('file', new Blob([file.content], { type: file.contentType }), file.filename);
    form.append('filename', file.filename);
    form.append('content_type', file.contentType);
    return this.call('tickets/add_attachment', { kind: 'multipart', form }, temporaryAttachmentSchema);
  }

  async postUpdate(fields: PostUpdateFields): Promise<SirportlyUpdate> {
    const pairs: Array<[string, string]> = [];
    for (const name of UPDATE_FIELDS) {
      const value = fields[name];
      // A blank subject is left out, not sent as `subject=`: Sirportly then uses the ticket's.
      if (name === 'subject' && value?.trim() === '') continue;
      if (value !== undefined) pairs.push([name, value]);
    }
    if (fields.attachments !== undefined && fields.attachments.length > 0) {
      pairs.push(['attachments', fields.attachments.join(',')]);
    }
    return this.call('tickets/post_update', { kind: 'form', pairs }, updateSchema);
  }

  /** The ticket with all its updates. Never sends mark_as_read: staff notifications stay unread. */
  async getTicket(reference: string): Promise<SirportlyTicket> {
    return this.call('tickets/ticket', { kind: 'form', pairs: [['ticket', reference]] }, ticketSchema);
  }

  /** POST tickets/submit (201 with the ticket JSON). Creates an empty ticket; content follows via postUpdate. */
  async submitTicket(fields: SubmitTicketFields): Promise<SubmittedTicket> {
    const pairs: Array<[string, string]> = [];
    for (const name of SUBMIT_FIELDS) {
      const value = fields[name];
      if (value !== undefined) pairs.push([name, value]);
    }
    return this.call('tickets/submit', { kind: 'form', pairs }, submittedTicketSchema);
  }

  /**
   * The reference of the newest ticket carrying `tag`, or null when there is none: the way to
   * find a ticket whose submit answer was lost (the query form of the Centreon Sirportly plugin).
   * Throws a plain Error, before any request, for a tag outside [A-Za-z0-9:_.-]{1,100}.
   */
  async findTicketByTag(tag: string): Promise<string | null> {
    if (!isSearchableTag(tag)) throw new Error(`findTicketByTag: unsafe tag ${JSON.stringify(tag.slice(0, 120))}`);
    const spql = `SELECT tickets.reference FROM tickets WHERE ticket_tags.tag = "${tag}" ORDER BY tickets.submitted_at DESC LIMIT 1`;
    return this.call('tickets/spql', { kind: 'form', pairs: [['spql', spql]] }, spqlReferenceSchema);
  }

  /** objects/<kind>: the account's brands, departments, … (departments filtered by `brand` when given). */
  async listObjects(kind: ObjectKind, filter: Record<string, string> = {}): Promise<SirportlyObject[]> {
    return this.call(`objects/${kind}`, { kind: 'form', pairs: Object.entries(filter) }, objectListSchema);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private async call<T>(operation: string, body: RequestBody, schema: z.ZodType<T>): Promise<T> {
    const ctx = { operation, secrets: [this.token, this.secret] };
    const headers: Record<string, string> = {
      'x-auth-token': this.token,
      'x-auth-secret': this.secret,
      accept: 'application/json',
    };
    let payload: FormData | Readable;
    if (body.kind === 'form') {
      // Encoded while it is sent, with its length counted first: a large message never blocks the
      // event loop or sits in memory encoded whole.
      const form = await formBody(body.pairs);
      headers['content-type'] = 'application/x-www-form-urlencoded;charset=UTF-8';
      headers['content-length'] = String(form.length);
      payload = Readable.from(form.chunks, { objectMode: false });
    } else {
      payload = body.form;
    }

    let status: number;
    let responseHeaders: Record<string, string | string[] | undefined>;
    let text: string;
    try {
      const res = await this.pool.request({
        path: `${this.basePath}/api/v2/${operation}`,
        method: 'POST',
        headers,
        body: payload,
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
      status = res.statusCode;
      responseHeaders = res.headers;
      // Read even error bodies to the end: an unconsumed body pins the socket.
      text = await res.body.text();
    } catch (error) {
      throw classifySirportlyFailure({ type: 'error', error }, ctx);
    }

    if (status !== 200 && status !== 201) {
      throw classifySirportlyFailure({ type: 'status', status, headers: responseHeaders, body: text }, ctx);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw classifySirportlyFailure({ type: 'bad_body', status, reason: 'not JSON' }, ctx);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const reason = issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unexpected shape';
      throw classifySirportlyFailure({ type: 'bad_body', status, reason }, ctx);
    }
    return parsed.data;
  }
}

/** Everything the worker calls on Sirportly; tests and the metrics decorator implement this. */
export type SirportlyApi = Pick<
  SirportlyClient,
  'addAttachment' | 'postUpdate' | 'getTicket' | 'submitTicket' | 'findTicketByTag'
>;
