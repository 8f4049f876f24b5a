// Bytes in a named charset to text, with the WHATWG decoders built into Node (full ICU): the
// ones browsers and mail clients use. An unknown label decodes as UTF-8 when the bytes are
// valid UTF-8, else as Latin-1, so no byte is lost to U+FFFD.
import { decodeUtf7, isUtf7Label } from './utf7.js';

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

export function decodeBytes(bytes: Uint8Array, label: string | undefined): string {
  if (label) {
    if (isUtf7Label(label)) return decodeUtf7(Buffer.from(bytes).toString('latin1'));
    try {
      return new TextDecoder(label).decode(bytes);
    } catch {
      // RangeError: a label TextDecoder does not know.
    }
  }
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return Buffer.from(bytes).toString('latin1');
  }
}
