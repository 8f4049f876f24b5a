#!/usr/bin/env node
// bench/smtp-intake: SMTP acceptance rate of the gateway against a bare smtp-server sink.
//
//   npm run build && node bench/smtp-intake.mjs [--sessions 300] [--size 12288] [--seconds 20]
//        [--warmup 3] [--messages N] [--runs 1] [--aof] [--profile] [--only bare|gateway]
//        [--max-seconds S] [--keep] [--durability none|fsync|replica]
//
// The same load goes to both targets in one run, one target at a time, each in its own process:
//   bare     bench/support/bare-sink.mjs: smtp-server with the gateway's basic options, onData
//            drains the stream and answers 250;
//   gateway  `node dist/src/cli.js serve --role smtp` (the SMTP door only: no workers, so only
//            acceptance is measured: header verdict + raw bytes and job stored in Redis before 250),
//            against a private redis-server started here (no persistence; --aof: appendonly yes,
//            appendfsync everysec, as in production). Redis is flushed before every gateway run.
//            --durability sets redis.durability: fsync runs Redis with appendonly yes, appendfsync
//            always; replica also starts a replica (same settings) and waits for it to be online.
// The load generator (bench/support/load.mjs) is a third process speaking SMTP over raw sockets.
// Prints msg/s, MB/s, DATA-end→250 latency and errors of each target, and the ratio
// gateway/bare against the target (≥ 0.90). Only loopback addresses are used.
import { spawn, fork, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import {
  existsSync,
  mkdtempSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
  closeSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { summarise } from './support/cpuprofile-top.mjs';
import { cpuSeconds, freePort, machineBusySeconds } from './support/machine.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const CLI = path.join(ROOT, 'dist/src/cli.js');
const HOST = '127.0.0.1';
const TARGET_RATIO = 0.9;

// ---------------------------------------------------------------------------------------------
// Flags

const USAGE = `usage: node bench/smtp-intake.mjs [options]
  --sessions N     parallel SMTP sessions (300)
  --size BYTES     bytes per message (12288)
  --seconds S      measured window per target (20)
  --warmup S       seconds of load before the window, not counted (3)
  --messages N     count mode instead: send exactly N messages per target (warm-up ignored)
  --max-seconds S  hard time limit of one target's load (duration mode: warmup+seconds+30; count mode: 300)
  --runs N         repeat the bare/gateway pair N times, alternating which goes first (1)
  --aof            Redis with appendonly yes, appendfsync everysec (production-like)
  --profile        run both servers under node --cpu-prof and print their top self-time functions
  --only T         measure only "bare" or only "gateway"
  --keep           keep the temporary directory (logs, profiles)
  --node-args 'O'  Node options for the gateway process (e.g. --max-semi-space-size=2; default: none)
  --durability L   redis.durability of the gateway: none (default), fsync (Redis appendfsync always)
                   or replica (also a replica on this machine, WAIT for it)`;

function parseFlags(argv) {
  const f = {
    sessions: 300,
    size: 12288,
    seconds: 20,
    warmup: 3,
    messages: 0,
    maxSeconds: 0,
    runs: 1,
    aof: false,
    profile: false,
    only: '',
    keep: false,
    durability: 'none',
    nodeArgs: [],
  };
  const num = (name, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) usage(`--${name} needs a number, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? a.split(/=(.*)/s, 2) : [a, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--sessions':
        f.sessions = Math.max(1, Math.floor(num('sessions', value())));
        break;
      case '--size':
        f.size = Math.max(1024, Math.floor(num('size', value())));
        break;
      case '--seconds':
        f.seconds = num('seconds', value());
        break;
      case '--warmup':
        f.warmup = num('warmup', value());
        break;
      case '--messages':
        f.messages = Math.floor(num('messages', value()));
        break;
      case '--max-seconds':
        f.maxSeconds = num('max-seconds', value());
        break;
      case '--runs':
        f.runs = Math.max(1, Math.floor(num('runs', value())));
        break;
      case '--aof':
        f.aof = true;
        break;
      case '--profile':
        f.profile = true;
        break;
      case '--keep':
        f.keep = true;
        break;
      case '--durability':
        f.durability = value();
        if (!['none', 'fsync', 'replica'].includes(f.durability)) usage('--durability takes none, fsync or replica');
        break;
      case '--node-args':
        f.nodeArgs = String(value() ?? '')
          .split(/\s+/)
          .filter(Boolean);
        break;
      case '--only':
        f.only = value();
        if (!['bare', 'gateway'].includes(f.only)) usage('--only takes bare or gateway');
        break;
      case '-h':
      case '--help':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        usage(`unknown option ${a}`);
    }
  }
  if (f.messages === 0 && f.seconds <= 0) usage('--seconds must be > 0');
  if (!f.maxSeconds) f.maxSeconds = f.messages > 0 ? 300 : f.warmup + f.seconds + 30;
  return f;
}

function usage(msg) {
  process.stderr.write(`smtp-intake: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tail(file, lines = 20) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Wait for a child to exit, SIGKILL after `ms`. */
async function stopChild(child, ms = 40_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(timer);
}

const children = new Set();
function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
function killAll() {
  for (const c of children) c.kill('SIGKILL');
}
process.on('SIGINT', () => {
  killAll();
  process.exit(130);
});
process.on('exit', killAll);

// ---------------------------------------------------------------------------------------------
// Redis

async function startRedis(dir, aof, { fsyncAlways = false, replicaOf = 0, name = 'redis' } = {}) {
  const port = await freePort();
  const redisDir = path.join(dir, name);
  mkdirSync(redisDir, { recursive: true });
  const args = [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--dir',
    redisDir,
    '--save',
    '',
    '--maxmemory-policy',
    'noeviction',
  ];
  if (fsyncAlways) args.push('--appendonly', 'yes', '--appendfsync', 'always');
  else if (aof) args.push('--appendonly', 'yes', '--appendfsync', 'everysec');
  else args.push('--appendonly', 'no');
  if (replicaOf) args.push('--replicaof', HOST, String(replicaOf));
  const log = openSync(path.join(dir, `${name}.log`), 'a');
  const child = track(spawn('redis-server', args, { stdio: ['ignore', log, log] }));
  closeSync(log);
  child.once('error', (e) => {
    process.stderr.write(`smtp-intake: cannot start redis-server (${e.message}); apt-get install redis-server\n`);
    process.exit(1);
  });
  const url = `redis://${HOST}:${port}`;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  client.on('error', () => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if (client.status !== 'ready') await client.connect().catch(() => undefined);
      if ((await client.ping()) === 'PONG') break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`redis-server did not start:\n${tail(path.join(dir, 'redis.log'))}`);
    await sleep(100);
  }
  const version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? '?';
  return { child, url, client, version };
}

// ---------------------------------------------------------------------------------------------
// Targets

async function startBare(dir, profileDir) {
  const execArgv = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const log = openSync(path.join(dir, 'bare.log'), 'a');
  const child = track(
    fork(path.join(HERE, 'support/bare-sink.mjs'), ['0'], { execArgv, stdio: ['ignore', log, log, 'ipc'] }),
  );
  closeSync(log);
  const [msg] = await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(() => {
      throw new Error(`bare sink exited at start:\n${tail(path.join(dir, 'bare.log'))}`);
    }),
    sleep(15_000).then(() => {
      throw new Error('bare sink did not start within 15 s');
    }),
  ]);
  return {
    pid: child.pid,
    port: msg.port,
    async stop() {
      if (child.connected) child.send({ stop: true });
      await stopChild(child);
    },
  };
}

async function startGateway(dir, redisUrl, prefix, profileDir, durability = 'none', extraNodeArgs = []) {
  const smtpPort = await freePort();
  const httpPort = await freePort();
  const configFile = path.join(dir, `mailgate-${prefix}.yaml`);
  writeFileSync(
    configFile,
    [
      'redis:',
      `  prefix: ${prefix}`,
      'smtp:',
      '  maxClients: 1000',
      // All load comes from 127.0.0.1: the per-IP connection limits (in memory) must not refuse
      // the generator's sessions; the check itself still runs.
      '  connectionRateLimit:',
      '    max: 1000000',
      '  limits:',
      '    maxConnectionsPerAddress: 1000000',
      'recipients:',
      '  domains: ["example.com"]',
      '',
    ].join('\n'),
  );
  const nodeArgs = [...extraNodeArgs, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])];
  const logFile = path.join(dir, `gateway-${prefix}.log`);
  const log = openSync(logFile, 'a');
  const child = track(
    spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--role', 'smtp'], {
      cwd: ROOT,
      stdio: ['ignore', log, log],
      env: {
        ...process.env,
        SMTP_HOST: HOST,
        SMTP_PORT: String(smtpPort),
        HTTP_HOST: HOST,
        HTTP_PORT: String(httpPort),
        REDIS_URL: redisUrl,
        REDIS_DURABILITY: durability,
        LOG_LEVEL: 'warn',
        MAILGATE_CONFIG: configFile,
      },
    }),
  );
  closeSync(log);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`gateway exited at start (code ${child.exitCode}):\n${tail(logFile)}`);
    }
    try {
      const res = await fetch(`http://${HOST}:${httpPort}/readyz`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      await stopChild(child, 2000);
      throw new Error(`gateway /readyz not 200 within 30 s:\n${tail(logFile)}`);
    }
    await sleep(100);
  }
  return {
    pid: child.pid,
    port: smtpPort,
    httpPort,
    logFile,
    async stop() {
      await stopChild(child);
    },
  };
}

/** Run the load generator (its own process) against a port. */
async function runLoad(port, flags, runId) {
  const child = track(
    fork(path.join(HERE, 'support/load.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  child.send({
    start: {
      host: HOST,
      port,
      sessions: flags.sessions,
      size: flags.size,
      seconds: flags.seconds,
      warmup: flags.warmup,
      messages: flags.messages,
      deadlineMs: flags.maxSeconds * 1000,
      runId,
    },
  });
  const guard = sleep((flags.maxSeconds + 30) * 1000).then(() => {
    child.kill('SIGKILL');
    throw new Error('load generator did not finish');
  });
  const [msg] = await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`load generator exited (${code}) without a result`);
    }),
    guard,
  ]);
  await once(child, 'exit').catch(() => undefined);
  if (msg.error) throw new Error(`load generator failed: ${msg.error}`);
  return msg.result;
}

/** Start a target, load it, stop it; with the CPU its process (and Redis) used meanwhile. */
async function measure(kind, ctx, runIndex) {
  const profileDir = ctx.flags.profile ? path.join(ctx.dir, 'profiles', `${kind}-run${runIndex + 1}`) : null;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  let target;
  let prefix = '';
  if (kind === 'bare') {
    target = await startBare(ctx.dir, profileDir);
  } else {
    await ctx.redis.client.flushall();
    prefix = `bench-${randomBytes(4).toString('hex')}`;
    target = await startGateway(ctx.dir, ctx.redis.url, prefix, profileDir, ctx.flags.durability, ctx.flags.nodeArgs);
  }
  const cpu0 = cpuSeconds(target.pid);
  const busy0 = machineBusySeconds();
  const rcpu0 = ctx.redis ? cpuSeconds(ctx.redis.child.pid) : NaN;
  const t0 = performance.now();
  const startUs = Number(process.hrtime.bigint() / 1000n);
  let result;
  let wall;
  let cpu;
  let redisCpu = NaN;
  let otherCpu;
  let stored = null;
  try {
    result = await runLoad(target.port, ctx.flags, `${ctx.runTag}r${runIndex + 1}${kind[0]}`);
    wall = (performance.now() - t0) / 1000;
    cpu = (cpuSeconds(target.pid) - cpu0) / wall;
    const busy = (machineBusySeconds() - busy0) / wall;
    if (kind === 'gateway') redisCpu = (cpuSeconds(ctx.redis.child.pid) - rcpu0) / wall;
    otherCpu = busy - cpu - (Number.isFinite(redisCpu) ? redisCpu : 0) - result.generatorCpu;
    if (kind === 'gateway') {
      // What the gateway stored, before it stops: every 250 should have a raw message and a job.
      const [rawKeys, waiting] = await Promise.all([
        countKeys(ctx.redis.client, `${prefix}:raw:*`),
        ctx.redis.client.llen(`${prefix}:updates:wait`),
      ]);
      stored = { rawKeys, waiting, verdicts: await doorVerdicts(target.httpPort) };
    }
  } finally {
    await target.stop();
  }
  let profile = null;
  if (profileDir) {
    const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
    // Only the samples of the measured window (both clocks are the monotonic clock, in µs).
    const flags = ctx.flags;
    const window =
      flags.messages > 0
        ? null
        : { fromUs: startUs + flags.warmup * 1e6, toUs: startUs + (flags.warmup + flags.seconds) * 1e6 };
    profile = file ? summarise(path.join(profileDir, file), 25, window) : `no .cpuprofile written in ${profileDir}`;
  }
  return {
    kind,
    ...result,
    okTotal: result.acceptedCount,
    errors: problems(result),
    cpu,
    redisCpu,
    otherCpu,
    stored,
    profile,
  };
}

/** What went wrong in one load: every reply other than 250, and connection events. */
function problems(result) {
  const out = Object.fromEntries(Object.entries(result.codes).filter(([code]) => code !== '250'));
  for (const [kind, n] of Object.entries(result.errors)) out[kind] = (out[kind] ?? 0) + n;
  return out;
}

/** mailgate_door_verdicts_total from the gateway's /metrics: what the door decided, by outcome. */
async function doorVerdicts(httpPort) {
  try {
    const res = await fetch(`http://${HOST}:${httpPort}/metrics`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    const out = {};
    for (const m of text.matchAll(/^mailgate_door_verdicts_total\{([^}]*)\} (\S+)$/gm)) {
      const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
      const n = Number(m[2]);
      if (n > 0) out[`${labels.verdict ?? '?'} (${labels.reason ?? '?'})`] = n;
    }
    return out;
  } catch (e) {
    return { [`metrics not readable: ${e.message}`]: 0 };
  }
}

async function countKeys(client, pattern) {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
    cursor = next;
    n += keys.length;
  } while (cursor !== '0');
  return n;
}

// ---------------------------------------------------------------------------------------------
// Output

const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');

function printTable(rows) {
  const header = [
    'target',
    'msg/s',
    'MB/s',
    'p50 ms',
    'p99 ms',
    'max ms',
    'server CPU',
    'redis CPU',
    'generator CPU',
    'other CPU',
    'errors',
  ];
  const body = rows.map((r) => [
    r.kind,
    fmt(r.ok / r.seconds),
    fmt(r.bytes / r.seconds / 1e6, 2),
    fmt(r.p50Ms),
    fmt(r.p99Ms),
    fmt(r.maxMs),
    Number.isFinite(r.cpu) ? `${Math.round(r.cpu * 100)} %` : '-',
    Number.isFinite(r.redisCpu) ? `${Math.round(r.redisCpu * 100)} %` : '-',
    Number.isFinite(r.generatorCpu) ? `${Math.round(r.generatorCpu * 100)} %` : '-',
    Number.isFinite(r.otherCpu) ? `${Math.round(r.otherCpu * 100)} %` : '-',
    String(Object.values(r.errors).reduce((a, b) => a + b, 0)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) =>
    `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')}`;
  console.log(line(header));
  for (const b of body) console.log(line(b));
  for (const r of rows) {
    for (const [kind, n] of Object.entries(r.errors)) console.log(`  ${r.kind} error: ${n} × ${kind}`);
    if (r.timedOut) console.log(`  ${r.kind}: hit the --max-seconds limit; figures cover what finished`);
    if (r.stored) {
      console.log(
        `  ${r.kind}: ${r.ok} counted in the window, ${r.okTotal} answered 250 in all; in Redis: ${r.stored.rawKeys} raw messages, ${r.stored.waiting} jobs waiting`,
      );
      const verdicts = Object.entries(r.stored.verdicts ?? {});
      if (verdicts.length)
        console.log(`  ${r.kind} door verdicts: ${verdicts.map(([k, n]) => `${k} ${n}`).join(', ')}`);
      if (r.stored.rawKeys !== r.okTotal || r.stored.waiting !== r.okTotal) {
        console.log(
          `  WARNING: not every 250 stored a message and a job: the figures do not measure the store path (see the door verdicts)`,
        );
      }
    }
  }
}

function ratioLine(rows) {
  const bare = rows.find((r) => r.kind === 'bare');
  const gw = rows.find((r) => r.kind === 'gateway');
  if (!bare || !gw) return null;
  const ratio = gw.ok / gw.seconds / (bare.ok / bare.seconds);
  console.log(
    `  ratio gateway/bare = ${ratio.toFixed(2)} (target ≥ ${TARGET_RATIO.toFixed(2)}: ${ratio >= TARGET_RATIO ? 'met' : 'not met'})`,
  );
  return ratio;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const flags = parseFlags(process.argv.slice(2));
  if (flags.only !== 'bare' && !existsSync(CLI)) {
    process.stderr.write(`smtp-intake: ${path.relative(process.cwd(), CLI)} not found: run \`npm run build\` first\n`);
    process.exit(2);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailgate-bench-'));
  let nproc = '?';
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    /* not on this system */
  }
  const fsyncAlways = flags.durability !== 'none';
  const redis = flags.only === 'bare' ? null : await startRedis(dir, flags.aof, { fsyncAlways });
  if (redis && flags.durability === 'replica') {
    const port = Number(new URL(redis.url).port);
    const replica = await startRedis(dir, false, { fsyncAlways, replicaOf: port, name: 'replica' });
    const deadline = Date.now() + 30_000;
    while (!/state=online/.test(await redis.client.info('replication'))) {
      if (Date.now() > deadline) throw new Error('the replica did not come online within 30 s');
      await sleep(100);
    }
    replica.client.disconnect();
  }
  const ctx = { flags, dir, redis, runTag: randomBytes(3).toString('hex') };

  console.log('bench/smtp-intake: SMTP acceptance, gateway vs bare smtp-server sink');
  console.log(
    `  node ${process.version}, ${os.cpus().length} CPUs (nproc ${nproc}), ${os.cpus()[0]?.model?.trim() ?? '?'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM`,
  );
  console.log(
    `  load: ${flags.sessions} parallel sessions, ${flags.size} B messages (multipart text + base64 attachment), ` +
      (flags.messages > 0
        ? `${flags.messages} messages per target`
        : `${flags.seconds} s measured after ${flags.warmup} s warm-up`) +
      `, MAIL/RCPT/DATA pipelined, one connection per session`,
  );
  if (flags.only !== 'bare')
    console.log(
      `  gateway: dist/src/cli.js serve --role smtp (SMTP door only, no workers: acceptance = header verdict + raw and job in Redis before 250)` +
        (redis
          ? `; redis ${redis.version} ${fsyncAlways ? 'appendonly yes, appendfsync always' : flags.aof ? 'appendonly yes, appendfsync everysec' : 'without persistence'}${flags.durability === 'replica' ? ' + one replica on this machine' : ''}, durability ${flags.durability}, flushed before each gateway run`
          : '') +
        (flags.nodeArgs.length > 0 ? `; node ${flags.nodeArgs.join(' ')}` : ''),
    );
  console.log(
    '  generator, sink, gateway and redis are separate processes sharing this machine\'s CPUs; CPU columns: cores used over the whole load (100 % = one core); "other" = machine busy time minus these processes (kernel interrupts, and anything else running: high values mean a noisy measurement)',
  );
  if (flags.profile)
    console.log(
      '  --profile: servers run under --cpu-prof, which slows them; rates are not comparable to unprofiled runs',
    );

  const ratios = [];
  const all = [];
  let failed = false;
  try {
    for (let i = 0; i < flags.runs; i++) {
      let order = i % 2 === 0 ? ['bare', 'gateway'] : ['gateway', 'bare'];
      if (flags.only) order = [flags.only];
      console.log(`\nrun ${i + 1}/${flags.runs} (order: ${order.join(' then ')})`);
      const rows = [];
      for (const kind of order) rows.push(await measure(kind, ctx, i));
      rows.sort((a, b) => (a.kind === 'bare' ? -1 : 1) - (b.kind === 'bare' ? -1 : 1));
      printTable(rows);
      const r = ratioLine(rows);
      if (r !== null) ratios.push(r);
      all.push(...rows);
      for (const row of rows) if (row.profile) console.log(`\n${row.kind} ${row.profile}`);
    }
    if (flags.runs > 1) {
      console.log('\nsummary');
      for (const kind of ['bare', 'gateway']) {
        const rates = all.filter((r) => r.kind === kind).map((r) => r.ok / r.seconds);
        if (rates.length) console.log(`  ${kind.padEnd(7)} msg/s per run: ${rates.map((x) => fmt(x)).join(', ')}`);
      }
      if (ratios.length) {
        const sorted = [...ratios].sort((a, b) => a - b);
        const median = sorted[Math.floor(sorted.length / 2)];
        console.log(
          `  ratio per run: ${ratios.map((r) => r.toFixed(2)).join(', ')}; median ${median.toFixed(2)} (target ≥ ${TARGET_RATIO.toFixed(2)}: ${median >= TARGET_RATIO ? 'met' : 'not met'})`,
        );
      }
    }
  } catch (err) {
    failed = true;
    if (redis && (redis.child.exitCode !== null || redis.child.signalCode !== null)) {
      process.stderr.write(
        `smtp-intake: the private redis-server exited during the run (code ${redis.child.exitCode}, signal ${redis.child.signalCode}); its log:\n` +
          `${tail(path.join(dir, 'redis.log'))}\n`,
      );
    }
    throw err;
  } finally {
    if (redis) {
      redis.client.disconnect();
      await stopChild(redis.child, 10_000);
    }
    if (failed) console.log(`\nlogs kept in ${dir}`);
    else if (flags.keep || flags.profile) console.log(`\nlogs${flags.profile ? ' and profiles' : ''} kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`smtp-intake: ${err.stack ?? err}\n`);
  killAll();
  process.exit(1);
});
