// PR_RTF_COMPRESSED (MS-OXRTFCP) to the RTF it holds: what Outlook stores as the body of a
// rich-text mail. Hand-written: the one npm decompressor (@kenjiuno/decompressrtf) works on
// number[] arrays, checks no CRC and no bounds, and loops for as long as the header's COMPSIZE
// says, however short the data; the format is small enough to own.
import { crc32 } from 'node:zlib';

export class RtfCompressedError extends Error {}

export interface DecompressedRtf {
  rtf: Buffer;
  /** Damage met (CRC mismatch, truncation): the RTF is still what could be read. */
  warnings: string[];
}

const HEADER = 16;
const LZFU = 0x75465a4c; // 'LZFu'
const MELA = 0x414c454d; // 'MELA': stored uncompressed
const DICT_SIZE = 4096;

// MS-OXRTFCP §2.1.2.1: the dictionary starts with these 207 bytes, so that the usual RTF
// header compresses to back-references from the first byte on.
const INITIAL_DICT = Buffer.from(
  '{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript ' +
    '\\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n' +
    '\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx',
  'latin1',
);

/**
 * The format's CRC-32 is the usual polynomial started at 0 and not inverted at the end, where
 * zlib's starts at and finishes with ~0: passing ~0 as zlib's running value cancels the first.
 */
export function rtfCrc(bytes: Uint8Array): number {
  return ~crc32(bytes, 0xffffffff) >>> 0;
}

/** Throws RtfCompressedError only when the data is not compressed RTF at all. */
export function decompressRtf(data: Uint8Array): DecompressedRtf {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < HEADER) throw new RtfCompressedError('shorter than its 16-byte header');
  const compSize = buf.readUInt32LE(0);
  const rawSize = buf.readUInt32LE(4);
  const compType = buf.readUInt32LE(8);
  const crc = buf.readUInt32LE(12);
  const warnings: string[] = [];
  // COMPSIZE counts the bytes after itself.
  let end = compSize + 4;
  if (end < HEADER) throw new RtfCompressedError(`COMPSIZE ${compSize} is smaller than the header`);
  if (end > buf.length) {
    warnings.push(`compressed RTF is truncated (${buf.length} of ${end} bytes)`);
    end = buf.length;
  }

  if (compType === MELA) {
    const rtf = buf.subarray(HEADER, Math.min(end, HEADER + rawSize));
    if (rtf.length < rawSize) warnings.push('uncompressed RTF is shorter than its RAWSIZE');
    return { rtf, warnings };
  }
  if (compType !== LZFU) throw new RtfCompressedError(`unknown COMPTYPE 0x${compType.toString(16)}`);

  const input = buf.subarray(HEADER, end);
  const actual = rtfCrc(input);
  if (actual !== crc)
    warnings.push(`compressed RTF fails its CRC (0x${actual.toString(16)}, header says 0x${crc.toString(16)})`);

  const dict = Buffer.alloc(DICT_SIZE);
  INITIAL_DICT.copy(dict);
  let write = INITIAL_DICT.length;
  // A reference yields at most 17 bytes for 2 input bytes plus its share of a control byte:
  // RAWSIZE is not trusted further than the input can reach.
  const out = Buffer.alloc(Math.min(rawSize, input.length * 8 + 8));
  let n = 0;
  let pos = 0;
  let ended = false;
  decode: while (pos < input.length) {
    const control = input[pos++]!;
    for (let bit = 0; bit < 8; bit++) {
      if (pos >= input.length) break decode;
      if ((control & (1 << bit)) === 0) {
        const byte = input[pos++]!;
        if (n >= out.length) break decode;
        out[n++] = byte;
        dict[write] = byte;
        write = (write + 1) % DICT_SIZE;
        continue;
      }
      if (pos + 2 > input.length) break decode;
      const token = input.readUInt16BE(pos);
      pos += 2;
      let read = token >> 4;
      // A reference to the write position itself is the end marker.
      if (read === write) {
        ended = true;
        break decode;
      }
      // Byte by byte: a reference may overlap what it is writing (a run).
      for (let len = (token & 0xf) + 2; len > 0; len--) {
        const byte = dict[read]!;
        read = (read + 1) % DICT_SIZE;
        if (n >= out.length) break decode;
        out[n++] = byte;
        dict[write] = byte;
        write = (write + 1) % DICT_SIZE;
      }
    }
  }
  if (!ended && n < rawSize) warnings.push(`compressed RTF ends early (${n} of ${rawSize} bytes)`);
  return { rtf: out.subarray(0, n), warnings };
}
