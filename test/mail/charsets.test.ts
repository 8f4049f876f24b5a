// Subjects, names, bodies and file names in the charsets the issue names, decoded as CPython's
// email package decodes them (recorded in test/fixtures/cpython-decoded.json), plus UTF-7, which
// libmime refuses and CPython decodes.
import { describe, expect, it } from 'vitest';
import { ATTACHMENTS_ONLY_TEXT, EMPTY_MESSAGE_TEXT } from '../../src/mail/body.js';
import { decodeBytes } from '../../src/mail/charset.js';
import { draft } from '../../src/mail/draft.js';
import { decodeHeaderValue } from '../../src/mail/headers.js';
import { decodeUtf7, textPartsAreUtf7 } from '../../src/mail/utf7.js';
import { compareWithCpython, cpython, KNOWN_DIFFERENCES } from './cpython.js';
import { corpusFile, envelope, mail, testConfig } from './helpers.js';

const config = testConfig();

// Each file with the charset it exercises and a field value CPython decodes, written out.
const FILES: Array<[file: string, charset: string, field: 'subject' | 'author_name' | 'message' | 'file', text: string]> = [
  ['mikel-mail/emails/multi_charset/japanese_iso_2022.eml', 'ISO-2022-JP', 'subject', 'まみむめも'],
  ['mikel-mail/emails/rfc2822/example14.eml', 'ISO-2022-JP', 'message', ''],
  ['mimekit/messages/japanese.txt', 'ISO-2022-JP', 'subject', ''],
  ['php-mime-mail-parser/issue212', 'ISO-2022-JP', 'subject', ''],
  ['mikel-mail/emails/multi_charset/japanese_shift_jis.eml', 'Shift_JIS', 'message', 'あいうえお'],
  ['mikel-mail/emails/multi_charset/japanese.eml', 'ISO-2022-JP', 'subject', ''],
  ['mikel-mail/emails/multi_charset/japanese_attachment.eml', 'ISO-2022-JP', 'file', ''],
  ['mikel-mail/emails/multi_charset/ks_c_5601-1987.eml', 'ks_c_5601-1987', 'subject', ''],
  ['mikel-mail/emails/plain_emails/raw_email_bad_time.eml', 'windows-1252', 'message', ''],
  ['bounceparser/t/corpus/spam-lots-of-bogus-addresses.msg', 'windows-1252', 'message', ''],
  ['cpython-test_email/msg_08.txt', 'KOI8-R', 'subject', ''],
  ['cpython-test_email/msg_12a.txt', 'KOI8-R', 'subject', ''],
  ['mimekit/tnef/ukr.eml', 'KOI8-R', 'message', 'шостий'],
  ['php-mime-mail-parser/failure.eml', 'GB2312', 'message', ''],
  ['mikel-mail/emails/error_emails/content_transfer_encoding_empty.eml', 'Big5 (raw 8-bit header)', 'subject', ''],
  ['php-mime-mail-parser/m0018', 'ks_c_5601-1987 file name', 'file', '사진.JPG'],
  ['php-mime-mail-parser/m0013', 'ISO-8859-1', 'subject', 'ATT N° 1467829'],
  ['php-mime-mail-parser/m0124', 'KOI8-R / windows-1251 name', 'author_name', 'СибНИА'],
  ['bounceparser/t/corpus/warning-1.msg', 'UTF-7 body', 'message', 'Delivery Status Notification'],
  ['bounceparser/t/corpus/iis-multiple-bounce.msg', 'UTF-7 body', 'message', 'Delivery Status Notification'],
  ['mikel-mail/emails/rfc6532/utf8_headers.eml', 'raw 8-bit UTF-8 headers', 'subject', 'Säying Hello'],
];

describe('decoding as CPython does', () => {
  it.each(FILES)('%s (%s)', async (file, _charset, field, text) => {
    const expected = cpython[file];
    expect(expected, `${file} is in the CPython record`).toBeDefined();
    const d = await draft(corpusFile(file), envelope(), config, 'AB-123456');
    const placeholder = d.update.message === ATTACHMENTS_ONLY_TEXT || d.update.message === EMPTY_MESSAGE_TEXT;
    const cmp = compareWithCpython(expected!, d, placeholder);
    expect(cmp.empty).toEqual([]);
    if (!KNOWN_DIFFERENCES[file]) expect(cmp.differs).toEqual([]);
    if (text !== '') {
      const ours = field === 'file' ? d.attachments.map((a) => a.filename).join('\n') : (d.update[field] ?? '');
      expect(ours).toContain(text);
      // And CPython agrees on that text (for the fields it records).
      const theirs = field === 'subject' ? expected!.s : field === 'author_name' ? expected!.n : field === 'file' ? expected!.f?.join('\n') : expected!.b;
      if (field !== 'message' || text.length < 60) expect(theirs ?? '').toContain(text);
    }
  });
});

describe('UTF-7', () => {
  it('decodes text, "+-" and runs of non-ASCII (RFC 2152 examples)', () => {
    expect(decodeUtf7('Hi Mom -+Jjo--!')).toBe('Hi Mom -\u263a-!');
    expect(decodeUtf7('+ZeVnLIqe-')).toBe('\u65e5\u672c\u8a9e');
    expect(decodeUtf7('A+ImIDkQ.')).toBe('A\u2262\u0391.');
    expect(decodeUtf7('1 +- 1 = 2')).toBe('1 + 1 = 2');
    expect(decodeUtf7('plain text')).toBe('plain text');
  });

  it('decodes UTF-7 encoded words in headers, which libmime leaves alone', () => {
    expect(decodeHeaderValue('=?UTF-7?Q?Hi_Mom_+Jjo-?=')).toBe('Hi Mom \u263a');
    expect(decodeHeaderValue('=?unicode-1-1-utf-7?B?K0FPUS1yZ2Vy?= and =?utf-8?Q?caf=C3=A9?=')).toBe('\u00e4rger and café');
  });

  it('decodes a UTF-7 body, and leaves mixed messages alone', async () => {
    const utf7 = mail('From: a@example.com', 'Subject: x', 'Content-Type: text/plain; charset=unicode-1-1-utf-7', '', 'Gr+APw-+AN8-e, 1 +- 1');
    const d = await draft(utf7, envelope(), config, 'AB-123456');
    expect(d.update.message).toBe('Grüße, 1 + 1');
    expect(textPartsAreUtf7(utf7)).toBe(true);
    const mixed = mail('Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: text/plain; charset=utf-7', '', 'A+-B', '--b', 'Content-Type: text/plain; charset=utf-8', '', 'C+D', '--b--');
    expect(textPartsAreUtf7(mixed)).toBe(false);
  });

  it('decodes bytes by label like a mail client, with a safe fallback', () => {
    expect(decodeBytes(Buffer.from([0xf0, 0xd2, 0xcf, 0xd7, 0xc5, 0xd2, 0xcb, 0xc1]), 'koi8-r')).toBe('Проверка');
    expect(decodeBytes(Buffer.from([0x82, 0xa0]), 'shift_jis')).toBe('あ');
    expect(decodeBytes(Buffer.from('K0FPUS0', 'base64'), 'utf-7')).toBe('+AOQ-'.replace('+AOQ-', 'ä'));
    expect(decodeBytes(Buffer.from([0x63, 0x61, 0x66, 0xe9]), 'x-unknown')).toBe('café');
    expect(decodeBytes(Buffer.from('café'), undefined)).toBe('café');
  });
});
