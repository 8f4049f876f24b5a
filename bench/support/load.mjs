// The benches' SMTP load generator, over raw `net` sockets (no client library in the measured
// path). Run as a forked child: it gets one {start: LoadOptions} message over IPC, drives the
// target, answers with one {result: LoadResult} message, then exits.
//
// Each session opens one connection, says EHLO once, then sends messages back to back:
// MAIL FROM + RCPT TO + DATA pipelined (the gateway and the bare sink advertise PIPELINING), the
// message, and the final dot; a message is accepted only when the reply after the dot is 250.
//
// Two kinds of message:
//   traceable (size 0)  every message unique and traceable at the Sirportly double: its own
//                       sender, a ticket out of `tickets`, the Subject
//                       "Re: [GJ-1xxxxx] Printer on fire <runId>-<seq>" (the double counts posts
//                       per subject, so exactly-once is checked per message), text and HTML, and
//                       every `attachEvery`-th one an attachment of `attachmentBytes`;
//   sized (size > 0)    one sender per session, a fixed multipart body (text + a base64
//                       attachment) sized so that header + body ≈ `size` bytes, and a fresh header
//                       block per message (its own Message-ID and ticket).
// Two ways to end:
//   count (messages > 0)   exactly that many messages, optionally paced at `rate` msg/s;
//   duration (messages 0)  `warmup` seconds not counted, then a window of `seconds`; sessions
//                          still waiting for a reply at its end get 10 s, then are cut.
// retry: true makes the generator behave like an MTA: a 4xx or a dropped connection puts the
// message back to be sent again after retryDelayMs; the result then lists every message accepted
// with 250. Without it every non-250 is only counted. Past `deadlineMs` every socket is cut.
import net from 'node:net';
import { randomBytes } from 'node:crypto';

/**
 * @typedef {object} LoadOptions
 * @property {string} host             loopback address of the target
 * @property {number} port
 * @property {number} sessions         parallel SMTP sessions
 * @property {string} runId            makes Message-IDs (and traceable subjects) unique across runs
 * @property {number} [messages]       >0: count mode, send exactly this many
 * @property {number} [seconds]        duration mode: measured window
 * @property {number} [warmup]         duration mode: seconds before the window, not counted
 * @property {number} [rate]           count mode: msg/s over all sessions (0: each session sends on the last reply)
 * @property {number} [size]           >0: sized messages of about this many bytes; 0: traceable messages
 * @property {number} [tickets]        traceable: distinct ticket references
 * @property {number} [attachEvery]    traceable: every Nth message carries an attachment (0: none)
 * @property {number} [attachmentBytes] traceable: attachment size before base64
 * @property {boolean} [retry]         send a 4xx or unanswered message again, like an MTA
 * @property {number} [retryDelayMs]
 * @property {number} [reconnectDelayMs]
 * @property {number} [deadlineMs]     hard cap on the whole load
 * @property {boolean} [returnAccepted] list the subjects of the accepted messages in the result
 *
 * @typedef {object} LoadResult
 * @property {string[]} [accepted]     subjects answered 250 (returnAccepted)
 * @property {number} acceptedCount    every 250 after the dot, warm-up and tail included
 * @property {number} ok               250 after the dot inside the measured window (count mode: all)
 * @property {number} generated        messages made
 * @property {number} seconds          count mode: first send to last 250; duration mode: the window
 * @property {number} acceptRate       ok / seconds
 * @property {number} bytes            message bytes of the counted messages
 * @property {number} messageBytes     size of one sized message as sent (traceable: the last one)
 * @property {number} p50Ms            DATA-end → reply latency, counted messages
 * @property {number} p99Ms
 * @property {number} maxMs
 * @property {Record<string, number>} codes   every reply that ended a message or a connection attempt, by stage and code
 * @property {Record<string, number>} errors  connection events and final (5xx) replies, by kind
 * @property {number} pendingRetries   retries still queued at the end
 * @property {number} startedAt        Date.now() of the first send
 * @property {boolean} timedOut        the deadline cut the run short
 * @property {number} generatorCpu     CPU this process used over the run, in cores
 */

const CRLF = '\r\n';

function wrap(b64) {
  const out = [];
  for (let i = 0; i < b64.length; i += 76) out.push(b64.slice(i, i + 76));
  return out.join(CRLF);
}

/** Length of `n` bytes base64-encoded and wrapped at 76 with CRLF (no trailing CRLF). */
function wrappedLength(n) {
  const chars = Math.ceil(n / 3) * 4;
  return chars + 2 * Math.max(0, Math.ceil(chars / 76) - 1);
}

/** RFC 5322 date of the current second (cached: one formatting per second). */
let dateSecond = -1;
let dateText = '';
function rfc5322Date() {
  const sec = Math.floor(Date.now() / 1000);
  if (sec !== dateSecond) {
    dateSecond = sec;
    dateText = new Date(sec * 1000).toUTCString().replace('GMT', '+0000');
  }
  return dateText;
}

/** A message as sent: `parts` end with the final dot; `bytes` is the message without it. */
function message(id, subject, from, parts) {
  const length = parts.reduce((n, p) => n + p.length, 0);
  return { id, subject, from, parts, bytes: length - 3 };
}

function buildMessage(o, seq) {
  const id = `${o.runId}-${seq}`;
  const ticket = `GJ-${String(100000 + (seq % o.tickets)).padStart(6, '0')}`;
  const from = `customer${seq}@customer.example`;
  const subject = `Re: [${ticket}] Printer on fire ${id}`;
  const date = rfc5322Date();
  const alt = `alt-${id}`;
  const mixed = `mix-${id}`;
  const text = [
    'Hello,',
    '',
    `The printer on floor ${seq % 7} caught fire again this morning (report ${id}). The smoke alarm went off`,
    'at 09:12 and we had to leave the office. This is the third time this month, please advise.',
    '',
    'Kind regards,',
    `Customer ${seq}`,
  ].join(CRLF);
  const html = `<html><body><p>Hello,</p><p>The printer on floor ${seq % 7} caught <b>fire</b> again this morning (report ${id}).</p><p>The smoke alarm went off at 09:12 and we had to leave the office. This is the third time this month, please advise.</p><p>Kind regards,<br>Customer ${seq}</p></body></html>`;
  const attach = o.attachEvery > 0 && seq % o.attachEvery === 0;
  const lines = [
    `Received: from mail.customer.example (mail.customer.example [192.0.2.10]) by mx.customer.example; ${date}`,
    `From: "Customer ${seq}" <${from}>`,
    'To: support@example.com',
    `Subject: ${subject}`,
    `Date: ${date}`,
    `Message-ID: <${id}@customer.example>`,
    'MIME-Version: 1.0',
  ];
  const altPart = [
    `Content-Type: multipart/alternative; boundary="${alt}"`,
    '',
    `--${alt}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    text,
    `--${alt}`,
    'Content-Type: text/html; charset=utf-8',
    '',
    html,
    `--${alt}--`,
  ];
  let body;
  if (attach) {
    body = [
      ...lines,
      `Content-Type: multipart/mixed; boundary="${mixed}"`,
      '',
      `--${mixed}`,
      ...altPart,
      `--${mixed}`,
      'Content-Type: application/pdf; name="printer-log.pdf"',
      'Content-Disposition: attachment; filename="printer-log.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      wrap(randomBytes(o.attachmentBytes).toString('base64')),
      `--${mixed}--`,
    ];
  } else {
    body = [...lines, ...altPart];
  }
  return message(id, subject, from, [Buffer.from(`${body.join(CRLF)}${CRLF}.${CRLF}`, 'utf8')]);
}

/**
 * A session's sized messages: one sender, a fixed body (multipart/mixed: text/plain + a base64
 * PDF-ish attachment) sized so that header + body ≈ `size`, and a header block made fresh for each
 * message with a unique Message-ID (the gateway answers a repeated one as a duplicate).
 */
function sizedMessages(runId, session, size) {
  const boundary = `----=_Part_${session}_${randomBytes(6).toString('hex')}`;
  // Every message of a session goes to another ticket: like real traffic (many customers, many
  // tickets), and it stays under the gateway's loop limit (N messages per sender and ticket).
  const ticket = (n) => `GJ-${String((session * 1000 + n) % 1_000_000).padStart(6, '0')}`;
  const sid = String(session).padStart(4, '0');
  const address = `customer${sid}@customer.example`;
  const subject = (n) => `Re: [${ticket(n)}] Printer on fire again after the last update`;
  const header = (n) =>
    [
      `Received: from mail.customer.example (mail.customer.example [192.0.2.10])`,
      `\tby mx.customer.example with ESMTPS id ${runId}${sid}${String(n).padStart(8, '0')}`,
      `\tfor <support@example.com>; ${rfc5322Date()}`,
      `From: "Customer ${sid}" <${address}>`,
      `To: support@example.com`,
      `Subject: ${subject(n)}`,
      `Date: ${rfc5322Date()}`,
      `Message-ID: <${runId}.${sid}.${String(n).padStart(8, '0')}@customer.example>`,
      `In-Reply-To: <ticket-${ticket(n)}@support.example.com>`,
      `References: <ticket-${ticket(n)}@support.example.com>`,
      `MIME-Version: 1.0`,
      `X-Mailer: bench/smtp-intake`,
      `Content-Type: multipart/mixed; boundary="${boundary}"`,
      '',
      '',
    ].join(CRLF);

  const text = [
    'Hello,',
    '',
    'The printer on the second floor caught fire again this morning, right after the update you',
    'installed yesterday. The smoke alarm went off at 09:12 and we had to evacuate the office.',
    'I attach the log the printer wrote before it stopped answering. Please advise urgently.',
    '',
    'Kind regards,',
    `Customer ${sid}`,
    '',
    '> On Tuesday, the support team wrote:',
    '> We have installed the firmware update; please let us know if the issue comes back.',
  ].join(CRLF);
  const partsHead = [
    'This is a multi-part message in MIME format.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 7bit',
    '',
    text,
    '',
    `--${boundary}`,
    'Content-Type: application/pdf; name="printer-log.pdf"',
    'Content-Disposition: attachment; filename="printer-log.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    '',
  ].join(CRLF);
  const tail = `${CRLF}--${boundary}--${CRLF}`;

  const room = size - Buffer.byteLength(header(0)) - Buffer.byteLength(partsHead) - Buffer.byteLength(tail);
  let n = Math.max(0, Math.floor((room * 57) / 78));
  while (n > 0 && wrappedLength(n) > room) n--;
  while (wrappedLength(n + 1) <= room) n++;
  const attachment = wrap(randomBytes(n).toString('base64'));
  // No body line may start with "." (base64 and our text never do), so no dot-stuffing needed.
  const body = Buffer.from(partsHead + attachment + tail + `.${CRLF}`, 'latin1');
  return (seq) => message(`${runId}.${sid}.${seq}`, subject(seq), address, [Buffer.from(header(seq), 'latin1'), body]);
}

/** Reads SMTP replies (multi-line aware) from a socket and hands them out in order. */
class Replies {
  constructor(socket) {
    this.partial = '';
    this.lines = [];
    /** @type {{code:number,text:string}[]} */
    this.queue = [];
    /** @type {{resolve:Function,reject:Function}[]} */
    this.waiters = [];
    this.closed = null;
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => this.onData(chunk));
  }

  onData(chunk) {
    const data = this.partial + chunk;
    let start = 0;
    let nl;
    while ((nl = data.indexOf('\n', start)) >= 0) {
      const line = data.slice(start, nl).replace(/\r$/, '');
      start = nl + 1;
      this.lines.push(line);
      if (line.length < 4 || line[3] !== '-') {
        const reply = { code: Number(line.slice(0, 3)) || 0, text: this.lines.join('\n') };
        this.lines = [];
        const w = this.waiters.shift();
        if (w) w.resolve(reply);
        else this.queue.push(reply);
      }
    }
    this.partial = data.slice(start);
  }

  fail(err) {
    this.closed = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  /** @returns {Promise<{code:number,text:string}>} */
  next() {
    const r = this.queue.shift();
    if (r) return Promise.resolve(r);
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
}

const counted = (message) => Object.assign(new Error(message), { code: 'counted' });

/** @param {LoadOptions} o @returns {Promise<LoadResult>} */
async function run(o) {
  const countMode = o.messages > 0;
  const cpuStart = process.cpuUsage();
  const t0 = performance.now();
  const windowStart = countMode ? t0 : t0 + o.warmup * 1000;
  const windowEnd = countMode ? Infinity : windowStart + o.seconds * 1000;
  const hardEnd = t0 + o.deadlineMs;
  let stopping = false;
  let timedOut = false;
  let nextSeq = 0;
  const retryQueue = []; // {msg, at}
  let outstanding = countMode ? o.messages : Infinity; // count mode: messages not yet settled
  const accepted = [];
  let ok = 0;
  let bytes = 0;
  let messageBytes = 0;
  const latencies = [];
  const codes = {};
  const errors = {};
  let lastAcceptAt = t0;
  let firstSendAt = 0;
  /** @type {Set<net.Socket>} */
  const sockets = new Set();
  const note = (map, k) => (map[k] = (map[k] ?? 0) + 1);
  // --rate: the schedule starts once every session is connected and greeted (or has given up),
  // not before. Started earlier, the messages that fell due while a hundred connections were being
  // set up all went out at once when they were, a burst at many times the rate that a steady
  // arrival of mail does not have.
  let paceStart = t0;
  let unready = o.sessions;
  let allReady;
  const ready = new Promise((r) => (allReady = r));
  const sessionReady = () => {
    if (--unready === 0) {
      paceStart = performance.now();
      allReady();
    }
  };

  /** The next message to send: a due retry, else a new one; null when there is none now. */
  function take(make) {
    const now = performance.now();
    const i = retryQueue.findIndex((r) => r.at <= now);
    if (i >= 0) return retryQueue.splice(i, 1)[0].msg;
    if (!countMode || nextSeq < o.messages) {
      const msg = make(nextSeq++);
      // --rate: message k is due at k/rate seconds after the start (open loop, paced).
      msg.due = countMode && o.rate > 0 ? paceStart + ((nextSeq - 1) * 1000) / o.rate : 0;
      return msg;
    }
    return null;
  }
  function giveBack(msg) {
    if (o.retry) retryQueue.push({ msg, at: performance.now() + o.retryDelayMs });
    else outstanding--;
  }
  const done = () => {
    if (stopping) return true;
    const now = performance.now();
    if (now >= hardEnd) timedOut = true;
    stopping = outstanding <= 0 || now >= windowEnd || timedOut;
    return stopping;
  };

  async function session(index) {
    const make = o.size > 0 ? sizedMessages(o.runId, index, o.size) : (seq) => buildMessage(o, seq);
    let greeted = false;
    const readyOnce = () => {
      if (!greeted) {
        greeted = true;
        sessionReady();
      }
    };
    while (!done()) {
      const socket = net.connect({ host: o.host, port: o.port });
      socket.setNoDelay(true);
      sockets.add(socket);
      const replies = new Replies(socket);
      socket.on('error', (e) => replies.fail(e));
      socket.on('close', () => {
        sockets.delete(socket);
        replies.fail(Object.assign(new Error('closed'), { code: 'closed' }));
      });
      let msg = null;
      let phase = 'envelope';
      try {
        const greeting = await replies.next();
        if (greeting.code !== 220) {
          note(codes, `connect ${greeting.code}`);
          throw counted('refused');
        }
        socket.write(`EHLO load${index}.customer.example${CRLF}`);
        const ehlo = await replies.next();
        if (ehlo.code !== 250) {
          note(codes, `EHLO ${ehlo.code}`);
          throw counted('EHLO refused');
        }
        readyOnce();
        if (countMode && o.rate > 0) await ready;
        while (!done()) {
          msg = take(make);
          if (!msg) {
            await new Promise((r) => setTimeout(r, 20));
            continue;
          }
          if (msg.due && msg.due > performance.now())
            await new Promise((r) => setTimeout(r, msg.due - performance.now()));
          phase = 'envelope';
          socket.write(
            `MAIL FROM:<${msg.from}> SIZE=${msg.bytes}${CRLF}RCPT TO:<support@example.com>${CRLF}DATA${CRLF}`,
          );
          const mail = await replies.next();
          if (mail.code === 421) {
            // Shutting down: the server refused the transaction and closes; nothing was sent.
            note(codes, 'MAIL 421');
            const m = msg;
            msg = null;
            giveBack(m);
            throw counted('421');
          }
          const [rcpt, data] = [await replies.next(), await replies.next()];
          if (data.code !== 354) {
            const bad = [mail, rcpt, data].find((r) => r.code !== 250 && r.code !== 354) ?? data;
            note(codes, `${bad === mail ? 'MAIL' : bad === rcpt ? 'RCPT' : 'DATA'} ${bad.code}`);
            const m = msg;
            msg = null;
            giveBack(m);
            if (bad.code === 421) throw counted('421');
            socket.write(`RSET${CRLF}`);
            await replies.next();
            continue;
          }
          if (!firstSendAt) firstSendAt = performance.now();
          phase = 'data';
          socket.cork();
          for (const part of msg.parts) socket.write(part);
          socket.uncork();
          const sentAt = performance.now();
          const end = await replies.next();
          const now = performance.now();
          note(codes, String(end.code));
          messageBytes = msg.bytes;
          if (end.code === 250) {
            accepted.push(msg.subject);
            outstanding--;
            lastAcceptAt = now;
            if (now >= windowStart && now < windowEnd) {
              ok++;
              bytes += msg.bytes;
              latencies.push(now - sentAt);
            }
          } else if (end.code >= 400 && end.code < 500) {
            giveBack(msg);
          } else {
            outstanding--; // 5xx: the sender would bounce it
            note(errors, `final ${end.text.slice(0, 60)}`);
          }
          msg = null;
          if (end.code === 421) throw counted('421');
        }
        socket.write(`QUIT${CRLF}`);
        await replies.next().catch(() => undefined);
        socket.end();
        return;
      } catch (e) {
        // A message whose reply never came is handed back: unknown outcome, as for a real MTA.
        if (msg) {
          note(
            errors,
            phase === 'data'
              ? `no reply after the data (${e.code ?? e.message})`
              : `connection lost before DATA (${e.code ?? e.message})`,
          );
          giveBack(msg);
        } else if (e.code !== 'counted' && !(stopping && e.code === 'closed')) {
          note(errors, `connection ${e.code ?? e.message}`);
        }
        socket.destroy();
        // A session that could not get going does not hold the others' schedule back.
        readyOnce();
        if (stopping) return;
        await new Promise((r) => setTimeout(r, o.retry ? o.reconnectDelayMs : 50));
      }
    }
  }

  const hardTimer = setTimeout(
    () => {
      timedOut = true;
      stopping = true;
      for (const s of sockets) s.destroy();
    },
    Math.max(0, hardEnd - t0),
  );
  // Duration mode: sessions still waiting for a reply at the end of the window get a grace
  // period to finish (their replies are not counted), then are cut.
  let graceTimer;
  if (!countMode) {
    graceTimer = setTimeout(() => {
      stopping = true;
      setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, 10_000).unref();
    }, windowEnd - t0);
  }

  await Promise.all(Array.from({ length: o.sessions }, (_, i) => session(i)));
  clearTimeout(hardTimer);
  clearTimeout(graceTimer);

  latencies.sort((a, b) => a - b);
  const pct = (p) =>
    latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : NaN;
  const seconds = countMode ? (lastAcceptAt - (firstSendAt || t0)) / 1000 : o.seconds;
  const cpu = process.cpuUsage(cpuStart);
  return {
    accepted: o.returnAccepted ? accepted : undefined,
    acceptedCount: accepted.length,
    ok,
    generated: nextSeq,
    seconds,
    acceptRate: ok / seconds,
    bytes,
    messageBytes,
    p50Ms: pct(50),
    p99Ms: pct(99),
    maxMs: latencies.at(-1) ?? NaN,
    codes,
    errors,
    pendingRetries: retryQueue.length,
    startedAt: Date.now() - (performance.now() - (firstSendAt || t0)),
    timedOut,
    generatorCpu: (cpu.user + cpu.system) / 1000 / (performance.now() - t0),
  };
}

process.on('message', (m) => {
  if (!m?.start) return;
  const o = {
    messages: 0,
    seconds: 0,
    warmup: 0,
    rate: 0,
    size: 0,
    tickets: 1000,
    attachEvery: 5,
    attachmentBytes: 8192,
    retry: false,
    retryDelayMs: 500,
    reconnectDelayMs: 200,
    deadlineMs: 600_000,
    returnAccepted: false,
    ...m.start,
  };
  run(o).then(
    (result) => process.send({ result }, () => process.exit(0)),
    (e) => process.send({ error: String(e?.stack ?? e) }, () => process.exit(1)),
  );
});
