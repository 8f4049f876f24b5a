// Processes for bench/e2e.mjs and bench/chaos.mjs: a private redis-server, the Sirportly double,
// `mailgate serve --role …` from dist/, and the SMTP load generator. Loopback only; everything
// started here is stopped by stopAll().
import { spawn, fork } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './machine.mjs';

export { cpuSeconds, freePort, memory } from './machine.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
export const CLI = path.join(ROOT, 'dist/src/cli.js');
const HOST = '127.0.0.1';

const started = new Set();
export const workdir = mkdtempSync(path.join(os.tmpdir(), 'mailgate-e2e-chaos-'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

const canConnect = (port) =>
  new Promise((r) => {
    const s = net.connect(port, HOST);
    s.once('connect', () => (s.destroy(), r(true)));
    s.once('error', () => r(false));
  });

function cpuTimes() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { idle: f[3] + f[4], total: f.reduce((a, b) => a + b, 0) };
}

/** Share of the machine's CPU that was idle over `ms`. */
export async function idleShare(ms = 1000) {
  const a = cpuTimes();
  await sleep(ms);
  const b = cpuTimes();
  return (b.idle - a.idle) / Math.max(1, b.total - a.total);
}

/**
 * Other sessions share this machine: wait (up to maxMs) until it has been at least 85 % idle for
 * three seconds in a row, so the figures are ours. Returns the idle share seen last.
 */
export async function waitQuiet(maxMs = 180_000) {
  const end = Date.now() + maxMs;
  let streak = 0;
  let idle = 0;
  while (Date.now() < end) {
    idle = await idleShare(1000);
    streak = idle >= 0.85 ? streak + 1 : 0;
    if (streak >= 3) return { idle, waitedOut: false };
  }
  return { idle, waitedOut: true };
}

/** redis-server with AOF as production runs it; fsync: "everysec" (production) or "always". */
export async function startRedis({ fsync = 'everysec', port } = {}) {
  const p = port ?? (await freePort());
  const dir = path.join(workdir, `redis-${p}`);
  // fsync "off": no AOF at all (only to find out what persistence costs; never in production).
  const aof = fsync === 'off' ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', fsync];
  const args = [
    '--port',
    String(p),
    '--bind',
    HOST,
    '--dir',
    dir,
    '--save',
    '',
    ...aof,
    '--maxmemory-policy',
    'noeviction',
  ];
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  const r = {
    port: p,
    url: `redis://${HOST}:${p}`,
    child: null,
    async start() {
      r.child = spawn('redis-server', args, { stdio: 'ignore' });
      started.add(r.child);
      await until('redis', () => canConnect(p));
    },
    async kill(signal = 'SIGKILL') {
      const c = r.child;
      if (!c || c.exitCode !== null) return;
      await new Promise((res) => {
        c.once('exit', res);
        c.kill(signal);
      });
      started.delete(c);
    },
  };
  await r.start();
  return r;
}

/** The Sirportly double in its own process (bench/support/sirportly-double.mjs). */
export async function startDouble() {
  const child = spawn(process.execPath, [path.join(HERE, 'sirportly-double.mjs')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  started.add(child);
  const { url, token, secret, control } = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(JSON.parse(d.toString())));
    child.once('exit', (c) => reject(new Error(`double exited ${c}`)));
  });
  const post = (what, body) => fetch(`${control}/${what}`, { method: 'POST', body: JSON.stringify(body) });
  return {
    child,
    url,
    token,
    secret,
    /** Sets the double's faults (its own names) and `seed` for their draws. */
    faults: (f) => post('faults', f).then((r) => r.json()),
    stats: (subjects = false) => fetch(`${control}/stats${subjects ? '?subjects' : ''}`).then((r) => r.json()),
    reset: () => post('reset', {}),
  };
}

/** Settings the benches change, as a YAML overlay. Keys the schema does not know are left out. */
function overlay(settings) {
  const lines = [];
  for (const [section, values] of Object.entries(settings)) {
    lines.push(`${section}:`);
    for (const [k, v] of Object.entries(values)) {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        lines.push(`  ${k}:`);
        for (const [k2, v2] of Object.entries(v)) lines.push(`    ${k2}: ${JSON.stringify(v2)}`);
      } else lines.push(`  ${k}: ${JSON.stringify(v)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Whether config/default.yaml has this top-level section (the schema is strict). */
export function hasSection(name) {
  return new RegExp(`^${name}:`, 'm').test(readFileSync(path.join(ROOT, 'config/default.yaml'), 'utf8'));
}

/**
 * `mailgate serve --role ROLE` with its own SMTP and HTTP ports (or the given SMTP port, so a
 * restarted gateway takes over the address the load generator uses).
 */
export async function startGateway({
  role,
  redis,
  double,
  settings = {},
  smtpPort,
  name = role,
  logLevel = 'warn',
  wait = true,
  nodeArgs = [],
}) {
  if (!existsSync(CLI)) throw new Error('dist/ is missing: run `npm run build` first');
  const cfg = path.join(workdir, `${name}-${Date.now()}.yaml`);
  writeFileSync(cfg, overlay(settings));
  const smtp = smtpPort ?? (await freePort());
  const http = await freePort();
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--role', role], {
    env: {
      PATH: process.env.PATH ?? '',
      MAILGATE_CONFIG: cfg,
      REDIS_URL: redis.url,
      SIRPORTLY_URL: double.url,
      SIRPORTLY_TOKEN: double.token,
      SIRPORTLY_SECRET: double.secret,
      SMTP_HOST: HOST,
      SMTP_PORT: String(smtp),
      HTTP_HOST: HOST,
      HTTP_PORT: String(http),
      LOG_LEVEL: logLevel,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  let log = '';
  child.stdout.on('data', (d) => (log += d.toString()));
  child.stderr.on('data', (d) => (log += d.toString()));
  const exited = new Promise((r) => child.on('exit', (code, signal) => (started.delete(child), r({ code, signal }))));
  const gw = {
    name,
    role,
    child,
    smtpPort: smtp,
    httpPort: http,
    exited,
    log: () => log,
    count: (msg) => log.split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).length,
    metrics: () => fetch(`http://${HOST}:${http}/metrics`).then((r) => r.text()),
  };
  if (wait) {
    await until(`${name} ready`, async () => {
      if (child.exitCode !== null) throw new Error(`${name} exited ${child.exitCode}:\n${log}`);
      return (await fetch(`http://${HOST}:${http}/readyz`).catch(() => null))?.status === 200;
    });
  }
  return gw;
}

export { metric } from './prom-text.mjs';

/** Run the load generator in its own process; resolves with its result. */
export function runLoad(options) {
  const child = fork(path.join(HERE, 'load.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  started.add(child);
  const result = new Promise((resolve, reject) => {
    child.once('message', (m) => (m.error ? reject(new Error(m.error)) : resolve(m.result)));
    child.once('exit', (code) => {
      started.delete(child);
      if (code !== 0) reject(new Error(`load generator exited ${code}`));
    });
  });
  child.send({ start: { host: HOST, ...options } });
  return { child, result };
}

export async function waitUntil(what, fn, ms) {
  return until(what, fn, ms);
}

export async function stopAll() {
  for (const c of started) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  started.clear();
  rmSync(workdir, { recursive: true, force: true });
}

// Interrupted (Ctrl-C, timeout): take every process started here along, and only those.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopAll().finally(() => process.exit(130));
  });
}

process.on('exit', () => {
  for (const c of started) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});
