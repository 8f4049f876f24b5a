// A streaming mbox splitter written for replay. It reads Buffers as they come (never the whole
// file, never decoded to text: bytes go to the MIME parser as written) and hands out one message
// at a time.
//
// - A message starts at a From_ line ("From sender date") whose next line is a header field, so a
//   body line such as "From Russia with love" left unescaped by the writer stays body text. The
//   first From line of the file needs no such check. A blank line before the separator is not
//   required (Netscape wrote none after a closing MIME boundary); the one that is there belongs
//   to the format and is removed.
// - Quoting is undone per format: mboxrd strips one '>' from every /^>+From / line (reversible);
//   mboxo strips it from /^>From / only, the reverse of what an mboxo writer does; mboxcl2 quotes
//   nothing and frames each message by its Content-Length header.
// - A Content-Length is believed only when it lands where a message ends (end of file, or blank
//   lines and then a From_ line); otherwise the separator rules decide, as mutt and MimeKit do.
// - LF, CRLF and bare CR (old Mac archives) line ends, mixed too, are read and kept as written; a
//   UTF-8 byte order mark at the start is skipped; a last message cut short by the end of the file
//   is still handed out (truncated).
// - Lines come from line-scanner.ts, which finds them across chunk edges.
// - A message larger than the limit is never held whole: its bytes are counted and dropped while
//   the reader keeps looking for the next separator.
import { isFromLine } from './from-line.js';
import { breakBefore, LineScanner, type Restart } from './line-scanner.js';

export type MboxFormat = 'mboxo' | 'mboxrd' | 'mboxcl2';
export const MBOX_FORMATS: readonly MboxFormat[] = ['mboxo', 'mboxrd', 'mboxcl2'];

export interface MboxMessage {
  kind: 'message';
  /** The message without its From_ line, unquoted per format. */
  raw: Buffer;
  /** The From_ line as written (latin1), without its line break. */
  fromLine: string;
  /** 1-based position in the file, counting messages that were too large. */
  index: number;
  /** Byte offset of the From_ line in the (decompressed) file. */
  offset: number;
  /** Bytes of the message as stored in the file (From_ line and separator excluded). */
  size: number;
  /** The file ended inside this message. */
  truncated: boolean;
  /** How its end was found. */
  framing: 'separator' | 'content-length';
}

export interface MboxTooLarge {
  kind: 'too_large';
  fromLine: string;
  index: number;
  offset: number;
  size: number;
}

/** Bytes before the first From_ line that are not blank: not mail, skipped. */
export interface MboxJunk {
  kind: 'junk';
  offset: number;
  size: number;
}

export type MboxItem = MboxMessage | MboxTooLarge | MboxJunk;

export interface MboxReaderOptions {
  format: MboxFormat;
  /** Messages larger than this are reported as too_large and not buffered. */
  maxMessageBytes: number;
}

const LF = 0x0a;
const CR = 0x0d;
const GT = 0x3e;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;
/** Longest From_ line considered. */
const MAX_FROM_LINE = 1000;

function startsWithFrom(buf: Buffer, s: number, e: number): boolean {
  return (
    e - s >= 5 &&
    buf[s] === 0x46 &&
    buf[s + 1] === 0x72 &&
    buf[s + 2] === 0x6f &&
    buf[s + 3] === 0x6d &&
    buf[s + 4] === SP
  );
}

function isBlankLine(buf: Buffer, s: number, e: number): boolean {
  const n = e - s;
  return (n === 1 && (buf[s] === LF || buf[s] === CR)) || (n === 2 && buf[s] === CR && buf[s + 1] === LF) || n === 0;
}

/**
 * Can this line be the first line of a message? A header field, or a line of blanks (files that
 * start with a whitespace-only line occur in real archives). An empty line cannot: a From line
 * followed by an empty line is body text.
 */
export function canStartMessage(buf: Buffer, s: number, e: number): boolean {
  if (isHeaderLine(buf, s, e)) return true;
  let i = s;
  while (i < e && (buf[i] === SP || buf[i] === HT)) i++;
  if (i === s) return false;
  return i === e || buf[i] === LF || (buf[i] === CR && (i + 1 === e || buf[i + 1] === LF));
}

/** A header field line: a field name (printable ASCII but ':'), optional blanks, then ':'. */
export function isHeaderLine(buf: Buffer, s: number, e: number): boolean {
  let i = s;
  const limit = Math.min(e, s + 1000);
  while (i < limit) {
    const c = buf[i]!;
    if (c === COLON) break;
    if (c < 33 || c > 126) break;
    i++;
  }
  if (i === s) return false;
  while (i < limit && (buf[i] === SP || buf[i] === HT)) i++;
  return i < limit && buf[i] === COLON;
}

function contentLengthOf(buf: Buffer, s: number, e: number): number | null {
  const c = buf[s];
  if (c !== 0x43 && c !== 0x63) return null; // C or c
  if (e - s > 100) return null;
  const m = /^content-length[ \t]*:[ \t]*(\d{1,15})[ \t]*\r?\n?$/i.exec(buf.toString('latin1', s, e));
  return m ? Number(m[1]) : null;
}

interface Held {
  bytes: Buffer;
  abs: number;
  text: string;
  /** Seen inside a body protected by Content-Length. */
  inProtectedBody: boolean;
}

export class MboxSplitter {
  private readonly format: MboxFormat;
  private readonly max: number;
  private readonly out: MboxItem[] = [];
  private readonly lines = new LineScanner({
    line: (buf, s, e) => this.line(buf, s, e),
    rest: (buf, s, e) => this.lineRest(buf, s, e),
  });

  /** Absolute offset of the next line start. */
  private abs = 0;
  /** Absolute offset of the last line's line break (-1: none). */
  private lastBreak = -1;

  private state: 'preamble' | 'message' = 'preamble';
  private junkStart = -1;
  private junkSize = 0;

  // The message being read.
  private index = 0;
  private fromLine = '';
  private fromAbs = 0;
  private parts: Buffer[] = [];
  private runBuf: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;
  private size = 0;
  private inputSize = 0;
  private tooLarge = false;
  private inHeaders = true;
  private contentLength: number | null = null;
  /** Absolute offset where the body ends according to Content-Length. */
  private clTarget: number | null = null;
  private verifying = false;
  private heldBlanks: Buffer[] = [];
  /** First separator seen inside a Content-Length body: where to split if the length was wrong. */
  private candidate: { rel: number; abs: number } | null = null;
  private pending: Held | null = null;

  constructor(opts: MboxReaderOptions) {
    this.format = opts.format;
    this.max = opts.maxMessageBytes;
  }

  /** Feed the next chunk; returns the items it completed. */
  push(chunk: Buffer): MboxItem[] {
    this.lines.push(chunk);
    return this.out.splice(0);
  }

  /** End of input: returns the last items. */
  end(): MboxItem[] {
    for (;;) {
      this.lines.flush();
      if (this.pending) {
        // A From line with nothing after it is not a separator.
        const p = this.pending;
        this.pending = null;
        if (this.state === 'message') this.appendCopy(p.bytes);
        else this.junk(p.abs, p.bytes.length);
      }
      const short = this.state === 'message' && this.clTarget !== null && !this.verifying && this.abs < this.clTarget;
      if (short && this.candidate && !this.tooLarge) {
        // The file ends before the Content-Length does, past a real separator: split there.
        this.lines.reread(this.splitAtCandidate([]));
        continue;
      }
      break;
    }
    if (this.state === 'message') {
      const short =
        this.clTarget !== null && !this.verifying && this.abs < this.clTarget && this.lastBreak !== this.clTarget;
      const atLength = this.clTarget !== null && (this.abs === this.clTarget || this.lastBreak === this.clTarget);
      const framing = this.verifying || atLength ? 'content-length' : 'separator';
      this.finish(framing, short || !this.lines.endsWithBreak());
    }
    this.flushJunk();
    return this.out.splice(0);
  }

  /** More of a long line whose start went to line(). */
  private lineRest(buf: Buffer, s: number, e: number): void {
    this.abs += e - s;
    if (this.state === 'message') this.append(buf, s, e);
    else this.junk(this.abs - (e - s), e - s);
  }

  // -------------------------------------------------------------------------------------------
  // One line: buf[s, e), its line break included when it has one.

  private line(buf: Buffer, s: number, e: number): Restart {
    const lineAbs = this.abs;
    this.abs += e - s;
    // Where the previous line's break began: a Content-Length that ends there (before the break,
    // as Netscape wrote it when no blank line followed) still ends the message.
    const prevBreak = this.lastBreak;
    const brk = breakBefore(buf, s, e);
    this.lastBreak = brk > 0 ? this.abs - brk : -1;

    if (this.state === 'preamble') {
      this.preambleLine(buf, s, e, lineAbs);
      return null;
    }

    if (this.pending) {
      const p = this.pending;
      this.pending = null;
      if (canStartMessage(buf, s, e)) {
        if (p.inProtectedBody) {
          // A separator inside a Content-Length body: body text while the length holds.
          if (!this.candidate && !this.tooLarge) this.candidate = { rel: this.size, abs: p.abs };
          this.appendCopy(p.bytes);
        } else {
          this.finish('separator', false);
          this.begin(p.text, p.abs);
        }
      } else {
        this.appendCopy(p.bytes);
      }
    }

    if (this.clTarget !== null) {
      if (this.verifying || lineAbs === this.clTarget || prevBreak === this.clTarget) {
        this.verifying = true;
        if (isBlankLine(buf, s, e)) {
          this.heldBlanks.push(Buffer.from(buf.subarray(s, e)));
          return null;
        }
        if (startsWithFrom(buf, s, e) && e - s <= MAX_FROM_LINE && isFromLine(buf.toString('latin1', s, e))) {
          this.finish('content-length', false);
          this.begin(buf.toString('latin1', s, e), lineAbs);
          return null;
        }
        return this.contentLengthWrong(buf, s, e, lineAbs);
      }
      if (lineAbs > this.clTarget) return this.contentLengthWrong(buf, s, e, lineAbs);
    }

    if (startsWithFrom(buf, s, e) && e - s <= MAX_FROM_LINE) {
      const text = buf.toString('latin1', s, e);
      if (isFromLine(text)) {
        const inProtectedBody = this.clTarget !== null && !this.inHeaders;
        this.pending = { bytes: Buffer.from(buf.subarray(s, e)), abs: lineAbs, text, inProtectedBody };
        return null;
      }
    }

    if (this.inHeaders) {
      if (isBlankLine(buf, s, e)) {
        this.inHeaders = false;
        this.append(buf, s, e);
        if (this.format === 'mboxcl2' && this.contentLength !== null) this.clTarget = this.abs + this.contentLength;
        return null;
      }
      const cl = contentLengthOf(buf, s, e);
      if (cl !== null && this.contentLength === null) this.contentLength = cl;
    }

    if (buf[s] === GT && this.format !== 'mboxcl2') {
      let j = s;
      while (j < e && buf[j] === GT) j++;
      if ((this.format === 'mboxrd' || j === s + 1) && startsWithFrom(buf, j, e)) {
        this.inputSize += 1; // the quoting '>' was in the file
        this.append(buf, s + 1, e);
        return null;
      }
    }
    this.append(buf, s, e);
    return null;
  }

  private preambleLine(buf: Buffer, s: number, e: number, lineAbs: number): void {
    let start = s;
    // A UTF-8 byte order mark before the first line.
    if (lineAbs === 0 && buf[s] === 0xef && buf[s + 1] === 0xbb && buf[s + 2] === 0xbf) start = s + 3;
    if (this.pending) {
      const p = this.pending;
      this.pending = null;
      if (canStartMessage(buf, start, e)) this.begin(p.text, p.abs);
      else this.junk(p.abs, p.bytes.length);
      if (this.state === 'message') {
        // This line is the new message's first header: handle it as such.
        this.abs = lineAbs;
        this.line(buf, start, e);
        return;
      }
    }
    let blank = true;
    for (let i = start; i < e; i++) {
      const c = buf[i]!;
      if (c !== SP && c !== HT && c !== CR && c !== LF) {
        blank = false;
        break;
      }
    }
    if (blank) return;
    if (startsWithFrom(buf, start, e) && e - start <= MAX_FROM_LINE) {
      const text = buf.toString('latin1', start, e);
      // The first From line of the file starts the first message; later ones must look right.
      if (this.junkSize === 0) {
        this.begin(text, lineAbs);
        return;
      }
      if (isFromLine(text)) {
        this.pending = { bytes: Buffer.from(buf.subarray(start, e)), abs: lineAbs, text, inProtectedBody: false };
        return;
      }
    }
    this.junk(lineAbs, e - s);
  }

  private junk(abs: number, n: number): void {
    if (this.junkSize === 0) this.junkStart = abs;
    this.junkSize += n;
  }

  private flushJunk(): void {
    if (this.junkSize > 0) this.out.push({ kind: 'junk', offset: this.junkStart, size: this.junkSize });
    this.junkSize = 0;
  }

  /** The Content-Length did not land on a message end: fall back to the separator rules. */
  private contentLengthWrong(buf: Buffer, s: number, e: number, lineAbs: number): Restart {
    this.clTarget = null;
    this.verifying = false;
    const blanks = this.heldBlanks;
    this.heldBlanks = [];
    if (this.candidate && !this.tooLarge) return this.splitAtCandidate([...blanks, buf.subarray(s, e)]);
    this.candidate = null;
    for (const b of blanks) this.appendCopy(b);
    // Handle this line again without the length.
    this.abs = lineAbs;
    return this.line(buf, s, e);
  }

  /**
   * The length ran past a real separator: the message ends there, and everything from it on (plus
   * `after`, bytes not yet added) is handed back to be read again as the next message.
   */
  private splitAtCandidate(after: Buffer[]): Buffer[] {
    const candidate = this.candidate!;
    this.flushRun();
    const whole = Buffer.concat(this.parts);
    const cut = candidate.rel;
    this.parts = [whole.subarray(0, cut)];
    this.size = cut;
    this.inputSize = cut;
    this.abs = candidate.abs;
    this.candidate = null;
    this.clTarget = null;
    this.verifying = false;
    this.heldBlanks = [];
    this.finish('separator', false);
    this.junkSize = 0;
    return [whole.subarray(cut), ...after];
  }

  // -------------------------------------------------------------------------------------------

  private begin(fromLine: string, abs: number): void {
    this.flushJunk();
    this.state = 'message';
    this.index += 1;
    this.fromLine = fromLine.replace(/\r?\n?$/, '');
    this.fromAbs = abs;
    this.parts = [];
    this.runBuf = null;
    this.size = 0;
    this.inputSize = 0;
    this.tooLarge = false;
    this.inHeaders = true;
    this.contentLength = null;
    this.clTarget = null;
    this.verifying = false;
    this.heldBlanks = [];
    this.candidate = null;
  }

  private flushRun(): void {
    if (this.runBuf) this.parts.push(this.runBuf.subarray(this.runStart, this.runEnd));
    this.runBuf = null;
  }

  private append(buf: Buffer, s: number, e: number): void {
    const n = e - s;
    this.size += n;
    this.inputSize += n;
    if (this.tooLarge) return;
    if (this.size > this.max) {
      this.tooLarge = true;
      this.parts = [];
      this.runBuf = null;
      this.candidate = null;
      return;
    }
    if (this.runBuf === buf && this.runEnd === s) {
      this.runEnd = e;
      return;
    }
    this.flushRun();
    this.runBuf = buf;
    this.runStart = s;
    this.runEnd = e;
  }

  private appendCopy(bytes: Buffer): void {
    this.append(bytes, 0, bytes.length);
  }

  private finish(framing: 'separator' | 'content-length', truncated: boolean): void {
    if (this.state !== 'message') return;
    this.flushRun();
    if (this.tooLarge) {
      this.out.push({
        kind: 'too_large',
        fromLine: this.fromLine,
        index: this.index,
        offset: this.fromAbs,
        size: this.inputSize,
      });
    } else {
      let raw = Buffer.concat(this.parts, this.size);
      // The blank line that separates messages is the format's, not the message's.
      if (framing === 'separator' && !truncated) {
        const n = raw.length;
        const last = breakBefore(raw, 0, n);
        if (last > 0 && breakBefore(raw, 0, n - last) > 0) raw = raw.subarray(0, n - last);
      }
      this.out.push({
        kind: 'message',
        raw,
        fromLine: this.fromLine,
        index: this.index,
        offset: this.fromAbs,
        size: this.inputSize,
        truncated,
        framing,
      });
    }
    this.parts = [];
    this.runBuf = null;
    this.size = 0;
    this.state = 'preamble';
  }
}

/** Split an mbox stream into messages, one at a time, holding at most one message. */
export async function* readMbox(source: AsyncIterable<Buffer>, opts: MboxReaderOptions): AsyncGenerator<MboxItem> {
  const splitter = new MboxSplitter(opts);
  for await (const chunk of source) yield* splitter.push(chunk);
  yield* splitter.end();
}
