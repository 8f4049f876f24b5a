// SMTP load generator for bench/smtp-intake.mjs, over raw `net` sockets (no client library in
// the measured path). Run as a forked child: it receives one {start: LoadOptions} message over
// IPC, drives the target, and answers with one {result: LoadResult} message, then exits.
//
// Each session opens one connection, says EHLO once, then sends messages back to back:
// MAIL FROM + RCPT TO + DATA pipelined (both servers advertise PIPELINING), the message, and
// the final dot; a message counts only when the reply after the dot is 250.
import net from 'node:net';
import { randomBytes } from 'node:crypto';

/**
 * @typedef {object} LoadOptions
 * @property {string} host            loopback address of the target
 * @property {number} port
 * @property {number} sessions        parallel SMTP sessions
 * @property {number} size            bytes per message (headers + body, before the final dot)
 * @property {number} seconds         measured window (duration mode)
 * @property {number} warmup          seconds before the window, not counted (duration mode)
 * @property {number} messages        >0: count mode, send exactly this many (warmup ignored)
 * @property {number} maxSeconds      hard cap on the whole load, any mode
 * @property {string} runId           makes Message-IDs unique across runs
 *
 * @typedef {object} LoadResult
 * @property {number} ok              250 after the dot, inside the measured window
 * @property {number} seconds         length of the measured window
 * @property {number} bytes           message bytes of the counted messages
 * @property {number} p50Ms           DATA-end → reply latency, counted messages
 * @property {number} p99Ms
 * @property {number} maxMs
 * @property {Record<string, number>} errors  non-250 replies and connection errors, by kind (whole run)
 * @property {number} okTotal         every 250 after the dot, warm-up and tail included
 * @property {number} messageBytes    size of one message as sent
 * @property {boolean} timedOut       the hard cap cut the run short
 * @property {number} generatorCpu    CPU this process used over the run, in cores
 */

const CRLF = '\r\n';

/** RFC 5322 date of the current second (cached: one formatting per second). */
let dateSecond = -1;
let dateText = '';
function rfc5322Date() {
  const now = Date.now();
  const sec = Math.floor(now / 1000);
  if (sec !== dateSecond) {
    dateSecond = sec;
    dateText = new Date(sec * 1000).toUTCString().replace('GMT', '+0000');
  }
  return dateText;
}

function wrap(b64, width = 76) {
  const lines = [];
  for (let i = 0; i < b64.length; i += width) lines.push(b64.slice(i, i + width));
  return lines.join(CRLF);
}

/** Length of `n` bytes base64-encoded and wrapped at 76 with CRLF (no trailing CRLF). */
function wrappedLength(n) {
  const chars = Math.ceil(n / 3) * 4;
  return chars + 2 * Math.max(0, Math.ceil(chars / 76) - 1);
}

/**
 * A session's message factory (one sender per session): a fixed body (multipart/mixed: text/plain + a base64 PDF-ish
 * attachment) sized so that header + body ≈ `size`, and a header block made fresh for each
 * message with a unique Message-ID (the gateway answers a repeated one as a duplicate).
 */
function messageFactory(runId, session, size) {
  const boundary = `----=_Part_${session}_${randomBytes(6).toString('hex')}`;
  // Every message of a session goes to another ticket: like real traffic (many customers, many
  // tickets), and it stays under the gateway's loop limit (N messages per sender and ticket).
  const ticket = (n) => `GJ-${String((session * 1000 + n) % 1_000_000).padStart(6, '0')}`;
  const from = `"Customer ${String(session).padStart(4, '0')}" <customer${String(session).padStart(4, '0')}@customer.example>`;
  const sid = String(session).padStart(4, '0');
  /** @param {number} n */
  const header = (n) =>
    [
      `Received: from mail.customer.example (mail.customer.example [192.0.2.10])`,
      `\tby mx.customer.example with ESMTPS id ${runId}${sid}${String(n).padStart(8, '0')}`,
      `\tfor <support@example.com>; ${rfc5322Date()}`,
      `From: ${from}`,
      `To: support@example.com`,
      `Subject: Re: [${ticket(n)}] Printer on fire again after the last update`,
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

  const headerLength = Buffer.byteLength(header(0));
  const room = size - headerLength - Buffer.byteLength(partsHead) - Buffer.byteLength(tail);
  let n = Math.max(0, Math.floor((room * 57) / 78));
  while (n > 0 && wrappedLength(n) > room) n--;
  while (wrappedLength(n + 1) <= room) n++;
  const attachment = wrap(randomBytes(n).toString('base64'));
  const body = Buffer.from(partsHead + attachment + tail + `.${CRLF}`, 'latin1');
  // No body line may start with "." (base64 and our text never do), so no dot-stuffing needed.
  return {
    /** The header block of message `n` (write it, then `body`, which ends with the final dot). */
    build(/** @type {number} */ n) {
      return Buffer.from(header(n), 'latin1');
    },
    body,
    /** Size of one message as stored by the server (without the final ".\r\n"). */
    messageBytes: headerLength + body.length - 3,
  };
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

/** @param {LoadOptions} o @returns {Promise<LoadResult>} */
async function run(o) {
  const countMode = o.messages > 0;
  const cpuStart = process.cpuUsage();
  const t0 = performance.now();
  const windowStart = countMode ? t0 : t0 + o.warmup * 1000;
  const windowEnd = countMode ? Infinity : windowStart + o.seconds * 1000;
  const hardEnd = t0 + o.maxSeconds * 1000;

  let stopping = false;
  let timedOut = false;
  let started = 0; // count mode: messages handed out
  let ok = 0;
  let okTotal = 0;
  let bytes = 0;
  let lastOkAt = t0;
  /** @type {number[]} */
  const latencies = [];
  /** @type {Record<string, number>} */
  const errors = {};
  const err = (kind) => {
    errors[kind] = (errors[kind] ?? 0) + 1;
  };
  /** @type {Set<net.Socket>} */
  const sockets = new Set();
  let messageBytes = 0;

  const mayStart = () => {
    if (stopping) return false;
    const now = performance.now();
    if (now >= hardEnd) {
      timedOut = true;
      stopping = true;
      return false;
    }
    if (!countMode && now >= windowEnd) {
      stopping = true;
      return false;
    }
    if (countMode) {
      if (started >= o.messages) return false;
      started++;
    }
    return true;
  };

  async function session(index) {
    const factory = messageFactory(o.runId, index, o.size);
    messageBytes = factory.messageBytes;
    const envelope = Buffer.from(
      `MAIL FROM:<customer${String(index).padStart(4, '0')}@customer.example> SIZE=${factory.messageBytes}${CRLF}` +
        `RCPT TO:<support@example.com>${CRLF}DATA${CRLF}`,
      'latin1',
    );
    let n = 0;
    while (!stopping && performance.now() < hardEnd && (!countMode || started < o.messages)) {
      const socket = net.connect({ host: o.host, port: o.port });
      socket.setNoDelay(true);
      sockets.add(socket);
      const replies = new Replies(socket);
      socket.on('error', (e) => replies.fail(e));
      socket.on('close', () => {
        sockets.delete(socket);
        replies.fail(Object.assign(new Error('connection closed'), { code: 'closed' }));
      });
      try {
        const greeting = await replies.next();
        if (greeting.code !== 220) {
          err(`greeting ${greeting.code}`);
          throw Object.assign(new Error('no greeting'), { code: 'counted' });
        }
        socket.write(`EHLO loadgen-${index}.customer.example${CRLF}`);
        const ehlo = await replies.next();
        if (ehlo.code !== 250) {
          err(`EHLO ${ehlo.code}`);
          throw Object.assign(new Error('EHLO refused'), { code: 'counted' });
        }
        while (mayStart()) {
          socket.write(envelope);
          const mail = await replies.next();
          const rcpt = await replies.next();
          const data = await replies.next();
          if (data.code !== 354) {
            if (mail.code !== 250) err(`MAIL ${mail.code}`);
            else if (rcpt.code !== 250) err(`RCPT ${rcpt.code}`);
            else err(`DATA ${data.code}`);
            if (countMode) started--; // try again
            if ([mail.code, rcpt.code, data.code].includes(421))
              throw Object.assign(new Error('421'), { code: 'counted' });
            socket.write(`RSET${CRLF}`);
            await replies.next();
            continue;
          }
          socket.cork();
          socket.write(factory.build(n++));
          socket.write(factory.body);
          socket.uncork();
          const sentAt = performance.now();
          const end = await replies.next();
          const now = performance.now();
          if (end.code === 250) {
            okTotal++;
            if (now >= windowStart && now < windowEnd) {
              ok++;
              bytes += factory.messageBytes;
              latencies.push(now - sentAt);
              lastOkAt = now;
            }
          } else {
            err(`end of DATA ${end.code} ${end.text.slice(4, 60)}`);
            if (end.code === 421) throw Object.assign(new Error('421'), { code: 'counted' });
          }
        }
        socket.write(`QUIT${CRLF}`);
        await replies.next().catch(() => undefined);
        socket.end();
        return;
      } catch (e) {
        if (e.code !== 'counted' && !(stopping && e.code === 'closed')) err(`connection ${e.code ?? e.message}`);
        socket.destroy();
        if (stopping) return;
        await new Promise((r) => setTimeout(r, 50)); // reconnect
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
  const seconds = countMode ? (lastOkAt - t0) / 1000 : o.seconds;
  return {
    ok,
    seconds,
    bytes,
    p50Ms: pct(50),
    p99Ms: pct(99),
    maxMs: latencies.length ? latencies[latencies.length - 1] : NaN,
    errors,
    okTotal,
    messageBytes,
    timedOut,
    generatorCpu: (() => {
      const u = process.cpuUsage(cpuStart);
      return (u.user + u.system) / 1000 / (performance.now() - t0);
    })(),
  };
}

process.on('message', (m) => {
  if (!m || !m.start) return;
  run(m.start).then(
    (result) => process.send({ result }, () => process.exit(0)),
    (e) => process.send({ error: String(e?.stack ?? e) }, () => process.exit(1)),
  );
});
