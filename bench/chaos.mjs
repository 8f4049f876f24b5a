#!/usr/bin/env node
// bench/chaos: faults under load, scripted and repeatable, with figures.
//
//   npm run build && node bench/chaos.mjs [--only NAME[,NAME…]] [--messages 1500] [--sessions 40]
//        [--rate 150] [--seed 1]
//
// Each scenario starts its own redis-server (AOF), the Sirportly double (bench/support/
// sirportly-double.mjs, seeded fault draws) and the gateway from dist/ as real processes
// (`serve --role smtp` + `serve --role worker`), then sends --messages unique messages over
// --sessions SMTP sessions paced at --rate msg/s. The senders behave like MTAs: a 4xx or a lost
// connection is tried again later. Exactly-once is counted per message at the double.
//
// Scenarios:
//   redis-restart   Redis SIGKILLed mid-load (appendfsync always) and started again 2 s later
//   sirportly-5xx   30 % of all Sirportly calls answer 500
//   rate-limit      20 % of posts answer 429 with Retry-After: 2; the retry must wait ≥ 2 s
//   commit-hang     10 % of posts are committed, then the answer hangs past the client timeout
//   worker-sigkill  one of two worker processes SIGKILLed mid-run
//   sigterm         the SMTP process gets SIGTERM mid-load and a new one takes its port (a
//                   deploy); then the same for a worker
// For each: replies by code, accepted, posted, duplicated, lost, and the scenario's own figures.
// Exit status 1 when any scenario loses or duplicates a message or answers other than 250/4xx.
import { randomBytes } from 'node:crypto';
import {
  hasSection,
  metric,
  runLoad,
  startDouble,
  startGateway,
  startRedis,
  stopAll,
  waitQuiet,
  waitUntil,
} from './support/e2e-procs.mjs';

const ALL = ['redis-restart', 'sirportly-5xx', 'rate-limit', 'commit-hang', 'worker-sigkill', 'sigterm'];

function parseFlags(argv) {
  const f = { only: ALL, messages: 1500, sessions: 40, rate: 150, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes('=') ? argv[i].split(/=(.*)/s, 2) : [argv[i], undefined];
    const v = () => inline ?? argv[++i];
    switch (flag) {
      case '--only':
        f.only = v().split(',');
        break;
      case '--messages':
        f.messages = Number(v());
        break;
      case '--sessions':
        f.sessions = Number(v());
        break;
      case '--rate':
        f.rate = Number(v());
        break;
      case '--seed':
        f.seed = Number(v());
        break;
      case '-h':
      case '--help':
        console.log('usage: node bench/chaos.mjs [--only a,b] [--messages N] [--sessions N] [--rate N] [--seed N]');
        process.exit(0);
        break;
      default:
        console.error(`unknown option ${flag}`);
        process.exit(2);
    }
  }
  for (const s of f.only) {
    if (!ALL.includes(s)) {
      console.error(`unknown scenario ${s}; known: ${ALL.join(', ')}`);
      process.exit(2);
    }
  }
  return f;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

function settings(extra = {}) {
  return {
    redis: { prefix: 'chaos' },
    smtp: {
      connectionRateLimit: { max: 0, windowSeconds: 60 },
      limits: { maxConnectionsPerAddress: 0 },
      acceptTimeoutMs: 2000,
      closeTimeoutMs: 10000,
    },
    queue: { concurrency: 16, lockDurationMs: 3000, backoffInitialMs: 200, backoffMaxMs: 5000, closeTimeoutMs: 5000 },
    sirportly: { requestTimeoutMs: 1000 },
    ...(hasSection('auth') ? { auth: { enabled: false } } : {}),
    ...extra,
  };
}

/** Start the pieces, run the load with `during` acting on it, wait for the queue to drain. */
async function scenario(f, name, { fsync = 'everysec', workers = 1, faults = {}, during = async () => ({}) }) {
  await waitQuiet(300_000);
  const redis = await startRedis({ fsync });
  const double = await startDouble();
  await double.faults({ seed: f.seed, ...faults });
  const smtp = await startGateway({ role: 'smtp', redis, double, settings: settings(), name: 'smtp' });
  const ws = [];
  for (let i = 0; i < workers; i++)
    ws.push(await startGateway({ role: 'worker', redis, double, settings: settings(), name: `worker${i + 1}` }));
  const ctx = { redis, double, smtp, workers: ws, f, started: Date.now() };
  const load = runLoad({
    port: smtp.smtpPort,
    sessions: f.sessions,
    messages: f.messages,
    rate: f.rate,
    retry: true,
    retryDelayMs: 500,
    reconnectDelayMs: 300,
    deadlineMs: 240_000,
    returnAccepted: true,
    runId: `${name}-${randomBytes(3).toString('hex')}`,
  });
  const [extra, result] = await Promise.all([during(ctx), load.result]);
  const drainStart = Date.now();
  let stats = await double.stats(true);
  const accepted = new Set(result.accepted);
  const allPosted = () => [...accepted].every((s) => stats.perSubject[s] >= 1);
  await waitUntil(
    'every accepted message posted',
    async () => {
      stats = await double.stats(true);
      return allPosted();
    },
    180_000,
  ).catch(() => undefined);
  await sleep(1500); // late duplicates would show up here
  stats = await double.stats(true);
  const lost = [...accepted].filter((s) => !(stats.perSubject[s] >= 1)).length;
  const duplicated = Object.values(stats.perSubject).filter((n) => n > 1).length;
  const bad = Object.entries(result.codes).filter(
    ([c]) => !(c === '250' || /^(\D+ )?4\d\d$/.test(c) || c.startsWith('connect 4')),
  );
  const metricsText = (await Promise.all([ctx.smtp, ...ctx.workers].map((g) => g.metrics().catch(() => '')))).join(
    '\n',
  );
  const ok = lost === 0 && duplicated === 0 && bad.length === 0 && accepted.size === f.messages;

  console.log(`\n== ${name}: ${f.messages} messages, ${f.sessions} sessions at ${f.rate} msg/s, seed ${f.seed}`);
  console.log(
    `replies         ${JSON.stringify(result.codes)}${Object.keys(result.errors).length ? `   connection events ${JSON.stringify(result.errors)}` : ''}`,
  );
  console.log(`accepted (250)  ${accepted.size} of ${f.messages}${result.timedOut ? ' (load deadline hit)' : ''}`);
  console.log(
    `posted          ${Object.keys(stats.perSubject).length} distinct, ${duplicated} duplicated, ${lost} lost (accepted, never posted); drained ${fmt((Date.now() - drainStart - 1500) / 1000, 1)} s after the last 250`,
  );
  console.log(`sirportly       ${JSON.stringify(stats.calls)}`);
  console.log(
    `gateway         job retries ${metric(metricsText, 'mailgate_job_retries_total')} ${JSON.stringify(retriesByKind(metricsText))}, failed ${metric(metricsText, 'mailgate_jobs_total', 'outcome="failed"')}`,
  );
  for (const [k, v] of Object.entries(extra)) console.log(`${k.padEnd(15)} ${v}`);
  console.log(
    `verdict         ${ok ? 'OK' : 'FAILED'}${bad.length ? ` (replies other than 250/4xx: ${JSON.stringify(bad)})` : ''}`,
  );

  for (const g of [ctx.smtp, ...ctx.workers]) g.child.kill('SIGKILL');
  await redis.kill();
  double.child.kill('SIGKILL');
  return ok;
}

function retriesByKind(text) {
  const out = {};
  for (const m of text.matchAll(/^mailgate_job_retries_total\{kind="([^"]+)"\} (\S+)$/gm))
    out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
  return out;
}

/** Resolves when the double has recorded this share of the run's messages as posted. */
async function whenPosted(ctx, share) {
  await waitUntil('progress', async () => (await ctx.double.stats()).posts >= ctx.f.messages * share, 120_000);
}

const SCENARIOS = {
  'redis-restart': (f) =>
    scenario(f, 'redis-restart', {
      fsync: 'always',
      during: async (ctx) => {
        await whenPosted(ctx, 0.3);
        const t = Date.now();
        await ctx.redis.kill('SIGKILL');
        await sleep(2000);
        await ctx.redis.start();
        return {
          'redis outage': `SIGKILL at ${fmt((t - ctx.started) / 1000, 1)} s, back after ${fmt((Date.now() - t) / 1000, 1)} s (AOF, appendfsync always)`,
        };
      },
    }),
  'sirportly-5xx': (f) =>
    scenario(f, 'sirportly-5xx', { faults: { failRate: 0.3, only: ['add_attachment', 'post_update', 'ticket'] } }),
  'rate-limit': async (f) => {
    let gaps = null;
    const ok = await scenario(f, 'rate-limit', {
      faults: { status429Rate: 0.2, retryAfter: 2, only: ['post_update'] },
      during: async (ctx) => {
        // Read the gaps at the end, when every retry has come back.
        await waitUntil('load done', async () => (await ctx.double.stats()).posts >= f.messages, 240_000).catch(
          () => undefined,
        );
        gaps = (await ctx.double.stats()).retryGapsMs;
        return {
          'retry-after': `2 s asked; a limited post came back after min ${gaps.min} ms, median ${gaps.p50} ms, max ${gaps.max} ms (n=${gaps.n})`,
        };
      },
    });
    const honoured = gaps !== null && gaps.min >= 2000;
    console.log(`retry-after     ${honoured ? 'honoured (no retry before 2 s)' : 'NOT honoured'}`);
    return ok && honoured;
  },
  'commit-hang': (f) =>
    scenario(f, 'commit-hang', {
      faults: { commitThenHangRate: 0.1, hangMs: 3000, only: ['post_update'] },
      during: async () => ({ hang: 'post committed, then no answer for 3 s (client timeout 1 s), 10 % of posts' }),
    }),
  'worker-sigkill': (f) =>
    scenario(f, 'worker-sigkill', {
      workers: 2,
      during: async (ctx) => {
        await whenPosted(ctx, 0.4);
        const victim = ctx.workers[0];
        victim.child.kill('SIGKILL');
        const { signal } = await victim.exited;
        return {
          kill: `worker1 ${signal} at ${fmt((Date.now() - ctx.started) / 1000, 1)} s (40 % posted); worker2 takes its jobs over when their 3 s lock lapses`,
        };
      },
    }),
  sigterm: (f) =>
    scenario(f, 'sigterm', {
      during: async (ctx) => {
        await whenPosted(ctx, 0.3);
        const old = ctx.smtp;
        const t = Date.now();
        old.child.kill('SIGTERM');
        const exit = await old.exited;
        const stopSeconds = (Date.now() - t) / 1000;
        // A deploy: the new process takes the same port; senders retry meanwhile.
        ctx.smtp = await startGateway({
          role: 'smtp',
          redis: ctx.redis,
          double: ctx.double,
          settings: settings(),
          smtpPort: old.smtpPort,
          name: 'smtp2',
        });
        const smtpGap = (Date.now() - t) / 1000;
        await whenPosted(ctx, 0.6);
        const w = ctx.workers[0];
        const tw = Date.now();
        w.child.kill('SIGTERM');
        const wexit = await w.exited;
        ctx.workers[0] = await startGateway({
          role: 'worker',
          redis: ctx.redis,
          double: ctx.double,
          settings: settings(),
          name: 'worker1b',
        });
        return {
          'smtp SIGTERM': `exit code ${exit.code} ${fmt(stopSeconds, 1)} s after the signal; port served again ${fmt(smtpGap, 1)} s after it. New transactions meanwhile: 421 (retried); DATA in flight: answered (a message without its reply would show as "no reply after the data")`,
          'worker SIGTERM': `exit code ${wexit.code}, ${fmt((Date.now() - tw) / 1000, 1)} s to stop and start again`,
        };
      },
    }),
};

async function main() {
  const f = parseFlags(process.argv.slice(2));
  console.log(`bench/chaos  node ${process.version}`);
  console.log(`command: node bench/chaos.mjs ${process.argv.slice(2).join(' ')}`.trim());
  let allOk = true;
  for (const name of f.only) allOk = (await SCENARIOS[name](f)) && allOk;
  console.log(`\nchaos: ${allOk ? 'all scenarios OK' : 'SOME SCENARIOS FAILED'}`);
  process.exitCode = allOk ? 0 : 1;
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
