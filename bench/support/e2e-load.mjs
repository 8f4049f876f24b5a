// SMTP load for bench/e2e.mjs and bench/chaos.mjs, over raw sockets, as a forked child: it gets
// one {start: options} message over IPC and answers with one {result} message.
//
// Every message is unique and traceable at the Sirportly double: its own sender, a ticket out of
// `tickets`, and the Subject "Re: [GJ-1xxxxx] Printer on fire <id>" (the double counts posts per
// subject, so exactly-once is checked per message). Sessions pipeline MAIL/RCPT/DATA.
//
// retry: true makes the generator behave like an MTA: a 4xx or a dropped connection puts the
// message back to be sent again after retryDelayMs (until deadlineMs); the result then lists
// every message accepted with 250. Without it every non-250 is just counted.
import net from 'node:net';
import { randomBytes } from 'node:crypto';

const CRLF = '\r\n';

function wrap(b64) {
  const out = [];
  for (let i = 0; i < b64.length; i += 76) out.push(b64.slice(i, i + 76));
  return out.join(CRLF);
}

export function buildMessage(o, seq) {
  const id = `${o.runId}-${seq}`;
  const ticket = `GJ-${String(100000 + (seq % o.tickets)).padStart(6, '0')}`;
  const from = `customer${seq}@customer.example`;
  const subject = `Re: [${ticket}] Printer on fire ${id}`;
  const date = new Date().toUTCString().replace('GMT', '+0000');
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
  return { id, subject, from, data: Buffer.from(`${body.join(CRLF)}${CRLF}.${CRLF}`, 'utf8') };
}

class Replies {
  constructor(socket) {
    this.partial = '';
    this.lines = [];
    this.queue = [];
    this.waiters = [];
    this.closed = null;
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => {
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
    });
  }
  fail(err) {
    this.closed = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }
  next() {
    const r = this.queue.shift();
    if (r) return Promise.resolve(r);
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
}

async function run(o) {
  const t0 = performance.now();
  const deadline = t0 + o.deadlineMs;
  let nextSeq = 0;
  const retryQueue = []; // {msg, at}
  let outstanding = o.messages; // messages not yet accepted (retry mode) or not yet tried
  const accepted = [];
  const latencies = [];
  const codes = {};
  const errors = {};
  let lastAcceptAt = t0;
  let firstSendAt = 0;
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
  function take() {
    const now = performance.now();
    const i = retryQueue.findIndex((r) => r.at <= now);
    if (i >= 0) return retryQueue.splice(i, 1)[0].msg;
    if (nextSeq < o.messages) {
      const msg = buildMessage(o, nextSeq++);
      // --rate: message k is due at k/rate seconds after the start (open loop, paced).
      msg.due = o.rate > 0 ? paceStart + ((nextSeq - 1) * 1000) / o.rate : 0;
      return msg;
    }
    return null;
  }
  function giveBack(msg) {
    if (o.retry) retryQueue.push({ msg, at: performance.now() + o.retryDelayMs });
    else outstanding--;
  }
  const done = () => outstanding <= 0 || performance.now() > deadline;

  async function session(index) {
    let counted = false;
    const readyOnce = () => {
      if (!counted) {
        counted = true;
        sessionReady();
      }
    };
    while (!done()) {
      const socket = net.connect({ host: o.host, port: o.port });
      socket.setNoDelay(true);
      const replies = new Replies(socket);
      socket.on('error', (e) => replies.fail(e));
      socket.on('close', () => replies.fail(Object.assign(new Error('closed'), { code: 'closed' })));
      let msg = null;
      let phase = 'envelope';
      try {
        const greeting = await replies.next();
        if (greeting.code !== 220) {
          note(codes, `connect ${greeting.code}`);
          throw Object.assign(new Error('refused'), { code: 'counted' });
        }
        socket.write(`EHLO load${index}.customer.example${CRLF}`);
        if ((await replies.next()).code !== 250) throw new Error('EHLO refused');
        readyOnce();
        if (o.rate > 0) await ready;
        while (!done()) {
          msg = take();
          if (!msg) {
            await new Promise((r) => setTimeout(r, 20));
            continue;
          }
          if (msg.due && msg.due > performance.now())
            await new Promise((r) => setTimeout(r, msg.due - performance.now()));
          socket.write(
            `MAIL FROM:<${msg.from}> SIZE=${msg.data.length}${CRLF}RCPT TO:<support@example.com>${CRLF}DATA${CRLF}`,
          );
          phase = 'envelope';
          const mail = await replies.next();
          if (mail.code === 421) {
            // Shutting down: the server refused the transaction and closes; nothing was sent.
            note(codes, 'MAIL 421');
            const m = msg;
            msg = null;
            giveBack(m);
            throw Object.assign(new Error('421'), { code: 'counted' });
          }
          const [rcpt, data] = [await replies.next(), await replies.next()];
          if (data.code !== 354) {
            const bad = [mail, rcpt, data].find((r) => r.code !== 250 && r.code !== 354) ?? data;
            note(codes, `${bad === mail ? 'MAIL' : bad === rcpt ? 'RCPT' : 'DATA'} ${bad.code}`);
            const m = msg;
            msg = null;
            giveBack(m);
            if (bad.code === 421) throw Object.assign(new Error('421'), { code: 'counted' });
            socket.write(`RSET${CRLF}`);
            await replies.next();
            continue;
          }
          if (!firstSendAt) firstSendAt = performance.now();
          phase = 'data';
          socket.write(msg.data);
          const sentAt = performance.now();
          const end = await replies.next();
          const now = performance.now();
          note(codes, String(end.code));
          if (end.code === 250) {
            latencies.push(now - sentAt);
            accepted.push(msg.subject);
            outstanding--;
            lastAcceptAt = now;
          } else if (end.code >= 400 && end.code < 500) {
            giveBack(msg);
          } else {
            outstanding--; // 5xx: the sender would bounce it
            note(errors, `final ${end.text.slice(0, 60)}`);
          }
          msg = null;
          if (end.code === 421) throw Object.assign(new Error('421'), { code: 'counted' });
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
        } else if (e.code !== 'counted') {
          note(errors, `connection ${e.code ?? e.message}`);
        }
        socket.destroy();
        // A session that could not get going does not hold the others' schedule back.
        readyOnce();
        await new Promise((r) => setTimeout(r, o.retry ? o.reconnectDelayMs : 50));
      }
    }
  }

  await Promise.all(Array.from({ length: o.sessions }, (_, i) => session(i)));
  latencies.sort((a, b) => a - b);
  const pct = (p) =>
    latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : NaN;
  const seconds = (lastAcceptAt - (firstSendAt || t0)) / 1000;
  return {
    accepted: o.returnAccepted ? accepted : undefined,
    acceptedCount: accepted.length,
    generated: nextSeq,
    seconds,
    acceptRate: accepted.length / seconds,
    p50Ms: pct(50),
    p99Ms: pct(99),
    maxMs: latencies.at(-1) ?? NaN,
    codes,
    errors,
    pendingRetries: retryQueue.length,
    startedAt: Date.now() - (performance.now() - (firstSendAt || t0)),
    timedOut: performance.now() > deadline,
  };
}

process.on('message', (m) => {
  if (!m?.start) return;
  const o = {
    rate: 0,
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
