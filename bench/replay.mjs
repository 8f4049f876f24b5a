#!/usr/bin/env node
// bench/replay: how fast `mailgate replay` reads a large archive, and how much memory it needs.
//
//   npm run build && node bench/replay.mjs [--size-mb 100] [--only dry|redis] [--threads N]
//        [--aof] [--profile] [--keep] [--dir DIR]
//
// 1. Builds an mbox (mboxrd) of at least --size-mb MB in a temporary directory from the mail of
//    ../shared/corpus: every message and every message of every mbox there, over and over, each
//    copy with its own Message-ID and a ticket reference put in its Subject, so that every message
//    that is not machine mail gets the full draft (MIME parse, sanitising, HTML to text).
// 2. Times `mailgate replay --dry-run` on it (stdout to /dev/null): the draft of every message, on
//    the cores (replay.dryRunThreads: one fewer than the cores by default, or --threads).
// 3. Times a real `mailgate replay` of it into a private redis-server (no workers: the jobs stay
//    queued, so replay.maxWaitingJobs is raised for the run), then counts what is in Redis.
// Prints messages, MB, seconds, msg/s, MB/s and the peak RSS of each run (the process's own
// maxRSS, worker threads included), against the targets: dry-run ≥ 1,500 msg/s, peak RSS ≤ 200 MB.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  closeSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { freePort } from './support/machine.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const CLI = path.join(ROOT, 'dist/src/cli.js');
const CORPUS = path.resolve(ROOT, '../shared/corpus');
const HOST = '127.0.0.1';
const TARGET_RATE = 1500;
const TARGET_RSS_MB = 200;

const USAGE = `usage: node bench/replay.mjs [options]
  --size-mb N    size of the generated mbox in MB (100; 1024 for the 1 GB run)
  --only WHAT    run only "dry" (replay --dry-run) or only "redis" (replay into Redis)
  --threads N    dry-run drafting threads; the main thread reads and prints only (default: replay.dryRunThreads = cores - 1, at least 1)
  --aof          Redis with appendonly yes, appendfsync everysec (production-like)
  --profile      run the dry-run under node --cpu-prof and print the top functions per thread
  --dir DIR      build the archive in DIR (kept) instead of a temporary directory
  --keep         keep the temporary directory`;

function parseFlags(argv) {
  const f = { sizeMb: 100, only: '', threads: 0, aof: false, profile: false, keep: false, dir: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--size-mb') f.sizeMb = Number(next());
    else if (a === '--only') f.only = next();
    else if (a === '--threads') f.threads = Number(next());
    else if (a === '--aof') f.aof = true;
    else if (a === '--profile') f.profile = true;
    else if (a === '--keep') f.keep = true;
    else if (a === '--dir') f.dir = next();
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else usage(`unknown option ${a}`);
  }
  if (!(f.sizeMb > 0)) usage('--size-mb must be a positive number');
  if (f.only && f.only !== 'dry' && f.only !== 'redis') usage('--only takes dry or redis');
  return f;
}

function usage(msg) {
  process.stderr.write(`replay bench: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const n = (x) => Math.round(x).toLocaleString('en-US');

// ---------------------------------------------------------------------------------------------
// The archive

function* walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

/** Every message of the corpus, as bytes without a From_ line. */
async function corpusMessages() {
  if (!existsSync(CORPUS)) {
    process.stderr.write(`replay bench: corpus not found at ${CORPUS}\n`);
    process.exit(1);
  }
  const { MboxSplitter, canStartMessage } = await import(path.join(ROOT, 'dist/src/replay/archive/mbox-reader.js'));
  const out = [];
  // A "message" without a header block (a digest's body, cpython msg_19.txt) cannot be told from
  // the previous message's body in an mbox: left out so that every message written is read back.
  const add = (raw) => {
    const lf = raw.indexOf(0x0a);
    if (canStartMessage(raw, 0, lf === -1 ? raw.length : lf + 1)) out.push(raw);
  };
  for (const file of walk(CORPUS)) {
    const name = path.basename(file);
    if (/\.(tnef|md)$/i.test(name) || name.startsWith('.')) continue;
    const data = readFileSync(file);
    if (/\.mbox(\.txt)?$/i.test(name)) {
      const s = new MboxSplitter({ format: 'mboxrd', maxMessageBytes: 64 * 1024 * 1024 });
      for (const m of [...s.push(data), ...s.end()]) if (m.kind === 'message') add(m.raw);
    } else {
      const lf = data.indexOf(0x0a);
      add(data.subarray(0, 5).toString('latin1') === 'From ' && lf > 0 ? data.subarray(lf + 1) : data);
    }
  }
  return out;
}

const REFS = ['GJ-060309', 'OC-820409', 'AB-123456'];

/** One copy of a message: own Message-ID, a reference in the Subject, mboxrd-quoted. */
function variant(raw, copy, i) {
  let text = raw.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  let head = end === -1 ? text : text.slice(0, end);
  const body = end === -1 ? '' : text.slice(end);
  const eol = head.includes('\r\n') ? '\r\n' : '\n';
  const id = `<bench-${copy}-${i}@bench.invalid>`;
  // Mailing-list mail says "Precedence: bulk", which the door drops as machine mail: removed, so
  // that list messages are drafted like mail sent to the helpdesk directly.
  head = head.replace(/^precedence:.*(\r?\n[ \t].*)*(\r?\n|$)/gim, '');
  head = /^message-id:/im.test(head)
    ? head.replace(/^message-id:.*(\r?\n[ \t].*)*/im, `Message-ID: ${id}`)
    : `Message-ID: ${id}${eol}${head}`;
  const ref = REFS[i % REFS.length];
  head = /^subject:/im.test(head)
    ? head.replace(/^subject:[ \t]*/im, `Subject: [${ref}] `)
    : `Subject: [${ref}] bench${eol}${head}`;
  text = head + body;
  if (!text.endsWith('\n')) text += eol;
  return Buffer.from(
    `From bench@example.com Mon Jan  1 00:00:00 2024\n${text.replace(/^(>*From )/gm, '>$1')}\n`,
    'latin1',
  );
}

async function buildArchive(file, sizeMb) {
  const messages = await corpusMessages();
  const target = sizeMb * 1e6;
  const ws = createWriteStream(file);
  let bytes = 0;
  let count = 0;
  for (let copy = 0; bytes < target; copy++) {
    for (let i = 0; i < messages.length && bytes < target; i++) {
      const v = variant(messages[i], copy, i);
      bytes += v.length;
      count++;
      if (!ws.write(v)) await once(ws, 'drain');
    }
  }
  ws.end();
  await once(ws, 'finish');
  return { bytes, count, corpus: messages.length };
}

// ---------------------------------------------------------------------------------------------
// Runs

async function startRedis(dir, aof) {
  const port = await freePort();
  const redisDir = path.join(dir, 'redis');
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
  if (aof) args.push('--appendonly', 'yes', '--appendfsync', 'everysec');
  else args.push('--appendonly', 'no');
  const log = openSync(path.join(dir, 'redis.log'), 'a');
  const child = spawn('redis-server', args, { stdio: ['ignore', log, log] });
  closeSync(log);
  child.once('error', (e) => {
    process.stderr.write(`replay bench: cannot start redis-server (${e.message}); apt-get install redis-server\n`);
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
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await sleep(100);
  }
  return { child, url, client };
}

/** Run the CLI; resolves with exit code, wall seconds, the JSON summary and stderr. */
async function runCli(args, env, { stdoutFile = '/dev/null', summaryOn = 'stdout', nodeArgs = [] } = {}) {
  const out = openSync(stdoutFile, 'w');
  const loadBefore = os.loadavg()[0].toFixed(2);
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [...nodeArgs, CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', summaryOn === 'stdout' ? 'pipe' : out, 'pipe'],
  });
  closeSync(out);
  const threads = watchThreads(child.pid);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const [code] = await once(child, 'exit');
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  threads.stop();
  const text = summaryOn === 'stdout' ? stdout : stderr;
  const at = text.indexOf('{\n');
  let summary = null;
  try {
    summary = JSON.parse(text.slice(at));
  } catch {
    /* printed below */
  }
  return { code, seconds, summary, stderr, load: [loadBefore, os.loadavg()[0].toFixed(2)], threads: threads.cpu };
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/**
 * CPU seconds per thread of a running process, read from /proc every 100 ms (Linux only; the
 * last 100 ms of a thread are missed). All threads are named "node": the main thread is the one
 * whose id is the process id, the rest are worker threads and V8's compiler and GC helpers.
 */
function watchThreads(parent) {
  const cpu = new Map();
  // `mailgate replay` runs in a child of the process started (src/cli.ts): that child is the
  // replay; the parent only waits, and its own peak RSS is reported beside.
  let pid = parent;
  let wrapperKb = 0;
  const sample = () => {
    try {
      const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${parent}/status`, 'latin1'));
      if (hwm) wrapperKb = Math.max(wrapperKb, Number(hwm[1]));
      const kids = readFileSync(`/proc/${parent}/task/${parent}/children`, 'latin1')
        .trim()
        .split(/\s+/)
        .filter(Boolean);
      if (kids.length === 1) pid = Number(kids[0]);
    } catch {
      /* gone */
    }
    let tids;
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      return;
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        cpu.set(Number(tid), (Number(f[11]) + Number(f[12])) / CLOCK_TICKS);
      } catch {
        /* the thread ended */
      }
    }
  };
  const timer = setInterval(sample, 100);
  return {
    cpu: { main: 0, others: [], wrapperMb: 0, child: false },
    stop() {
      clearInterval(timer);
      this.cpu.wrapperMb = Math.round(wrapperKb / 1024);
      this.cpu.child = pid !== parent;
      this.cpu.main = cpu.get(pid) ?? 0;
      this.cpu.others = [...cpu]
        .filter(([tid]) => tid !== pid)
        .map(([, s]) => s)
        .filter((s) => s >= 0.05)
        .sort((a, b) => b - a);
    },
  };
}

function report(label, r, archive) {
  if (!r.summary) {
    process.stdout.write(`${label}: no summary (exit ${r.code})\n${r.stderr.slice(-2000)}\n`);
    return;
  }
  const s = r.summary;
  const rate = s.messages / r.seconds;
  const verdicts = [
    `accepted ${n(s.accepted)}`,
    s.dry_run ? null : `duplicates ${n(s.duplicates)}`,
    `dropped ${n(s.dropped.total)}`,
    `rejected ${n(s.rejected.total)} (${
      Object.entries(s.rejected.reasons)
        .map(([k, v]) => `${k} ${v.count}`)
        .join(', ') || '-'
    })`,
  ].filter(Boolean);
  process.stdout.write(
    `${label}: ${n(s.messages)} messages, ${(archive.bytes / 1e6).toFixed(1)} MB in ${r.seconds.toFixed(1)} s (wall, process start to exit) = ` +
      `${n(rate)} msg/s, ${(archive.bytes / 1e6 / r.seconds).toFixed(1)} MB/s; peak RSS ${s.peak_rss_mb} MB` +
      (r.threads.child
        ? ` (the replay process; the mailgate process that started it: ${r.threads.wrapperMb} MB)`
        : '') +
      `; exit ${r.code}\n` +
      `  CPU ${s.cpu_seconds.toFixed(1)} s, all threads (${((s.cpu_seconds * 1000) / s.messages).toFixed(2)} ms per message); ` +
      `load average ${r.load[0]} before, ${r.load[1]} after\n` +
      (r.threads.main > 0
        ? `  CPU by thread (sampled): main ${r.threads.main.toFixed(1)} s, others ${r.threads.others.map((x) => x.toFixed(1)).join(' + ')} s ` +
          `(a drafting worker is the largest of them; the rest are V8's compiler and GC helper threads)\n`
        : '') +
      `  ${verdicts.join('; ')}\n`,
  );
  return { rate, rss: s.peak_rss_mb };
}

async function profileSummary(dir) {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) return;
  const { summarise } = await import('./support/cpuprofile-top.mjs');
  for (const f of files) process.stdout.write(`\n--- profile ${f}\n${summarise(path.join(dir, f), 15)}\n`);
}

async function main() {
  const flags = parseFlags(process.argv.slice(2));
  if (!existsSync(CLI)) usage('dist/ is missing: run npm run build first');
  const dir = flags.dir || mkdtempSync(path.join(os.tmpdir(), 'mailgate-replay-bench-'));
  mkdirSync(dir, { recursive: true });
  const archiveFile = path.join(dir, `archive-${flags.sizeMb}mb.mbox`);
  const cleanup = [];
  try {
    const load = os.loadavg()[0];
    if (load > 0.5)
      process.stdout.write(
        `replay bench: WARNING: load average ${load.toFixed(2)}: other work is running, wall-clock figures will be low\n`,
      );
    process.stdout.write(
      `replay bench: node ${process.version}, ${os.availableParallelism()} CPUs (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM\n`,
    );
    let archive;
    const meta = `${archiveFile}.json`;
    if (existsSync(archiveFile) && existsSync(meta)) {
      archive = JSON.parse(readFileSync(meta, 'utf8'));
      process.stdout.write(`archive: reusing ${archiveFile}\n`);
    } else {
      const t = Date.now();
      archive = await buildArchive(archiveFile, flags.sizeMb);
      writeFileSync(meta, JSON.stringify(archive));
      process.stdout.write(`archive: built in ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
    }
    process.stdout.write(
      `archive: ${archiveFile}: ${n(archive.count)} messages, ${(statSync(archiveFile).size / 1e6).toFixed(1)} MB ` +
        `(copies of the ${n(archive.corpus)} corpus messages, each with its own Message-ID and a ticket reference)\n`,
    );

    const cfg = path.join(dir, 'bench.yaml');
    const results = {};
    if (flags.only !== 'redis') {
      const overlay = [`log:\n  level: warn`, `replay:\n  dryRunThreads: ${flags.threads}`].join('\n');
      writeFileSync(cfg, `${overlay}\n`);
      const profDir = path.join(dir, 'profile');
      const nodeArgs = flags.profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
      const r = await runCli(
        ['replay', '--dry-run', '--json', archiveFile],
        { MAILGATE_CONFIG: cfg },
        { summaryOn: 'stderr', nodeArgs },
      );
      results.dry = report(
        `replay --dry-run (${flags.threads || Math.max(1, os.availableParallelism() - 1)} drafting thread(s))`,
        r,
        archive,
      );
      if (flags.profile) await profileSummary(profDir);
    }
    if (flags.only !== 'dry') {
      const redis = await startRedis(dir, flags.aof);
      cleanup.push(() => {
        redis.client.disconnect();
        redis.child.kill('SIGKILL');
      });
      writeFileSync(cfg, `log:\n  level: warn\nredis:\n  url: ${redis.url}\nreplay:\n  maxWaitingJobs: 100000000\n`);
      const r = await runCli(['replay', '--json', archiveFile], { MAILGATE_CONFIG: cfg, REDIS_URL: redis.url });
      results.redis = report(`replay into Redis${flags.aof ? ' (AOF everysec)' : ''}`, r, archive);
      const info = await redis.client.info('memory');
      const used = Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0);
      const waiting = await redis.client.llen('mailgate:updates:wait');
      process.stdout.write(
        `  Redis afterwards: ${n(waiting)} jobs waiting, used_memory ${(used / 1e6).toFixed(1)} MB\n`,
      );
    }
    process.stdout.write('\ntargets:\n');
    if (results.dry) {
      process.stdout.write(
        `  dry-run ≥ ${n(TARGET_RATE)} msg/s: ${n(results.dry.rate)} msg/s → ${results.dry.rate >= TARGET_RATE ? 'met' : 'NOT met'}\n`,
      );
      process.stdout.write(
        `  dry-run peak RSS ≤ ${TARGET_RSS_MB} MB: ${results.dry.rss} MB → ${results.dry.rss <= TARGET_RSS_MB ? 'met' : 'NOT met'}\n`,
      );
    }
    if (results.redis) {
      process.stdout.write(
        `  replay peak RSS ≤ ${TARGET_RSS_MB} MB: ${results.redis.rss} MB → ${results.redis.rss <= TARGET_RSS_MB ? 'met' : 'NOT met'}\n`,
      );
    }
  } finally {
    for (const c of cleanup) c();
    if (!flags.keep && !flags.dir) rmSync(dir, { recursive: true, force: true });
    else process.stdout.write(`kept ${dir}\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`replay bench: ${err.stack ?? err}\n`);
  process.exit(1);
});
