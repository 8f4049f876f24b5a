// Lines of an archive read in chunks, without decoding and without joining the chunks: each line
// is handed out as a range of the chunk it lies in, or of a copy when it crosses a chunk edge.
//
// - Lines are found by LF alone until a bare CR shows up; from then on by CR as well, and a CR
//   that ends a chunk waits for the next byte (CR LF split across chunks is one line break).
// - A line longer than LONG_LINE is not held whole: its start is handed out as a line, the rest
//   streams after it.
// - The reader of the lines may hand bytes back to be read again before the rest (a message
//   boundary it found late); they are scanned as if they came next in the input.
import { bareCr } from '../../mail/repair.js';

const LF = 0x0a;
const CR = 0x0d;
/** Longer lines are handled in pieces; no From_ line or header name is this long. */
const LONG_LINE = 64 * 1024;

/** Bytes to read again before the rest of the input, or null. */
export type Restart = Buffer[] | null;

export interface LineSink {
  /** One line: buf[s, e), its line break included when it has one. */
  line(buf: Buffer, s: number, e: number): Restart;
  /** More of a line longer than LONG_LINE whose start went to line(). */
  rest(buf: Buffer, s: number, e: number): void;
}

/** Length of the line break that ends at `e` (LF, CRLF or a bare CR), 0 when none does. */
export function breakBefore(buf: Buffer, s: number, e: number): number {
  if (e <= s) return 0;
  if (buf[e - 1] === CR) return 1;
  if (buf[e - 1] !== LF) return 0;
  return e - 2 >= s && buf[e - 2] === CR ? 2 : 1;
}

/**
 * Where the line that starts at `from` ends: the offset after its break (LF, CRLF or a bare CR),
 * or -1 when the buffer ends first. `cr` is the first CR at or after `from` (-1: none) when the
 * caller keeps track of it, so that a buffer without CR is searched for one once, not once a line.
 */
export function lineEnd(buf: Buffer, from: number, cr = buf.indexOf(CR, from)): number {
  const lf = buf.indexOf(LF, from);
  if (cr !== -1 && (lf === -1 || cr < lf)) return buf[cr + 1] === LF ? cr + 2 : cr + 1;
  return lf === -1 ? -1 : lf + 1;
}

export class LineScanner {
  private readonly input: Buffer[] = [];
  private carry: Buffer[] = [];
  private carryLen = 0;
  /** Inside a line longer than LONG_LINE whose start was already handled. */
  private continuation = false;
  private lastByte = -1;
  /** A bare CR was seen: lines end at CR as well as at LF from then on. */
  private crEnds = false;
  /** The bytes of the long line so far end with a CR (its LF may start the next chunk). */
  private contCr = false;

  constructor(private readonly sink: LineSink) {}

  /** Read the next chunk: every line it completes goes to the sink. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    // Files without a bare CR keep the LF-only search. The last byte of a chunk is decided by the
    // first byte of the next one.
    if (!this.crEnds && ((this.lastByte === CR && chunk[0] !== LF) || bareCr(chunk, 0, chunk.length - 1) !== -1))
      this.crEnds = true;
    this.lastByte = chunk[chunk.length - 1]!;
    this.input.push(chunk);
    this.drain();
  }

  /** End of input: the last line, with or without a line break, goes to the sink. */
  flush(): void {
    for (;;) {
      this.drain();
      if (this.carryLen === 0) return;
      // A last line without a line break.
      const line = Buffer.concat(this.carry);
      this.carry = [];
      this.carryLen = 0;
      if (this.continuation) {
        this.rest(line, 0, line.length);
        this.continuation = false;
      } else {
        const restart = this.sink.line(line, 0, line.length);
        if (restart) this.input.push(...restart);
      }
    }
  }

  /** Bytes to read again after the end of input; flush() reads them. */
  reread(bytes: Buffer[]): void {
    this.input.push(...bytes);
  }

  /** The input so far ends with a line break. */
  endsWithBreak(): boolean {
    return this.lastByte === LF || this.lastByte === CR;
  }

  private drain(): void {
    while (this.input.length > 0) this.scan(this.input.shift()!);
  }

  /**
   * The offset after the first line break at or after `from`, or -1 when there is none yet (with
   * CR line ends: also when the buffer ends with a CR, which the next byte decides).
   */
  private breakEnd(buf: Buffer, from: number): number {
    if (!this.crEnds) {
      const i = buf.indexOf(LF, from);
      return i === -1 ? -1 : i + 1;
    }
    const end = lineEnd(buf, from);
    return end === buf.length && buf[end - 1] === CR ? -1 : end;
  }

  private scan(buf: Buffer): void {
    let pos = 0;
    if (this.continuation) {
      // After a CR (with CR line ends) the line has ended, with this LF or before this chunk.
      const end = this.contCr && this.crEnds ? (buf[0] === LF ? 1 : 0) : this.breakEnd(buf, 0);
      if (end === -1) {
        this.rest(buf, 0, buf.length);
        return;
      }
      if (end > 0) this.rest(buf, 0, end);
      this.continuation = false;
      pos = end;
    } else if (this.carryLen > 0) {
      const last = this.carry[this.carry.length - 1]!;
      const end = this.crEnds && last[last.length - 1] === CR ? (buf[0] === LF ? 1 : 0) : this.breakEnd(buf, 0);
      if (end === -1) {
        this.carry.push(buf);
        this.carryLen += buf.length;
        if (this.carryLen > LONG_LINE) this.longLineStart();
        return;
      }
      if (end > 0) this.carry.push(buf.subarray(0, end));
      const line = Buffer.concat(this.carry);
      this.carry = [];
      this.carryLen = 0;
      const restart = this.sink.line(line, 0, line.length);
      if (restart) {
        this.input.unshift(...restart, buf.subarray(end));
        return;
      }
      pos = end;
    }
    if (!this.crEnds) {
      for (;;) {
        const i = buf.indexOf(LF, pos);
        if (i === -1) break;
        const restart = this.sink.line(buf, pos, i + 1);
        if (restart) {
          this.input.unshift(...restart, buf.subarray(i + 1));
          return;
        }
        pos = i + 1;
      }
    } else {
      // Both searches move forward only: each byte value is looked for once per occurrence.
      let lf = buf.indexOf(LF, pos);
      let cr = buf.indexOf(CR, pos);
      for (;;) {
        let end: number;
        if (cr !== -1 && (lf === -1 || cr < lf)) {
          if (cr + 1 === buf.length) break; // CR LF or a bare CR: the next chunk decides
          end = cr + 1 === lf ? lf + 1 : cr + 1;
        } else if (lf !== -1) end = lf + 1;
        else break;
        const restart = this.sink.line(buf, pos, end);
        if (restart) {
          this.input.unshift(...restart, buf.subarray(end));
          return;
        }
        pos = end;
        if (lf !== -1 && lf < pos) lf = buf.indexOf(LF, pos);
        if (cr !== -1 && cr < pos) cr = buf.indexOf(CR, pos);
      }
    }
    if (pos < buf.length) {
      const rest = buf.subarray(pos);
      this.carry = [rest];
      this.carryLen = rest.length;
      if (this.carryLen > LONG_LINE) this.longLineStart();
    }
  }

  /** The start of a line too long to hold: decided on its first bytes, the rest streams. */
  private longLineStart(): void {
    const head = Buffer.concat(this.carry);
    this.carry = [];
    this.carryLen = 0;
    this.contCr = head[head.length - 1] === CR;
    const restart = this.sink.line(head, 0, head.length);
    if (restart) {
      this.input.unshift(...restart);
      return;
    }
    this.continuation = true;
  }

  private rest(buf: Buffer, s: number, e: number): void {
    this.contCr = buf[e - 1] === CR;
    this.sink.rest(buf, s, e);
  }
}
