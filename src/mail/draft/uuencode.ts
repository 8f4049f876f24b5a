// uuencoded files: a part with Content-Transfer-Encoding x-uuencode (mailparser hands its bytes
// over still encoded), and "begin 644 name … end" blocks that old clients put in plain text bodies.
// A block is decoded only when every line has the length its count character announces, so text
// that merely starts with "begin" is left alone.

export interface UuFile {
  filename: string;
  content: Buffer;
}

const BEGIN = /^begin(?:-base64)?[ \t]+([0-7]{3,4})[ \t]+(.+?)[ \t]*$/;

function uuValue(code: number): number {
  return (code - 0x20) & 0x3f;
}

/** One encoded line's bytes, or null when it is not a well-formed uuencoded line. */
function decodeLine(line: string): Buffer | null {
  if (line.length === 0) return null;
  const count = uuValue(line.charCodeAt(0));
  const needed = Math.ceil(count / 3) * 4;
  // Some encoders drop trailing spaces (`), others add a checksum character: allow both.
  if (line.length - 1 < needed - 2 || line.length - 1 > needed + 2) return null;
  const out = Buffer.alloc(count);
  let o = 0;
  for (let i = 1; o < count; i += 4) {
    const c = [0, 1, 2, 3].map((k) => {
      const ch = line.charCodeAt(i + k);
      if (Number.isNaN(ch)) return 0;
      if (ch < 0x20 || ch > 0x60) return -1;
      return uuValue(ch);
    });
    if (c.some((v) => v < 0)) return null;
    const triple = [(c[0]! << 2) | (c[1]! >> 4), ((c[1]! & 0x0f) << 4) | (c[2]! >> 2), ((c[2]! & 0x03) << 6) | c[3]!];
    for (const b of triple) if (o < count) out[o++] = b & 0xff;
  }
  return out;
}

export interface UuBlock extends UuFile {
  /** Offsets of the block in the text, from "begin" to the end of the "end" line. */
  start: number;
  end: number;
}

/** Every well-formed begin … end block of a text, in order. */
export function findUuBlocks(text: string): UuBlock[] {
  const blocks: UuBlock[] = [];
  const lineRe = /[^\r\n]*(?:\r\n|\n|\r|$)/g;
  const lines: Array<{ text: string; start: number; end: number }> = [];
  for (let m = lineRe.exec(text); m !== null && m[0] !== ''; m = lineRe.exec(text)) {
    lines.push({ text: m[0].replace(/[\r\n]+$/, ''), start: m.index, end: m.index + m[0].length });
  }
  for (let i = 0; i < lines.length; i++) {
    const begin = BEGIN.exec(lines[i]!.text);
    if (!begin || lines[i]!.text.startsWith('begin-base64')) continue;
    const chunks: Buffer[] = [];
    let j = i + 1;
    let ok = false;
    for (; j < lines.length; j++) {
      const line = lines[j]!.text;
      if (line.trimEnd() === 'end') {
        ok = true;
        break;
      }
      // The zero-length line before "end" ("`" or a lone space, which transports may strip).
      if (line === '`' || line.trim() === '') continue;
      const bytes = decodeLine(line);
      if (bytes === null) break;
      chunks.push(bytes);
    }
    if (!ok) continue;
    const filename = begin[2]!.replace(/^.*[\\/]/, '');
    blocks.push({ filename, content: Buffer.concat(chunks), start: lines[i]!.start, end: lines[j]!.end });
    i = j;
  }
  return blocks;
}

/** A text body without its uuencoded blocks, and the files they held. */
export function extractUuBlocks(text: string): { text: string; files: UuFile[] } {
  if (!text.includes('begin ')) return { text, files: [] };
  const blocks = findUuBlocks(text);
  if (blocks.length === 0) return { text, files: [] };
  let out = '';
  let last = 0;
  for (const b of blocks) {
    out += text.slice(last, b.start);
    last = b.end;
  }
  out += text.slice(last);
  return { text: out, files: blocks.map(({ filename, content }) => ({ filename, content })) };
}

/** The file of a part sent with Content-Transfer-Encoding x-uuencode, or null when it holds none. */
export function decodeUuPart(content: Buffer): UuFile | null {
  return findUuBlocks(content.toString('latin1'))[0] ?? null;
}
