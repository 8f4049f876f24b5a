#!/usr/bin/env node
// bench/hostile: hostile mail and hostile clients next to ordinary load, through the whole
// gateway, loopback only.
//
//   npm run build && node bench/hostile.mjs [--ordinary 1500] [--rate 25] [--sessions 8]
//        [--slow 500] [--settle 240] [--quiet-wait 120] [--div 1000000] [--qp-mb 20]
//        [--parts 1001] [--header-kib 1024] [--data-timeout-ms MS] [--only NAME,...] [--node-args OPTS]
//
// Starts a private redis-server, the Sirportly double (bench/support/sirportly-double.mjs) and
// the gateway from dist/ as `serve --role smtp` plus one `serve --role worker`, each with its
// default settings (the door's limits included). Then, while the load generator sends --ordinary
// messages at --rate msg/s from 127.0.0.1, it sends, each on its own connection from 127.0.0.4,
// with a valid ticket reference:
//   nested-html   one HTML part of --div nested <div>s (1,000,000: about 11 MB)
//   qp-soft       --qp-mb MB of quoted-printable "=" soft line breaks
//   mime-parts    --parts MIME parts (small text attachments)
//   long-header   one header line of --header-kib KiB, unfolded
// and opens --slow connections from 127.0.0.2 that dribble a DATA one byte every 5 s.
//
// --only picks some of the hostile messages (comma-separated names; an empty list sends none);
// --node-args gives both gateway processes Node options (e.g. --max-semi-space-size=8), to
// measure their effect; the header line names them.
//
// Prints: the worst event-loop delay of the SMTP process and of the worker (prom-client's
// mailgate_nodejs_eventloop_lag_max_seconds, and the longest /healthz wait, polled on its own
// every 250 ms: a frozen process leaves it outstanding, which counts for as long as it does);
// the longest /metrics wait of each, apart, because /metrics first reads the queue gauges from
// Redis (within the gateway's deadline) and so waits on Redis as well as on the loop; per
// process, the largest RSS, main-thread heap and external memory seen at the /metrics samples,
// and peak RSS (VmHWM) beside its idle RSS; the ordinary messages accepted and posted, what
// became of each hostile message (SMTP reply, job state, posted or not) and of the slow
// connections. The pollers run in threads of their own (support/http-watch.mjs), so the load this
// process generates does not delay them.
// Targets: SMTP-side delay < 100 ms, worker delay < 1 s, peak RSS < idle + 2 × the largest message.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import {
  hasSection,
  memory,
  runLoad,
  startDouble,
  startGateway,
  startRedis,
  stopAll,
  waitQuiet,
} from './support/e2e-procs.mjs';
import { watchInThread } from './support/http-watch.mjs';

const HOSTILE_NAMES = ['nested-html', 'qp-soft', 'mime-parts', 'long-header'];

const USAGE = `usage: node bench/hostile.mjs [--ordinary N] [--rate MSG_PER_S] [--sessions N] [--slow N]
       [--settle S] [--quiet-wait S] [--div N] [--qp-mb MB] [--parts N] [--header-kib KIB]
       [--data-timeout-ms MS]  (smtp.limits.dataTimeoutMs; default: the gateway's own)
       [--only NAME,...]  (hostile messages to send, of ${HOSTILE_NAMES.join(', ')}; default: all)
       [--node-args 'OPTIONS']  (Node options for both gateway processes; default: none)`;

function parseFlags(argv) {
  const f = {
    ordinary: 1500,
    rate: 25,
    sessions: 8,
    slow: 500,
    settle: 240,
    quietWait: 120,
    div: 1_000_000,
    qpMb: 20,
    parts: 1001,
    headerKib: 1024,
    dataTimeoutMs: null,
    only: HOSTILE_NAMES,
    nodeArgs: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes('=') ? argv[i].split(/=(.*)/s, 2) : [argv[i], undefined];
    const n = () => {
      const x = Number(inline ?? argv[++i]);
      if (!Number.isFinite(x) || x < 0) throw new Error(`${flag} needs a number`);
      return x;
    };
    switch (flag) {
      case '--ordinary':
        f.ordinary = n();
        break;
      case '--rate':
        f.rate = n();
        break;
      case '--sessions':
        f.sessions = Math.max(1, n());
        break;
      case '--slow':
        f.slow = n();
        break;
      case '--settle':
        f.settle = n();
        break;
      case '--quiet-wait':
        f.quietWait = n();
        break;
      case '--div':
        f.div = n();
        break;
      case '--qp-mb':
        f.qpMb = n();
        break;
      case '--parts':
        f.parts = n();
        break;
      case '--header-kib':
        f.headerKib = n();
        break;
      case '--data-timeout-ms':
        f.dataTimeoutMs = n();
        break;
      case '--only': {
        f.only = String(inline ?? argv[++i] ?? '')
          .split(',')
          .filter(Boolean);
        const unknown = f.only.filter((x) => !HOSTILE_NAMES.includes(x));
        if (unknown.length > 0) throw new Error(`--only: no hostile message named ${unknown.join(', ')}`);
        break;
      }
      case '--node-args':
        f.nodeArgs = String(inline ?? argv[++i] ?? '')
          .split(/\s+/)
          .filter(Boolean);
        break;
      case '-h':
      case '--help':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        console.error(USAGE);
        process.exit(2);
    }
  }
  return f;
}

const CRLF = '\r\n';
/** The gateway's deadline for reading the queue gauges before /metrics answers (src/app.ts). */
const GAUGE_DEADLINE_MS = 1000;
const HOST = '127.0.0.1';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const mib = (b) => b / 1048576;

// --- the hostile messages ------------------------------------------------------------------

function head(runId, name, ticket, extra = []) {
  const date = new Date().toUTCString().replace('GMT', '+0000');
  return [
    `From: "Hostile ${name}" <hostile-${name}@attacker.example>`,
    'To: support@example.com',
    `Subject: Re: [${ticket}] hostile ${name} ${runId}`,
    `Date: ${date}`,
    `Message-ID: <hostile-${name}-${runId}@attacker.example>`,
    'MIME-Version: 1.0',
    ...extra,
  ];
}

function hostileMessages(f, runId) {
  const out = [];
  {
    const html = Buffer.from(`<html><body>${'<div>'.repeat(f.div)}deep${'</div>'.repeat(f.div)}</body></html>`);
    out.push({
      name: 'nested-html',
      what: `${f.div.toLocaleString('en-US')} nested <div>`,
      parts: [
        head(runId, 'nested-html', 'GJ-200001', [
          'Content-Type: text/html; charset=utf-8',
          'Content-Transfer-Encoding: 8bit',
        ]).join(CRLF),
        CRLF,
        CRLF,
        html,
      ],
    });
  }
  {
    const lines = Math.round((f.qpMb * 1e6) / 3);
    const body = Buffer.alloc(lines * 3);
    for (let i = 0; i < lines; i++) body.write('=\r\n', i * 3, 'latin1');
    out.push({
      name: 'qp-soft',
      what: `${f.qpMb} MB of "=" soft line breaks`,
      parts: [
        head(runId, 'qp-soft', 'GJ-200002', [
          'Content-Type: text/plain; charset=utf-8',
          'Content-Transfer-Encoding: quoted-printable',
        ]).join(CRLF),
        CRLF,
        CRLF,
        Buffer.from('start '),
        body,
        Buffer.from('end\r\n'),
      ],
    });
  }
  {
    const b = `b-${runId}`;
    const parts = [`--${b}${CRLF}Content-Type: text/plain${CRLF}${CRLF}many parts follow${CRLF}`];
    for (let i = 1; i < f.parts; i++)
      parts.push(
        `--${b}${CRLF}Content-Type: text/plain; name="part${i}.txt"${CRLF}Content-Disposition: attachment; filename="part${i}.txt"${CRLF}${CRLF}part ${i}${CRLF}`,
      );
    parts.push(`--${b}--${CRLF}`);
    out.push({
      name: 'mime-parts',
      what: `${f.parts} MIME parts (leaves; ${f.parts + 1} with the multipart)`,
      parts: [
        head(runId, 'mime-parts', 'GJ-200003', [`Content-Type: multipart/mixed; boundary="${b}"`]).join(CRLF),
        CRLF,
        CRLF,
        Buffer.from(parts.join('')),
      ],
    });
  }
  {
    const long = `X-Long: ${'a'.repeat(f.headerKib * 1024)}`;
    out.push({
      name: 'long-header',
      what: `a ${f.headerKib} KiB header line`,
      parts: [
        [...head(runId, 'long-header', 'GJ-200004', ['Content-Type: text/plain']), long].join(CRLF),
        CRLF,
        CRLF,
        Buffer.from('body\r\n'),
      ],
    });
  }
  for (const m of out) {
    m.raw = Buffer.concat(m.parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
    m.subject = /Subject: ([^\r\n]*)/.exec(m.raw.subarray(0, 4096).toString('latin1'))[1];
  }
  return out.filter((m) => f.only.includes(m.name));
}

/** Dot-stuffed DATA content ending in CRLF.CRLF. */
function dataOf(raw) {
  let text = raw.toString('latin1').replace(/\r?\n/g, CRLF);
  if (!text.endsWith(CRLF)) text += CRLF;
  text = text.replace(/^\./gm, '..');
  return Buffer.from(`${text}.${CRLF}`, 'latin1');
}

/** A minimal SMTP client for one message; resolves with the final reply and the time it took. */
function sendOne(port, data, localAddress) {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect({ port, host: HOST, localAddress });
    const commands = [
      'EHLO hostile.example',
      'MAIL FROM:<hostile@attacker.example>',
      'RCPT TO:<support@example.com>',
      'DATA',
    ];
    let buffer = '';
    let step = -1;
    let done = false;
    const finish = (reply) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve({ reply, seconds: (performance.now() - started) / 1000 });
    };
    socket.setTimeout(900_000, () => finish('no reply within 900 s'));
    socket.on('error', (e) => finish(`connection error ${e.code ?? e.message}`));
    socket.on('close', () => finish('connection closed without a final reply'));
    socket.on('data', (d) => {
      buffer += d.toString('latin1');
      for (;;) {
        const m = /^(\d{3}) [^\r\n]*\r\n/m.exec(buffer);
        if (!m) return;
        const line = m[0].trim();
        buffer = buffer.slice(m.index + m[0].length);
        const code = Number(line.slice(0, 3));
        if (step === commands.length) return finish(line); // the reply to the data
        if (code >= 400 && !(step === commands.length - 1 && code === 354)) return finish(line);
        step++;
        if (step < commands.length) socket.write(`${commands[step]}${CRLF}`);
        else socket.write(data);
      }
    });
  });
}

/** What a hostile message's post carried, as the double saw it. */
function shapeOf(shape) {
  if (!shape) return '';
  return ` (${shape.html ? 'with' : 'without'} html_body, ${shape.attachments} attachment(s))`;
}

// --- slow connections ------------------------------------------------------------------------

/** Connections from `localAddress` that get as far as DATA and then send a byte every 5 s. */
function slowClients(port, count, localAddress) {
  const state = { greeting: {}, reachedData: 0, closedByServer: {}, open: 0, errors: {}, ending: false };
  const note = (o, k) => (o[k] = (o[k] ?? 0) + 1);
  const sockets = [];
  const opened = (async () => {
    for (let i = 0; i < count; i++) {
      const s = net.connect({ port, host: HOST, localAddress });
      sockets.push(s);
      let buffer = '';
      let step = 0;
      let last = '';
      let timer;
      const lines = ['EHLO slow.example', 'MAIL FROM:<slow@slow.example>', 'RCPT TO:<support@example.com>', 'DATA'];
      s.on('error', (e) => note(state.errors, e.code ?? e.message));
      s.on('connect', () => state.open++);
      s.on('close', () => {
        clearInterval(timer);
        state.open--;
        if (step > 0 && !state.ending) note(state.closedByServer, last.slice(0, 60) || 'closed without a reply');
      });
      s.on('data', (d) => {
        buffer += d.toString('latin1');
        for (;;) {
          const m = /^(\d{3}) [^\r\n]*\r\n/m.exec(buffer);
          if (!m) return;
          buffer = buffer.slice(m.index + m[0].length);
          last = m[0].trim();
          if (step === 0) note(state.greeting, last.slice(0, 3));
          if (last.startsWith('354')) {
            state.reachedData++;
            timer = setInterval(() => s.write('X'), 5000);
            step++;
            return;
          }
          if (Number(last.slice(0, 3)) >= 400) return;
          if (step < lines.length) s.write(`${lines[step]}${CRLF}`);
          step++;
        }
      });
      // 50 new connections a second, as a modest flood.
      if (i % 50 === 49) await sleep(1000);
    }
  })();
  return {
    state,
    opened,
    close: () => {
      state.ending = true;
      sockets.forEach((s) => s.destroy());
    },
  };
}

async function main() {
  const f = parseFlags(process.argv.slice(2));
  const runId = randomBytes(3).toString('hex');
  console.log(`bench/hostile ${new Date().toISOString()}  node ${process.version}`);
  const quiet = f.quietWait > 0 ? await waitQuiet(f.quietWait * 1000) : { waitedOut: false };
  if (quiet.waitedOut)
    console.log(
      `(warning: the machine is busy with other work: only ${fmt(quiet.idle * 100, 0)} % idle; figures below are disturbed)`,
    );

  const redis = await startRedis();
  const double = await startDouble();
  const settings = {
    redis: { prefix: 'hostile' },
    ...(f.dataTimeoutMs !== null ? { smtp: { limits: { dataTimeoutMs: f.dataTimeoutMs } } } : {}),
    // No DNS to measure against on loopback (as bench/e2e).
    ...(hasSection('auth') ? { auth: { enabled: false } } : {}),
  };
  const { nodeArgs } = f;
  const smtp = await startGateway({ role: 'smtp', redis, double, settings, name: 'smtp', nodeArgs });
  const worker = await startGateway({ role: 'worker', redis, double, settings, name: 'worker', nodeArgs });
  await sleep(2000);
  const procs = [
    { name: 'smtp', pid: smtp.child.pid },
    { name: 'worker', pid: worker.child.pid },
    { name: 'redis-server', pid: redis.child.pid },
  ];
  const idle = Object.fromEntries(procs.map((p) => [p.name, memory(p.pid).rss]));
  // Built before the load starts: dot-stuffing 20 MB holds this process's loop for a while.
  const hostile = hostileMessages(f, runId);
  for (const m of hostile) m.data = dataOf(m.raw);
  const watchers = [
    watchInThread(smtp.name, smtp.httpPort, smtp.child.pid),
    watchInThread(worker.name, worker.httpPort, worker.child.pid),
  ];
  const largest = Math.max(0, ...hostile.map((m) => m.raw.length));
  const load = runLoad({
    port: smtp.smtpPort,
    sessions: f.sessions,
    messages: f.ordinary,
    rate: f.rate,
    runId: `o${runId}`,
    attachEvery: 5,
  });
  const t0 = Date.now();
  await sleep(3000);
  const slow = f.slow > 0 ? slowClients(smtp.smtpPort, f.slow, '127.0.0.2') : null;
  const sends = hostile.map(async (m, i) => {
    await sleep(1000 * i);
    m.result = await sendOne(smtp.smtpPort, m.data, '127.0.0.4');
    m.id = /queued as ([0-9a-f]+)/.exec(m.result.reply)?.[1] ?? null;
  });
  await Promise.all(sends);
  const ordinary = await load.result;
  await slow?.opened;

  // Settle: every ordinary message posted and every hostile job out of waiting/active, or time up.
  const client = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue('updates', { connection: client, prefix: 'hostile' });
  const ordinaryPosted = async () => {
    const s = await double.stats(true);
    return Object.keys(s.perSubject ?? {}).filter((k) => k.includes(`o${runId}-`)).length;
  };
  const fates = async () =>
    Promise.all(
      hostile.map(async (m) => {
        if (!m.id) return { state: 'not queued' };
        const job = await queue.getJob(m.id);
        if (!job) return { state: 'no job' };
        return { state: await job.getState(), attempts: job.attemptsMade, reason: job.failedReason ?? '' };
      }),
    );
  const settleEnd = Date.now() + f.settle * 1000;
  let posted;
  let fate;
  for (;;) {
    posted = await ordinaryPosted();
    fate = await fates();
    const hostileSettled = fate.every(
      (x) => !['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'].includes(x.state),
    );
    if ((posted >= ordinary.acceptedCount && hostileSettled) || Date.now() > settleEnd) break;
    await sleep(1000);
  }
  const settledAfter = (Date.now() - t0) / 1000;
  const posts = await double.stats(true);
  const perSubject = posts.perSubject ?? {};
  const shapes = posts.shapes ?? {};
  const peaks = Object.fromEntries(procs.map((p) => [p.name, memory(p.pid).peak]));
  const stalls = await Promise.all(watchers.map((w) => w.stop()));
  slow?.close();

  console.log(
    `\n== ${f.ordinary} ordinary messages at ${f.rate} msg/s over ${f.sessions} sessions (127.0.0.1), ${hostile.length} hostile message(s) (127.0.0.4), ${f.slow} slow connections (127.0.0.2); gateway defaults${f.dataTimeoutMs !== null ? `, smtp.limits.dataTimeoutMs ${f.dataTimeoutMs}` : ''}${f.nodeArgs.length > 0 ? `; node ${f.nodeArgs.join(' ')}` : ''}; topology 1 smtp + 1 worker process`,
  );
  console.log(
    `ordinary        accepted ${ordinary.acceptedCount} of ${f.ordinary}  replies ${JSON.stringify(ordinary.codes)}  DATA-end → reply p50 ${fmt(ordinary.p50Ms, 2)} ms p99 ${fmt(ordinary.p99Ms, 2)} ms max ${fmt(ordinary.maxMs, 1)} ms`,
  );
  console.log(
    `                posted ${posted} of ${ordinary.acceptedCount} accepted${posted >= ordinary.acceptedCount ? ' (all)' : ' (NOT all)'}; run ended ${fmt(settledAfter, 0)} s after the load started${Date.now() > settleEnd ? ` (settle limit ${f.settle} s reached)` : ''}`,
  );
  for (const [i, w] of stalls.entries()) {
    const target = i === 0 ? 100 : 1000;
    const worst = Math.max(w.lagMax, w.healthNow);
    console.log(
      `${w.name.padEnd(15)} worst event-loop delay ${fmt(w.lagMax, 0)} ms (prom-client max); longest /healthz wait ${fmt(w.healthNow, 0)} ms${w.healthTimeouts ? ` (${w.healthTimeouts} unanswered)` : ''}   (target < ${target} ms: ${worst < target ? 'met' : 'MISSED'})`,
    );
  }
  for (const w of stalls) {
    console.log(
      `${w.name.padEnd(15)} longest /metrics wait ${fmt(w.metricsNow, 0)} ms (it first reads the queue gauges from Redis, within ${GAUGE_DEADLINE_MS} ms, then answers)`,
    );
  }
  for (const w of stalls) {
    const a = w.mem.atPeak;
    console.log(
      `${w.name.padEnd(15)} memory (sampled every /metrics): max RSS ${fmt(w.mem.rss, 0)} MiB, main-thread heap total ${fmt(w.mem.heapTotal, 0)} MiB (used ${fmt(w.mem.heapUsed, 0)}), external ${fmt(w.mem.external, 0)} MiB${a ? `; at the max RSS sample: heap total ${fmt(a.heapTotal, 0)}, external ${fmt(a.external, 0)}, the rest (threads' heaps, malloc, code) ${fmt(a.rss - a.heapTotal - a.external, 0)} MiB` : ''}`,
    );
  }
  for (const p of procs) {
    const target = idle[p.name] + 2 * mib(largest);
    console.log(
      `${p.name.padEnd(15)} RSS idle ${fmt(idle[p.name], 0)} MiB, peak ${fmt(peaks[p.name], 0)} MiB${p.name === 'redis-server' ? '' : `   (target < idle + 2 × largest message = ${fmt(target, 0)} MiB: ${peaks[p.name] < target ? 'met' : 'MISSED'})`}`,
    );
  }
  console.log(`largest message ${fmt(mib(largest), 1)} MiB`);
  console.log('hostile messages:');
  for (const [i, m] of hostile.entries()) {
    const x = fate[i];
    console.log(
      `  ${m.name.padEnd(12)} ${m.what} (${fmt(mib(m.raw.length), 1)} MiB): SMTP "${m.result.reply.slice(0, 90)}" after ${fmt(m.result.seconds, 1)} s; job ${x.state}${x.attempts !== undefined ? ` after ${x.attempts} attempt(s)` : ''}${x.reason ? ` (${x.reason.slice(0, 120)})` : ''}; posted ${perSubject[m.subject] ?? 0} time(s)${shapeOf(shapes[m.subject])}`,
    );
  }
  if (slow) {
    const s = slow.state;
    console.log(
      `slow clients    greetings ${JSON.stringify(s.greeting)}; reached DATA ${s.reachedData}; closed by the server ${JSON.stringify(s.closedByServer)}; still open at the end ${s.open}${Object.keys(s.errors).length ? `; errors ${JSON.stringify(s.errors)}` : ''}`,
    );
  }
  const m = await smtp.metrics().catch(() => '');
  const refusals = m.split('\n').filter((l) => /^mailgate_smtp_(sessions|refused)_total\{/.test(l));
  console.log(`smtp metrics    ${refusals.join('; ')}`);
  await queue.close();
  client.disconnect();
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
