// The streamed form body is byte for byte what URLSearchParams#toString() gives, and its length
// is counted exactly, for text that is hard to encode, with slice edges everywhere.
import { describe, expect, it } from 'vitest';
import { formBody, type FormPairs } from '../../src/sirportly/form-body.js';

async function streamed(pairs: FormPairs, sliceChars?: number): Promise<{ length: number; bytes: Buffer }> {
  const body = await formBody(pairs, sliceChars);
  const parts: Buffer[] = [];
  for await (const c of body.chunks) parts.push(c);
  return { length: body.length, bytes: Buffer.concat(parts) };
}

const TRICKY: FormPairs = [
  ['ticket', 'GJ-060309'],
  [
    'message',
    'Hello, World! It\'s (50% off) ~ a*b-c.d_e +plus &amp =eq ?q #h /s \\ "q" <t> [b] {c} |p ^c `b` $d @a :c ;s ,c',
  ],
  ['subject', 'Ünïcödé — ünd 日本語 テキスト, emoji 👍🏽 and 𝄞 music'],
  ['html_body', '<p>line\r\nbreak\ttab\u0000nul\u007fdel\u0080c1 é</p>'],
  ['lone', 'high \uD83D then text, low \uDC4D alone, high at end \uD83D'],
  ['low_first', '\uDC00\uD800'],
  ['', ''],
  ['name with spaces & = +', 'value'],
  ['empty', ''],
];

describe('formBody', () => {
  it.each([undefined, 1, 2, 3, 7])(
    'is byte-identical to URLSearchParams, length exact (slices of %s chars)',
    async (slice) => {
      const expected = Buffer.from(
        new URLSearchParams(TRICKY.map(([k, v]) => [k, v] as [string, string])).toString(),
        'utf8',
      );
      const { length, bytes } = await streamed(TRICKY, slice);
      expect(bytes.equals(expected)).toBe(true);
      expect(length).toBe(expected.length);
    },
  );

  it('a long message with pairs on every slice edge, and nothing at all', async () => {
    const long = '𝄞a😀 '.repeat(50_000) + '\uD83D';
    const pairs: FormPairs = [['message', long]];
    const expected = Buffer.from(new URLSearchParams([['message', long]]).toString());
    for (const slice of [1000, 1001, 4096]) {
      const { length, bytes } = await streamed(pairs, slice);
      expect(bytes.equals(expected)).toBe(true);
      expect(length).toBe(expected.length);
    }
    expect(await streamed([])).toEqual({ length: 0, bytes: Buffer.alloc(0) });
  });
});
