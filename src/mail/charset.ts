// Bytes in a named charset to text. The WHATWG decoders built into Node (full ICU) come first: the
// ones browsers and mail clients use. Labels they do not know (IBM code pages 437 and 850, UTF-7…)
// go to iconv-lite. An unknown label decodes as UTF-8 when the bytes are valid UTF-8, else as
// Latin-1, so no byte is lost to U+FFFD.
//
// Raw 8-bit header bytes carry no label at all. They are read, in order, as: valid UTF-8; UTF-8
// with one stray byte (U+FFFD for it, the rest kept); a charset the message declares (any
// charset= of its parts); what a detector finds; Latin-1.
import chardet from 'chardet';
import iconv from 'iconv-lite';
import jschardet from 'jschardet';
import { decodeUtf7, isUtf7Label } from './utf7.js';

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const utf8Lenient = new TextDecoder('utf-8');

/** Bytes in the named charset, or null when neither TextDecoder nor iconv-lite knows the label. */
function decodeLabelled(bytes: Uint8Array, label: string): string | null {
  if (isUtf7Label(label)) return decodeUtf7(Buffer.from(bytes).toString('latin1'));
  try {
    return new TextDecoder(label).decode(bytes);
  } catch {
    // RangeError: a label TextDecoder does not know.
  }
  if (iconv.encodingExists(label)) return iconv.decode(Buffer.from(bytes), label);
  return null;
}

export function decodeBytes(bytes: Uint8Array, label: string | undefined): string {
  if (label) {
    const text = decodeLabelled(bytes, label);
    if (text !== null) return text;
  }
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return Buffer.from(bytes).toString('latin1');
  }
}

/** Valid multi-byte UTF-8 sequences and invalid bytes in a byte run. */
function utf8Shape(bytes: Uint8Array): { valid: number; invalid: number } {
  let valid = 0;
  let invalid = 0;
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    const len = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    let ok = len > 0 && i + len <= bytes.length;
    for (let k = 1; ok && k < len; k++) ok = (bytes[i + k]! & 0xc0) === 0x80;
    if (ok) {
      valid++;
      i += len;
    } else {
      invalid++;
      i++;
    }
  }
  return { valid, invalid };
}

/** Labels named by charset= parameters, in the order they appear (ASCII and UTF-8 left out). */
export function declaredCharsets(raw: Buffer, limit = 256 * 1024): string[] {
  const text = raw.subarray(0, Math.min(raw.length, limit)).toString('latin1');
  const out: string[] = [];
  for (const m of text.matchAll(/charset\s*=\s*"?([A-Za-z0-9_.:+-]{1,40})/gi)) {
    const label = m[1]!.toLowerCase();
    if (/^(?:us-?ascii|ascii|utf-?8)$/.test(label) || isUtf7Label(label) || out.includes(label)) continue;
    out.push(label);
    if (out.length >= 8) break;
  }
  return out;
}

// Detectors decide from the first few KB; a longer value costs time at the door for nothing.
const DETECT_BYTES = 4096;
const MIN_CHARDET_CONFIDENCE = 20;
const MULTI_BYTE = /^(?:gb2312|gbk|gb18030|big5|shift_jis|euc-jp|euc-kr)$/i;

/**
 * The bytes in the named charset when every byte belongs to it, else null. The WHATWG decoders
 * come first, as for bodies (so iso-8859-1 reads 0x80-0x9F as windows-1252 does, as mail clients
 * do); iconv-lite for labels they do not know.
 */
function decodesCleanly(bytes: Buffer, label: string): string | null {
  try {
    const decoder = new TextDecoder(label, { fatal: true });
    try {
      return decoder.decode(bytes);
    } catch {
      return null;
    }
  } catch {
    // RangeError: a label TextDecoder does not know (the inner try answers for known ones).
  }
  if (!iconv.encodingExists(label)) return null;
  const text = iconv.decode(bytes, label);
  return text.includes('\ufffd') ? null : text;
}

/**
 * What a detector reads the bytes as, or null. jschardet for East Asian multi-byte charsets,
 * chardet's ranked candidates for the rest: on short header values this pair reads more samples
 * right than either alone (bench/charset-detectors.mjs prints the figures).
 */
export function detectedText(bytes: Buffer): { text: string; label: string } | null {
  const sample = bytes.subarray(0, DETECT_BYTES);
  const top = jschardet.detect(sample.toString('binary')).encoding;
  if (top && MULTI_BYTE.test(top)) {
    const text = decodesCleanly(bytes, top);
    if (text !== null) return { text, label: top };
  }
  for (const candidate of chardet.analyse(sample)) {
    // Below this, chardet lists every multi-byte charset whose byte grammar the value happens to
    // fit: "Grüße" in Latin-1 fits Shift_JIS.
    if (candidate.confidence < MIN_CHARDET_CONFIDENCE) break;
    // ASCII and UTF-8 answers are wrong here: the bytes were tried as UTF-8 already.
    if (/^(?:ascii|utf-?8|utf-?16|utf-?32)/i.test(candidate.name)) continue;
    const text = decodesCleanly(bytes, candidate.name);
    if (text !== null) return { text, label: candidate.name };
  }
  return null;
}

function strayByteUtf8(bytes: Buffer): string | null {
  const shape = utf8Shape(bytes);
  // UTF-8 with one stray byte: the stray byte is the damage, not the rest of the value.
  return shape.invalid === 1 && shape.valid >= 1 ? utf8Lenient.decode(bytes) : null;
}

function strictUtf8(bytes: Buffer): string | null {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * A decoder for the raw 8-bit header lines of one message, which have no label. The legacy
 * charset is chosen once for the message from all its lines that are not UTF-8 (`lines`), so a
 * header block of many such lines costs one detection, not one each. `declared` gives the
 * charsets the message declares; it is asked only when some line is not UTF-8.
 */
export function unlabelledDecoder(
  lines: readonly Buffer[],
  declared: () => readonly string[],
): (bytes: Buffer) => string {
  const legacy = lines.filter((l) => strictUtf8(l) === null && strayByteUtf8(l) === null);
  let label = 'latin1';
  if (legacy.length > 0) {
    const joined = Buffer.concat(legacy).subarray(0, 4 * DETECT_BYTES);
    label = declared().find((l) => decodesCleanly(joined, l) !== null) ?? detectedText(joined)?.label ?? 'latin1';
  }
  return (bytes) =>
    strictUtf8(bytes) ??
    strayByteUtf8(bytes) ??
    (label !== 'latin1' ? decodesCleanly(bytes, label) : null) ??
    bytes.toString('latin1');
}

/** One raw 8-bit header value without a label, decoded in the order above. */
export function decodeUnlabelled(bytes: Buffer, declared: () => readonly string[]): string {
  return unlabelledDecoder([bytes], declared)(bytes);
}

const ENCODED_WORD = /=\?([^?*]+)(\*[^?]*)?\?([qQbB])\?([^?]*)\?=/g;

function wordBytes(encoding: string, data: string): Buffer {
  if (encoding.toLowerCase() === 'b') return Buffer.from(data, 'base64');
  return Buffer.from(
    data.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
    'latin1',
  );
}

/**
 * Encoded words labelled ISO-2022-JP whose bytes are 8-bit: ISO-2022-JP is a 7-bit charset, so the
 * label is wrong, and such words are Shift_JIS (Windows code page 932) in practice, sometimes
 * EUC-JP. They are re-encoded as UTF-8 words with the text those bytes hold; other words are left
 * for libmime.
 */
export function relabelJapaneseWords(value: string): string {
  if (!/iso-2022-jp/i.test(value)) return value;
  return value.replace(
    ENCODED_WORD,
    (word, charset: string, _lang: string | undefined, encoding: string, data: string) => {
      if (charset.toLowerCase() !== 'iso-2022-jp') return word;
      const bytes = wordBytes(encoding, data);
      if (!bytes.some((b) => b >= 0x80)) return word;
      const text = decodesCleanly(bytes, 'cp932') ?? decodesCleanly(bytes, 'euc-jp');
      return text === null ? word : `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;
    },
  );
}
