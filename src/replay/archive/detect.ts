// `--format auto`: which mbox variant a file is, judged from its first bytes.
//
// Content-Length framing (mboxcl2) shows: every message carries the header and the lengths land
// on the next From_ line. mboxo and mboxrd cannot be told apart by looking: they write the same
// bytes except for lines that were already quoted (">From " → mboxo leaves it, mboxrd writes
// ">>From "). When a file has no such line both read it identically; when it has some, the
// choice is a guess and the answer says so.
import { isFromLine } from './from-line.js';
import { lineEnd } from './line-scanner.js';
import { canStartMessage, type MboxFormat } from './mbox-reader.js';

export interface DetectedFormat {
  format: MboxFormat;
  /** One line for people: why this format. */
  why: string;
  /** True when the file could as well be another format and the reading would differ. */
  ambiguous: boolean;
}

const LF = 0x0a;
const CR = 0x0d;

/** How much of a file is read to decide. */
export const DETECT_SAMPLE_BYTES = 1024 * 1024;

function startsWith(buf: Buffer, at: number, text: string): boolean {
  if (at + text.length > buf.length) return false;
  for (let i = 0; i < text.length; i++) if (buf[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * @param sample the first bytes of the (decompressed) file
 * @param complete true when the sample is the whole file
 */
export function detectFormat(sample: Buffer, complete: boolean): DetectedFormat {
  let messages = 0;
  let withLength = 0;
  let lengthRight = 0;
  let lengthWrong = 0;
  let quotedOnce = 0;
  let quotedMore = 0;

  // Line starts, as offsets.
  let pos = sample[0] === 0xef && sample[1] === 0xbb && sample[2] === 0xbf ? 3 : 0;
  let inHeaders = false;
  let contentLength: number | null = null;
  // Lines end at LF, CRLF or a bare CR; the next CR is kept so an LF-only sample is searched once.
  let cr = sample.indexOf(CR);
  const endOfLine = (from: number): number => {
    if (cr !== -1 && cr < from) cr = sample.indexOf(CR, from);
    return lineEnd(sample, from, cr);
  };
  while (pos < sample.length) {
    let end = endOfLine(pos);
    const lastLine = end === -1;
    if (lastLine) end = sample.length;
    const text = sample.toString('latin1', pos, Math.min(end, pos + 200));
    if (text.startsWith('From ') && isFromLine(text)) {
      const next = lastLine ? -1 : endOfLine(end);
      const nextIsHeader = !lastLine && canStartMessage(sample, end, next === -1 ? sample.length : next);
      if (messages === 0 || nextIsHeader) {
        messages++;
        inHeaders = true;
        contentLength = null;
        pos = end;
        continue;
      }
    }
    if (inHeaders) {
      if (text === '\n' || text === '\r\n' || text === '\r') {
        inHeaders = false;
        if (contentLength !== null) {
          withLength++;
          let at = end + contentLength;
          if (at > sample.length) {
            if (complete) lengthWrong++;
          } else {
            while (at < sample.length && (sample[at] === LF || sample[at] === CR))
              at += sample[at] === CR && sample[at + 1] === LF ? 2 : 1;
            if (at >= sample.length) {
              if (complete) lengthRight++;
            } else if (startsWith(sample, at, 'From ')) lengthRight++;
            else lengthWrong++;
          }
        }
      } else {
        const m = /^content-length[ \t]*:[ \t]*(\d{1,15})/i.exec(text);
        if (m && contentLength === null) contentLength = Number(m[1]);
      }
    } else if (text.startsWith('>')) {
      const m = /^(>+)From /.exec(text);
      if (m) {
        if (m[1]!.length === 1) quotedOnce++;
        else quotedMore++;
      }
    }
    pos = end;
  }

  if (messages > 0 && withLength === messages && lengthRight > 0 && lengthRight >= lengthWrong) {
    return {
      format: 'mboxcl2',
      why: `every message has a Content-Length header and ${lengthRight} of ${lengthRight + lengthWrong} checked end at a From line`,
      ambiguous: false,
    };
  }
  if (quotedMore === 0) {
    const why =
      quotedOnce === 0
        ? 'no quoted >From lines: mboxo and mboxrd read the same'
        : `${quotedOnce} quoted >From line(s), none quoted twice: mboxo and mboxrd read the same`;
    return { format: 'mboxrd', why, ambiguous: false };
  }
  return {
    format: 'mboxo',
    why:
      `${quotedMore} line(s) quoted twice or more (>>From) read differently as mboxo and mboxrd, and the file cannot tell which; ` +
      'assumed mboxo (what most mail systems write): pass --format mboxrd if the archiver wrote mboxrd',
    ambiguous: true,
  };
}
