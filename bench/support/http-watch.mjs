// Watches a gateway process over HTTP from a thread of its own, so that what the bench's main
// thread is busy with (generating load, writing large DATA, hundreds of slow connections) does
// not show up as the gateway's delay.
//
// Two independent pollers, each every 250 ms: /healthz (answered on the gateway's event loop
// without other I/O, so its time is the loop's delay as a client sees it; a frozen process leaves
// it outstanding, which counts for as long as it is) and /metrics (prom-client's event-loop delay
// and the process's heap and external memory, sampled beside its RSS from /proc). /metrics first
// refreshes the queue gauges from Redis, within the gateway's own deadline, so its time is
// reported on its own: it waits on Redis, not only on the loop.
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { memory } from './machine.mjs';
import { metric } from './prom-text.mjs';

const HOST = '127.0.0.1';
const mib = (b) => b / 1048576;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts watching; `stop()` resolves with { name, lagMax, healthNow, healthTimeouts, metricsNow,
 * mem }: the worst prom-client event-loop delay, the longest /healthz and /metrics waits (one
 * still outstanding counts as long as it has been), and the largest memory figures sampled.
 */
export function watchInThread(name, httpPort, pid) {
  const thread = new Worker(fileURLToPath(import.meta.url), { workerData: { name, httpPort, pid } });
  // Never what keeps the bench alive, e.g. when it fails before stop().
  thread.unref();
  const result = new Promise((resolve, reject) => {
    thread.once('message', resolve);
    thread.once('error', reject);
  });
  // A thread that failed before stop() is reported by stop(), not as an unhandled rejection.
  result.catch(() => {});
  return {
    async stop() {
      thread.postMessage('stop');
      const r = await result;
      // A poller stuck on a blocked process is not waited for: its stall so far is what counts.
      await thread.terminate();
      return r;
    },
  };
}

function watch({ name, httpPort, pid }) {
  const w = {
    name,
    lagMax: 0,
    metricsMax: 0,
    healthMax: 0,
    healthTimeouts: 0,
    stop: false,
    healthSince: null,
    metricsSince: null,
    mem: { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, atPeak: null },
  };
  const outstanding = (since) => (since === null ? 0 : performance.now() - since);
  const timed = async (path, mark) => {
    const t = performance.now();
    w[mark] = t;
    try {
      const r = await fetch(`http://${HOST}:${httpPort}${path}`, { signal: AbortSignal.timeout(600_000) });
      const text = await r.text();
      return { ms: performance.now() - t, text };
    } catch {
      return { ms: performance.now() - t, text: null };
    } finally {
      w[mark] = null;
    }
  };
  const sample = (text) => {
    const rss = memory(pid).rss;
    const s = {
      rss,
      heapTotal: mib(metric(text, 'mailgate_nodejs_heap_size_total_bytes')),
      heapUsed: mib(metric(text, 'mailgate_nodejs_heap_size_used_bytes')),
      external: mib(metric(text, 'mailgate_nodejs_external_memory_bytes')),
    };
    for (const k of ['rss', 'heapTotal', 'heapUsed', 'external']) w.mem[k] = Math.max(w.mem[k], s[k]);
    if (rss >= w.mem.rss) w.mem.atPeak = s;
  };
  void (async () => {
    while (!w.stop) {
      const m = await timed('/metrics', 'metricsSince');
      w.metricsMax = Math.max(w.metricsMax, m.ms);
      if (m.text) {
        w.lagMax = Math.max(w.lagMax, metric(m.text, 'mailgate_nodejs_eventloop_lag_max_seconds') * 1000);
        sample(m.text);
      }
      await sleep(250);
    }
  })();
  void (async () => {
    while (!w.stop) {
      const h = await timed('/healthz', 'healthSince');
      w.healthMax = Math.max(w.healthMax, h.ms);
      if (h.text === null) w.healthTimeouts++;
      await sleep(250);
    }
  })();
  parentPort.once('message', () => {
    w.stop = true;
    parentPort.postMessage({
      name: w.name,
      lagMax: w.lagMax,
      healthNow: Math.max(w.healthMax, outstanding(w.healthSince)),
      healthTimeouts: w.healthTimeouts,
      metricsNow: Math.max(w.metricsMax, outstanding(w.metricsSince)),
      mem: w.mem,
    });
  });
}

if (!isMainThread) watch(workerData);
