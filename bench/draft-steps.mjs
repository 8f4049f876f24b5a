#!/usr/bin/env node
// bench/draft-steps: what each step of drafting one message costs, warm, on one thread.
//
//   npm run build && node bench/replay.mjs --only dry --dir /tmp/bench-100m   # builds the archive
//   node --max-semi-space-size=16 bench/draft-steps.mjs [--mbox /tmp/bench-100m/archive-100mb.mbox] [--messages 2500] [--steps a,b]
//
// Takes the first --messages messages of an mbox (by default the one bench/replay builds), read by
// replay's own reader, and times each step of `replay --dry-run`'s work on all of them, four
// rounds, printing the best round in µs per message. Steps measured alone run on inputs prepared beforehand (the header block, the envelope,
// mailparser's result), so each figure is that step only; `dryRunOne` is the whole message.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(ROOT, 'dist/src', p));

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write('usage: node bench/draft-steps.mjs [--mbox FILE] [--messages N] [--steps a,b,...]\n');
  process.exit(0);
}
const mbox = flag('--mbox', '/tmp/bench-100m/archive-100mb.mbox');
const count = Number(flag('--messages', '2500'));
const only = flag('--steps', '').split(',').filter(Boolean);

const { loadConfig } = await dist('config/load.js');
const { parseHeaders } = await dist('mail/headers.js');
const { verdictFromHeaders } = await dist('mail/door/verdict.js');
const { replayEnvelope } = await dist('replay/archive/envelope.js');
const { threadFacts } = await dist('replay/conversations.js');
const { restorePartSeparators } = await dist('mail/repair.js');
const { parseMessage } = await dist('mail/draft/parse.js');
const { messageParts } = await dist('mail/draft/parts.js');
const { sanitiseHtml } = await dist('mail/draft/sanitize.js');
const { composeBody } = await dist('mail/draft/body.js');
const { postedAt } = await dist('mail/date.js');
const { authorOf } = await dist('mail/author.js');
const { draft } = await dist('mail/draft/draft.js');
const { dryRunOne } = await dist('replay/dry-run/dry-run-task.js');

const { archiveMessages } = await import('./support/archive-messages.mjs');

const config = loadConfig({});
const archive = await archiveMessages(mbox, config.smtp.maxMessageBytes);
/** draft()'s limits on the parse, so that the step is the one a draft takes. */
const parseLimits = { maxDecodedBytes: config.draft.maxDecodedBytes, maxMimeParts: config.draft.maxMimeParts };
if (archive === null) {
  process.stderr.write(
    `draft-steps: no mail at ${mbox}; build the archive with: node bench/replay.mjs --only dry --dir ${path.dirname(mbox)}\n`,
  );
  process.exit(2);
}
// Read by replay's own reader, so each message is the bytes replay drafts (">From " unquoted).
const messages = [];
for await (const m of archive) {
  messages.push(m);
  if (messages.length >= count) break;
}

const now = new Date();
const filter = { since: null, until: null };
const prepared = [];
for (const m of messages) {
  const headers = parseHeaders(m.raw);
  const envelope = replayEnvelope(m.raw, { fromLine: m.fromLine }, now, headers);
  const parsed = await parseMessage(restorePartSeparators(m.raw), 30_000, parseLimits);
  prepared.push({ ...m, headers, envelope, parts: messageParts(parsed, m.raw), parsed });
}

const steps = {
  'header read': (p) => parseHeaders(p.raw),
  envelope: (p) => replayEnvelope(p.raw, { fromLine: p.fromLine }, now, p.headers),
  verdict: (p) => verdictFromHeaders(p.headers, p.raw, p.envelope, config),
  'thread key': (p) => threadFacts(p.headers, p.raw),
  'part separators': (p) => restorePartSeparators(p.raw),
  'mailparser parse': (p) => parseMessage(p.raw, 30_000, parseLimits),
  'message parts': (p) => messageParts(p.parsed, p.raw),
  sanitise: (p) => (p.parts.html !== undefined ? sanitiseHtml(p.parts.html) : null),
  'compose body': (p) =>
    composeBody({
      ...(p.parts.text !== undefined ? { text: p.parts.text } : {}),
      ...(p.parts.html !== undefined ? { html: p.parts.html } : {}),
      attachmentCount: 0,
      stripQuoted: config.replies.stripQuoted,
    }),
  posted_at: (p) => postedAt(p.headers.getRaw('date'), p.envelope.receivedAt, { live: false }),
  author: (p) => authorOf(p.headers, p.envelope.mailFrom),
  'draft (all of it)': (p) => draft(p.raw, p.envelope, config, 'AB-123456'),
  dryRunOne: (p, i) =>
    dryRunOne(
      { seq: i, path: mbox, index: i, raw: p.raw, size: p.raw.length, fromLine: p.fromLine, deliveredAt: null },
      config,
      filter,
    ),
};

process.stdout.write(
  `draft-steps: node ${process.version}, ${prepared.length} messages of ${mbox}, best of 4 rounds\n`,
);
for (const [name, step] of Object.entries(steps)) {
  if (only.length > 0 && !only.includes(name)) continue;
  let best = Infinity;
  for (let round = 0; round < 4; round++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < prepared.length; i++) {
      const r = step(prepared[i], i);
      if (r instanceof Promise) await r;
    }
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e3 / prepared.length);
  }
  process.stdout.write(`  ${name.padEnd(18)} ${best.toFixed(1).padStart(7)} µs per message\n`);
}
