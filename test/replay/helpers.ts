// Shared bits of the replay tests: helpers to split in memory, test archives, and (for the corpus
// suite) the corpus location.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { doorKeys } from '../../src/ticket-index/door-keys.js';
import { createLogger } from '../../src/log.js';
import {
  MboxSplitter,
  type MboxFormat,
  type MboxItem,
  type MboxMessage,
} from '../../src/replay/archive/mbox-reader.js';
import { parseHeaders } from '../../src/mail/headers.js';
import { normaliseMessageId } from '../../src/mail/door/idempotency.js';
import { runReplay, type ReplayOptions } from '../../src/replay/replay.js';
import { LogSink, waitFor, type Double, type Harness } from '../support/harness.js';
import { fromLineOf, listMonth } from '../support/list-month.js';

export { corpusFile, corpusRoot as CORPUS, repoRoot as REPO_ROOT } from '../support/corpus.js';

/** Split a whole buffer, fed in chunks of the given sizes (cycled), to exercise chunk edges. */
export function split(data: Buffer, format: MboxFormat, opts: { chunks?: number[]; max?: number } = {}): MboxItem[] {
  const splitter = new MboxSplitter({ format, maxMessageBytes: opts.max ?? 64 * 1024 * 1024 });
  const items: MboxItem[] = [];
  const sizes = opts.chunks ?? [data.length || 1];
  let pos = 0;
  let k = 0;
  while (pos < data.length) {
    const n = Math.max(1, sizes[k++ % sizes.length]!);
    items.push(...splitter.push(data.subarray(pos, pos + n)));
    pos += n;
  }
  items.push(...splitter.end());
  return items;
}

export function messagesOf(items: MboxItem[]): MboxMessage[] {
  return items.filter((i): i is MboxMessage => i.kind === 'message');
}

export function bodyOf(raw: Buffer): Buffer {
  return raw.subarray(parseHeaders(raw).bounds.bodyStart);
}

export function messageIdOf(raw: Buffer): string | undefined {
  return parseHeaders(raw).getRaw('message-id');
}

export interface TestArchive {
  path: string;
  /** The marker put in each message's Subject, in order. */
  markers: string[];
}

/**
 * An mboxrd archive of a made-up list month (test/support/list-month.ts) with a ticket reference
 * and a unique marker put in each Subject, so each update can be traced to its message. The same
 * message for another ticket is another update: `refShift` gives each message another ticket.
 */
export function buildArchive(dir: string, count: number, tag: string, refShift = 0): TestArchive {
  const refs = ['GJ-060309', 'OC-820409', 'AB-123456'];
  const source = listMonth(count);
  const markers: string[] = [];
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const m = source[i]!;
    const marker = `${tag}-${i}`;
    markers.push(marker);
    // List mail carries "Precedence: bulk", which the door drops as machine mail: these are to
    // be posted, as if each had been sent to the helpdesk directly.
    const text = m.raw
      .toString('latin1')
      .replace(/^Precedence:.*\n/im, '')
      .replace(/^Subject:[ \t]*/im, `Subject: [${refs[(i + refShift) % refs.length]}] (${marker}) `);
    parts.push(Buffer.from(`${fromLineOf(i)}\n${text.replace(/^(>*From )/gm, '>$1')}\n`, 'latin1'));
  }
  const path = resolve(dir, `${tag}.mbox`);
  writeFileSync(path, Buffer.concat(parts));
  return { path, markers };
}

/** A stand-in for process.stdout / stderr that keeps what is written. */
export class Capture {
  text = '';
  isTTY = false;
  write(s: string): boolean {
    this.text += s;
    return true;
  }
  once(): this {
    return this;
  }
}

/** `mailgate replay` in this process, its JSON summary captured as stdout. */
export async function replay(paths: string[], config: Config, extra: Partial<ReplayOptions> = {}) {
  const stdout = new Capture();
  const stderr = new Capture();
  const opts: ReplayOptions = { paths, dryRun: false, format: 'auto', since: null, until: null, json: true, ...extra };
  const result = await runReplay(opts, config, createLogger('warn', new LogSink()), { stdout, stderr });
  return { ...result, stdout: stdout.text };
}

/** mboxrd: a From_ line per message, body lines starting with (>*)From quoted. */
export function mbox(messages: Buffer[]): Buffer {
  const parts = messages.map((m) => {
    const text = m
      .toString('latin1')
      .replace(/\r\n/g, '\n')
      .replace(/^(>*From )/gm, '>$1');
    return `From sender@example.net Wed May  1 12:00:00 2024\n${text}${text.endsWith('\n') ? '' : '\n'}\n`;
  });
  return Buffer.from(parts.join(''), 'latin1');
}

/**
 * Replays a list month (`source`, written to `path`) into workers that open tickets for mail
 * without a reference: every reply must land on the ticket of the message it answers, and
 * threads, not messages, open tickets.
 */
export async function expectRepliesOnTheirThreadsTicket(
  source: Array<{ raw: Buffer }>,
  path: string,
  { double, workers, redis }: { double: Double; workers: Harness; redis: Redis },
): Promise<void> {
  // A list archive carries "Precedence: bulk" on every message, and machine mail never opens a
  // ticket: take it out, as an export of a person's mailbox would look.
  const personal = (raw: Buffer) => {
    const end = parseHeaders(raw).bounds.bodyStart;
    const head = raw
      .subarray(0, end)
      .toString('latin1')
      .replace(/^Precedence:.*\r?\n/gim, '');
    return Buffer.concat([Buffer.from(head, 'latin1'), raw.subarray(end)]);
  };
  writeFileSync(path, mbox(source.map((m) => personal(m.raw))));
  const before = double.state.submissions().length;
  const r = await replay([path], workers.config);
  expect(r.exitCode).toBe(0);
  const summary = JSON.parse(r.stdout) as { accepted: number };
  expect(summary.accepted).toBeGreaterThan(60);

  const k = doorKeys(workers.config.redis.prefix);
  const ids = source.map((m) => normaliseMessageId(parseHeaders(m.raw).getRaw('message-id')));
  // The worker records each posted Message-ID against its ticket: read the outcome from there.
  const ticketOf = async (id: string | null) => (id === null ? null : redis.get(k.thread(id)));
  await waitFor(
    'every accepted message posted',
    async () => (await Promise.all(ids.map(ticketOf))).filter(Boolean).length >= summary.accepted,
    30_000,
  );

  let replies = 0;
  for (const m of source) {
    const h = parseHeaders(m.raw);
    const parent = normaliseMessageId(h.getRaw('in-reply-to'));
    const own = normaliseMessageId(h.getRaw('message-id'));
    if (!parent || !ids.includes(parent)) continue;
    const [mine, theirs] = [await ticketOf(own), await ticketOf(parent)];
    if (!mine || !theirs) continue;
    replies++;
    expect(mine, `${own} answers ${parent}`).toBe(theirs);
  }
  expect(replies).toBeGreaterThan(10);
  // Far fewer tickets than messages: threads, not messages, open tickets.
  const opened = double.state.submissions().length - before;
  expect(opened).toBeGreaterThan(0);
  expect(opened).toBeLessThan(summary.accepted - replies / 2);
}
