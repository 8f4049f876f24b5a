// The TNEF decoder on all 19 raw winmail.dat payloads of the MimeKit corpus. Names, sizes and
// hashes were checked against Debian's tnef 1.4.18 (`tnef -C DIR FILE`) and agree, except where
// this decoder knowingly differs:
// - MAPI_OBJECT, winmail: embedded OLE objects without their 16-byte interface id (tnef keeps it),
//   so the file starts with the OLE signature D0CF11E0 and opens as what it is;
// - christmas: attached Outlook items (a task, an appointment) become "<name>.tnef" plus the files
//   inside them, where tnef writes the raw objects as "Untitled Attachment";
// - panic: tnef aborts on the damaged stream; here what precedes the damage is kept, with a warning;
// - garbage-at-end: tnef reports an error; here a warning, nothing to extract (a read receipt).
// Where Outlook kept the body only as compressed RTF (rtf, triples and ten more), it comes from
// that RTF: `text` is a phrase found in it; multi-value-attribute's RTF encapsulates HTML.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { draft } from '../../src/mail/draft/draft.js';
import { decodeTnef, TnefError } from '../../src/mail/tnef/tnef.js';
import { corpusFile, envelope, testConfig, withWinmail } from '../mail/helpers.js';

interface Expected {
  files: Array<[name: string, size: number, sha256: string, contentId?: string]>;
  /** A phrase of the text body, or null for none. */
  text: string | null;
  html: boolean;
  warnings: number;
}

const EXPECTED: Record<string, Expected> = {
  'MAPI_ATTACH_DATA_OBJ.tnef': {
    files: [
      ['VIA_Nytt_1402.doc', 61952, '9955935516d1407e'],
      ['VIA_Nytt_1402.pdf', 213685, '968c9c4a8a6a02ff'],
      ['VIA_Nytt_14021.htm', 68919, 'c2ee04f99e59079a'],
    ],
    text: 'Altså, tromsødamer; finn fram fjærboaer',
    html: false,
    warnings: 0,
  },
  'MAPI_OBJECT.tnef': {
    files: [['Untitled_Attachment', 628224, 'f89a1afbdfb2fc38']],
    text: 'October Discounted Price List of refurbished HP products',
    html: false,
    warnings: 0,
  },
  'attachments.tnef': {
    files: [
      ['zappa_av1.jpg', 2937, 'bea844f30e0fcc20'],
      ['bookmark.htm', 85805, '1e08d6e23c75ff80'],
    ],
    text: 'Casdasdfasdfasd\nCasdasdfasdfasd',
    html: false,
    warnings: 0,
  },
  'body.tnef': { files: [], text: null, html: true, warnings: 0 },
  'christmas.tnef': {
    files: [
      ['kitten-playing-with-a-christmas-tree.jpg', 375081, 'f79d79bf20d19d17'],
      ['Build a train table.tnef', 6508, 'ffaf277cb2d598c5'],
      ['Christmas Celebration!.tnef', 385301, 'b70438e89e97db89'],
      ['kitten-playing-with-a-christmas-tree.jpg', 375081, 'f79d79bf20d19d17'],
    ],
    text: 'Oh! What a Christmas to remember\nAlmost went to Aspen but something told me no',
    html: false,
    warnings: 0,
  },
  'data-before-name.tnef': {
    files: [
      ['AUTOEXEC.BAT', 0, 'e3b0c44298fc1c14'],
      ['CONFIG.SYS', 0, 'e3b0c44298fc1c14'],
      ['boot.ini', 289, 'a815374e31481bbb'],
    ],
    text: 'asdf',
    html: false,
    warnings: 0,
  },
  'garbage-at-end.tnef': { files: [], text: null, html: false, warnings: 1 },
  'long-filename.tnef': {
    files: [['allproductsmar2000.dat', 279, 'de2ad5d4e20a2456']],
    text: "I've attached a temp. license for QARun 4.7.",
    html: false,
    warnings: 0,
  },
  'missing-filenames.tnef': {
    files: [
      ['generpts.src', 61210, '69ebd0e9c298f62d'],
      ['TechlibDEC99.doc', 33792, 'd1a592c2e3729270'],
      ['TechlibDEC99-JAN00.doc', 34304, '360db5c11b1f21c6'],
      ['TechlibNOV99.doc', 33792, 'b1e6b103cc5a9b75'],
    ],
    text: "Sue has encountered a Date problem while running our' New Books List'.",
    html: false,
    warnings: 0,
  },
  'multi-name-property.tnef': { files: [], text: null, html: false, warnings: 0 },
  'multi-value-attribute.tnef': {
    files: [['208225__5_seconds__Voice_Mail.mp3', 10656, 'cf2e3cd4175a3acd']],
    text: null,
    html: true,
    warnings: 0,
  },
  'one-file.tnef': { files: [['AUTHORS', 244, '36c47da7d11846ca']], text: null, html: false, warnings: 0 },
  'panic.tnef': {
    files: [
      ['image001.jpg', 11250, 'ee9bec688ebc6b53', 'image001.jpg@01D139A1.76DB0C80'],
      ['image002.jpg', 9583, 'a497dd22b4a1f2de', 'image002.jpg@01D139A1.76DB0C80'],
      ['image003.png', 7147, '7c65885b27f3cd66', 'image003.png@01D139A1.76DB0C80'],
    ],
    text: null,
    html: true,
    warnings: 1,
  },
  'rtf.tnef': {
    files: [],
    text: 'adfhadhadhb\n-- Greg\nGreg Allen\nSenior Engineer/QADirector Team\nCompuware Corporation',
    html: false,
    warnings: 0,
  },
  'triples.tnef': { files: [], text: 'Sample description', html: false, warnings: 0 },
  'two-files.tnef': {
    files: [
      ['AUTHORS', 244, '36c47da7d11846ca'],
      ['README', 893, 'd0f163180d6ad5d8'],
    ],
    text: null,
    html: false,
    warnings: 0,
  },
  'unicode-mapi-attr-name.tnef': {
    files: [
      ['spaconsole2.cfg', 8387, '4d9639506fa4bf42'],
      ['image001.png', 3815, '037f9d1fa06bccd3', 'image001.png@01CF8C82.F4A2A290'],
      ['image002.png', 3573, 'ea179fb97a7e850e', 'image002.png@01CF8C82.F4A2A290'],
      ['image003.png', 3792, '20c51557b9c7ec0a', 'image003.png@01CF8C82.F4A2A290'],
    ],
    text: null,
    html: true,
    warnings: 0,
  },
  'unicode-mapi-attr.tnef': { files: [['example.dat', 1024, 'b188960490adc658']], text: null, html: true, warnings: 0 },
  'winmail.tnef': {
    files: [
      ['Untitled Attachment', 29184, '385d3d54e32f7f72'],
      ['Untitled Attachment', 68608, 'f95862718f98d9aa'],
    ],
    text: '111111111111111111111111111111111111111111111\n\n222222222222222222222222222222\n\n3333333333333333333',
    html: false,
    warnings: 0,
  },
};

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex').slice(0, 16);

describe('decodeTnef on the MimeKit corpus', () => {
  it('covers all 19 raw files', () => {
    expect(Object.keys(EXPECTED)).toHaveLength(19);
  });

  it.each(Object.entries(EXPECTED))('%s', (file, want) => {
    const m = decodeTnef(corpusFile(`mimekit/tnef/${file}`));
    expect(
      m.attachments.map((a) => [a.filename, a.content.length, sha(a.content), ...(a.contentId ? [a.contentId] : [])]),
    ).toEqual(want.files);
    if (want.text === null) expect(m.text).toBeUndefined();
    else expect(m.text).toContain(want.text);
    expect(m.html !== undefined).toBe(want.html);
    expect(m.warnings).toHaveLength(want.warnings);
  });

  it('starts an embedded OLE object with its own signature', () => {
    const [obj] = decodeTnef(corpusFile('mimekit/tnef/MAPI_OBJECT.tnef')).attachments;
    expect(obj!.content.subarray(0, 4).toString('hex')).toBe('d0cf11e0');
  });

  it('reads the HTML body in its code page (unicode-mapi-attr)', () => {
    const m = decodeTnef(corpusFile('mimekit/tnef/unicode-mapi-attr.tnef'));
    expect(m.html).toMatch(/^<html>/);
    expect(m.html).not.toContain('\ufffd');
  });

  it('refuses what is not TNEF, and survives truncation anywhere', () => {
    expect(() => decodeTnef(Buffer.from('not tnef at all'))).toThrow(TnefError);
    const whole = corpusFile('mimekit/tnef/two-files.tnef');
    for (let cut = 6; cut < whole.length; cut += 97) expect(() => decodeTnef(whole.subarray(0, cut))).not.toThrow();
  });

  it('gives back the HTML that Outlook encapsulated in the RTF body (multi-value-attribute)', () => {
    const m = decodeTnef(corpusFile('mimekit/tnef/multi-value-attribute.tnef'));
    expect(m.html).toMatch(/^<html><head>\n<style type="text\/css"> a:link \{ color: #3399ff; \}/);
    expect(m.html).toContain(
      'You received a voice mail from Curie Conf Room at <a style="color: #3399ff; " href="tel:208225">208225</a>.</div><br>',
    );
    expect(m.html).not.toMatch(/\\htmlrtf|\\par|Courier New/);
  });

  it('reads the RTF body in its code page (MAPI_ATTACH_DATA_OBJ)', () => {
    const m = decodeTnef(corpusFile('mimekit/tnef/MAPI_ATTACH_DATA_OBJ.tnef'));
    expect(m.text).toMatch(/^Det er jo en velkjent sak at bodødamene/);
    expect(m.text).toContain('This email message has been swept by\nMIMEsweeper');
  });
});

describe('winmail.dat in a draft', () => {
  const config = testConfig();

  it('uploads the real attachments instead of winmail.dat, byte for byte', async () => {
    const d = await draft(
      withWinmail(corpusFile('mimekit/tnef/two-files.tnef'), { text: 'see attached' }),
      envelope(),
      config,
      'AB-123456',
    );
    expect(d.update.message).toBe('see attached');
    expect(d.attachments.map((a) => [a.filename, a.contentType, a.size])).toEqual([
      ['AUTHORS', 'application/octet-stream', 244],
      ['README', 'application/octet-stream', 893],
    ]);
    expect(d.warnings).toEqual([]);
  });

  it('also when the type was lost on the way (application/octet-stream)', async () => {
    const d = await draft(
      withWinmail(corpusFile('mimekit/tnef/attachments.tnef'), { text: 'x', type: 'application/octet-stream' }),
      envelope(),
      config,
      'AB-123456',
    );
    expect(d.attachments.map((a) => [a.filename, a.contentType])).toEqual([
      ['zappa_av1.jpg', 'image/jpeg'],
      ['bookmark.htm', 'text/html'],
    ]);
  });

  it('uses its HTML body when the mail has none, with its inline images referenced', async () => {
    const d = await draft(
      withWinmail(corpusFile('mimekit/tnef/unicode-mapi-attr-name.tnef')),
      envelope(),
      config,
      'AB-123456',
    );
    expect(d.update.html_safe).toBe('1');
    expect(d.update.html_body).toContain('cid:image001.png@01CF8C82.F4A2A290');
    expect(d.update.message.length).toBeGreaterThan(20);
    expect(d.attachments.filter((a) => a.inline).map((a) => a.contentId)).toEqual([
      'image001.png@01CF8C82.F4A2A290',
      'image002.png@01CF8C82.F4A2A290',
      'image003.png@01CF8C82.F4A2A290',
    ]);
  });

  it("uses its compressed RTF body when the mail has none, and the mail's own text when it has one", async () => {
    const d = await draft(withWinmail(corpusFile('mimekit/tnef/rtf.tnef')), envelope(), config, 'AB-123456');
    expect(d.update.message).toContain('Senior Engineer/QADirector Team\nCompuware Corporation\ngallen@numega.com');
    expect(d.update.html_body).toBeUndefined();
    expect(d.attachments).toEqual([]);
    expect(d.warnings).toEqual([]);
    const own = await draft(
      withWinmail(corpusFile('mimekit/tnef/rtf.tnef'), { text: 'my own words' }),
      envelope(),
      config,
      'AB-123456',
    );
    expect(own.update.message).toBe('my own words');
  });

  it('uses the HTML encapsulated in its RTF body (multi-value-attribute, a voice mail)', async () => {
    const d = await draft(
      withWinmail(corpusFile('mimekit/tnef/multi-value-attribute.tnef')),
      envelope(),
      config,
      'AB-123456',
    );
    expect(d.update.html_safe).toBe('1');
    expect(d.update.html_body).toContain('href="tel:208225"');
    expect(d.update.message).toMatch(/^You received a voice mail from Curie Conf Room at 208225/);
    expect(d.attachments.map((a) => a.filename)).toEqual(['208225__5_seconds__Voice_Mail.mp3']);
  });

  it('unpacks the winmail.dat of real Outlook mail (mimekit rich-text.eml)', async () => {
    const d = await draft(corpusFile('mimekit/tnef/rich-text.eml'), envelope(), config, 'AB-123456');
    expect(d.attachments.map((a) => a.filename)).toEqual([
      'kitten-playing-with-a-christmas-tree.jpg',
      'Build a train table.tnef',
      'Christmas Celebration!.tnef',
      'kitten-playing-with-a-christmas-tree.jpg',
    ]);
    expect(d.attachments[0]!.contentType).toBe('image/jpeg');
  });
});
