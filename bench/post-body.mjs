#!/usr/bin/env node
// bench/post-body: what posting one large message costs the event loop and memory of the posting
// side. A post_update with a --mb MB message (default 20; mixed ASCII, accented and non-BMP text,
// as mail is) goes through the gateway's Sirportly client (dist/) to a local HTTP sink that reads
// and discards the body, then answers 201. Printed: the worst event-loop delay seen while posting
// (perf_hooks monitorEventLoopDelay, 1 ms resolution), peak RSS (sampled every 5 ms) and RSS before.
// For comparison: the same monitor over 2 s of doing nothing (on a loaded machine the scheduler
// alone delays the loop), and URLSearchParams#toString() of the same fields, which is one
// synchronous call: the loop is blocked all along.
//
//   npm run build && node --expose-gc bench/post-body.mjs [--mb 20]
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { SirportlyClient } from '../dist/src/sirportly/client.js';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '20' } } });
const targetBytes = Number(values.mb) * 1024 * 1024;

const unit = 'The printer is on fire again, Jörg says: “ça brûle” 🔥 — please advise.\r\n';
const message = unit.repeat(Math.ceil(targetBytes / Buffer.byteLength(unit))).slice(0, targetBytes);
const fields = {
  ticket: 'GJ-060309',
  subject: 'Re: printer',
  message,
  author_name: 'Jörg',
  author_email: 'joerg@example.org',
  posted_at: '2024-05-01T12:34:56Z',
};

let received = 0;
const server = createServer((req, res) => {
  req.on('data', (c) => (received += c.length));
  req.on('end', () => {
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: 1,
        subject: null,
        message: 'x',
        posted_at: '2024-05-01T12:34:56+00:00',
        from_name: null,
        from_address: null,
      }),
    );
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}`;

async function measure(label, work) {
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 200));
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  h.disable();
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const mb = (n) => (n / 1024 / 1024).toFixed(0);
  console.log(
    `${label}: ${ms.toFixed(0)} ms, worst event-loop delay ${(h.max / 1e6).toFixed(1)} ms (p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms), RSS ${mb(before)} MB before, peak ${mb(peak)} MB`,
  );
}

await measure('idle (nothing running, 2 s)', () => new Promise((r) => setTimeout(r, 2000)));
console.log(
  `node ${process.version}; message ${(Buffer.byteLength(message) / 1024 / 1024).toFixed(1)} MB (${message.length} UTF-16 units)`,
);
const client = new SirportlyClient({ url, token: 't', secret: 's', requestTimeoutMs: 120_000, connections: 1 });
await measure('streamed post_update (client)', async () => {
  received = 0;
  await client.postUpdate(fields);
  if (received === 0) throw new Error('nothing received');
});
await measure(
  'URLSearchParams#toString() alone (no request; one synchronous call, so the loop is blocked for all of it)',
  async () => {
    const body = new URLSearchParams(fields).toString();
    if (body.length === 0) throw new Error('empty');
  },
);
await client.close();
server.close();
