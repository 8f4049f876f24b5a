// A multipart body part whose header block is not closed by an empty line (the first body line
// follows the part's headers directly) is read by CPython as headers then body, but by mailparser
// as headers only, so its text is lost. The empty line is put back before mailparser sees it.
// Only such malformed parts change; everything else is handed over byte for byte.
// Also here: bare CR line ends made CRLF for the readers (the stored message keeps its bytes).
import { escapeRegExp } from '../escape-regexp.js';

const MAX_BOUNDARIES = 64;

export function restorePartSeparators(raw: Buffer): Buffer {
  // latin1: one character per byte, so string offsets are byte offsets.
  const text = raw.toString('latin1');
  const boundaries = new Set<string>();
  for (const m of text.matchAll(/boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))/gi)) {
    boundaries.add((m[1] ?? m[2])!);
    if (boundaries.size >= MAX_BOUNDARIES) break;
  }
  if (boundaries.size === 0) return raw;
  const delimiter = new RegExp(`^--(?:${[...boundaries].map(escapeRegExp).join('|')})[ \\t]*\\r?\\n`, 'gm');
  const inserts: Array<[offset: number, eol: string]> = [];
  for (const m of text.matchAll(delimiter)) {
    let pos = m.index + m[0].length;
    const eol = m[0].endsWith('\r\n') ? '\r\n' : '\n';
    // Walk the part's header lines up to the empty line.
    for (;;) {
      const lf = text.indexOf('\n', pos);
      const line = text.slice(pos, lf === -1 ? text.length : lf).replace(/\r$/, '');
      if (line === '' || lf === -1) break;
      if (line[0] !== ' ' && line[0] !== '\t' && !line.includes(':')) {
        // A delimiter right after the headers is an empty part, not a missing separator.
        if (!line.startsWith('--')) inserts.push([pos, eol]);
        break;
      }
      pos = lf + 1;
    }
  }
  if (inserts.length === 0) return raw;
  const pieces: Buffer[] = [];
  let last = 0;
  for (const [offset, eol] of inserts) {
    pieces.push(raw.subarray(last, offset), Buffer.from(eol));
    last = offset;
  }
  pieces.push(raw.subarray(last));
  return Buffer.concat(pieces);
}

const CR = 0x0d;
const LF = 0x0a;

/** The first bare CR (not followed by LF) at or after `from` and before `limit`, or -1. */
export function bareCr(raw: Buffer, from: number, limit: number): number {
  for (let cr = raw.indexOf(CR, from); cr !== -1 && cr < limit; cr = raw.indexOf(CR, cr + 1)) {
    if (raw[cr + 1] !== LF) return cr;
  }
  return -1;
}

/**
 * True when the header block has a bare CR line end (old Mac mail, or mixed ends). Only the
 * header block is looked at: this runs at the door, where the body is not read. It ends at the
 * first empty line, whichever line ends make it.
 */
export function headerHasBareCr(raw: Buffer, limit: number): boolean {
  const first = raw.indexOf(CR);
  if (first === -1 || first >= limit) return false;
  // LF-only headers that ended before any CR.
  if (raw.subarray(0, first).includes('\n\n')) return false;
  for (let cr = first; cr !== -1 && cr < limit; cr = raw.indexOf(CR, cr + 1)) {
    if (raw[cr + 1] !== LF) return true;
    // CRLF then an empty line (CRLF or LF): the header block ended without a bare CR.
    if (raw[cr + 2] === LF || (raw[cr + 2] === CR && raw[cr + 3] === LF)) return false;
  }
  return false;
}

/**
 * Bare CR line ends (old Mac archives, mixed ends) made CRLF, so every reader sees lines; bytes
 * with none come back as they are. The stored raw message is never changed: this is a view.
 */
export function normaliseLineEnds(raw: Buffer): Buffer {
  let cr = bareCr(raw, 0, raw.length);
  if (cr === -1) return raw;
  const pieces: Buffer[] = [];
  let last = 0;
  while (cr !== -1) {
    pieces.push(raw.subarray(last, cr + 1), Buffer.from([LF]));
    last = cr + 1;
    cr = bareCr(raw, last, raw.length);
  }
  pieces.push(raw.subarray(last));
  return Buffer.concat(pieces);
}
