// An HTTP stand-in for Sirportly on a real port, following ../shared/docs/sirportly-api.md:
// X-Auth headers, 404 {"error"} / 422 {"errors":{field:[…]}}, temporary attachment tokens that
// expire and work once, post_update → 201 update JSON, tickets/ticket with updates[]. Faults are
// switched at runtime so tests can stage 5xx, 429, slow answers and "committed, then the answer
// never came" — the case the gateway's duplicate check exists for.
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface SirportlyDoubleOptions {
  token?: string;
  secret?: string;
  /** Lifetime of temporary attachment tokens (default 1 hour); also settable as state.tokenTtlMs. */
  tokenTtlMs?: number;
  /** Tickets that exist from the start (default: GJ-060309, OC-820409, AB-123456). */
  tickets?: Array<{ reference: string; subject?: string }>;
  /** Clock for token expiry and default posted_at. */
  now?: () => number;
}

export interface DoubleFaults {
  /** Endpoint names ('post_update', 'add_attachment', 'ticket') or full paths the faults apply to; null = all. */
  only: string[] | null;
  /** Probability (0..1) of a 500 before anything is done. */
  failRate: number;
  /** Answer the next N targeted calls with 500 before anything is done. */
  failNext: number;
  /** Answer the next N targeted calls with 429 and Retry-After. */
  status429Next: number;
  /** Retry-After value sent with 429: seconds, or a string such as an HTTP-date. */
  retryAfter: number | string;
  /** Wait this long (after reading the request) before handling it. */
  delayMs: number;
  /** Do the work of the next N targeted calls (it is recorded), then hold the answer for hangMs and destroy the socket. */
  commitThenHangNext: number;
  hangMs: number;
  /** Random source for failRate; replace for determinism. */
  random: () => number;
}

export interface StoredFile {
  id: number;
  token: string;
  filename: string;
  contentType: string;
  content: Buffer;
  sha256: string;
  expiresAt: number;
  /** Update id that consumed the token, or null while unused. */
  usedBy: number | null;
}

export interface UpdateJson {
  id: number;
  subject: string;
  message: string;
  html_body: string | null;
  html_safe: boolean;
  private: boolean;
  pinned: boolean;
  posted_at: string;
  author: Record<string, unknown> | null;
  from_name: string | null;
  from_address: string | null;
  authenticated: boolean | null;
  message_id: null;
  source: 'api';
  attachments: Array<{ id: number; name: string; content_type: string; file_size: number; extension: string | null }>;
}

export interface RecordedUpdate {
  id: number;
  ticket: string;
  /** Every form field exactly as decoded from the request (query string merged under it). */
  fields: Record<string, string>;
  attachments: StoredFile[];
  json: UpdateJson;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  /** Raw query string including '?', '' when none. */
  query: string;
  contentType: string | undefined;
  /** Body field names (form or multipart) in order. */
  fieldNames: string[];
}

export interface DoubleState {
  addTicket(reference: string, subject?: string): void;
  updates(reference: string): RecordedUpdate[];
  allUpdates(): RecordedUpdate[];
  uploads(): StoredFile[];
  /** Requests seen per path, counted on arrival (before faults and auth). */
  requests: Record<string, number>;
  log: RequestLogEntry[];
  tokenTtlMs: number;
  /** Most TCP connections open at the same time. */
  peakConnections: number;
}

export interface SirportlyDouble {
  url: string;
  token: string;
  secret: string;
  state: DoubleState;
  faults: DoubleFaults;
  resetFaults(): void;
  close(): Promise<void>;
}

interface Ticket {
  id: number;
  reference: string;
  subject: string;
  messageId: string;
  submittedAt: string;
  updates: RecordedUpdate[];
}

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const DEFAULT_TICKETS = [
  { reference: 'GJ-060309', subject: 'Printer on fire' },
  { reference: 'OC-820409', subject: 'Cannot log in' },
  { reference: 'AB-123456', subject: 'Invoice question' },
];

function defaultFaults(): DoubleFaults {
  return {
    only: null,
    failRate: 0,
    failNext: 0,
    status429Next: 0,
    retryAfter: 2,
    delayMs: 0,
    commitThenHangNext: 0,
    hangMs: 5000,
    random: Math.random,
  };
}

/** Sirportly answers times as ISO 8601 with an explicit +00:00 offset and whole seconds. */
function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

export async function startSirportlyDouble(opts: SirportlyDoubleOptions = {}): Promise<SirportlyDouble> {
  const token = opts.token ?? 'test-token-4f1c';
  const secret = opts.secret ?? 'test-secret-9b2e';
  const now = opts.now ?? Date.now;
  const tickets = new Map<string, Ticket>();
  const files = new Map<string, StoredFile>();
  const contacts = new Map<string, number>();
  const sockets = new Set<Socket>();
  const wakers = new Set<() => void>();
  let nextId = 1;
  let closed = false;

  const faults = defaultFaults();

  const state: DoubleState = {
    addTicket(reference, subject) {
      const ref = reference.toUpperCase();
      tickets.set(ref, {
        id: nextId++,
        reference: ref,
        subject: subject ?? `Ticket ${ref}`,
        messageId: `${randomUUID()}@sirportly.double`,
        submittedAt: formatTime(now()),
        updates: [],
      });
    },
    updates: (reference) => [...(tickets.get(reference.toUpperCase())?.updates ?? [])],
    allUpdates: () => [...tickets.values()].flatMap((t) => t.updates).sort((a, b) => a.id - b.id),
    uploads: () => [...files.values()],
    requests: {},
    log: [],
    tokenTtlMs: opts.tokenTtlMs ?? 3_600_000,
    peakConnections: 0,
  };
  for (const t of opts.tickets ?? DEFAULT_TICKETS) state.addTicket(t.reference, t.subject);

  // Resolved early by close(), so no handler is left waiting on a timer after the test ends.
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      wakers.add(wake);
    });

  const targeted = (path: string) =>
    faults.only === null || faults.only.some((p) => p === path || p === path.split('/').pop());

  async function addAttachment(form: FormData): Promise<Reply> {
    if (form.has('ticket') || form.has('update')) {
      return { status: 422, body: { errors: { base: ['double: only temporary uploads are supported'] } } };
    }
    const file = form.get('file');
    if (file === null || typeof file === 'string') return { status: 422, body: { errors: { file: ["can't be blank"] } } };
    const content = Buffer.from(await file.arrayBuffer());
    const filenameField = form.get('filename');
    const typeField = form.get('content_type');
    const filename = typeof filenameField === 'string' && filenameField !== '' ? filenameField : file.name;
    const contentType =
      typeof typeField === 'string' && typeField !== '' ? typeField : file.type || 'application/octet-stream';
    const stored: StoredFile = {
      id: nextId++,
      token: randomUUID(),
      filename,
      contentType,
      content,
      sha256: createHash('sha256').update(content).digest('hex'),
      expiresAt: now() + state.tokenTtlMs,
      usedBy: null,
    };
    files.set(stored.token, stored);
    return {
      status: 201,
      body: {
        id: stored.id,
        name: filename,
        content_type: contentType,
        file_size: content.length,
        extension: extension(filename),
        disposition: contentType.startsWith('image/') ? 'inline' : 'attachment',
        temporary_token: stored.token,
        temporary_token_expires_at: new Date(stored.expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
    };
  }

  function postUpdate(params: URLSearchParams): Reply {
    const ticket = tickets.get((params.get('ticket') ?? '').toUpperCase());
    if (!ticket) return { status: 404, body: { error: 'Ticket not found' } };
    const message = params.get('message') ?? '';
    if (message.trim() === '') return { status: 422, body: { errors: { base: ['You must enter a message'] } } };

    let postedMs = now();
    const postedAt = params.get('posted_at');
    if (postedAt !== null && postedAt.trim() !== '') {
      postedMs = Date.parse(postedAt);
      if (Number.isNaN(postedMs)) return { status: 422, body: { errors: { posted_at: ['is invalid'] } } };
    }

    // All tokens are checked before anything is linked, so a rejected post consumes none.
    const tokens = (params.get('attachments') ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '');
    const linked: StoredFile[] = [];
    const problems: string[] = [];
    for (const t of tokens) {
      const f = files.get(t);
      if (!f) problems.push(`Attachment token ${t} is not valid`);
      else if (f.usedBy !== null) problems.push(`Attachment token ${t} has already been used`);
      else if (now() >= f.expiresAt) problems.push(`Attachment token ${t} has expired`);
      else linked.push(f);
    }
    if (problems.length > 0) return { status: 422, body: { errors: { attachments: problems } } };

    const id = nextId++;
    const authorEmail = params.get('author_email');
    const authorName = params.get('author_name');
    let author: Record<string, unknown> | null = null;
    if (authorEmail) {
      const key = authorEmail.toLowerCase();
      const contactId = contacts.get(key) ?? nextId++;
      contacts.set(key, contactId);
      author = { type: 'Customer', id: contactId, name: authorName ?? authorEmail, company: null, pin: null };
    } else if (params.get('user')) {
      author = { type: 'User', username: params.get('user') };
    }
    for (const f of linked) f.usedBy = id;

    const json: UpdateJson = {
      id,
      subject: params.get('subject') || ticket.subject,
      message,
      html_body: params.get('html_body'),
      html_safe: params.get('html_safe') === '1',
      private: false,
      pinned: false,
      posted_at: formatTime(postedMs),
      author,
      from_name: authorEmail ? (authorName ?? null) : null,
      from_address: authorEmail ?? null,
      authenticated: null,
      message_id: null,
      source: 'api',
      attachments: linked.map((f) => ({
        id: f.id,
        name: f.filename,
        content_type: f.contentType,
        file_size: f.content.length,
        extension: extension(f.filename),
      })),
    };
    ticket.updates.push({ id, ticket: ticket.reference, fields: Object.fromEntries(params), attachments: linked, json });
    return { status: 201, body: json };
  }

  function getTicket(params: URLSearchParams): Reply {
    const ref = params.get('ticket') ?? params.get('reference') ?? '';
    const ticket = tickets.get(ref.toUpperCase());
    if (!ticket) return { status: 404, body: { error: 'Ticket not found' } };
    const last = ticket.updates.at(-1);
    return {
      status: 200,
      body: {
        id: ticket.id,
        reference: ticket.reference,
        subject: ticket.subject,
        message_id: ticket.messageId,
        submitted_at: ticket.submittedAt,
        last_update_posted_at: last ? last.json.posted_at : null,
        update_count: ticket.updates.length,
        status: { id: 1, name: 'New', colour: '#ff0000', status_type: 0 },
        updates: ticket.updates.map((u) => u.json),
      },
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double.invalid');
    const path = url.pathname;
    state.requests[path] = (state.requests[path] ?? 0) + 1;
    const raw = await readBody(req);
    const contentType = req.headers['content-type'];

    let params = new URLSearchParams(url.search);
    let form: FormData | null = null;
    if (contentType?.startsWith('multipart/form-data')) {
      form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
      for (const [k, v] of form) if (typeof v === 'string') params.set(k, v);
    } else if (raw.length > 0) {
      // Body fields win over query fields, as in Rails' params merge.
      const body = new URLSearchParams(raw.toString('utf8'));
      params = new URLSearchParams([...params].filter(([k]) => !body.has(k)).concat([...body]));
    }
    state.log.push({
      method: req.method ?? '',
      path,
      query: url.search,
      contentType,
      fieldNames: form ? [...form.keys()] : raw.length > 0 ? [...new URLSearchParams(raw.toString('utf8')).keys()] : [],
    });

    const faulty = targeted(path);
    if (faulty && faults.delayMs > 0) await sleep(faults.delayMs);
    if (closed) return;
    if (faulty && faults.failNext > 0) {
      faults.failNext -= 1;
      return send(res, { status: 500, body: { error: 'Internal error' } });
    }
    if (faulty && faults.failRate > 0 && faults.random() < faults.failRate) {
      return send(res, { status: 500, body: { error: 'Internal error' } });
    }
    if (faulty && faults.status429Next > 0) {
      faults.status429Next -= 1;
      return send(res, {
        status: 429,
        body: { error: 'Rate limit exceeded' },
        headers: { 'retry-after': String(faults.retryAfter) },
      });
    }
    if (req.headers['x-auth-token'] !== token || req.headers['x-auth-secret'] !== secret) {
      return send(res, { status: 403, body: { error: 'Authentication failed' } });
    }

    let reply: Reply;
    switch (path) {
      case '/api/v2/tickets/add_attachment':
        reply = form ? await addAttachment(form) : { status: 422, body: { errors: { file: ["can't be blank"] } } };
        break;
      case '/api/v2/tickets/post_update':
        reply = postUpdate(params);
        break;
      case '/api/v2/tickets/ticket':
        reply = getTicket(params);
        break;
      default:
        reply = { status: 404, body: { error: 'Method not found' } };
    }

    if (faulty && faults.commitThenHangNext > 0) {
      faults.commitThenHangNext -= 1;
      await sleep(faults.hangMs);
      req.socket.destroy();
      return;
    }
    send(res, reply);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent || res.destroyed) res.destroy();
      else send(res, { status: 500, body: { error: `double: ${err instanceof Error ? err.message : String(err)}` } });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    state.peakConnections = Math.max(state.peakConnections, sockets.size);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    token,
    secret,
    state,
    faults,
    resetFaults() {
      Object.assign(faults, defaultFaults());
    },
    async close() {
      closed = true;
      for (const wake of [...wakers]) wake();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await done;
    },
  };
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.destroyed) return;
  res.writeHead(reply.status, { 'content-type': 'application/json; charset=utf-8', ...reply.headers });
  res.end(JSON.stringify(reply.body));
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function extension(filename: string): string | null {
  const dot = filename.lastIndexOf('.');
  return dot > 0 ? filename.slice(dot + 1).toLowerCase() : null;
}
