#!/usr/bin/env node
// bench/replay-anchors: reference points for `replay --dry-run` (CPython's mailbox+email, and
// mailparser alone with its text conversions on and off), measured on the same archive and machine
// as it, so its figure can be read against them (bench/README.md gives the figures). A machine's
// speed varies from hour to hour by a quarter or more, and an archive of larger messages gives
// every parser fewer messages a second, so the absolute figures only compare within one run of this.
//
//   npm run build && node bench/replay.mjs --only dry --dir /tmp/bench-100m   # builds the archive
//   node bench/replay-anchors.mjs [--mbox /tmp/bench-100m/archive-100mb.mbox] [--rounds 3] [--only a,b]
//
// Each measure is a process of its own, timed from start to exit, on one thread (but -2t), reading the mbox
// itself; the rounds alternate the measures, and the best round of each is printed:
//   cpython         python3: mailbox.mbox + email (policy.default), every part's content read
//   mailparser      simpleParser with its defaults (text conversions on), one message at a time
//   mailparser-bare simpleParser without the text conversions (skipHtmlToText, skipTextToHtml,
//                   skipImageLinks, skipTextLinks)
//   mailparser-bare-2t  the same on two worker threads (this thread reads): what both cores
//                   give a parse that does nothing else
//   replay          `mailgate replay --dry-run` with the defaults (what bench/replay times)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { archiveMessages } from './support/archive-messages.mjs';

const HERE = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(HERE), '..');

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};

// ---------------------------------------------------------------------------------------------
// A measure, run in its own process: `node bench/replay-anchors.mjs --measure NAME MBOX`.

/** Every message of the mbox, read by replay's own reader (">From " unquoted), one at a time. */
async function* messagesOf(mbox) {
  const archive = await archiveMessages(mbox, 64 * 1024 * 1024);
  if (archive === null) throw new Error(`no mail at ${mbox}`);
  for await (const { raw } of archive) yield raw;
}

async function measureMailparser(mbox, bare) {
  const { simpleParser } = await import('mailparser');
  const options = bare ? { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true } : {};
  let n = 0;
  for await (const raw of messagesOf(mbox)) {
    // A message mailparser cannot read still counts: the time went into trying.
    await simpleParser(raw, options).catch(() => undefined);
    n++;
  }
  process.stdout.write(`${n}\n`);
}

/**
 * The same parse on two threads: this one reads and hands each message to the worker with the
 * fewest in hand (at most 8 each), the two workers parse. Tells what a second core gives a parse
 * that does nothing else.
 */
async function measureMailparserThreads(mbox, threads) {
  const { Worker } = await import('node:worker_threads');
  const src = `
    const { parentPort } = require('node:worker_threads');
    const { simpleParser } = require(${JSON.stringify(path.join(ROOT, 'node_modules/mailparser'))});
    const options = { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true };
    parentPort.on('message', (raw) => {
      simpleParser(Buffer.from(raw), options).catch(() => undefined).then(() => parentPort.postMessage(1));
    });`;
  const workers = Array.from({ length: threads }, () => ({ w: new Worker(src, { eval: true }), busy: 0 }));
  let n = 0;
  let wake = null;
  for (const slot of workers) {
    slot.w.on('message', () => {
      slot.busy--;
      n++;
      wake?.();
    });
  }
  const idle = () => new Promise((r) => (wake = r));
  for await (const raw of messagesOf(mbox)) {
    let slot = workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    while (slot.busy >= 8) {
      await idle();
      slot = workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    }
    slot.busy++;
    const copy = new Uint8Array(raw);
    slot.w.postMessage(copy, [copy.buffer]);
  }
  while (workers.some((s) => s.busy > 0)) await idle();
  await Promise.all(workers.map((s) => s.w.terminate()));
  process.stdout.write(`${n}\n`);
}

const CPYTHON = `
import mailbox, sys
from email import policy
from email.parser import BytesParser
parser = BytesParser(policy=policy.default)
n = 0
box = mailbox.mbox(sys.argv[1], create=False)
for key in box.iterkeys():
    msg = parser.parsebytes(box.get_bytes(key))
    for part in msg.walk():
        if part.is_multipart():
            continue
        try:
            part.get_content()
        except Exception:
            pass
    n += 1
print(n)
`;

const measure = flag('--measure', '');
if (measure) {
  const mbox = args[args.indexOf('--measure') + 2];
  if (measure === 'mailparser') await measureMailparser(mbox, false);
  else if (measure === 'mailparser-bare') await measureMailparser(mbox, true);
  else if (measure === 'mailparser-bare-2t') await measureMailparserThreads(mbox, 2);
  else throw new Error(`unknown measure ${measure}`);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// The driver.

if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(
    'usage: node bench/replay-anchors.mjs [--mbox FILE] [--rounds N] [--only cpython,mailparser,mailparser-bare,mailparser-bare-2t,replay]\n',
  );
  process.exit(0);
}
const mbox = flag('--mbox', '/tmp/bench-100m/archive-100mb.mbox');
const rounds = Number(flag('--rounds', '3'));
const only = flag('--only', '').split(',').filter(Boolean);
if (!existsSync(mbox)) {
  process.stderr.write(
    `replay-anchors: no archive at ${mbox}; build it with: node bench/replay.mjs --only dry --dir ${path.dirname(mbox)}\n`,
  );
  process.exit(2);
}
if (!existsSync(path.join(ROOT, 'dist/src/cli.js'))) {
  process.stderr.write('replay-anchors: run npm run build first\n');
  process.exit(2);
}

const MEASURES = {
  cpython: ['python3', ['-c', CPYTHON, mbox]],
  mailparser: [process.execPath, [HERE, '--measure', 'mailparser', mbox]],
  'mailparser-bare': [process.execPath, [HERE, '--measure', 'mailparser-bare', mbox]],
  'mailparser-bare-2t': [process.execPath, [HERE, '--measure', 'mailparser-bare-2t', mbox]],
  replay: [process.execPath, [path.join(ROOT, 'dist/src/cli.js'), 'replay', '--dry-run', mbox]],
};

/** Wall seconds from start to exit, and the messages the measure says it read. */
async function run(name) {
  const [cmd, argv] = MEASURES[name];
  const started = process.hrtime.bigint();
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let lines = 0;
  child.stdout.on('data', (d) => {
    if (name === 'replay') {
      for (let i = d.indexOf(10); i !== -1; i = d.indexOf(10, i + 1)) lines++;
    } else out += d;
  });
  child.stderr.on('data', (d) => (err += d));
  const [code] = await once(child, 'exit');
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // replay exits 1 when a message is rejected (the archive holds a few without a reference).
  if (name === 'replay' ? code > 1 : code !== 0) throw new Error(`${name} exited ${code}: ${err.slice(-2000)}`);
  return { seconds, messages: name === 'replay' ? lines : Number(out.trim()) };
}

const names = Object.keys(MEASURES).filter((m) => only.length === 0 || only.includes(m));
process.stdout.write(
  `replay-anchors: node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${mbox}, best of ${rounds} alternating rounds\n`,
);
const best = new Map();
for (let r = 1; r <= rounds; r++) {
  for (const name of names) {
    const res = await run(name);
    const rate = res.messages / res.seconds;
    process.stdout.write(
      `  round ${r} ${name.padEnd(16)} ${res.messages} messages in ${res.seconds.toFixed(2)} s = ${Math.round(rate)} msg/s\n`,
    );
    if (!best.has(name) || rate > best.get(name).rate) best.set(name, { ...res, rate });
  }
}
process.stdout.write('best:\n');
for (const name of names) {
  const b = best.get(name);
  process.stdout.write(
    `  ${name.padEnd(16)} ${Math.round(b.rate).toLocaleString('en-US').padStart(6)} msg/s (${b.seconds.toFixed(2)} s)\n`,
  );
}
const bare = best.get('mailparser-bare');
const replay = best.get('replay');
if (bare && replay) {
  process.stdout.write(
    `replay --dry-run / mailparser without conversions: ${(replay.rate / bare.rate).toFixed(2)} ` +
      `(a target of 1,500 msg/s against a ~1,130 msg/s anchor is 1.33)\n`,
  );
}
