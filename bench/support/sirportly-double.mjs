#!/usr/bin/env node
// A small, fast Sirportly stand-in for benchmarks and chaos runs (the test double in
// test/support is TypeScript and keeps far more state). Run as its own process so its CPU and
// memory are its own:
//
//   node bench/support/sirportly-double.mjs        → prints {"port":N} on stdout, then serves
//
// API (as the gateway uses it): POST /api/v2/tickets/add_attachment (multipart; answers a
// temporary token), /tickets/post_update (form; 201 + update JSON), /tickets/ticket (form;
// the ticket with its updates). Any ticket reference exists. Only loopback is served.
//
// Control, for the bench script:
//   POST /_faults  JSON {latencyMs, failRate, rate429, retryAfter, hangRate, hangMs, only:[…]}
//   GET  /_stats   JSON {posts, perSubject:{subject:count}, firstPostAt, lastPostAt, calls, …}
//   POST /_reset   forget everything
// Fault rates are drawn from a seeded generator so a run can be repeated exactly.
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';

const TOKEN_TTL_MS = 3_600_000;

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');

function fresh() {
  return {
    tickets: new Map(), // reference → updates[]
    tokens: new Map(), // token → used?
    perSubject: new Map(), // subject → posts
    posts: 0,
    firstPostAt: 0,
    lastPostAt: 0,
    calls: {}, // "endpoint status" → count
    // 429 bookkeeping: subject → time the 429 was sent; gaps until that subject came back.
    limitedAt: new Map(),
    retryGapsMs: [],
    hangs: 0,
    nextId: 1,
  };
}

let s = fresh();
let faults = {
  latencyMs: 0,
  failRate: 0,
  rate429: 0,
  retryAfter: 1,
  hangRate: 0,
  hangMs: 5000,
  only: ['post_update'],
  seed: 1,
};
let random = mulberry32(faults.seed);

const count = (key) => (s.calls[key] = (s.calls[key] ?? 0) + 1);

function send(res, status, body, headers = {}) {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function postUpdate(params) {
  const ref = (params.get('ticket') ?? '').toUpperCase();
  const message = params.get('message') ?? '';
  if (!ref) return [404, { error: 'Ticket not found' }];
  if (message.trim() === '') return [422, { errors: { base: ['You must enter a message'] } }];
  const tokens = (params.get('attachments') ?? '').split(',').filter(Boolean);
  for (const t of tokens) {
    if (!s.tokens.has(t)) return [422, { errors: { attachments: [`Attachment token ${t} is not valid`] } }];
    if (s.tokens.get(t)) return [422, { errors: { attachments: [`Attachment token ${t} has already been used`] } }];
  }
  for (const t of tokens) s.tokens.set(t, true);
  const postedAt = params.get('posted_at');
  const update = {
    id: s.nextId++,
    subject: params.get('subject'),
    message,
    html_body: params.get('html_body'),
    posted_at: iso(postedAt ? Date.parse(postedAt) : Date.now()),
    from_name: params.get('author_name'),
    from_address: params.get('author_email'),
    author: { type: 'Customer', id: 1 },
    attachments: tokens.map((t, i) => ({ id: i + 1, name: `file${i}` })),
  };
  const list = s.tickets.get(ref) ?? [];
  list.push(update);
  s.tickets.set(ref, list);
  const subject = update.subject ?? '';
  s.perSubject.set(subject, (s.perSubject.get(subject) ?? 0) + 1);
  s.posts++;
  const now = Date.now();
  if (!s.firstPostAt) s.firstPostAt = now;
  s.lastPostAt = now;
  return [201, update];
}

function getTicket(params) {
  const ref = (params.get('ticket') ?? '').toUpperCase();
  const updates = s.tickets.get(ref) ?? [];
  return [200, { id: 1, reference: ref, subject: `Ticket ${ref}`, message_id: `${ref}@double.invalid`, updates }];
}

async function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://double.invalid');
  const body = await readBody(req);
  if (url.pathname === '/_stats') {
    const gaps = [...s.retryGapsMs].sort((a, b) => a - b);
    return send(res, 200, {
      posts: s.posts,
      distinct: s.perSubject.size,
      duplicates: [...s.perSubject.values()].filter((n) => n > 1).length,
      perSubject: url.searchParams.has('subjects') ? Object.fromEntries(s.perSubject) : undefined,
      firstPostAt: s.firstPostAt,
      lastPostAt: s.lastPostAt,
      calls: s.calls,
      hangs: s.hangs,
      retryGapsMs: {
        n: gaps.length,
        min: gaps[0] ?? null,
        p50: gaps[Math.floor(gaps.length / 2)] ?? null,
        max: gaps.at(-1) ?? null,
      },
      rss: process.memoryUsage().rss,
    });
  }
  if (url.pathname === '/_faults') {
    faults = { ...faults, ...JSON.parse(body.toString('utf8') || '{}') };
    random = mulberry32(faults.seed);
    return send(res, 200, faults);
  }
  if (url.pathname === '/_reset') {
    s = fresh();
    return send(res, 200, {});
  }

  const endpoint = url.pathname.split('/').pop();
  const targeted = faults.only.includes(endpoint);
  const isForm = !String(req.headers['content-type'] ?? '').startsWith('multipart/');
  const params = isForm ? new URLSearchParams(body.toString('utf8')) : new URLSearchParams();
  const subject = params.get('subject') ?? '';

  if (endpoint === 'post_update' && s.limitedAt.has(subject)) {
    s.retryGapsMs.push(Date.now() - s.limitedAt.get(subject));
    s.limitedAt.delete(subject);
  }
  if (faults.latencyMs > 0) await new Promise((r) => setTimeout(r, faults.latencyMs));
  if (targeted && faults.failRate > 0 && random() < faults.failRate) {
    count(`${endpoint} 500`);
    return send(res, 500, { error: 'Internal error' });
  }
  if (targeted && faults.rate429 > 0 && random() < faults.rate429) {
    count(`${endpoint} 429`);
    if (endpoint === 'post_update') s.limitedAt.set(subject, Date.now());
    return send(res, 429, { error: 'Rate limit exceeded' }, { 'retry-after': String(faults.retryAfter) });
  }
  if (req.headers['x-auth-token'] === undefined || req.headers['x-auth-secret'] === undefined) {
    count(`${endpoint} 403`);
    return send(res, 403, { error: 'Authentication failed' });
  }

  let status;
  let reply;
  if (endpoint === 'add_attachment') {
    const token = randomUUID();
    s.tokens.set(token, false);
    [status, reply] = [
      201,
      {
        id: s.nextId++,
        name: 'file',
        temporary_token: token,
        temporary_token_expires_at: new Date(Date.now() + TOKEN_TTL_MS).toISOString(),
      },
    ];
  } else if (endpoint === 'post_update') {
    [status, reply] = postUpdate(params);
  } else if (endpoint === 'ticket') {
    [status, reply] = getTicket(params);
  } else {
    [status, reply] = [404, { error: 'Method not found' }];
  }
  // The work is done; the answer never comes (the client times out): the ambiguous case.
  if (targeted && faults.hangRate > 0 && status < 300 && random() < faults.hangRate) {
    count(`${endpoint} hang`);
    s.hangs++;
    setTimeout(() => req.socket.destroy(), faults.hangMs).unref();
    return;
  }
  count(`${endpoint} ${status}`);
  send(res, status, reply);
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => send(res, 500, { error: String(err) }));
});
server.keepAliveTimeout = 30_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
