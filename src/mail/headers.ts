// The header block of a raw message, read without touching the body: this runs on the SMTP hot
// path for every message, so it only scans bytes up to the first empty line.
import libmime from 'libmime';
import { declaredCharsets, relabelJapaneseWords, unlabelledDecoder } from './charset.js';
import { headerHasBareCr, normaliseLineEnds } from './repair.js';
import { decodeUtf7Words } from './utf7.js';

/** One header as it appeared, unfolded but not decoded. */
export interface HeaderField {
  /** Name as written (case kept). */
  readonly name: string;
  /** Value with folding removed and surrounding whitespace trimmed; encoded words left as they are. */
  readonly value: string;
}

/**
 * Headers longer than this are not headers but a broken or hostile message; mailparser gives up
 * at 1 MiB per part (maxHeadSize), so scanning further would only cost time at the door.
 */
export const MAX_HEADER_BYTES = 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;

/** Where the header block lies in the raw bytes. */
export interface HeaderBounds {
  /** First header byte: after the junk real files carry before it (see skipLeadingJunk). */
  start: number;
  /** End of the last header line, line break included. */
  end: number;
  /** First body byte (after the empty line), or raw.length when there is no body. */
  bodyStart: number;
  /**
   * Offsets of header lines that continue the previous field without the leading whitespace a
   * fold needs (a client that wrapped a long Subject); read as folded.
   */
  badFolds: number[];
}

const COLON = 0x3a;
const FROM_ = Buffer.from('From ');

// Fields that open real header blocks: a line after junk that starts with one of these (or an
// X- field) is taken as the start of the headers, and a colon-less line followed by one of them
// is a bad fold rather than the start of the body.
const KNOWN_FIELD =
  /^(?:received|return-path|delivered-to|from|to|cc|bcc|subject|date|message-id|mime-version|content-[a-z-]+|reply-to|sender|in-reply-to|references|dkim-signature|arc-[a-z-]+|authentication-results|received-spf|list-[a-z-]+|precedence|importance|priority|user-agent|thread-[a-z-]+|x-[!-9;-~]+)[ \t]*:/i;

/** The line that starts at `at`, without its line break (bounded: junk lines are short). */
function lineAt(raw: Buffer, at: number): { text: string; next: number } {
  let lf = raw.indexOf(LF, at);
  if (lf === -1) lf = raw.length;
  const stop = Math.min(lf, at + 998);
  let end = stop;
  while (end > at && raw[end - 1] === CR) end--;
  return { text: raw.subarray(at, end).toString('latin1'), next: lf + 1 };
}

/** A line of dashes around a few words: "---- Original email message ----", "-----Original Message-----". */
const DASH_LINE = /^[ \t]*-{2,}[^:]{0,80}?-{2,}[ \t]*$/;

/**
 * Past what real files carry before their header block: a UTF-8 byte order mark, whitespace-only
 * lines, an mbox "From " line, a "---- Original email message ----" line, and empty lines when a
 * header line follows them. A message that starts with an empty line and then text has no headers.
 */
function skipLeadingJunk(raw: Buffer): number {
  let pos = raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? 3 : 0;
  // A handful of junk lines at most: past that it is a body, not junk before headers.
  for (let lines = 0; lines < 16 && pos < raw.length; lines++) {
    const { text, next } = lineAt(raw, pos);
    if (text.trim() === '') {
      if (text === '') {
        // Only when a real header line follows the empty lines.
        let look = next;
        while (look < raw.length && lineAt(raw, look).text.trim() === '' && look - next < 64)
          look = lineAt(raw, look).next;
        // Two known fields in a row: one "Subject: …" line after an empty line may be body text.
        if (look >= raw.length) return pos;
        const first = lineAt(raw, look);
        if (!KNOWN_FIELD.test(first.text) || !KNOWN_FIELD.test(lineAt(raw, first.next).text)) return pos;
      }
      pos = next;
      continue;
    }
    if (raw.subarray(pos, pos + 5).equals(FROM_) && !/^From[ \t]*:/.test(text)) {
      pos = next;
      continue;
    }
    if (DASH_LINE.test(text) && KNOWN_FIELD.test(lineAt(raw, next).text)) {
      pos = next;
      continue;
    }
    return pos;
  }
  return pos;
}

/**
 * A line that cannot be a header: not a continuation and without any colon. As in CPython's
 * parser, it ends the header block even without the empty line (a sender that forgot it, or a
 * message that is all body); lines with a colon but a malformed name are skipped, not ended on.
 */
function notAHeaderLine(raw: Buffer, at: number, limit: number): boolean {
  const c = raw[at];
  if (c === SP || c === HT) return false;
  // Searched within the line only: a colon-less line must not send the search through the body.
  for (let i = at; i < limit; i++) {
    const b = raw[i];
    if (b === COLON) return false;
    if (b === LF) return true;
  }
  return true;
}

// Fields a message has once: the same one again after a colon-less line means that line began
// the body (a sender that forgot the empty line), not that a field was wrapped badly.
const SINGLE_FIELD =
  /^(from|sender|reply-to|to|cc|subject|date|message-id|in-reply-to|references|mime-version|content-type|content-transfer-encoding)[ \t]*:/i;

/**
 * A colon-less line at `at` that a known header line follows, and not a field the block already
 * has: the rest of a field a client wrapped without indenting.
 */
function isBadFold(raw: Buffer, start: number, at: number, limit: number): boolean {
  const line = lineAt(raw, at);
  if (line.text.trim() === '' || line.next >= limit) return false;
  const following = lineAt(raw, line.next).text;
  if (!KNOWN_FIELD.test(following)) return false;
  const single = SINGLE_FIELD.exec(following)?.[1]?.toLowerCase();
  if (single === undefined) return true;
  const seen = new RegExp(`(?:^|\\n)${single}[ \\t]*:`, 'i');
  return !seen.test(raw.subarray(start, at).toString('latin1'));
}

const MAX_BAD_FOLDS = 8;

export function headerBounds(raw: Buffer): HeaderBounds {
  const start = skipLeadingJunk(raw);
  const limit = Math.min(raw.length, start + MAX_HEADER_BYTES);
  const badFolds: number[] = [];
  // An empty line right at the start: the message has a body and no headers.
  if (raw[start] === LF) return { start, end: start, bodyStart: start + 1, badFolds };
  if (raw[start] === CR && raw[start + 1] === LF) return { start, end: start, bodyStart: start + 2, badFolds };
  if (notAHeaderLine(raw, start, limit)) return { start, end: start, bodyStart: start, badFolds };
  let lf = raw.indexOf(LF, start);
  while (lf !== -1 && lf < limit) {
    const next = raw[lf + 1];
    if (next === LF) return { start, end: lf + 1, bodyStart: lf + 2, badFolds };
    if (next === CR && raw[lf + 2] === LF) return { start, end: lf + 1, bodyStart: lf + 3, badFolds };
    if (next !== undefined && notAHeaderLine(raw, lf + 1, limit)) {
      // Bounded: each check reads the block so far, and a real header has a wrapped line or two.
      if (badFolds.length >= MAX_BAD_FOLDS || !isBadFold(raw, start, lf + 1, limit))
        return { start, end: lf + 1, bodyStart: lf + 1, badFolds };
      badFolds.push(lf + 1);
    }
    lf = raw.indexOf(LF, lf + 1);
  }
  if (limit === raw.length) return { start, end: raw.length, bodyStart: raw.length, badFolds };
  // Oversized header block: keep whole lines up to the limit, treat the rest as body.
  const lastLf = raw.lastIndexOf(LF, limit - 1);
  const end = lastLf >= start ? lastLf + 1 : limit;
  return { start, end, bodyStart: end, badFolds };
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * Header bytes as text. Raw 8-bit UTF-8 (RFC 6532, and common in practice) decodes as such; lines
 * that are not are read as decodeUnlabelled says (stray byte, declared charset, detector, Latin-1).
 */
function decodeHeaderBytes(bytes: Buffer, raw: Buffer): string {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    const lines: Buffer[] = [];
    let pos = 0;
    while (pos < bytes.length) {
      const lf = bytes.indexOf(LF, pos);
      const stop = lf === -1 ? bytes.length : lf + 1;
      lines.push(bytes.subarray(pos, stop));
      pos = stop;
    }
    const decode = unlabelledDecoder(
      lines.filter((l) => l.some((b) => b >= 0x80)),
      () => declaredCharsets(raw),
    );
    return lines.map(decode).join('');
  }
}

// RFC 5322 field name: printable ASCII except ':'; "Subject :" (space before the colon) is tolerated.
const FIELD_NAME = /^[!-9;-~]+$/;

function splitFields(text: string): HeaderField[] {
  const fields: HeaderField[] = [];
  let name: string | null = null;
  let value = '';
  const flush = (): void => {
    if (name !== null) fields.push({ name, value: value.trim() });
    name = null;
  };
  for (const line of text.split(/\r?\n/)) {
    if (line === '') continue;
    const first = line.charCodeAt(0);
    if (first === SP || first === HT) {
      // Unfolding removes only the line break; a continuation of a skipped line is skipped too.
      if (name !== null) value += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon === -1 && name !== null) {
      // A bad fold (headerBounds kept it in the block): the field goes on, as if folded.
      value += ` ${line}`;
      continue;
    }
    flush();
    if (colon <= 0) continue;
    const candidate = line.slice(0, colon).trimEnd();
    // Rejects mbox "From " lines ("From x Fri Jul  8 12:08:34 2011") and other junk.
    if (!FIELD_NAME.test(candidate)) continue;
    name = candidate;
    value = line.slice(colon + 1);
  }
  flush();
  return fields;
}

/** Remove RFC 5322 comments (nestable, with quoted-pairs) so only the tokens are left. */
export function stripComments(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && (depth > 0 || quoted)) {
      if (depth === 0) out += c + (value[i + 1] ?? '');
      i++;
      continue;
    }
    if (quoted) {
      out += c;
      if (c === '"') quoted = false;
      continue;
    }
    if (c === '(') {
      depth++;
      continue;
    }
    if (c === ')' && depth > 0) {
      depth--;
      if (depth === 0) out += ' ';
      continue;
    }
    if (depth > 0) continue;
    if (c === '"') quoted = true;
    out += c;
  }
  return out;
}

/** RFC 2047 encoded words decoded; a value libmime cannot handle is kept as written. */
export function decodeHeaderValue(value: string): string {
  if (!value.includes('=?')) return value;
  try {
    return libmime.decodeWords(decodeUtf7Words(relabelJapaneseWords(value)));
  } catch {
    return value;
  }
}

export class HeaderBlock {
  readonly fields: readonly HeaderField[];
  readonly bounds: HeaderBounds;
  private readonly byName = new Map<string, string[]>();
  private readonly decoded = new Map<string, string>();

  constructor(fields: readonly HeaderField[], bounds: HeaderBounds) {
    this.fields = fields;
    this.bounds = bounds;
    for (const f of fields) {
      const key = f.name.toLowerCase();
      const list = this.byName.get(key);
      if (list) list.push(f.value);
      else this.byName.set(key, [f.value]);
    }
  }

  has(name: string): boolean {
    return this.byName.has(name.toLowerCase());
  }

  /** First occurrence, unfolded, encoded words left as written (for structured headers). */
  getRaw(name: string): string | undefined {
    return this.byName.get(name.toLowerCase())?.[0];
  }

  getAllRaw(name: string): string[] {
    return [...(this.byName.get(name.toLowerCase()) ?? [])];
  }

  /**
   * First occurrence with RFC 2047 encoded words decoded. Decoded once per field: Subject is read
   * by the verdict, the draft, replay's thread key and its summary, and decoding a long encoded
   * Subject is not cheap.
   */
  get(name: string): string | undefined {
    const key = name.toLowerCase();
    const known = this.decoded.get(key);
    if (known !== undefined) return known;
    const raw = this.byName.get(key)?.[0];
    if (raw === undefined) return undefined;
    const value = decodeHeaderValue(raw);
    this.decoded.set(key, value);
    return value;
  }

  getAll(name: string): string[] {
    return this.getAllRaw(name).map(decodeHeaderValue);
  }
}

/**
 * Read the header block of a raw message. Never looks past the first empty line. With bare CR line
 * ends in the header block, the block is read from normaliseLineEnds(raw), and `bounds` are
 * offsets in those bytes (draft() reads the same view).
 */
export function parseHeaders(message: Buffer): HeaderBlock {
  const raw = headerHasBareCr(message, MAX_HEADER_BYTES) ? normaliseLineEnds(message) : message;
  const bounds = headerBounds(raw);
  const text = decodeHeaderBytes(raw.subarray(bounds.start, bounds.end), raw);
  return new HeaderBlock(splitFields(text), bounds);
}
