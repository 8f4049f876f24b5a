// UTF-7 (RFC 2152), which CPython decodes and libmime/mailparser deliberately do not (it can hide
// "<" from filters that look at raw bytes). Here it is decoded into text that is escaped or
// sanitised like any other, so the markup concern does not apply; mail from Exchange bounces and
// old Outlook versions is readable instead of "+AEg-ello".
import iconv from 'iconv-lite';

const UTF7_LABEL = /^(?:csunicode11utf7|unicode11utf7|utf7)$/;

/** utf-7, UTF7, unicode-1-1-utf-7, csUnicode11UTF7. */
export function isUtf7Label(label: string): boolean {
  return UTF7_LABEL.test(label.toLowerCase().replace(/[^a-z0-9]/g, ''));
}

/** Decode UTF-7 text (iconv-lite); text without "+" comes back unchanged. */
export function decodeUtf7(text: string): string {
  if (!text.includes('+')) return text;
  return iconv.decode(Buffer.from(text, 'latin1'), 'utf-7');
}

// Encoded words in UTF-7 (=?UTF-7?Q?Hi_Mom_+Jjo-?=), which libmime leaves undecoded.
const UTF7_WORD = /=\?([^?*]+)(?:\*[^?]*)?\?([qQbB])\?([^?]*)\?=/g;

/** Decode the UTF-7 encoded words of a header value; other words are left for libmime. */
export function decodeUtf7Words(value: string): string {
  return value.replace(UTF7_WORD, (word, charset: string, encoding: string, data: string) => {
    if (!isUtf7Label(charset)) return word;
    const ascii =
      encoding.toLowerCase() === 'b'
        ? Buffer.from(data, 'base64').toString('latin1')
        : data
            .replace(/_/g, ' ')
            .replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    return decodeUtf7(ascii);
  });
}

/**
 * True when every text/plain and text/html part of the message declares a UTF-7 charset: mailparser
 * then handed over the UTF-7 text undecoded (it is plain ASCII), and it can be decoded as a whole.
 * With mixed charsets nothing is decoded, since a "+" in another part would be mangled.
 */
export function textPartsAreUtf7(raw: Buffer): boolean {
  // Header lines only, bounded: charset labels are ASCII, so latin1 keeps offsets and costs nothing.
  const text = raw.subarray(0, Math.min(raw.length, 4 * 1024 * 1024)).toString('latin1');
  let found = false;
  for (const m of text.matchAll(/^content-type:[ \t]*text\/(?:plain|html)\b([^\n]*(?:\n[ \t][^\n]*)*)/gim)) {
    const charset = /charset\s*=\s*"?([^";\s]+)/i.exec(m[1]!)?.[1];
    if (!charset || !isUtf7Label(charset)) return false;
    found = true;
  }
  return found;
}
