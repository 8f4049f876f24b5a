// A multipart body part whose header block is not closed by an empty line (the first body line
// follows the part's headers directly) is read by CPython as headers then body, but by mailparser
// as headers only, so its text is lost. The empty line is put back before mailparser sees it.
// Only such malformed parts change; everything else is handed over byte for byte.

const MAX_BOUNDARIES = 64;

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function restorePartSeparators(raw: Buffer): Buffer {
  // latin1: one character per byte, so string offsets are byte offsets.
  const text = raw.toString('latin1');
  const boundaries = new Set<string>();
  for (const m of text.matchAll(/boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))/gi)) {
    boundaries.add((m[1] ?? m[2])!);
    if (boundaries.size >= MAX_BOUNDARIES) break;
  }
  if (boundaries.size === 0) return raw;
  const delimiter = new RegExp(`^--(?:${[...boundaries].map(escape).join('|')})[ \\t]*\\r?\\n`, 'gm');
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
