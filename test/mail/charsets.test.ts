// Subjects, names, bodies and file names in the charsets real mail arrives in (ISO-2022-JP,
// Shift_JIS, KOI8-R, GB2312, EUC-KR, Big5, windows-125x, raw UTF-8), plus UTF-7, which libmime
// refuses. The corpus suite compares the same on third-party mail with CPython's decoding.
import { describe, expect, it } from 'vitest';
import { decodeBytes } from '../../src/mail/charset.js';
import { draft } from '../../src/mail/draft/draft.js';
import { decodeHeaderValue } from '../../src/mail/headers.js';
import { decodeUtf7, textPartsAreUtf7 } from '../../src/mail/utf7.js';
import { envelope, fixture, mail, testConfig } from './helpers.js';

const config = testConfig();

// Each test message (test/fixtures/mail/charsets) with the charset it exercises and the text the
// field holds, written out: the bytes were written from these strings' code points by hand.
const FILES: Array<
  [file: string, charset: string, field: 'subject' | 'author_name' | 'message' | 'file', text: string]
> = [
  ['charsets/iso-2022-jp.eml', 'ISO-2022-JP encoded word', 'subject', 'まみむめも'],
  ['charsets/iso-2022-jp.eml', 'ISO-2022-JP encoded word', 'author_name', '山田'],
  ['charsets/iso-2022-jp.eml', 'ISO-2022-JP body', 'message', 'こんにちは'],
  ['charsets/shift-jis.eml', 'Shift_JIS encoded word', 'subject', 'アイウ'],
  ['charsets/shift-jis.eml', 'Shift_JIS 8-bit body', 'message', 'あいうえお'],
  ['charsets/koi8-r.eml', 'KOI8-R encoded word (B)', 'subject', 'Проверка'],
  ['charsets/koi8-r.eml', 'KOI8-R encoded word (Q)', 'author_name', 'Иван'],
  ['charsets/koi8-r.eml', 'KOI8-R quoted-printable body', 'message', 'Привет, мир'],
  ['charsets/gb2312.eml', 'GB2312 encoded word', 'subject', '测试'],
  ['charsets/gb2312.eml', 'GB2312 base64 body', 'message', '中文测试'],
  ['charsets/euc-kr-filename.eml', 'ks_c_5601-1987 body', 'message', '사진'],
  ['charsets/euc-kr-filename.eml', 'ks_c_5601-1987 file name', 'file', '사진.JPG'],
  ['charsets/big5-raw-header.eml', 'Big5 body, empty Content-Transfer-Encoding', 'message', '中文'],
  [
    'charsets/windows-1252-labelled-latin1.eml',
    'ISO-8859-1 label, windows-1252 bytes',
    'message',
    'It costs 5 €, the “best” offer – café.',
  ],
  ['charsets/utf-7.eml', 'UTF-7 body', 'message', 'Grüße aus Köln, 1 + 1'],
  ['charsets/utf-8-raw-headers.eml', 'raw 8-bit UTF-8 headers (RFC 6532)', 'subject', 'Grüße aus Köln'],
  ['charsets/utf-8-raw-headers.eml', 'raw 8-bit UTF-8 headers (RFC 6532)', 'author_name', 'Jürgen Groß'],
  ['charsets/latin1-encoded-word.eml', 'ISO-8859-1 encoded word', 'subject', 'Facture N° 1467829'],
  ['charsets/latin1-encoded-word.eml', 'ISO-8859-1 encoded word', 'author_name', 'François Müller'],
  ['charsets/windows-1251-name.eml', 'windows-1251 encoded word', 'author_name', 'Сибирь'],
];

describe('decoding the charsets of real mail', () => {
  it.each(FILES)('%s: %s', async (file, _charset, field, text) => {
    const d = await draft(fixture(file), envelope(), config, 'AB-123456');
    const ours = field === 'file' ? d.attachments.map((a) => a.filename).join('\n') : (d.update[field] ?? '');
    expect(ours).toBe(text);
    expect(d.warnings).toEqual([]);
  });

  it('decodes a raw 8-bit Subject in the legacy charset its body declares (Big5)', async () => {
    const d = await draft(fixture('charsets/big5-raw-header.eml'), envelope(), config, 'AB-123456');
    expect(d.update.subject).toBe('中文');
    expect(d.update.subject).not.toContain('\ufffd');
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
    expect(decodeHeaderValue('=?unicode-1-1-utf-7?B?K0FPUS1yZ2Vy?= and =?utf-8?Q?caf=C3=A9?=')).toBe(
      '\u00e4rger and café',
    );
  });

  it('decodes a UTF-7 body, and leaves mixed messages alone', async () => {
    const utf7 = mail(
      'From: a@example.com',
      'Subject: x',
      'Content-Type: text/plain; charset=unicode-1-1-utf-7',
      '',
      'Gr+APw-+AN8-e, 1 +- 1',
    );
    const d = await draft(utf7, envelope(), config, 'AB-123456');
    expect(d.update.message).toBe('Grüße, 1 + 1');
    expect(textPartsAreUtf7(utf7)).toBe(true);
    const mixed = mail(
      'Content-Type: multipart/mixed; boundary=b',
      '',
      '--b',
      'Content-Type: text/plain; charset=utf-7',
      '',
      'A+-B',
      '--b',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'C+D',
      '--b--',
    );
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
