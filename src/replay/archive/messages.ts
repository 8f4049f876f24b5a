// src/replay/archive reads what `replay` is given: mbox variants (gzip too), .eml files, maildirs.
//
// Every message under the sources, one at a time, in order: mbox files are streamed through the
// splitter (gunzipped on the way when needed), single messages are read whole unless they are
// over the size limit. Nothing larger than one message (or the 1 MiB format sample) is held.
import { createReadStream, type ReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createGunzip, type Gunzip } from 'node:zlib';
import { DETECT_SAMPLE_BYTES, detectFormat } from './detect.js';
import { lineEnd } from './line-scanner.js';
import { MboxSplitter, type MboxFormat } from './mbox-reader.js';
import type { Source } from './sources.js';

export interface ReplayItem {
  /** 0-based position in the whole run. */
  seq: number;
  path: string;
  /** 1-based position in its file. */
  index: number;
  /** The message, or null when it was over the size limit and not read. */
  raw: Buffer | null;
  size: number;
  fromLine: string | null;
  deliveredAt: Date | null;
  truncated: boolean;
}

export interface ReadEvents {
  /** The format an mbox file is read in, and why (empty when given with --format). */
  format(path: string, format: MboxFormat, why: string): void;
  /** Bytes of the sources read so far (on disk: compressed bytes for .gz). */
  bytes(total: number): void;
  /** Bytes before the first From line that are not mail. */
  junk(path: string, offset: number, size: number): void;
  /** A file that could not be read to its end. */
  fileError(path: string, message: string): void;
}

export interface ReadOptions {
  format: 'auto' | MboxFormat;
  maxMessageBytes: number;
}

const CHUNK = 256 * 1024;

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}: ${e.message}` : e.message;
}

/** A .eml file may start with the From_ line of the mbox it was cut from. */
function splitLeadingFromLine(raw: Buffer): { raw: Buffer; fromLine: string | null } {
  const start = raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? 3 : 0;
  if (raw.toString('latin1', start, start + 5) !== 'From ') return { raw, fromLine: null };
  const end = lineEnd(raw, start);
  if (end === -1) return { raw, fromLine: null };
  return { raw: raw.subarray(end), fromLine: raw.toString('latin1', start, end).replace(/\r?\n?$/, '') };
}

export async function* readMessages(
  sources: readonly Source[],
  opts: ReadOptions,
  events: ReadEvents,
): AsyncGenerator<ReplayItem> {
  let seq = 0;
  let doneBytes = 0;
  for (const source of sources) {
    if (source.kind === 'message') {
      let item: ReplayItem | null = null;
      try {
        if (source.size > opts.maxMessageBytes) {
          item = {
            seq,
            path: source.path,
            index: 1,
            raw: null,
            size: source.size,
            fromLine: null,
            deliveredAt: source.deliveredAt,
            truncated: false,
          };
        } else {
          const split = splitLeadingFromLine(await readFile(source.path));
          item = {
            seq,
            path: source.path,
            index: 1,
            raw: split.raw,
            size: split.raw.length,
            fromLine: split.fromLine,
            deliveredAt: source.deliveredAt,
            truncated: false,
          };
        }
      } catch (err) {
        events.fileError(source.path, errText(err));
      }
      doneBytes += source.size;
      events.bytes(doneBytes);
      if (item) {
        seq++;
        yield item;
      }
      continue;
    }
    seq = yield* readMboxFile(source, opts, events, seq, doneBytes);
    doneBytes += source.size;
    events.bytes(doneBytes);
  }
}

async function* readMboxFile(
  source: Source,
  opts: ReadOptions,
  events: ReadEvents,
  firstSeq: number,
  doneBytes: number,
): AsyncGenerator<ReplayItem, number> {
  let seq = firstSeq;
  const file: ReadStream = createReadStream(source.path, { highWaterMark: CHUNK });
  let gunzip: Gunzip | null = null;
  let stream: AsyncIterable<Buffer> = file;
  if (source.gzip) {
    gunzip = createGunzip({ chunkSize: 256 * 1024 });
    file.on('error', (err) => gunzip?.destroy(err));
    file.pipe(gunzip);
    stream = gunzip;
  }
  const it = stream[Symbol.asyncIterator]();
  try {
    // The first MiB decides the format when it was not given.
    const head: Buffer[] = [];
    let headBytes = 0;
    let ended = false;
    let format: MboxFormat;
    if (opts.format === 'auto') {
      while (headBytes < DETECT_SAMPLE_BYTES) {
        const r = await it.next();
        if (r.done) {
          ended = true;
          break;
        }
        head.push(r.value);
        headBytes += r.value.length;
      }
      const detected = detectFormat(Buffer.concat(head), ended);
      format = detected.format;
      events.format(source.path, format, `auto: ${detected.why}`);
    } else {
      format = opts.format;
      events.format(source.path, format, '');
    }
    const splitter = new MboxSplitter({ format, maxMessageBytes: opts.maxMessageBytes });
    const toItems = function* (items: ReturnType<MboxSplitter['push']>): Generator<ReplayItem> {
      for (const m of items) {
        if (m.kind === 'junk') {
          events.junk(source.path, m.offset, m.size);
          continue;
        }
        const item: ReplayItem =
          m.kind === 'message'
            ? {
                seq,
                path: source.path,
                index: m.index,
                raw: m.raw,
                size: m.size,
                fromLine: m.fromLine,
                deliveredAt: null,
                truncated: m.truncated,
              }
            : {
                seq,
                path: source.path,
                index: m.index,
                raw: null,
                size: m.size,
                fromLine: m.fromLine,
                deliveredAt: null,
                truncated: false,
              };
        seq++;
        yield item;
      }
    };
    const progress = () => events.bytes(doneBytes + Math.min(file.bytesRead, source.size));
    for (const chunk of head) {
      yield* toItems(splitter.push(chunk));
      progress();
    }
    while (!ended) {
      const r = await it.next();
      if (r.done) break;
      yield* toItems(splitter.push(r.value));
      progress();
    }
    yield* toItems(splitter.end());
  } catch (err) {
    events.fileError(source.path, errText(err));
  } finally {
    file.destroy();
    gunzip?.destroy();
  }
  return seq;
}
