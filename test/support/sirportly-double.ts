// An HTTP stand-in for Sirportly on a real port, following https://sirportly.com/docs/api-specification:
// X-Auth headers, 404 {"error"} / 422 {"errors":{field:[…]}}, temporary attachment tokens that
// expire and work once, post_update → 201 update JSON, tickets/ticket with updates[],
// tickets/submit → 201 ticket JSON (NT-100001, NT-100002, …; contacts found by email
// case-insensitively, else created) and tickets/spql for exactly one query form: the newest
// tickets carrying a tag (`SELECT tickets.reference FROM tickets WHERE ticket_tags.tag = "<tag>"
// [ORDER BY tickets.submitted_at DESC] [LIMIT n]`), anything else 422. Faults are switched at
// runtime so tests can stage 5xx, 429, slow answers and "committed, then the answer never came" —
// the case the gateway's duplicate check (post_update) and lookup by tag (submit) exist for.
//
// What the docs say is enforced: tickets/submit requires subject, status, priority, team and a
// contact (contact, or contact_method_type + contact_method_data + contact_name), 422
// {"errors": {field: [...]}} when one is blank; a department given by name needs its brand (404
// {"error"} otherwise, as for any object that cannot be found). With `objects` given, submit
// also checks that the brand, department, status, priority and team exist and that the team is
// in the department's escalation path, and objects/* lists them.
//
// `account.reading` switches between the documented reading and the unfavourable one of what the
// docs leave open: posted_at taken as the account's local wall time (stored account.offsetMinutes
// early, answered with +00:00), from_address/from_name not kept, message line ends normalised and
// trimmed, and null in every field the gateway does not strictly need. `account.deny` refuses
// methods with 403 (a token limited to some methods); `account.revoked` refuses everything.
//
// The benchmarks run this same file as a process of its own with plain `node`
// (bench/support/sirportly-double.mjs), through Node's type stripping: it imports only node:
// built-ins and uses only TypeScript that can be erased (no enums, namespaces or parameter
// properties).
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
  /** The account's meta objects; when given, submit checks names against them and objects/* lists them. */
  objects?: DoubleObjects;
  /** Initial account behaviour (reading, offset, denied methods); changeable later as double.account. */
  account?: Partial<DoubleAccount>;
  /** Every ticket reference exists: one not known yet is created on its first post_update or ticket call. */
  anyTicket?: boolean;
  /** Told of every call once its answer is decided (or withheld), for a caller that keeps its own figures. */
  onCall?: (call: DoubleCall) => void;
}

export interface DoubleCall {
  path: string;
  /** The request's fields (body over query string). */
  params: URLSearchParams;
  /** Status of the answer; for a withheld answer (commitThenHang), the one it would have had. */
  status: number;
  /** Done, but the answer withheld and the socket destroyed (commitThenHang). */
  hung: boolean;
  /** Date.now() when the request arrived and when its answer was decided. */
  receivedAt: number;
  decidedAt: number;
}

export interface DoubleObjects {
  brands: Array<{ id: number; name: string }>;
  /** brand and escalation_path are the names of those objects (null: none). */
  departments: Array<{ id: number; name: string; brand: string | null; escalation_path: string | null }>;
  statuses: Array<{ id: number; name: string }>;
  priorities: Array<{ id: number; name: string }>;
  teams: Array<{ id: number; name: string }>;
  /** teams: names of the teams on the path. */
  escalation_paths: Array<{ id: number; name: string; teams: string[] }>;
}

export interface DoubleAccount {
  /** How the double answers what the docs leave open (see the file comment). */
  reading: 'documented' | 'unfavourable';
  /** Unfavourable reading: the account's UTC offset; a posted_at sent as UTC is stored this much early. */
  offsetMinutes: number;
  /** Method names ('spql', 'objects/teams', …) answered 403 as a token without access to them. */
  deny: string[];
  /** Every call answered 403, as for revoked or wrong credentials. */
  revoked: boolean;
}

export interface DoubleFaults {
  /** Endpoint names ('post_update', 'add_attachment', 'ticket', 'submit', 'spql') or full paths the faults apply to; null = all. */
  only: string[] | null;
  /** Probability (0..1) of a 500 before anything is done. */
  failRate: number;
  /** Answer the next N targeted calls with 500 before anything is done. */
  failNext: number;
  /** Answer the next N targeted calls with 429 and Retry-After. */
  status429Next: number;
  /** Probability (0..1) of a 429 with Retry-After before anything is done. */
  status429Rate: number;
  /** Retry-After value sent with 429: seconds, or a string such as an HTTP-date. */
  retryAfter: number | string;
  /** Wait this long (after reading the request) before handling it. */
  delayMs: number;
  /** Do the work of the next N targeted calls (it is recorded), then hold the answer for hangMs and destroy the socket. */
  commitThenHangNext: number;
  /** Probability (0..1) that a targeted call is done (recorded), then its answer held for hangMs and the socket destroyed. */
  commitThenHangRate: number;
  hangMs: number;
  /** Random source for the rates; replace for determinism. */
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
  subject: string | null;
  message: string;
  html_body: string | null;
  html_safe: boolean | null;
  private: boolean | null;
  pinned: boolean | null;
  posted_at: string;
  author: Record<string, unknown> | null;
  from_name: string | null;
  from_address: string | null;
  authenticated: boolean | null;
  message_id: null;
  source: 'api' | null;
  attachments: Array<{
    id: number;
    name: string;
    content_type: string | null;
    file_size: number | null;
    extension: string | null;
  }>;
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

export interface RecordedSubmission {
  /** Reference of the ticket the submit created. */
  reference: string;
  /** Every form field exactly as decoded from the request (query string merged under it). */
  fields: Record<string, string>;
  /** tag_list split on commas and whitespace, empty entries and repeats dropped. */
  tags: string[];
  /** The contact the ticket was filed under (found or created). */
  contactId: number;
}

export interface DoubleContact {
  id: number;
  name: string;
  /** As first seen; lookups ignore case. */
  email: string;
}

/** A ticket as the double holds it (a copy; changing it changes nothing). */
export interface DoubleTicket {
  id: number;
  reference: string;
  subject: string;
  submittedAt: string;
  /** Names as submitted; the seeded tickets have status 'New' and nulls. */
  status: string;
  priority: string | null;
  team: string | null;
  department: string | null;
  brand: string | null;
  sla: string | null;
  tags: string[];
  contactId: number | null;
  /** True when it came from tickets/submit, false when seeded or added by addTicket. */
  submitted: boolean;
  updates: RecordedUpdate[];
}

export interface AddTicketOptions {
  tags?: string[];
  /** ISO 8601; default now. Orders spql results. */
  submittedAt?: string;
}

export interface DoubleState {
  addTicket(reference: string, subject?: string, opts?: AddTicketOptions): void;
  /** A contact with an email method, as if created in Sirportly beforehand; returns its id. */
  addContact(email: string, name?: string): number;
  updates(reference: string): RecordedUpdate[];
  allUpdates(): RecordedUpdate[];
  uploads(): StoredFile[];
  /** Successful tickets/submit calls, in order (a 422 records nothing). */
  submissions(): RecordedSubmission[];
  /** Every ticket, seeded and submitted, in creation order. */
  tickets(): DoubleTicket[];
  contacts(): DoubleContact[];
  /** Requests seen per path, counted on arrival (before faults and auth). */
  requests: Record<string, number>;
  log: RequestLogEntry[];
  tokenTtlMs: number;
  /** Most TCP connections open at the same time. */
  peakConnections: number;
  /** Calls done but left unanswered (commitThenHang), by path. */
  hung: Record<string, number>;
}

export interface SirportlyDouble {
  url: string;
  token: string;
  secret: string;
  state: DoubleState;
  faults: DoubleFaults;
  /** Account behaviour; not reset by resetFaults. */
  account: DoubleAccount;
  resetFaults(): void;
  close(): Promise<void>;
}

interface Ticket extends Omit<DoubleTicket, 'contactId'> {
  messageId: string;
  contact: DoubleContact | null;
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
    status429Rate: 0,
    retryAfter: 2,
    delayMs: 0,
    commitThenHangNext: 0,
    commitThenHangRate: 0,
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
  /** By lower-cased email address. */
  const contacts = new Map<string, DoubleContact>();
  const submissions: RecordedSubmission[] = [];
  let nextReference = 100_001;
  const sockets = new Set<Socket>();
  const wakers = new Set<() => void>();
  let nextId = 1;
  let closed = false;

  const faults = defaultFaults();
  const account: DoubleAccount = {
    reading: 'documented',
    offsetMinutes: 60,
    deny: [],
    revoked: false,
    ...opts.account,
  };
  const objects = opts.objects ?? null;
  const unfavourable = () => account.reading === 'unfavourable';

  function contactFor(email: string, name: string | null): DoubleContact {
    const key = email.toLowerCase();
    let contact = contacts.get(key);
    if (!contact) {
      contact = { id: nextId++, name: name ?? email, email };
      contacts.set(key, contact);
    }
    return contact;
  }

  const state: DoubleState = {
    addTicket(reference, subject, extra = {}) {
      const ref = reference.toUpperCase();
      tickets.set(ref, {
        id: nextId++,
        reference: ref,
        subject: subject ?? `Ticket ${ref}`,
        messageId: `${randomUUID()}@sirportly.double`,
        submittedAt: formatTime(extra.submittedAt !== undefined ? Date.parse(extra.submittedAt) : now()),
        status: 'New',
        priority: null,
        team: null,
        department: null,
        brand: null,
        sla: null,
        tags: [...(extra.tags ?? [])],
        contact: null,
        submitted: false,
        updates: [],
      });
    },
    addContact: (email, name) => contactFor(email, name ?? null).id,
    updates: (reference) => [...(tickets.get(reference.toUpperCase())?.updates ?? [])],
    allUpdates: () => [...tickets.values()].flatMap((t) => t.updates).sort((a, b) => a.id - b.id),
    uploads: () => [...files.values()],
    submissions: () => submissions.map((s) => ({ ...s, fields: { ...s.fields }, tags: [...s.tags] })),
    tickets: () =>
      [...tickets.values()]
        .sort((a, b) => a.id - b.id)
        .map(({ messageId: _messageId, contact, ...t }) => ({
          ...t,
          tags: [...t.tags],
          contactId: contact?.id ?? null,
          updates: [...t.updates],
        })),
    contacts: () => [...contacts.values()].sort((a, b) => a.id - b.id).map((c) => ({ ...c })),
    requests: {},
    log: [],
    tokenTtlMs: opts.tokenTtlMs ?? 3_600_000,
    peakConnections: 0,
    hung: {},
  };
  for (const t of opts.tickets ?? DEFAULT_TICKETS) state.addTicket(t.reference, t.subject);

  function findTicket(reference: string): Ticket | undefined {
    const ref = reference.toUpperCase();
    if (opts.anyTicket && ref !== '' && !tickets.has(ref)) state.addTicket(ref);
    return tickets.get(ref);
  }

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
    if (file === null || typeof file === 'string')
      return { status: 422, body: { errors: { file: ["can't be blank"] } } };
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
    const ticket = findTicket(params.get('ticket') ?? '');
    if (!ticket) return { status: 404, body: { error: 'Ticket not found' } };
    const message = params.get('message') ?? '';
    if (message.trim() === '') return { status: 422, body: { errors: { base: ['You must enter a message'] } } };

    let postedMs = now();
    const postedAt = params.get('posted_at');
    if (postedAt !== null && postedAt.trim() !== '') {
      postedMs = Date.parse(postedAt);
      if (Number.isNaN(postedMs)) return { status: 422, body: { errors: { posted_at: ['is invalid'] } } };
      // The wall time read in the account's zone, the offset ignored: the instant moves.
      if (unfavourable()) postedMs -= account.offsetMinutes * 60_000;
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
      const contact = contactFor(authorEmail, authorName);
      author = { type: 'Customer', id: contact.id, name: authorName ?? authorEmail, company: null, pin: null };
    } else if (params.get('user')) {
      author = { type: 'User', username: params.get('user') };
    }
    for (const f of linked) f.usedBy = id;

    const bad = unfavourable();
    if (bad && author) author = { ...author, type: null, id: null };
    const json: UpdateJson = {
      id,
      subject: bad ? null : params.get('subject') || ticket.subject,
      message: bad ? message.replace(/\r\n?/g, '\n').trim() : message,
      html_body: bad ? null : params.get('html_body'),
      html_safe: bad ? null : params.get('html_safe') === '1',
      private: bad ? null : false,
      pinned: bad ? null : false,
      posted_at: formatTime(postedMs),
      author,
      from_name: bad || !authorEmail ? null : (authorName ?? null),
      from_address: bad ? null : (authorEmail ?? null),
      authenticated: null,
      message_id: null,
      source: bad ? null : 'api',
      attachments: linked.map((f) => ({
        id: f.id,
        name: f.filename,
        content_type: bad ? null : f.contentType,
        file_size: bad ? null : f.content.length,
        extension: bad ? null : extension(f.filename),
      })),
    };
    ticket.updates.push({
      id,
      ticket: ticket.reference,
      fields: Object.fromEntries(params),
      attachments: linked,
      json,
    });
    return { status: 201, body: json };
  }

  function ticketJson(ticket: Ticket): Record<string, unknown> {
    const last = ticket.updates.at(-1);
    const bad = unfavourable();
    const named = (name: string | null) => (name === null || bad ? null : { name });
    return {
      id: bad ? null : ticket.id,
      reference: ticket.reference,
      subject: bad ? null : ticket.subject,
      message_id: bad ? null : ticket.messageId,
      submitted_at: ticket.submittedAt,
      last_update_posted_at: last ? last.json.posted_at : null,
      update_count: ticket.updates.length,
      status: bad ? null : { id: 1, name: ticket.status, colour: '#ff0000', status_type: 0 },
      priority: named(ticket.priority),
      department: named(ticket.department),
      brand: named(ticket.brand),
      team: named(ticket.team),
      sla: named(ticket.sla),
      tags: [...ticket.tags],
      contact: ticket.contact ? { id: ticket.contact.id, name: ticket.contact.name } : null,
      customer_contact_method: ticket.contact ? { method_type: 'email', data: ticket.contact.email } : null,
      updates: ticket.updates.map((u) => u.json),
    };
  }

  function getTicket(params: URLSearchParams): Reply {
    const ref = params.get('ticket') ?? params.get('reference') ?? '';
    const ticket = findTicket(ref);
    if (!ticket) return { status: 404, body: { error: 'Ticket not found' } };
    return { status: 200, body: ticketJson(ticket) };
  }

  function submitTicket(params: URLSearchParams): Reply {
    const value = (name: string) => {
      const v = params.get(name)?.trim();
      return v === undefined || v === '' ? null : v;
    };
    // Every blank required field is reported, like a Rails model's errors.
    const errors: Record<string, string[]> = {};
    for (const name of ['subject', 'status', 'priority', 'team']) {
      if (value(name) === null) errors[name] = ["can't be blank"];
    }
    const contactParam = value('contact');
    const methodType = value('contact_method_type');
    const methodData = value('contact_method_data');
    if (contactParam === null) {
      if (methodType === null) errors.contact_method_type = ["can't be blank"];
      else if (methodType !== 'email')
        errors.contact_method_type = ['double: only email contact methods are supported'];
      if (methodData === null) errors.contact_method_data = ["can't be blank"];
      if (value('contact_name') === null) errors.contact_name = ["can't be blank"];
    }
    let submittedMs = now();
    const submittedAt = value('submitted_at');
    if (submittedAt !== null) {
      submittedMs = Date.parse(submittedAt);
      if (Number.isNaN(submittedMs)) errors.submitted_at = ['is invalid'];
    }
    if (Object.keys(errors).length > 0) return { status: 422, body: { errors } };
    const department = value('department');
    // A department name is looked up within its brand; without one only an id can be found.
    if (department !== null && !/^\d+$/.test(department) && value('brand') === null) {
      return {
        status: 404,
        body: { error: `Department '${department}' not found (a department name needs its brand)` },
      };
    }
    if (objects) {
      const refused = checkObjects(objects, value);
      if (refused) return refused;
    }

    let contact: DoubleContact;
    if (contactParam !== null) {
      const found = [...contacts.values()].find((c) => String(c.id) === contactParam);
      if (!found) return { status: 404, body: { error: 'Contact not found' } };
      contact = found;
    } else {
      // An existing contact is used as it is: contact_name only names a new one (tickets/submit).
      contact = contactFor(methodData ?? '', value('contact_name'));
    }

    let reference: string;
    do reference = `NT-${String(nextReference++).padStart(6, '0')}`;
    while (tickets.has(reference));
    const tags = [...new Set((params.get('tag_list') ?? '').split(/[\s,]+/).filter((t) => t !== ''))];
    const ticket: Ticket = {
      id: nextId++,
      reference,
      subject: value('subject') ?? '',
      messageId: `${randomUUID()}@sirportly.double`,
      submittedAt: formatTime(submittedMs),
      status: value('status') ?? '',
      priority: value('priority'),
      team: value('team'),
      department: value('department'),
      brand: value('brand'),
      sla: value('sla'),
      tags,
      contact,
      submitted: true,
      updates: [],
    };
    tickets.set(reference, ticket);
    submissions.push({ reference, fields: Object.fromEntries(params), tags: [...tags], contactId: contact.id });
    return { status: 201, body: ticketJson(ticket) };
  }

  function spql(params: URLSearchParams): Reply {
    const query = parseTagQuery(params.get('spql') ?? '');
    if (query === null) return { status: 422, body: { errors: { base: ['SPQL: unsupported query'] } } };
    const matches = [...tickets.values()]
      .filter((t) => t.tags.includes(query.tag))
      // Newest submitted first; the later created wins a tie within the second.
      .sort((a, b) => Date.parse(b.submittedAt) - Date.parse(a.submittedAt) || b.id - a.id);
    const rows = (query.limit === null ? matches : matches.slice(0, query.limit)).map((t) => [t.reference]);
    return { status: 200, body: { fields: ['tickets.reference'], results: rows } };
  }

  function objectList(kind: keyof DoubleObjects, params: URLSearchParams): Reply {
    const o = objects ?? { brands: [], departments: [], statuses: [], priorities: [], teams: [], escalation_paths: [] };
    const brandJson = (name: string | null) => {
      const b = o.brands.find((x) => x.name === name);
      return b ? { id: b.id, name: b.name, url: null, phone: null } : null;
    };
    const pathJson = (name: string | null) => {
      const p = o.escalation_paths.find((x) => x.name === name);
      return p ? { id: p.id, name: p.name } : null;
    };
    switch (kind) {
      case 'departments': {
        const brand = params.get('brand');
        const list = o.departments.filter(
          (d) =>
            brand === null ||
            brand === '' ||
            sameObject(
              o.brands.find((b) => b.name === d.brand),
              brand,
            ),
        );
        return {
          status: 200,
          body: list.map((d) => ({
            id: d.id,
            name: d.name,
            brand: brandJson(d.brand),
            escalation_path: pathJson(d.escalation_path),
            private: false,
          })),
        };
      }
      case 'escalation_paths':
        return {
          status: 200,
          body: o.escalation_paths.map((p) => ({
            id: p.id,
            name: p.name,
            teams: p.teams.map((t) => ({ id: o.teams.find((x) => x.name === t)?.id ?? null, name: t })),
          })),
        };
      default:
        return { status: 200, body: o[kind].map((x) => ({ ...x })) };
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double.invalid');
    const path = url.pathname;
    const receivedAt = Date.now();
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

    const report = (status: number, hung: boolean) =>
      opts.onCall?.({ path, params, status, hung, receivedAt, decidedAt: Date.now() });
    const answer = (reply: Reply) => {
      report(reply.status, false);
      send(res, reply);
    };

    const faulty = targeted(path);
    if (faulty && faults.delayMs > 0) await sleep(faults.delayMs);
    if (closed) return;
    if (faulty && faults.failNext > 0) {
      faults.failNext -= 1;
      return answer({ status: 500, body: { error: 'Internal error' } });
    }
    if (faulty && faults.failRate > 0 && faults.random() < faults.failRate) {
      return answer({ status: 500, body: { error: 'Internal error' } });
    }
    const limitedByRate = faulty && faults.status429Rate > 0 && faults.random() < faults.status429Rate;
    if (faulty && (faults.status429Next > 0 || limitedByRate)) {
      if (!limitedByRate) faults.status429Next -= 1;
      return answer({
        status: 429,
        body: { error: 'Rate limit exceeded' },
        headers: { 'retry-after': String(faults.retryAfter) },
      });
    }
    if (account.revoked || req.headers['x-auth-token'] !== token || req.headers['x-auth-secret'] !== secret) {
      return answer({ status: 403, body: { error: 'Authentication failed' } });
    }
    const method = path.replace(/^\/api\/v2\//, '');
    if (account.deny.some((d) => d === method || d === method.split('/').pop())) {
      return answer({ status: 403, body: { error: `This API token does not have access to ${method}` } });
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
      case '/api/v2/tickets/submit':
        reply = submitTicket(params);
        break;
      case '/api/v2/tickets/spql':
        reply = spql(params);
        break;
      case '/api/v2/objects/brands':
      case '/api/v2/objects/departments':
      case '/api/v2/objects/statuses':
      case '/api/v2/objects/priorities':
      case '/api/v2/objects/teams':
      case '/api/v2/objects/escalation_paths':
        reply = objectList(method.slice('objects/'.length) as keyof DoubleObjects, params);
        break;
      default:
        reply = { status: 404, body: { error: 'Method not found' } };
    }

    const hangByRate = faulty && faults.commitThenHangRate > 0 && faults.random() < faults.commitThenHangRate;
    if (faulty && (faults.commitThenHangNext > 0 || hangByRate)) {
      if (!hangByRate) faults.commitThenHangNext -= 1;
      state.hung[path] = (state.hung[path] ?? 0) + 1;
      report(reply.status, true);
      await sleep(faults.hangMs);
      req.socket.destroy();
      return;
    }
    answer(reply);
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
    account,
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

/** Sirportly finds objects by id or by case-insensitive name. */
function sameObject(o: { id: number; name: string } | undefined, given: string): boolean {
  return o !== undefined && (String(o.id) === given || o.name.toLowerCase() === given.toLowerCase());
}

/** submit against the account's objects: 404 {"error"} for what does not exist, 422 for a team off the path. */
function checkObjects(o: DoubleObjects, value: (name: string) => string | null): Reply | null {
  const notFound = (what: string, given: string): Reply => ({
    status: 404,
    body: { error: `${what} '${given}' not found` },
  });
  const brandGiven = value('brand');
  const brand = brandGiven === null ? undefined : o.brands.find((b) => sameObject(b, brandGiven));
  if (brandGiven !== null && !brand) return notFound('Brand', brandGiven);
  const deptGiven = value('department');
  const department =
    deptGiven === null
      ? undefined
      : /^\d+$/.test(deptGiven)
        ? o.departments.find((d) => String(d.id) === deptGiven)
        : o.departments.find((d) => d.name.toLowerCase() === deptGiven.toLowerCase() && d.brand === brand?.name);
  if (deptGiven !== null && !department) return notFound('Department', deptGiven);
  for (const [field, list, what] of [
    ['status', o.statuses, 'Status'],
    ['priority', o.priorities, 'Priority'],
    ['team', o.teams, 'Team'],
  ] as const) {
    const given = value(field);
    if (given !== null && !list.some((x) => sameObject(x, given))) return notFound(what, given);
  }
  const teamGiven = value('team');
  const team = teamGiven === null ? undefined : o.teams.find((t) => sameObject(t, teamGiven));
  if (department && team) {
    const path = o.escalation_paths.find((p) => p.name === department.escalation_path);
    if (!path || !path.teams.includes(team.name)) {
      return {
        status: 422,
        body: { errors: { team: [`is not in the escalation path of department ${department.name}`] } },
      };
    }
  }
  return null;
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

// The only SPQL the double understands. Keywords and column names ignore case and spacing; the
// tag keeps its case; ORDER BY (newest first only) and LIMIT are optional.
const TAG_QUERY =
  /^\s*SELECT\s+tickets\.reference\s+FROM\s+tickets\s+WHERE\s+ticket_tags\.tag\s*=\s*(?:"([^"]*)"|'([^']*)')(?:\s+ORDER\s+BY\s+tickets\.submitted_at\s+DESC)?(?:\s+LIMIT\s+(\d+))?\s*;?\s*$/i;

function parseTagQuery(spql: string): { tag: string; limit: number | null } | null {
  const m = TAG_QUERY.exec(spql);
  if (!m) return null;
  return { tag: m[1] ?? m[2] ?? '', limit: m[3] === undefined ? null : Number(m[3]) };
}

function extension(filename: string): string | null {
  const dot = filename.lastIndexOf('.');
  return dot > 0 ? filename.slice(dot + 1).toLowerCase() : null;
}
