#!/usr/bin/env node
// bench/failover: the Redis primary SIGKILLed under steady SMTP load, with Sentinel and
// redis.durability replica. Counts exactly-once among the messages answered 250 and measures
// how long the door answered 4xx and how many messages that delayed.
//
//   npm run build && node bench/failover.mjs [--messages 1500] [--sessions 20] [--rate 100]
//        [--replicas 1] [--restart-after 0]
//
// Started here, as real processes on loopback: a primary and --replicas replicas (redis-server,
// appendonly yes, appendfsync always), three redis-sentinels (down-after-milliseconds 1000), the
// Sirportly double and `mailgate serve` (all roles) with redis.sentinels, durability replica
// (redis.replicas 1, replicaTimeoutMs 500). Senders behave like MTAs: a 4xx is tried again.
// Once 30 % of the messages are posted the primary gets SIGKILL; once the sentinels name a new
// primary, the old one is started again --restart-after seconds later (it rejoins as a replica).
// With one replica the door answers 451 until then: the new primary has no replica to confirm.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  freePort,
  runLoad,
  startDouble,
  startGateway,
  stopAll,
  waitQuiet,
  waitUntil,
  workdir,
} from './support/e2e-procs.mjs';

const HOST = '127.0.0.1';
const NAME = 'mailgate';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (n, d = 1) => n.toFixed(d);

function parseFlags(argv) {
  const f = { messages: 1500, sessions: 20, rate: 100, replicas: 1, restartAfter: 0 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes('=') ? argv[i].split(/=(.*)/s, 2) : [argv[i], undefined];
    const v = () => Number(inline ?? argv[++i]);
    switch (flag) {
      case '--messages':
        f.messages = v();
        break;
      case '--sessions':
        f.sessions = v();
        break;
      case '--rate':
        f.rate = v();
        break;
      case '--replicas':
        f.replicas = Math.max(1, v());
        break;
      case '--restart-after':
        f.restartAfter = v();
        break;
      case '-h':
      case '--help':
        console.log(
          'usage: node bench/failover.mjs [--messages N] [--sessions N] [--rate N] [--replicas N] [--restart-after S]',
        );
        process.exit(0);
        break;
      default:
        console.error(`unknown option ${flag}`);
        process.exit(2);
    }
  }
  return f;
}

const mine = new Set();
function own(child) {
  mine.add(child);
  child.once('exit', () => mine.delete(child));
  return child;
}

async function answers(port) {
  const c = new Redis(port, HOST, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return c;
  } catch {
    c.disconnect();
    return null;
  }
}

function redisServer(port, replicaOf) {
  const dir = path.join(workdir, `redis-${port}`);
  mkdirSync(dir, { recursive: true });
  const args = [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
    '--maxmemory-policy',
    'noeviction',
  ];
  if (replicaOf) args.push('--replicaof', HOST, String(replicaOf));
  const s = {
    port,
    child: null,
    async start() {
      s.child = own(spawn('redis-server', args, { stdio: 'ignore' }));
      await waitUntil(
        `redis ${port}`,
        async () => {
          const c = await answers(port);
          c?.disconnect();
          return c !== null;
        },
        20_000,
      );
    },
    async kill() {
      const c = s.child;
      if (!c || c.exitCode !== null) return;
      await new Promise((r) => {
        c.once('exit', r);
        c.kill('SIGKILL');
      });
    },
  };
  return s;
}

async function sentinel(primaryPort) {
  const port = await freePort();
  const dir = path.join(workdir, `sentinel-${port}`);
  mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    `port ${port}\nbind ${HOST}\ndir ${dir}\nsentinel monitor ${NAME} ${HOST} ${primaryPort} 2\nsentinel down-after-milliseconds ${NAME} 1000\nsentinel failover-timeout ${NAME} 10000\n`,
  );
  own(spawn('redis-sentinel', [conf], { stdio: 'ignore' }));
  await waitUntil(
    `sentinel ${port}`,
    async () => {
      const c = await answers(port);
      c?.disconnect();
      return c !== null;
    },
    20_000,
  );
  return port;
}

async function primaryPort(sentinelPort) {
  const c = await answers(sentinelPort);
  if (!c) return 0;
  try {
    const a = await c.call('SENTINEL', 'get-master-addr-by-name', NAME);
    return Number(a?.[1] ?? 0);
  } finally {
    c.disconnect();
  }
}

async function onlineReplicas(port) {
  const c = await answers(port);
  if (!c) return -1;
  try {
    return ((await c.info('replication')).match(/state=online/g) ?? []).length;
  } finally {
    c.disconnect();
  }
}

async function main() {
  const f = parseFlags(process.argv.slice(2));
  console.log(`bench/failover  node ${process.version}, ${new Date().toISOString()}`);
  console.log(`command: node bench/failover.mjs ${process.argv.slice(2).join(' ')}`.trim());
  const quiet = await waitQuiet(20_000);
  console.log(
    `machine         ${quiet.waitedOut ? 'busy (did not settle within 20 s; figures are noisy)' : 'quiet'}, idle share ${fmt(quiet.idle * 100, 0)} %`,
  );
  const primary = redisServer(await freePort());
  await primary.start();
  const servers = [primary];
  for (let i = 0; i < f.replicas; i++) {
    const r = redisServer(await freePort(), primary.port);
    await r.start();
    servers.push(r);
  }
  await waitUntil('replicas online', async () => (await onlineReplicas(primary.port)) >= f.replicas, 30_000);
  const sentinels = [];
  for (let i = 0; i < 3; i++) sentinels.push(await sentinel(primary.port));
  await waitUntil(
    'sentinels to know each other',
    async () => {
      const c = await answers(sentinels[0]);
      if (!c) return false;
      try {
        const m = await c.call('SENTINEL', 'master', NAME);
        return (
          Number(m[m.indexOf('num-other-sentinels') + 1]) >= 2 && Number(m[m.indexOf('num-slaves') + 1]) >= f.replicas
        );
      } finally {
        c.disconnect();
      }
    },
    30_000,
  );

  const double = await startDouble();
  const settings = {
    redis: {
      prefix: 'failover',
      durability: 'replica',
      replicas: 1,
      replicaTimeoutMs: 500,
      sentinels: sentinels.map((p) => `${HOST}:${p}`),
      sentinelName: NAME,
    },
    smtp: { connectionRateLimit: { max: 0, windowSeconds: 60 }, acceptTimeoutMs: 2000 },
    queue: { concurrency: 16, lockDurationMs: 3000, backoffInitialMs: 200, backoffMaxMs: 2000, workerNiceness: 0 },
    sirportly: { requestTimeoutMs: 2000 },
  };
  // With Sentinel the URL's host is not used.
  const gw = await startGateway({
    role: 'all',
    redis: { url: 'redis://unused.invalid:6379' },
    double,
    settings,
    name: 'gateway',
    logLevel: 'info',
  });
  const durability = gw
    .log()
    .split('\n')
    .find((l) => l.includes('"msg":"redis durability"'));
  console.log(`durability      ${durability ? JSON.parse(durability).means : 'not logged'}`);

  const started = Date.now();
  const load = runLoad({
    port: gw.smtpPort,
    sessions: f.sessions,
    messages: f.messages,
    rate: f.rate,
    retry: true,
    retryDelayMs: 300,
    reconnectDelayMs: 300,
    deadlineMs: 240_000,
    returnAccepted: true,
    runId: `failover-${randomBytes(3).toString('hex')}`,
  });
  const chaos = (async () => {
    await waitUntil('30 % posted', async () => (await double.stats()).posts >= f.messages * 0.3, 120_000);
    const old = servers.find((s) => s.port === primary.port);
    const killedAt = Date.now();
    await old.kill();
    await waitUntil(
      'a new primary',
      async () => {
        const p = await primaryPort(sentinels[0]);
        return p !== 0 && p !== old.port;
      },
      60_000,
    );
    const electedAt = Date.now();
    await sleep(f.restartAfter * 1000);
    await old.start();
    const restartedAt = Date.now();
    return { killedAt, electedAt, restartedAt };
  })();
  const [times, result] = await Promise.all([chaos, load.result]);

  let stats = await double.stats(true);
  const accepted = new Set(result.accepted);
  await waitUntil(
    'every accepted message posted',
    async () => {
      stats = await double.stats(true);
      return [...accepted].every((s) => stats.perSubject[s] >= 1);
    },
    180_000,
  ).catch(() => undefined);
  await sleep(1500);
  stats = await double.stats(true);
  const lost = [...accepted].filter((s) => !(stats.perSubject[s] >= 1)).length;
  const duplicated = Object.values(stats.perSubject).filter((n) => n > 1).length;

  // The door's 4xx answers, from its log: when, and for how many distinct messages.
  const tempfails = gw
    .log()
    .split('\n')
    .filter((l) => l.includes('"msg":"door verdict"') && l.includes('"verdict":"tempfail"'))
    .map((l) => JSON.parse(l));
  const at = tempfails.map((l) => Date.parse(l.time)).filter((t) => t >= times.killedAt);
  const delayed = new Set(tempfails.map((l) => l.messageId)).size;
  const rel = (t) => `${fmt((t - times.killedAt) / 1000, 2)} s`;
  console.log(
    `load            ${f.messages} messages, ${f.sessions} sessions at ${f.rate} msg/s, ${f.replicas} replica(s)`,
  );
  console.log(`replies         ${JSON.stringify(result.codes)}`);
  console.log(`accepted (250)  ${accepted.size} of ${f.messages}`);
  console.log(
    `posted          ${Object.keys(stats.perSubject).length} distinct, ${duplicated} duplicated, ${lost} lost (answered 250, never posted)`,
  );
  console.log(
    `failover        primary SIGKILL at ${fmt((times.killedAt - started) / 1000, 1)} s; new primary named after ${rel(times.electedAt)}; old primary restarted at ${rel(times.restartedAt)}`,
  );
  console.log(
    `door 4xx        ${at.length ? `from ${rel(at[0])} to ${rel(at.at(-1))} after the kill` : 'none'} (${tempfails.length} tempfail answers, all causes); ${delayed} messages delayed (answered 4xx at least once)`,
  );
  const ok = lost === 0 && duplicated === 0 && accepted.size === f.messages;
  console.log(`verdict         ${ok ? 'OK' : 'FAILED'}`);
  process.exitCode = ok ? 0 : 1;
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const c of mine) c.kill('SIGKILL');
    await stopAll();
  });
