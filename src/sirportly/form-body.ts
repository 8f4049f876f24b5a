// application/x-www-form-urlencoded bodies, encoded as they are sent. URLSearchParams#toString()
// on a 20 MB message holds the event loop for seconds and builds the whole encoded text (up to
// nine bytes per character) at once; here the length is counted first (Content-Length must be
// known before the first byte) and the text is then encoded a slice at a time as the socket
// takes it, yielding to the event loop between slices. The bytes are exactly URLSearchParams'
// (the WHATWG urlencoded serializer): UTF-8, lone surrogates as U+FFFD, A-Z a-z 0-9 * - . _ kept,
// space as +, everything else %XX in upper case.

/**
 * Characters encoded per slice. Small on purpose: each slice's encoded text (up to 9 bytes a
 * character) then stays a young-generation string, freed by cheap scavenges; slices of 64 K made
 * large-object strings that only full mark-compact collections free, and those paused the loop.
 */
const SLICE_CHARS = 8 * 1024;

export type FormPairs = ReadonlyArray<readonly [string, string]>;

export interface FormBody {
  /** Exact byte length of the encoded body. */
  length: number;
  /** The encoded body, slice by slice; each iteration encodes afresh. */
  chunks: AsyncIterable<Buffer>;
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

function isKept(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x2a ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5f
  );
}

/** Encoded length of text[from, to), to the byte. A pair split by `to` is counted where it starts. */
function encodedLength(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += isKept(c) || c === 0x20 ? 1 : 3;
    else if (c < 0x800) n += 6;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) {
        n += 12;
        i += 1;
      } else n += 9; // lone high surrogate: U+FFFD
    } else n += 9; // the rest of the BMP, and a lone low surrogate as U+FFFD
  }
  return n;
}

/** The end of a slice starting at `from`, never between the halves of a surrogate pair. */
function sliceEnd(text: string, from: number, size: number): number {
  let end = Math.min(text.length, from + size);
  if (end < text.length) {
    const last = text.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) end += 1;
  }
  return end;
}

// encodeURIComponent keeps !'()~ and writes a space as %20; URLSearchParams does neither.
const DIFFERENCES = /%20|[!'()~]/g;
const fixDifference = (m: string) => (m === '%20' ? '+' : `%${m.charCodeAt(0).toString(16).toUpperCase()}`);
// A surrogate without its other half (never split by sliceEnd) becomes U+FFFD, as in a USVString.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** One slice in URLSearchParams' encoding. */
function encodeSlice(slice: string): Buffer {
  let encoded: string;
  try {
    encoded = encodeURIComponent(slice);
  } catch {
    // URIError: a lone surrogate, which is rare enough to pay a second pass for.
    encoded = encodeURIComponent(slice.replace(LONE_SURROGATE, '\uFFFD'));
  }
  return Buffer.from(encoded.replace(DIFFERENCES, fixDifference), 'latin1');
}

/** Build a streamed form body; `sliceChars` is for tests that want slice edges everywhere. */
export async function formBody(pairs: FormPairs, sliceChars = SLICE_CHARS): Promise<FormBody> {
  let length = Math.max(0, pairs.length - 1); // the & between pairs
  for (const [name, value] of pairs) {
    length += 1; // =
    for (const text of [name, value]) {
      for (let from = 0; from < text.length;) {
        const to = sliceEnd(text, from, sliceChars * 4);
        length += encodedLength(text, from, to);
        from = to;
        if (from < text.length) await yieldToLoop();
      }
    }
  }
  async function* chunks(): AsyncGenerator<Buffer> {
    for (const [i, [name, value]] of pairs.entries()) {
      if (i > 0) yield Buffer.from('&');
      yield Buffer.concat([encodeSlice(name), Buffer.from('=')]);
      for (let from = 0; from < value.length;) {
        const to = sliceEnd(value, from, sliceChars);
        yield encodeSlice(value.slice(from, to));
        from = to;
        if (from < value.length) await yieldToLoop();
      }
    }
  }
  return { length, chunks: { [Symbol.asyncIterator]: chunks } };
}
