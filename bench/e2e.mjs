#!/usr/bin/env node
// bench/e2e: mail in over SMTP, out as Sirportly updates, through the whole gateway.
//
//   npm run build && node bench/e2e.mjs [--messages 10000] [--sessions 100] [--latency 0,50]
//        [--workers 1] [--concurrency 64] [--topology split|all] [--attach-every 5]
//        [--warmup 300] [--fsync everysec|always]
//
// For each Sirportly latency: a fresh redis-server (AOF, noeviction), the Sirportly double
// (bench/support/sirportly-double.mjs, its own process, answering after --latency ms), the
// gateway from dist/ — `serve --role smtp` plus --workers × `serve --role worker` (split), or one
// `serve --role all` — and the load generator (bench/support/load.mjs, its own process)
// sending --messages unique messages over --sessions parallel SMTP sessions. A warm-up of
// --warmup messages goes first and is not counted.
//
// Prints: accept rate, DATA-end→250 latency p50/p99/max, posted updates per second (updates ÷
// time from the first message sent to the last update posted), duplicates and losses (counted
// per message at the double), peak RSS of each process, RSS along the run (memory flat?), and
// Redis memory per message. Targets (2 cores): p99 ≤ 25 ms; ≥ 400 updates/s at 0 ms.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  cpuSeconds,
  hasSection,
  idleShare,
  memory,
  waitQuiet,
  metric,
  runLoad,
  startDouble,
  startGateway,
  startRedis,
  stopAll,
  waitUntil,
} from './support/e2e-procs.mjs';

const USAGE = `usage: node bench/e2e.mjs [--messages N] [--sessions N] [--latency MS[,MS…]] [--workers N]
       [--concurrency N] [--topology split|all] [--attach-every N] [--warmup N] [--fsync everysec|always]
       [--rate MSG_PER_S]  (pace the senders: open loop; 0 = as fast as the gateway answers)
       [--quiet-wait S]  (wait up to S s for a quiet machine before each run; 600)
       [--profile DIR]   (gateway processes under --cpu-prof; prints their top functions)
       [--door-thread on|off]  (smtp.doorThread: the door in its own thread, the default, or on the SMTP thread)`;

function parseFlags(argv) {
  const f = {
    messages: 10_000,
    sessions: 100,
    latency: [0, 50],
    workers: 1,
    concurrency: 64,
    topology: 'split',
    attachEvery: 5,
    warmup: 300,
    fsync: 'everysec',
    profile: '',
    rate: 0,
    quietWait: 600,
    doorThread: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes('=') ? argv[i].split(/=(.*)/s, 2) : [argv[i], undefined];
    const v = () => inline ?? argv[++i];
    const n = () => {
      const x = Number(v());
      if (!Number.isFinite(x) || x < 0) throw new Error(`${flag} needs a number`);
      return x;
    };
    switch (flag) {
      case '--messages':
        f.messages = n();
        break;
      case '--door-thread': {
        const d = v();
        if (d !== 'on' && d !== 'off') throw new Error('--door-thread takes on or off');
        f.doorThread = d === 'on';
        break;
      }
      case '--sessions':
        f.sessions = n();
        break;
      case '--latency':
        f.latency = v().split(',').map(Number);
        break;
      case '--workers':
        f.workers = n();
        break;
      case '--concurrency':
        f.concurrency = Math.max(1, n());
        break;
      case '--topology':
        f.topology = v();
        break;
      case '--attach-every':
        f.attachEvery = n();
        break;
      case '--warmup':
        f.warmup = n();
        break;
      case '--fsync':
        f.fsync = v();
        break;
      case '--profile':
        f.profile = v();
        break;
      case '--rate':
        f.rate = n();
        break;
      case '--quiet-wait':
        f.quietWait = n();
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

const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

async function runOne(f, latencyMs) {
  const quiet = await waitQuiet(f.quietWait * 1000);
  if (quiet.waitedOut)
    console.log(
      `(warning: the machine is busy with other work: only ${fmt(quiet.idle * 100, 0)} % idle; figures below are disturbed)`,
    );
  const redis = await startRedis({ fsync: f.fsync });
  const double = await startDouble();
  await double.faults({ delayMs: latencyMs });
  const settings = {
    redis: { prefix: 'bench' },
    queue: { concurrency: f.concurrency },
    smtp: {
      connectionRateLimit: { max: 0, windowSeconds: 60 },
      limits: { maxConnectionsPerAddress: 0 },
      doorThread: f.doorThread,
    },
    sirportly: { connections: Math.max(16, f.concurrency * 2) },
    // SPF/DKIM/DMARC would look up DNS for the generated sender domains on every message; the
    // bench has no DNS to measure against, so the worker skips it.
    ...(hasSection('auth') ? { auth: { enabled: false } } : {}),
  };
  const procs = [];
  const { mkdirSync, readdirSync } = await import('node:fs');
  const profDir = f.profile ? `${f.profile}/latency-${latencyMs}` : '';
  if (profDir) mkdirSync(profDir, { recursive: true });
  const nodeArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  if (f.topology === 'all') {
    procs.push(await startGateway({ role: 'all', redis, double, settings, name: 'gateway(all)', nodeArgs }));
  } else {
    procs.push(await startGateway({ role: 'smtp', redis, double, settings, name: 'gateway(smtp)', nodeArgs }));
    for (let w = 0; w < f.workers; w++)
      procs.push(
        await startGateway({
          role: 'worker',
          redis,
          double,
          settings,
          name: `gateway(worker${f.workers > 1 ? w + 1 : ''})`,
          nodeArgs,
        }),
      );
  }
  const smtpPort = procs[0].smtpPort;
  const client = new Redis(redis.url);

  if (f.warmup > 0) {
    const warm = await runLoad({
      port: smtpPort,
      sessions: Math.min(f.sessions, 50),
      messages: f.warmup,
      runId: `w${randomBytes(3).toString('hex')}`,
      attachEvery: f.attachEvery,
    }).result;
    if (f.workers > 0 || f.topology === 'all')
      await waitUntil('warm-up posted', async () => (await double.stats()).posts >= warm.acceptedCount, 120_000);
    await double.reset();
  }
  const memBefore = Number(/used_memory:(\d+)/.exec(await client.info('memory'))[1]);

  const all = [
    ...procs.map((p) => ({ name: p.name, pid: p.child.pid })),
    { name: 'redis-server', pid: redis.child.pid },
    { name: 'sirportly double', pid: double.child.pid },
  ];
  const cpuStart = Object.fromEntries(all.map((p) => [p.name, cpuSeconds(p.pid)]));
  const load = runLoad({
    port: smtpPort,
    sessions: f.sessions,
    messages: f.messages,
    rate: f.rate,
    runId: `r${randomBytes(3).toString('hex')}`,
    attachEvery: f.attachEvery,
  });
  all.push({ name: 'load generator', pid: load.child.pid });
  cpuStart['load generator'] = 0;
  const samples = []; // {t, posts, mem:{name: rss}}
  const t0 = Date.now();
  const sampler = setInterval(async () => {
    const posts = (await double.stats().catch(() => ({ posts: NaN }))).posts;
    const heaps = await Promise.all(
      procs.map(async (p) => [
        p.name,
        metric(await p.metrics().catch(() => ''), 'mailgate_nodejs_heap_size_used_bytes') / 1048576,
      ]),
    );
    samples.push({
      t: (Date.now() - t0) / 1000,
      posts,
      mem: Object.fromEntries(all.map((p) => [p.name, memory(p.pid).rss])),
      heap: Object.fromEntries(heaps),
    });
  }, 1000);
  const busy = idleShare(2000); // sampled while the load runs: how much CPU was left over
  const result = await load.result;
  const atIntakeEnd = { at: Date.now(), posts: (await double.stats()).posts };
  const peaksLoad = memory(load.child.pid).peak;
  const cpuLoad = cpuSeconds(load.child.pid);
  // --workers 0: the door alone, nothing is posted.
  const posting = f.workers > 0 || f.topology === 'all';
  if (posting)
    await waitUntil(
      'every accepted message posted',
      async () => (await double.stats()).posts >= result.acceptedCount,
      600_000,
    );
  clearInterval(sampler);
  const wall = (Date.now() - t0) / 1000;
  const cpu = Object.fromEntries(
    all.map((p) => [p.name, (p.name === 'load generator' ? cpuLoad : cpuSeconds(p.pid)) - cpuStart[p.name]]),
  );
  const stats = await double.stats();
  const memAfter = Number(/used_memory:(\d+)/.exec(await client.info('memory'))[1]);
  const peaks = Object.fromEntries(
    all.map((p) => [p.name, p.name === 'load generator' ? peaksLoad : memory(p.pid).peak]),
  );
  const workerMetrics = await Promise.all(procs.map((p) => p.metrics().catch(() => '')));
  const retries = workerMetrics.reduce((n, m) => n + metric(m, 'mailgate_job_retries_total'), 0);
  const failed = workerMetrics.reduce((n, m) => n + metric(m, 'mailgate_jobs_total', 'outcome="failed"'), 0);
  // The gateway's own view (end of DATA to reply decided, from its histogram): which bucket
  // holds the 50th and 99th percentile. Warm-up included.
  const acceptQuantile = (q) => {
    const buckets = [...workerMetrics[0].matchAll(/^mailgate_accept_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm)].map(
      (m) => [m[1], Number(m[2])],
    );
    const total = buckets.at(-1)?.[1] ?? 0;
    const hit = buckets.find(([, n]) => n >= q * total);
    return hit ? (hit[0] === '+Inf' ? '> 5 s' : `≤ ${Number(hit[0]) * 1000} ms`) : '-';
  };
  const postedPerSecond = stats.posts / ((stats.lastPostAt - result.startedAt) / 1000);

  console.log(
    `\n== Sirportly latency ${latencyMs} ms: ${f.messages} messages, ${f.sessions} sessions${f.rate ? `, paced at ${f.rate} msg/s` : ' (closed loop: each session sends its next message on the 250)'}, topology ${f.topology}${f.topology === 'split' ? ` (1 smtp + ${f.workers} worker process${f.workers > 1 ? 'es' : ''})` : ''}, door ${f.doorThread ? 'in its own thread' : 'on the SMTP thread'}, worker concurrency ${f.concurrency}, 1 in ${f.attachEvery} with an attachment`,
  );
  console.log(
    `accepted        ${result.acceptedCount} of ${f.messages} in ${fmt(result.seconds, 2)} s = ${fmt(result.acceptRate, 0)} msg/s   replies ${JSON.stringify(result.codes)}${Object.keys(result.errors).length ? `  errors ${JSON.stringify(result.errors)}` : ''}`,
  );
  console.log(
    `DATA-end → 250  p50 ${fmt(result.p50Ms, 2)} ms   p99 ${fmt(result.p99Ms, 2)} ms   max ${fmt(result.maxMs, 1)} ms   (target p99 ≤ 25 ms: ${result.p99Ms <= 25 ? 'met' : 'MISSED'})`,
  );
  console.log(
    `gateway's view  mailgate_accept_seconds (door checks + durable store): p50 ${acceptQuantile(0.5)}, p99 ${acceptQuantile(0.99)}`,
  );
  console.log(
    `posted          ${stats.posts} updates (${stats.distinct} distinct, ${stats.duplicates} duplicated, ${result.acceptedCount - stats.distinct} lost), last ${fmt((stats.lastPostAt - result.startedAt) / 1000, 2)} s after the first send = ${fmt(postedPerSecond, 0)} updates/s${latencyMs !== 0 ? '' : f.rate === 0 || f.rate > 400 ? `   (target ≥ 400/s: ${postedPerSecond >= 400 ? 'met' : 'MISSED'})` : `   (paced at ${f.rate} msg/s: no more can be posted than comes in; the ≥ 400/s target is judged flat out)`}`,
  );
  if (posting && stats.lastPostAt > atIntakeEnd.at) {
    const drain = (stats.posts - atIntakeEnd.posts) / ((stats.lastPostAt - atIntakeEnd.at) / 1000);
    console.log(
      `                ${atIntakeEnd.posts} posted while mail was still coming in; the other ${stats.posts - atIntakeEnd.posts} at ${fmt(drain, 0)} updates/s once the SMTP side was idle`,
    );
  }
  console.log(`sirportly calls ${JSON.stringify(stats.calls)}   job retries ${retries}, failed ${failed}`);
  console.log(
    `redis memory    +${fmt((memAfter - memBefore) / 1048576, 1)} MiB after the run = ${fmt((memAfter - memBefore) / f.messages, 0)} bytes per message (raw kept for queue.rawRetentionHours + job record + seen key)`,
  );
  console.log(
    `machine         ${fmt((1 - (await busy)) * 100, 0)} % of both cores busy during the load (all processes, ours and any other)`,
  );
  console.log(
    `CPU (s) over ${fmt(wall, 1)} s  ` +
      Object.entries(cpu)
        .map(([n, v]) => `${n} ${fmt(v, 1)} (${fmt((v * 1000) / f.messages, 2)} ms/msg)`)
        .join(' | '),
  );
  console.log(
    'peak RSS (MiB)  ' +
      Object.entries(peaks)
        .map(([n, v]) => `${n} ${fmt(v, 0)}`)
        .join(' | '),
  );
  // Memory along the run: the samples at about a quarter, half, three quarters and the end.
  const pick = [0.25, 0.5, 0.75, 1]
    .map((q) => samples[Math.min(samples.length - 1, Math.max(0, Math.round(q * samples.length) - 1))])
    .filter(Boolean);
  for (const name of all.map((p) => p.name).filter((n) => n !== 'load generator')) {
    const heap = (s) => (s.heap?.[name] !== undefined ? ` (heap ${fmt(s.heap[name], 0)})` : '');
    console.log(
      `RSS along run   ${name.padEnd(18)} ` +
        pick.map((s) => `${fmt(s.t, 0)}s:${fmt(s.mem[name], 0)}${heap(s)}`).join('  '),
    );
  }

  client.disconnect();
  for (const p of procs) p.child.kill('SIGTERM');
  await Promise.all(procs.map((p) => p.exited));
  await redis.kill('SIGTERM');
  double.child.kill('SIGTERM');
  if (profDir) {
    const { summarise } = await import('./support/cpuprofile-top.mjs');
    for (const file of readdirSync(profDir).filter((x) => x.endsWith('.cpuprofile')))
      console.log(summarise(`${profDir}/${file}`, 15));
  }
  return { latencyMs, result, stats, postedPerSecond, peaks };
}

async function main() {
  const f = parseFlags(process.argv.slice(2));
  console.log(
    `bench/e2e  node ${process.version}  ${(await import('node:os')).cpus().length} CPUs  redis appendfsync ${f.fsync}`,
  );
  console.log(`command: node bench/e2e.mjs ${process.argv.slice(2).join(' ')}`.trim());
  for (const l of f.latency) await runOne(f, l);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
