#!/usr/bin/env node
// The tests' Sirportly double (test/support/sirportly-double.ts, run through Node's type
// stripping) as a process of its own, so its CPU and memory are its own, for benchmarks and
// chaos runs:
//
//   node bench/support/sirportly-double.mjs
//     → prints {"url", "token", "secret", "control"} on one stdout line, then serves
//
// Every ticket reference exists. The double keeps every call it answers, as in the tests.
//
// Control, on its own port (`control`), for the bench script:
//   POST /faults  JSON: the double's faults (delayMs, failRate, status429Rate, retryAfter,
//                 commitThenHangRate, hangMs, only: […]) and `seed` for their random draws
//   GET  /stats   JSON {posts, distinct, duplicates, perSubject and shapes (with ?subjects), firstPostAt,
//                 lastPostAt, calls: {"endpoint status": n}, hangs, retryGapsMs, rss}
//   POST /reset   forget the figures (the double's own records stay)
// Fault rates are drawn from a seeded generator so a run can be repeated exactly.
import { createServer } from 'node:http';
import { startSirportlyDouble } from '../../test/support/sirportly-double.ts';

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

function freshFigures() {
  return {
    perSubject: new Map(), // subject → posts
    shapes: new Map(), // subject → what its last post carried (html_body, attachments)
    posts: 0,
    firstPostAt: 0,
    lastPostAt: 0,
    calls: {}, // "endpoint status" → count
    // 429 bookkeeping: subject → when the 429 was sent; gaps until that subject came back.
    limitedAt: new Map(),
    retryGapsMs: [],
    hangs: 0,
  };
}

let figures = freshFigures();

/** A post is counted once the double has done it, whether its answer is sent or withheld. */
function onCall({ path, params, status, hung, receivedAt, decidedAt }) {
  const endpoint = path.split('/').pop();
  const count = (key) => (figures.calls[key] = (figures.calls[key] ?? 0) + 1);
  count(`${endpoint} ${hung ? 'hang' : status}`);
  if (hung) figures.hangs++;
  if (endpoint !== 'post_update') return;
  const subject = params.get('subject') ?? '';
  const limitedAt = figures.limitedAt.get(subject);
  if (limitedAt !== undefined) {
    figures.retryGapsMs.push(receivedAt - limitedAt);
    figures.limitedAt.delete(subject);
  }
  if (status === 429) figures.limitedAt.set(subject, decidedAt);
  if (status !== 201) return;
  figures.perSubject.set(subject, (figures.perSubject.get(subject) ?? 0) + 1);
  const attachments = params.get('attachments');
  figures.shapes.set(subject, {
    html: params.has('html_body'),
    attachments: attachments ? attachments.split(',').length : 0,
  });
  figures.posts++;
  if (!figures.firstPostAt) figures.firstPostAt = decidedAt;
  figures.lastPostAt = decidedAt;
}

const double = await startSirportlyDouble({ token: 'bench-token', secret: 'bench-secret', anyTicket: true, onCall });
double.faults.random = mulberry32(1);

function stats(withSubjects) {
  const gaps = [...figures.retryGapsMs].sort((a, b) => a - b);
  return {
    posts: figures.posts,
    distinct: figures.perSubject.size,
    duplicates: [...figures.perSubject.values()].filter((n) => n > 1).length,
    perSubject: withSubjects ? Object.fromEntries(figures.perSubject) : undefined,
    shapes: withSubjects ? Object.fromEntries(figures.shapes) : undefined,
    firstPostAt: figures.firstPostAt,
    lastPostAt: figures.lastPostAt,
    calls: figures.calls,
    hangs: figures.hangs,
    retryGapsMs: {
      n: gaps.length,
      min: gaps[0] ?? null,
      p50: gaps[Math.floor(gaps.length / 2)] ?? null,
      max: gaps.at(-1) ?? null,
    },
    rss: process.memoryUsage().rss,
  };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function control(req, res) {
  const url = new URL(req.url ?? '/', 'http://control.invalid');
  const body = await readBody(req);
  let reply;
  if (url.pathname === '/stats') reply = stats(url.searchParams.has('subjects'));
  else if (url.pathname === '/faults') {
    const { seed, ...faults } = JSON.parse(body || '{}');
    Object.assign(double.faults, faults);
    if (seed !== undefined) double.faults.random = mulberry32(seed);
    reply = { ...double.faults, random: undefined };
  } else if (url.pathname === '/reset') {
    figures = freshFigures();
    reply = {};
  } else {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(reply));
}

const server = createServer((req, res) => {
  control(req, res).catch((err) => res.writeHead(500).end(String(err)));
});
server.listen(0, '127.0.0.1', () => {
  const { url, token, secret } = double;
  process.stdout.write(
    `${JSON.stringify({ url, token, secret, control: `http://127.0.0.1:${server.address().port}` })}\n`,
  );
});
process.on('SIGTERM', () => process.exit(0));
