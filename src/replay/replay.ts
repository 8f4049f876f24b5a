// src/replay feeds archives to the gateway: archive/ reads them message by message, dry-run/
// drafts them without Redis; the rest drives a run (command, into Redis, conversations, memory).
//
// `mailgate replay`: archives through the same door verdict, durable accept and idempotency key
// as SMTP (ingest()), minus the SMTP replies. Running it twice posts nothing new: the second run
// meets every message in the seen index and counts it a duplicate; an interrupted run started
// again goes on the same way. It never floods Redis: a bounded number of messages is in flight,
// and reading pauses while too many jobs wait for the workers or Redis nears its maxmemory.
import type { Config } from '../config/schema.js';
import { EXIT } from '../exit-codes.js';
import type { Logger } from '../log.js';
import { printable } from '../mail/clean.js';
import type { DateFilter, DryRunLine, DryRunOutput } from './dry-run/dry-run-task.js';
import { DryRunPool } from './dry-run/dry-run-pool.js';
import { MemoryGovernor, tightHeapGrowth } from './memory.js';
import type { MboxFormat } from './archive/mbox-reader.js';
import { readMessages, type ReadEvents, type ReplayItem } from './archive/messages.js';
import { ProgressBar, type ProgressStream } from './progress.js';
import { discover } from './archive/sources.js';
import { Summary } from './summary.js';
import { ArchiveThreads, type ThreadClaim } from './conversations.js';

export interface ReplayOptions {
  paths: string[];
  dryRun: boolean;
  format: 'auto' | MboxFormat;
  since: Date | null;
  until: Date | null;
  json: boolean;
  /** Aborted (Ctrl-C): no further message is read; what is in flight finishes; the summary says so. */
  signal?: AbortSignal;
}

export interface OutStream {
  write(chunk: string): boolean;
  once(event: 'drain', listener: () => void): unknown;
}

export interface ReplayIO {
  stdout: OutStream;
  stderr: ProgressStream;
}

export interface ReplayResult {
  exitCode: number;
  summary: Summary | null;
}

/** --dry-run: messages drafted but not yet printed, at most. */
const MAX_UNPRINTED = 256;
/**
 * --dry-run: how much (%) a heap may grow past what survived the last full collection. Chosen on
 * bench/replay for the least CPU at the lowest peak RSS (bench/README.md, "Memory"); letting V8
 * collect early this way is cheaper than full collections forced from outside for the same peak.
 */
const DRY_RUN_HEAP_GROWTH_PERCENT = 40;
/** --dry-run: characters of JSON lines gathered into one write to stdout, at most (one line may be longer). */
const OUTPUT_CHUNK = 64 * 1024;

async function write(out: OutStream, text: string): Promise<void> {
  if (!out.write(text)) await new Promise<void>((r) => out.once('drain', r));
}

export async function runReplay(opts: ReplayOptions, config: Config, log: Logger, io: ReplayIO): Promise<ReplayResult> {
  const found = await discover(opts.paths);
  if (found.problems.length > 0) {
    for (const p of found.problems) io.stderr.write(`mailgate: replay: ${printable(p)}\n`);
    return { exitCode: found.unreadable ? EXIT.NO_INPUT : EXIT.DATA, summary: null };
  }
  for (const w of found.warnings.slice(0, 20)) io.stderr.write(`mailgate: replay: warning: ${w}\n`);
  if (found.warnings.length > 20)
    io.stderr.write(
      `mailgate: replay: warning: … and ${found.warnings.length - 20} more links pointing outside the given paths, none read\n`,
    );
  const summary = new Summary(opts.dryRun);
  summary.files = found.sources.length;
  summary.skippedFiles.push(...found.skipped);
  const totalBytes = found.sources.reduce((n, s) => n + s.size, 0);
  const progress = new ProgressBar(io.stderr, totalBytes);
  const filter: DateFilter = { since: opts.since?.getTime() ?? null, until: opts.until?.getTime() ?? null };

  const events: ReadEvents = {
    format(path, format, why) {
      summary.formats.push({ path, format, why });
      if (why && !opts.json && progress.enabled) progress.log(`replay: ${printable(path)}: read as ${format} (${why})`);
    },
    bytes(total) {
      summary.bytes = total;
    },
    junk(path, offset, size) {
      summary.record(
        'skipped',
        'not_mail',
        { path, index: 0, message_id: null, subject: null, ticket: null, detail: `${size} bytes at offset ${offset}` },
        false,
      );
    },
    fileError(path, message) {
      summary.record(
        'rejected',
        'read_error',
        { path, index: 0, message_id: null, subject: null, ticket: null, detail: message },
        false,
      );
    },
  };
  const interrupted = () => {
    summary.stopped ??=
      'interrupted: run the same command again to go on (what was already queued counts as duplicate)';
  };
  const messages = untilAborted(
    readMessages(found.sources, { format: opts.format, maxMessageBytes: config.smtp.maxMessageBytes }, events),
    opts.signal,
    interrupted,
  );

  // A dry run drafts on this thread too: its young generation churns, so the governor watches the
  // old generation and the Buffers (read chunks, messages, output) instead. The old generation is
  // kept small by tightHeapGrowth (dryRun()); the full collection here is only a backstop.
  const governor = (
    opts.dryRun
      ? new MemoryGovernor(100, 64 * 1024 * 1024, { excludeYoung: true, youngBytes: 8 * 1024 * 1024 })
      : new MemoryGovernor()
  ).start();
  try {
    if (opts.dryRun) await dryRun(messages, config, filter, io, summary, progress);
    else {
      const { intoRedis } = await import('./into-redis.js');
      const ok = await intoRedis(messages, config, log, filter, summary, progress, opts.signal, interrupted);
      if (!ok) return { exitCode: EXIT.UNAVAILABLE, summary: null };
    }
  } finally {
    governor.stop();
    progress.done();
  }
  const text = opts.json ? `${JSON.stringify(summary.toJSON(), null, 2)}\n` : summary.render();
  // With --dry-run stdout carries the JSON lines, so the summary goes to stderr.
  if (opts.dryRun) io.stderr.write(text);
  else await write(io.stdout, text);
  return { exitCode: summary.exitCode(), summary };
}

/** The messages until the signal is aborted. */
async function* untilAborted<T>(
  source: AsyncGenerator<T>,
  signal: AbortSignal | undefined,
  onAbort: () => void,
): AsyncGenerator<T> {
  for await (const item of source) {
    if (signal?.aborted) {
      onAbort();
      return;
    }
    yield item;
  }
}

// ---------------------------------------------------------------------------------------------
// --dry-run: drafted on all cores, printed in input order.

/** Rewrites a dry-run line whose message joins the ticket of an earlier one of its thread. */
function threadLine(out: DryRunOutput, claim: ThreadClaim): void {
  if (claim.sameTicketAs === undefined || out.line === null) return;
  const v = claim.verdict;
  const line = JSON.parse(out.line) as DryRunLine;
  line.verdict = v.verdict;
  line.reason = v.reason;
  line.idempotency_key = v.idempotencyKey;
  line.new_ticket = null;
  line.same_ticket_as = claim.sameTicketAs;
  if (line.update) line.update.ticket = v.ticket;
  out.line = JSON.stringify(line);
  out.reason = v.reason;
  out.example.ticket = v.ticket;
}

async function dryRun(
  messages: AsyncIterable<ReplayItem>,
  config: Config,
  filter: DateFilter,
  io: ReplayIO,
  summary: Summary,
  progress: ProgressBar,
): Promise<void> {
  // Set before the workers start, so that their heaps grow the same way.
  const restoreHeapGrowth = tightHeapGrowth(DRY_RUN_HEAP_GROWTH_PERCENT);
  let pool: DryRunPool;
  try {
    pool = DryRunPool.create(config, filter, config.replay.dryRunThreads);
  } catch (err) {
    restoreHeapGrowth();
    throw err;
  }
  const threads = new ArchiveThreads();
  // Finished lines wait here until every earlier one is printed: one slow message must not
  // leave the other threads idle, so up to MAX_UNPRINTED messages may be ahead of the oldest.
  const done = new Map<number, DryRunOutput>();
  let next = 0;
  let unprinted = 0;
  let events = 0;
  let wake: (() => void) | null = null;
  const signal = () => {
    events++;
    wake?.();
    wake = null;
  };
  const event = () =>
    events > 0
      ? ((events = 0), Promise.resolve())
      : new Promise<void>((r) => {
          wake = () => {
            events = 0;
            r();
          };
        });
  const flush = async () => {
    // The lines ready in order go out in one write (up to OUTPUT_CHUNK), not one write each.
    let text = '';
    for (let out = done.get(next); out !== undefined; out = done.get(next)) {
      done.delete(next);
      next++;
      unprinted--;
      if (out.thread) threadLine(out, threads.claim(out.thread.verdict, out.thread.facts));
      if (out.line !== null) {
        text += `${out.line}\n`;
        if (text.length >= OUTPUT_CHUNK) {
          await write(io.stdout, text);
          text = '';
        }
      }
      summary.record(out.outcome, out.reason, out.example);
    }
    if (text !== '') await write(io.stdout, text);
    progress.update(summary.messages, summary.bytes);
  };
  try {
    for await (const item of messages) {
      while (unprinted >= MAX_UNPRINTED || !pool.hasRoom()) {
        await event();
        await flush();
      }
      unprinted++;
      void pool
        .run({
          seq: item.seq,
          path: item.path,
          index: item.index,
          raw: item.raw,
          size: item.size,
          fromLine: item.fromLine,
          deliveredAt: item.deliveredAt?.getTime() ?? null,
        })
        .catch((err: Error): DryRunOutput => ({
          seq: item.seq,
          line: null,
          outcome: 'rejected',
          reason: 'internal_error',
          example: {
            path: item.path,
            index: item.index,
            message_id: null,
            subject: null,
            ticket: null,
            detail: err.message,
          },
        }))
        .then((out) => {
          done.set(out.seq, out);
          signal();
        });
    }
    while (unprinted > 0) {
      await flush();
      if (unprinted > 0) await event();
    }
  } finally {
    await pool.close();
    restoreHeapGrowth();
  }
}
