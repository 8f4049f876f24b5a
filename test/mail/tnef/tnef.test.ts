// The TNEF (winmail.dat) decoder on streams built by test/support/tnef-writer.ts the way Outlook
// writes them: attachments named each way Outlook names them (long Unicode name, 8-bit title in
// the stream's code page, none), data before the name, embedded OLE objects and Outlook items,
// inline images with content ids, bodies as text, as HTML in a code page, and as compressed RTF
// (LZFu and MELA) holding text or encapsulated HTML; damage anywhere. The corpus suite checks the
// same on real winmail.dat files.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { draft } from '../../../src/mail/draft/draft.js';
import { decompressRtf } from '../../../src/mail/tnef/rtf-compressed.js';
import { decodeTnef, isTnefPart, TnefError } from '../../../src/mail/tnef/tnef.js';
import {
  binary,
  IID_IMESSAGE,
  IID_ISTORAGE,
  long,
  lzfuRtf,
  PR,
  PT,
  str8,
  tnef,
  unicode,
} from '../../support/tnef-writer.js';
import { envelope, testConfig, withWinmail } from '../helpers.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex').slice(0, 16);
const bytes = (n: number, seed: number): Buffer =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed * 17 + (i >> 3)) & 0xff));

const jpeg = Buffer.concat([Buffer.from('ffd8ffe0', 'hex'), bytes(3000, 1)]);
const doc = bytes(5000, 2);
const png = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), bytes(1200, 3)]);
const ole = Buffer.concat([Buffer.from('d0cf11e0a1b11ae1', 'hex'), bytes(2000, 4)]);

/** A message Outlook sent as rich text: the body only as compressed RTF, in code page 1252. */
const RTF_BODY =
  "{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Arial;}}\\pard\\f0 Alts\\'e5, the report is attached.\\par\\par -- \\par Ann Smith\\par Quality Team\\par}";
/** Outlook's HTML mail kept as RTF with the HTML encapsulated (\\fromhtml1). */
const RTF_HTML =
  '{\\rtf1\\ansi\\ansicpg1252\\fromhtml1 \\deff0{\\fonttbl{\\f0\\fmodern Courier New;}}' +
  '{\\*\\htmltag19 <html>}{\\*\\htmltag50 <body>}\\htmlrtf {\\htmlrtf0 {\\*\\htmltag64 <p>}You received a voice mail from {\\*\\htmltag84 <a href="tel:208225">}208225{\\*\\htmltag92 </a>}.{\\*\\htmltag72 </p>}\\htmlrtf\\par}\\htmlrtf0 ' +
  '{\\*\\htmltag58 </body>}{\\*\\htmltag27 </html>}}';

const embeddedItem = tnef({
  messageProps: [str8(PR.body, 'the task itself')],
  attachments: [{ title: 'inside.txt', data: Buffer.from('a file inside the attached item\n') }],
});

const STREAMS = {
  files: tnef({
    codepage: 1252,
    body: 'Two files, one named only by its title.',
    attachments: [
      {
        title: 'PHOTO~1.JPG',
        data: jpeg,
        props: [unicode(PR.attachLongFilename, 'photo of the café.jpg'), str8(PR.attachMimeTag, 'image/JPEG')],
      },
      { title: 'r\u00e9sum\u00e9.doc', data: doc },
      { data: bytes(10, 5) },
    ],
  }),
  dataFirst: tnef({
    body: 'x',
    attachments: [
      { title: 'CONFIG.SYS', data: Buffer.alloc(0), noRendData: true },
      { title: 'boot.ini', data: Buffer.from('[boot loader]\r\n') },
    ],
  }),
  objects: tnef({
    body: 'an OLE object and an Outlook item',
    attachments: [
      { title: 'Untitled Attachment', props: [binary(PR.attachData, Buffer.concat([IID_ISTORAGE, ole]), PT.object)] },
      {
        title: 'Team meeting',
        props: [
          str8(PR.displayName, 'Team meeting 3/4'),
          binary(PR.attachData, Buffer.concat([IID_IMESSAGE, embeddedItem]), PT.object),
        ],
      },
    ],
  }),
  html: tnef({
    messageProps: [
      long(PR.internetCpid, 1251),
      binary(
        PR.bodyHtml,
        Buffer.from(
          '<html><body><p>\xcf\xf0\xe8\xe2\xe5\xf2 <img src="cid:image001.png@01CF8C82.F4A2A290"></p></body></html>',
          'latin1',
        ),
      ),
    ],
    attachments: [
      {
        title: 'image001.png',
        data: png,
        props: [
          unicode(PR.attachLongFilename, 'image001.png'),
          str8(PR.attachContentId, 'image001.png@01CF8C82.F4A2A290'),
          str8(PR.attachMimeTag, 'image/png'),
        ],
      },
    ],
  }),
  rtf: tnef({ messageProps: [binary(PR.rtfCompressed, lzfuRtf(RTF_BODY))] }),
  rtfHtml: tnef({
    messageProps: [
      // A multi-valued and a named property first: the properties after them must still be read.
      {
        id: 0x8005,
        type: PT.mv | PT.string8,
        values: [Buffer.from('Work\0'), Buffer.from('Calls\0')],
        name: { guid: Buffer.alloc(16, 7), name: 'Keywords' },
      },
      { id: 0x0e1d, type: PT.mv | PT.long, values: [Buffer.from('01000000', 'hex'), Buffer.from('02000000', 'hex')] },
      binary(PR.rtfCompressed, lzfuRtf(RTF_HTML)),
    ],
    attachments: [
      {
        title: 'voice.mp3',
        data: bytes(700, 6),
        props: [unicode(PR.attachLongFilename, '208225__5_seconds__Voice_Mail.mp3')],
      },
    ],
  }),
};

describe('decodeTnef', () => {
  it('names attachments by the long name, else the title in the code page, else a made-up name; bytes intact', () => {
    const m = decodeTnef(STREAMS.files);
    expect(m.attachments.map((a) => [a.filename, a.content.length, sha(a.content), a.contentType])).toEqual([
      ['photo of the café.jpg', jpeg.length, sha(jpeg), 'image/jpeg'],
      ['résumé.doc', doc.length, sha(doc), undefined],
      ['tnef-attachment-3.dat', 10, sha(bytes(10, 5)), undefined],
    ]);
    expect(m).toMatchObject({ text: 'Two files, one named only by its title.', warnings: [] });
    expect(m.html).toBeUndefined();
  });

  it('reads an attachment that starts with its data (no attAttachRendData), and an empty one', () => {
    expect(decodeTnef(STREAMS.dataFirst).attachments.map((a) => [a.filename, a.content.toString()])).toEqual([
      ['CONFIG.SYS', ''],
      ['boot.ini', '[boot loader]\r\n'],
    ]);
  });

  it('starts an embedded OLE object with its own signature, and unpacks an attached Outlook item', () => {
    const m = decodeTnef(STREAMS.objects);
    expect(m.attachments.map((a) => a.filename)).toEqual([
      'Untitled Attachment',
      'Team meeting 3 4.tnef',
      'inside.txt',
    ]);
    expect(m.attachments[0]!.content.equals(ole)).toBe(true);
    expect(m.attachments[1]!.content.equals(embeddedItem)).toBe(true);
    expect(m.attachments[2]!.content.toString()).toBe('a file inside the attached item\n');
    expect(m.text).toBe('an OLE object and an Outlook item');
  });

  it('reads the HTML body in its code page (PR_INTERNET_CPID), and the content ids of inline images', () => {
    const m = decodeTnef(STREAMS.html);
    expect(m.html).toBe('<html><body><p>Привет <img src="cid:image001.png@01CF8C82.F4A2A290"></p></body></html>');
    expect(m.attachments.map((a) => [a.filename, a.contentId, a.contentType])).toEqual([
      ['image001.png', 'image001.png@01CF8C82.F4A2A290', 'image/png'],
    ]);
  });

  it('reads the LZFu-compressed RTF body in its code page', () => {
    expect(decompressRtf(lzfuRtf(RTF_BODY))).toEqual({ rtf: Buffer.from(RTF_BODY, 'latin1'), warnings: [] });
    const m = decodeTnef(STREAMS.rtf);
    expect(m.text).toBe('Altså, the report is attached.\n\n--\nAnn Smith\nQuality Team');
    expect(m.html).toBeUndefined();
    expect(m.warnings).toEqual([]);
  });

  it('gives back the HTML that Outlook encapsulated in the RTF body, past multi-valued and named properties', () => {
    const m = decodeTnef(STREAMS.rtfHtml);
    expect(m.html).toBe(
      '<html><body><p>You received a voice mail from <a href="tel:208225">208225</a>.</p></body></html>',
    );
    expect(m.html).not.toMatch(/\\htmlrtf|\\par|Courier New/);
    expect(m.attachments.map((a) => a.filename)).toEqual(['208225__5_seconds__Voice_Mail.mp3']);
  });

  it('refuses what is not TNEF, survives truncation anywhere, and warns of garbage after the last attribute', () => {
    expect(() => decodeTnef(Buffer.from('not tnef at all'))).toThrow(TnefError);
    for (const whole of Object.values(STREAMS))
      for (let cut = 6; cut < whole.length; cut += 37) expect(() => decodeTnef(whole.subarray(0, cut))).not.toThrow();
    const cut = decodeTnef(STREAMS.files.subarray(0, STREAMS.files.length - 100));
    // Cut inside the second file's data: the first is whole, the second is not made up.
    expect(cut.attachments.map((a) => a.filename)).toEqual(['photo of the café.jpg']);
    expect(cut.warnings).toEqual(['TNEF: stream is truncated']);
    const garbage = decodeTnef(Buffer.concat([tnef({ body: 'receipt' }), Buffer.from([9, 9, 9, 9, 9, 9, 9, 9, 9, 9])]));
    expect(garbage.text).toBe('receipt');
    expect(garbage.warnings).toEqual([expect.stringMatching(/^TNEF: invalid attribute level 9/)]);
  });

  it("recognises TNEF parts by type, or by Outlook's name when the type was lost", () => {
    expect(isTnefPart('application/ms-tnef', undefined)).toBe(true);
    expect(isTnefPart('application/vnd.ms-tnef', 'x')).toBe(true);
    expect(isTnefPart('application/octet-stream', 'WINMAIL.DAT')).toBe(true);
    expect(isTnefPart('application/pdf', 'winmail.dat')).toBe(false);
    expect(isTnefPart(false, 'x')).toBe(false);
  });
});

/** A TNEF stream holding one attMAPIProps of 8-bit string and binary properties. */
function tnefWithProps(props: Array<[id: number, value: Buffer | string]>): Buffer {
  const list: Buffer[] = [Buffer.alloc(4)];
  list[0]!.writeUInt32LE(props.length);
  for (const [id, value] of props) {
    const data = typeof value === 'string' ? Buffer.from(`${value}\0`, 'latin1') : value;
    const head = Buffer.alloc(12);
    head.writeUInt16LE(typeof value === 'string' ? 0x001e : 0x0102, 0);
    head.writeUInt16LE(id, 2);
    head.writeUInt32LE(1, 4);
    head.writeUInt32LE(data.length, 8);
    list.push(head, data, Buffer.alloc((4 - (data.length % 4)) % 4));
  }
  const value = Buffer.concat(list);
  const head = Buffer.alloc(6 + 9);
  head.writeUInt32LE(0x223e9f78, 0);
  head.writeUInt8(1, 6);
  head.writeUInt32LE(0x00069003, 7);
  head.writeUInt32LE(value.length, 11);
  return Buffer.concat([head, value, Buffer.alloc(2)]);
}

/** PR_RTF_COMPRESSED stored uncompressed (MELA). */
function melaRtf(rtf: string): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32LE(12 + rtf.length, 0);
  head.writeUInt32LE(rtf.length, 4);
  head.write('MELA', 8, 'latin1');
  return Buffer.concat([head, Buffer.from(rtf, 'latin1')]);
}

describe('the compressed RTF body (PR_RTF_COMPRESSED)', () => {
  const PR_BODY = 0x1000;
  const PR_BODY_HTML = 0x1013;
  const PR_RTF_COMPRESSED = 0x1009;
  // MS-OXRTFCP's example: "{\rtf1\ansi\ansicpg1252\pard hello world}\r\n", LZFu-compressed.
  const hello = Buffer.from(
    '2d0000002b0000004c5a4675f1c5c7a703000a007263706731323542320af32068656c0900206277' + '05b06c647d0a800fa0',
    'hex',
  );

  it('is what the test-side compressor writes: the specification example, byte for byte', () => {
    expect(lzfuRtf('{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n').equals(hello)).toBe(true);
  });

  it('is the body when the TNEF has no other', () => {
    expect(decodeTnef(tnefWithProps([[PR_RTF_COMPRESSED, hello]]))).toEqual({
      attachments: [],
      text: 'hello world',
      warnings: [],
    });
  });

  it('gives the HTML Outlook encapsulated in it', () => {
    const rtf = '{\\rtf1\\ansi\\fromhtml1 {\\*\\htmltag <p>}Hi{\\*\\htmltag </p>}}';
    const m = decodeTnef(tnefWithProps([[PR_RTF_COMPRESSED, melaRtf(rtf)]]));
    expect(m.html).toBe('<p>Hi</p>');
    expect(m.text).toBeUndefined();
  });

  it('is not used when PR_BODY or PR_BODY_HTML is there', () => {
    expect(
      decodeTnef(
        tnefWithProps([
          [PR_BODY, 'the plain body'],
          [PR_RTF_COMPRESSED, hello],
        ]),
      ).text,
    ).toBe('the plain body');
    const m = decodeTnef(
      tnefWithProps([
        [PR_RTF_COMPRESSED, hello],
        [PR_BODY_HTML, '<p>html body</p>'],
      ]),
    );
    expect([m.text, m.html]).toEqual([undefined, '<p>html body</p>']);
  });

  it('is kept, with a warning, when its CRC does not match', () => {
    const bad = Buffer.from(hello);
    bad.writeUInt8(bad[13]! ^ 1, 13);
    const m = decodeTnef(tnefWithProps([[PR_RTF_COMPRESSED, bad]]));
    expect(m.text).toBe('hello world');
    expect(m.warnings).toEqual([expect.stringMatching(/^TNEF: compressed RTF fails its CRC/)]);
  });

  it('costs only a warning when it is not compressed RTF', () => {
    const m = decodeTnef(tnefWithProps([[PR_RTF_COMPRESSED, Buffer.from('not compressed rtf at all')]]));
    expect(m.text).toBeUndefined();
    expect(m.warnings).toEqual(['TNEF: the RTF body is not readable (unknown COMPTYPE 0x73736572)']);
  });
});

describe('winmail.dat in a draft', () => {
  const config = testConfig();

  it('uploads the real attachments instead of winmail.dat, byte for byte', async () => {
    const d = await draft(withWinmail(STREAMS.files, { text: 'see attached' }), envelope(), config, 'AB-123456');
    expect(d.update.message).toBe('see attached');
    expect(d.attachments.map((a) => [a.filename, a.contentType, a.size])).toEqual([
      ['photo of the café.jpg', 'image/jpeg', jpeg.length],
      ['résumé.doc', 'application/msword', doc.length],
      ['tnef-attachment-3.dat', 'application/octet-stream', 10],
    ]);
    expect(d.warnings).toEqual([]);
  });

  it('also when the type was lost on the way (application/octet-stream)', async () => {
    const d = await draft(
      withWinmail(STREAMS.dataFirst, { text: 'x', type: 'application/octet-stream' }),
      envelope(),
      config,
      'AB-123456',
    );
    expect(d.attachments.map((a) => a.filename)).toEqual(['CONFIG.SYS', 'boot.ini']);
  });

  it('uses its HTML body when the mail has none, with its inline images referenced', async () => {
    const d = await draft(withWinmail(STREAMS.html), envelope(), config, 'AB-123456');
    expect(d.update.html_safe).toBe('1');
    expect(d.update.html_body).toContain('cid:image001.png@01CF8C82.F4A2A290');
    expect(d.update.message).toBe('Привет');
    expect(d.attachments.filter((a) => a.inline).map((a) => a.contentId)).toEqual(['image001.png@01CF8C82.F4A2A290']);
  });

  it("uses its compressed RTF body when the mail has none, and the mail's own text when it has one", async () => {
    const d = await draft(withWinmail(STREAMS.rtf), envelope(), config, 'AB-123456');
    expect(d.update.message).toBe('Altså, the report is attached.\n\n--\nAnn Smith\nQuality Team');
    expect(d.update.html_body).toBeUndefined();
    expect(d.attachments).toEqual([]);
    expect(d.warnings).toEqual([]);
    const own = await draft(withWinmail(STREAMS.rtf, { text: 'my own words' }), envelope(), config, 'AB-123456');
    expect(own.update.message).toBe('my own words');
  });

  it('uses the HTML encapsulated in its RTF body (a voice mail)', async () => {
    const d = await draft(withWinmail(STREAMS.rtfHtml), envelope(), config, 'AB-123456');
    expect(d.update.html_safe).toBe('1');
    expect(d.update.html_body).toContain('href="tel:208225"');
    expect(d.update.message).toMatch(/^You received a voice mail from 208225/);
    expect(d.attachments.map((a) => a.filename)).toEqual(['208225__5_seconds__Voice_Mail.mp3']);
  });

  it('unpacks attached Outlook items and OLE objects', async () => {
    const d = await draft(withWinmail(STREAMS.objects), envelope(), config, 'AB-123456');
    expect(d.attachments.map((a) => [a.filename, a.contentType])).toEqual([
      ['Untitled Attachment', 'application/octet-stream'],
      ['Team meeting 3 4.tnef', 'application/ms-tnef'],
      ['inside.txt', 'text/plain'],
    ]);
  });

  it('keeps an unreadable winmail.dat as it is, with a warning', async () => {
    const junk = Buffer.from('this is not TNEF');
    const d = await draft(withWinmail(junk, { text: 'x' }), envelope(), config, 'AB-123456');
    expect(d.attachments.map((a) => [a.filename, a.size])).toEqual([['winmail.dat', junk.length]]);
    expect(d.warnings.join()).toMatch(/winmail.dat is not readable TNEF/);
  });
});
