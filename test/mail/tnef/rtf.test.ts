// Compressed RTF (MS-OXRTFCP) and RTF bodies to HTML or text (MS-OXRTFEX), as Outlook writes them
// into winmail.dat.
import { describe, expect, it } from 'vitest';
import { decompressRtf, rtfCrc, RtfCompressedError } from '../../../src/mail/tnef/rtf-compressed.js';
import { rtfToBody } from '../../../src/mail/tnef/rtf-text.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const rtf = (s: string): Buffer => Buffer.from(s, 'latin1');

// MS-OXRTFCP example 1, "Simple Compressed RTF": the dictionary's initial string supplies most of it.
const HELLO = hex(`2d 00 00 00 2b 00 00 00 4c 5a 46 75 f1 c5 c7 a7 03 00 0a 00 72 63 70 67 31 32 35 42 32 0a f3 20
  68 65 6c 09 00 20 62 77 05 b0 6c 64 7d 0a 80 0f a0`);
// MS-OXRTFCP example 2: a reference that reads past the write position (a run).
const RUN = hex('1a 00 00 00 1c 00 00 00 4c 5a 46 75 e2 d4 4b 51 41 00 04 20 57 58 59 5a 0d 6e 7d 01 0e b0');

function mela(raw: Buffer): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32LE(12 + raw.length, 0);
  header.writeUInt32LE(raw.length, 4);
  header.write('MELA', 8, 'latin1');
  return Buffer.concat([header, raw]);
}

describe('decompressRtf', () => {
  it('decodes the specification examples, CRC included', () => {
    expect(decompressRtf(HELLO)).toEqual({
      rtf: rtf('{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n'),
      warnings: [],
    });
    expect(decompressRtf(RUN)).toEqual({ rtf: rtf('{\\rtf1 WXYZWXYZWXYZWXYZWXYZ}'), warnings: [] });
    expect(rtfCrc(HELLO.subarray(16))).toBe(0xa7c7c5f1);
  });

  it('returns MELA (stored uncompressed) data as it is', () => {
    const raw = rtf('{\\rtf1\\ansi plain}');
    expect(decompressRtf(mela(raw))).toEqual({ rtf: raw, warnings: [] });
  });

  it('warns, and still decodes, when the CRC does not match', () => {
    const bad = Buffer.from(HELLO);
    bad.writeUInt8(bad[12]! ^ 0xff, 12);
    const out = decompressRtf(bad);
    expect(out.rtf.toString('latin1')).toBe('{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n');
    expect(out.warnings).toEqual([expect.stringMatching(/fails its CRC \(0xa7c7c5f1, header says 0xa7c7c50e\)/)]);
  });

  it('keeps what precedes a truncation, with a warning', () => {
    const out = decompressRtf(HELLO.subarray(0, 36));
    expect(out.rtf.toString('latin1')).toMatch(/^\{\\rtf1\\ansi\\ansicpg1252\\pard he/);
    expect(out.warnings.join()).toMatch(/truncated/);
  });

  it('does not trust RAWSIZE beyond what the input can hold', () => {
    const huge = Buffer.from(HELLO);
    huge.writeUInt32LE(0xffffffff, 4);
    expect(decompressRtf(huge).rtf.toString('latin1')).toBe('{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n');
  });

  it('refuses what is not compressed RTF', () => {
    expect(() => decompressRtf(Buffer.from('short'))).toThrow(RtfCompressedError);
    const other = Buffer.from(HELLO);
    other.write('ZIP!', 8, 'latin1');
    expect(() => decompressRtf(other)).toThrow(/unknown COMPTYPE/);
  });
});

describe('rtfToBody: plain RTF to text', () => {
  it('renders paragraphs, line breaks, tabs and escaped braces', () => {
    expect(
      rtfToBody(rtf('{\\rtf1\\ansi\\deff0 {\\b Hello}\\tab world\\par second\\line line \\{x\\} \\\\ end\\par}')),
    ).toEqual({
      format: 'text',
      content: 'Hello\tworld\nsecond\nline {x} \\ end',
    });
  });

  it("decodes \\'hh in the document's \\ansicpg, and in a font's \\fcharset where it has one", () => {
    const doc =
      "{\\rtf1\\ansi\\ansicpg1251\\deff0{\\fonttbl{\\f0\\fnil Arial;}{\\f1\\fnil\\fcharset238 Arial CE;}}\\f0 \\'cf\\'f0\\'e8\\'e2\\'e5\\'f2 {\\f1 \\'9a\\'e8}\\par}";
    expect(rtfToBody(rtf(doc)).content).toBe('Привет šč');
  });

  it('decodes a double-byte character split across an escape and a literal', () => {
    // Shift_JIS 0x82 0x60 is "Ａ"; the trail byte 0x60 is a literal backquote in the RTF.
    expect(rtfToBody(rtf("{\\rtf1\\ansi\\ansicpg932 \\'82`}")).content).toBe('Ａ');
  });

  it('takes \\uN and drops the \\ucN fallback characters after it', () => {
    expect(rtfToBody(rtf("{\\rtf1\\ansi\\uc1 caf\\u233\\'e9 \\u-3913?x}")).content).toBe('caf\u00e9 \uf0b7x');
    expect(rtfToBody(rtf("{\\rtf1\\ansi\\uc2 \\u20320\\'c4\\'e3!{\\uc0 \\u8364 !}}")).content).toBe('你!€!');
    // A surrogate pair as two \u words.
    expect(rtfToBody(rtf('{\\rtf1\\uc1\\u-10179?\\u-8704?}')).content).toBe('😀');
  });

  it('skips destinations that are not body text', () => {
    const doc = [
      '{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0\\fswiss Arial;}}{\\colortbl;\\red255\\green0\\blue0;}',
      '{\\stylesheet{\\s0 Normal;}}{\\info{\\title Secret title}{\\author Someone}}',
      '{\\*\\generator Riched20 10.0;}{\\*\\unknowndest hidden}{\\*\\htmltag64 <p>}',
      '{\\pict\\wmetafile8 0123456789abcdef}{\\*\\shppict{\\pict\\pngblip 89504e47}}',
      '{\\field{\\*\\fldinst HYPERLINK "http://example.com/"}{\\fldrslt link text}}',
      ' visible {\\bin4 }}}{}and more\\par}',
      'trailing garbage after the document',
    ].join('\r\n');
    expect(rtfToBody(rtf(doc)).content).toBe('link text visible and more');
  });

  it('reads what it can of damaged RTF', () => {
    expect(rtfToBody(rtf('{\\rtf1 unclosed {\\b group\\par text')).content).toBe('unclosed group\ntext');
    expect(rtfToBody(rtf('{\\rtf1 a\\')).content).toBe('a');
    expect(rtfToBody(rtf("{\\rtf1 bad \\'zz hex}")).content).toBe('bad  hex');
  });
});

describe('rtfToBody: encapsulated HTML and text (MS-OXRTFEX)', () => {
  // Modelled on MS-OXRTFEX §3.1 and on what Outlook writes.
  const encapsulated = [
    '{\\rtf1\\ANSI\\ansicpg1251\\fromhtml1 \\deff0{\\fonttbl {\\f0\\fmodern Courier New;}{\\f1\\fswiss Arial;}{\\f2\\fswiss\\fcharset0 Arial;}}',
    '{\\colortbl\\red0\\green0\\blue0;\\red0\\green0\\blue255;}',
    '{\\*\\htmltag64}\\uc1\\pard\\plain\\deftab360 \\f0\\fs24',
    '{\\*\\htmltag <html><head>\\par <style>p \\{font-family:Arial;\\}</style>\\par </head>\\par <body>\\par <p class="MsoNormal">}',
    '{\\htmlrtf \\f1 \\htmlrtf0 Bold: {\\*\\htmltag84 <b>}{\\htmlrtf \\b \\htmlrtf0 yes{\\*\\htmltag92 </b>}}\\htmlrtf\\par\\htmlrtf0}',
    "{\\*\\htmltag84 &nbsp;}\\htmlrtf \\'a0\\htmlrtf0 {\\*\\htmltag84 &uml;}\\htmlrtf {\\f2\\'a8}\\htmlrtf0{\\*\\htmltag <br>\\par}\\htmlrtf\\line\\htmlrtf0",
    "\\'cf\\'f0\\'e8\\'e2\\'e5\\'f2 {\\*\\htmltag84 &#8364;}\\htmlrtf \\u8364\\'88\\htmlrtf0",
    '{\\*\\mhtmltag84 <img src="http://example.com/a.png">}{\\*\\htmltag84 <img src="cid:a.png">}',
    '{\\*\\htmltag </p>\\par </body>\\par </html>}}',
  ].join('\r\n');

  it('gives back the original HTML for \\fromhtml1', () => {
    expect(rtfToBody(rtf(encapsulated))).toEqual({
      format: 'html',
      content:
        '<html><head>\n<style>p {font-family:Arial;}</style>\n</head>\n<body>\n<p class="MsoNormal">Bold: <b>yes</b>&nbsp;&uml;<br>\nПривет &#8364;<img src="cid:a.png"></p>\n</body>\n</html>',
    });
  });

  it('gives back the original text for \\fromtext', () => {
    const doc =
      '{\\rtf1\\ansi\\ansicpg1252\\fromtext \\fbidis \\deff0{\\fonttbl{\\f0\\fswiss Arial;}}\r\n{\\*\\generator Microsoft Exchange Server;}\r\n\\uc1\\pard\\plain\\deftab360 \\f0\\fs20 Line one\\par\r\n\\tab Line two\\par\r\n}';
    expect(rtfToBody(rtf(doc))).toEqual({ format: 'text', content: 'Line one\n\tLine two' });
  });

  it('ignores \\fromhtml outside the header, and htmltag without it', () => {
    expect(rtfToBody(rtf('{\\rtf1 {\\fromhtml1 x}{\\*\\htmltag <b>} y}'))).toEqual({ format: 'text', content: 'x y' });
  });
});
