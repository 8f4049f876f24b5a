// Shared bits of the replay tests: helpers to split in memory, test archives, and (for the corpus
// suite) the corpus location.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { MboxSplitter, type MboxFormat, type MboxItem, type MboxMessage } from '../../src/replay/mbox-reader.js';
import { parseHeaders } from '../../src/mail/headers.js';
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
