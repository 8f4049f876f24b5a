// Broken mail as it really arrives, from crafted fixtures in test/fixtures/broken/. Each is read by
// the draft (as inspect and replay read archives: envelope sender from the From_ line or
// Return-Path) and by CPython's email package; where CPython is lenient or wrong, the expectation
// and its reason are stated next to the case.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { authorToAuthenticate } from '../../src/mail/auth/verify.js';
import { draft } from '../../src/mail/draft/draft.js';
import { parseHeaders } from '../../src/mail/headers.js';
import type { Draft } from '../../src/mail/types.js';
import { replayEnvelope } from '../../src/replay/archive/envelope.js';
import { verdictFromHeaders } from '../../src/mail/door/verdict.js';
import { repoRoot, testConfig } from './helpers.js';

const dir = path.join(repoRoot, 'test/fixtures/broken');
const config = testConfig();

interface CpythonReading {
  subject: string | null;
  from: Array<[string, string]>;
  date: string | null;
  date_naive?: boolean;
  attachments: Array<[string | null, string]>;
  text: string | null;
  defects: string[];
}

function cpythonReads(name: string): CpythonReading {
  return JSON.parse(
    execFileSync('python3', [path.join(dir, 'read-with-cpython.py'), path.join(dir, name)], { encoding: 'utf8' }),
  ) as CpythonReading;
}

export async function draftFixture(name: string, fromLine: string | null = null): Promise<{ d: Draft; raw: Buffer }> {
  const raw = readFileSync(path.join(dir, name));
  const headers = parseHeaders(raw);
  const envelope = replayEnvelope(raw, { fromLine }, new Date('2024-05-01T12:00:00Z'), headers);
  return { d: await draft(raw, envelope, config, 'AB-123456', headers), raw };
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('author: never an address that is not in the mail', () => {
  it('whitespace inside <…>: unusable as written, so the Sender header, with a warning; never authenticated', async () => {
    const { d } = await draftFixture('author-spaces-in-angle.eml');
    expect(d.update).toMatchObject({ author_name: 'Help Desk Relay', author_email: 'relay@example.org' });
    expect(d.authorSource).toBe('sender');
    expect(d.warnings.join('\n')).toMatch(
      /whitespace inside <power quadrant system@example.com>\); author is the Sender header/,
    );
    expect(authorToAuthenticate(d)).toBeUndefined();
    // CPython repairs the words into "power quadrant system"@example.com, an address the sender
    // never wrote; it agrees that system@example.com is not the author.
    const py = cpythonReads('author-spaces-in-angle.eml');
    expect(py.from[0]![1]).not.toBe('system@example.com');
    expect(py.from[0]![0]).toBe('your secret past');
  });

  it('"Some Name"@example.com>: the quoted local part with its domain', async () => {
    const { d } = await draftFixture('author-quoted-local.eml');
    expect(d.update.author_email).toBe('"Some Name"@example.com');
    expect(d.authorSource).toBe('from');
    expect(cpythonReads('author-quoted-local.eml').from).toEqual([['', '"Some Name"@example.com']]);
  });

  it('Test test@example.com: name Test, address test@example.com', async () => {
    const { d } = await draftFixture('author-name-then-address.eml');
    expect(d.update).toMatchObject({ author_name: 'Test', author_email: 'test@example.com' });
    // CPython joins the words into "Test test"@example.com, which no one sends from; the word
    // that is an address on its own is the address, the word before it the name.
    expect(cpythonReads('author-name-then-address.eml').from).toEqual([['', '"Test test"@example.com']]);
  });

  it('no From: Reply-To before the envelope sender (Return-Path)', async () => {
    const { d } = await draftFixture('author-missing-from.eml');
    expect(d.update).toMatchObject({ author_name: 'Customer', author_email: 'customer@example.net' });
    expect(d.authorSource).toBe('reply-to');
    expect(d.warnings.join('\n')).toMatch(/no From header; author is the Reply-To header/);
    expect(cpythonReads('author-missing-from.eml').from).toEqual([]);
  });

  it('two From fields, the first without an address: the envelope sender, from the From_ line before Return-Path', async () => {
    const viaReturnPath = await draftFixture('author-two-from.eml');
    expect(viaReturnPath.d.update.author_email).toBe('list-owner@example.net');
    expect(viaReturnPath.d.update.author_name).toBe('Nobody');
    expect(viaReturnPath.d.authorSource).toBe('envelope');
    expect(viaReturnPath.d.warnings.join('\n')).toMatch(
      /"Nobody" has no usable address; author is the envelope sender/,
    );
    const viaFromLine = await draftFixture(
      'author-two-from.eml',
      'From mbox-sender@example.net Tue Oct 12 16:21:05 2010',
    );
    expect(viaFromLine.d.update.author_email).toBe('mbox-sender@example.net');
    // CPython reads the first From too, and finds no address in it.
    expect(cpythonReads('author-two-from.eml').from).toEqual([['', 'Nobody']]);
  });
});

describe('raw 8-bit header bytes in legacy charsets', () => {
  it('GBK bytes in a message that declares gb2312: the declared charset', async () => {
    const { d } = await draftFixture('charset-gbk-declared.eml');
    expect(d.update.subject).toBe('[AB-123456] 关于您的订单发货问题的回复');
    expect(d.update.author_name).toBe('王小明');
    // CPython reads raw 8-bit header bytes as UTF-8 with replacement characters (or surrogates in
    // names): the text is lost there, and the body's declared charset is what names it.
    const py = cpythonReads('charset-gbk-declared.eml');
    expect(py.subject).toContain('\ufffd');
    expect(py.text).toBe('请尽快处理退款申请\n');
  });

  it('Shift_JIS bytes with no charset anywhere: the detector', async () => {
    const { d } = await draftFixture('charset-sjis-undeclared.eml');
    expect(d.update.subject).toBe('[AB-123456] お問い合わせありがとうございます');
    expect(cpythonReads('charset-sjis-undeclared.eml').subject).toContain('\ufffd');
  });

  it('UTF-8 with one stray byte: UTF-8 with U+FFFD for that byte, not Latin-1 for the value', async () => {
    const { d } = await draftFixture('charset-utf8-stray-byte.eml');
    expect(d.update.author_name).toBe('Юникод запрещен\ufffd');
    expect(d.update.subject).toBe('[AB-123456] Grüße \ufffd aus Köln');
    // CPython agrees on the Subject; the display name it keeps as surrogate escapes.
    expect(cpythonReads('charset-utf8-stray-byte.eml').subject).toBe('[AB-123456] Grüße \ufffd aus Köln');
  });

  it('short Latin-1 text is not taken for a multi-byte charset', async () => {
    const { d } = await draftFixture('charset-latin1-short.eml');
    expect(d.update.subject).toBe('[AB-123456] Grüße');
    expect(d.update.author_name).toBe('Jörg Müller');
    expect(cpythonReads('charset-latin1-short.eml').from[0]![1]).toBe('joerg@example.de');
  });

  it('Shift_JIS inside an encoded word labelled ISO-2022-JP (a 7-bit charset): read as Shift_JIS', async () => {
    const { d } = await draftFixture('charset-sjis-labelled-iso2022jp.eml');
    expect(d.update.subject).toBe('[AB-123456] 請求書の再発行について');
    expect(d.update.author_name).toBe('山田太郎');
    // CPython trusts the label and gets replacement characters.
    expect(cpythonReads('charset-sjis-labelled-iso2022jp.eml').subject).toContain('\ufffd');
  });
});

describe('uuencoded files', () => {
  // The bytes both fixtures carry: 300 bytes, every value, so any decoding slip shows.
  const original = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) % 256));

  it('a part with Content-Transfer-Encoding x-uuencode is uploaded decoded', async () => {
    const { d } = await draftFixture('uuencode-cte.eml');
    expect(d.attachments.map((a) => [a.filename, a.size, a.sha256])).toEqual([['data.bin', 300, sha256(original)]]);
    // CPython decodes x-uuencode parts too: the same bytes.
    expect(cpythonReads('uuencode-cte.eml').attachments).toEqual([['data.bin', sha256(original)]]);
  });

  it('a begin … end block in a plain text body becomes an attachment and leaves the text', async () => {
    const { d } = await draftFixture('uuencode-in-text.eml');
    expect(d.attachments.map((a) => [a.filename, a.size, a.sha256])).toEqual([
      ['crash log.bin', 300, sha256(original)],
    ]);
    expect(d.update.message).toContain('Hello, here is the log you asked for.');
    expect(d.update.message).toContain('Regards,');
    expect(d.update.message).not.toContain('begin 644');
    // CPython leaves the block in the text (it decodes uuencode only as a transfer encoding).
    const py = cpythonReads('uuencode-in-text.eml');
    expect(py.attachments).toEqual([]);
    expect(py.text).toContain('begin 644 crash log.bin');
  });
});

describe('junk before the headers', () => {
  const door = (name: string) => {
    const raw = readFileSync(path.join(dir, name));
    const headers = parseHeaders(raw);
    return verdictFromHeaders(
      headers,
      raw,
      replayEnvelope(raw, { fromLine: null }, new Date('2024-05-01T12:00:00Z'), headers),
      config,
    );
  };

  it.each([
    // CPython takes the From_ line as the Unix-from and agrees.
    ['junk-mbox-from-line.eml', '[AB-123456] after an mbox From line', true],
    // CPython reads these as all body (no subject, no author): the headers are there, one line down.
    ['junk-original-message.eml', '[AB-123456] after an Original email message line', false],
    ['junk-bom-blank-lines.eml', '[AB-123456] after a BOM and blank lines', false],
  ])('%s: the header block is found at the door and in the draft', async (name, subject, cpythonAgrees) => {
    const v = door(name);
    expect(v).toMatchObject({ verdict: 'post', ticket: 'AB-123456', subject });
    expect(v.messageId).toMatch(/@example\.net$/);
    const { d } = await draftFixture(name);
    expect(d.update).toMatchObject({
      subject,
      author_name: 'Customer',
      author_email: 'customer@example.net',
      posted_at: '2010-10-12T16:21:05Z',
    });
    expect(d.update.message.trim()).toBe('The body.');
    const py = cpythonReads(name);
    if (cpythonAgrees) expect(py.subject).toBe(subject);
    else expect(py.subject).toBeNull();
  });

  it('a header line wrapped without indenting continues the field, and the headers after it are read', async () => {
    expect(door('junk-bad-fold.eml')).toMatchObject({ ticket: 'AB-123456', messageId: 'fold@example.net' });
    const { d } = await draftFixture('junk-bad-fold.eml');
    expect(d.update).toMatchObject({
      subject: '[AB-123456] a long subject that the client wrapped without indenting',
      author_email: 'customer@example.net',
      posted_at: '2010-10-12T16:21:05Z',
    });
    // mailparser saw the same header block: the declared UTF-8 applies to the body.
    expect(d.update.message.trim()).toBe('The body, café.');
    // CPython ends the header block at the wrapped line and reads the rest (From, Date…) as body.
    const py = cpythonReads('junk-bad-fold.eml');
    expect(py.defects).toContain('MissingHeaderBodySeparatorDefect');
    expect(py.from).toEqual([]);
  });

  it('a body after an empty first line is still a body', () => {
    const h = parseHeaders(Buffer.from('\nHello: this is text, not a header\n'));
    expect(h.fields).toEqual([]);
  });
});

describe('junk before the headers, hostile', () => {
  it('reads a block of many colon-less lines between header lines at most a few as folds', () => {
    const lines = Array.from({ length: 20000 }, (_, i) => `X-F${i}: v\nnot a header ${i}`);
    const h = parseHeaders(Buffer.from(`Subject: s\n${lines.join('\n')}\n\nbody`));
    expect(h.bounds.badFolds.length).toBe(8);
    expect(h.get('subject')).toBe('s');
  });
});

describe('dates', () => {
  it('an unreadable zone: the date and time as UTC, with a warning', async () => {
    const { d } = await draftFixture('date-bad-zone.eml');
    expect(d.update.posted_at).toBe('2010-10-12T16:21:05Z');
    expect(d.warnings.join('\n')).toMatch(/unreadable time zone "H0500"; date and time taken as UTC/);
    // CPython reads the same date and time and gives no zone (a naive datetime), which is UTC here.
    const py = cpythonReads('date-bad-zone.eml');
    expect(py).toMatchObject({ date: '2010-10-12T16:21:05', date_naive: true });
  });

  it('a Date run together with the next header: the zone is read, the rest ignored, with a warning', async () => {
    const { d } = await draftFixture('date-run-together.eml');
    expect(d.update.posted_at).toBe('2010-10-12T14:21:05Z');
    expect(d.warnings.join('\n')).toMatch(/text after the time zone ignored/);
    // CPython keeps the date and time but drops the zone (a naive datetime): "+0200" is written
    // there in full, so we apply it.
    expect(cpythonReads('date-run-together.eml')).toMatchObject({ date: '2010-10-12T16:21:05', date_naive: true });
  });
});

describe('line endings', () => {
  it('bare CR (old Mac) line ends are read as lines, at the door and in the draft, the stored bytes unchanged', async () => {
    const raw = readFileSync(path.join(dir, 'lines-bare-cr.eml'));
    const before = Buffer.from(raw);
    const headers = parseHeaders(raw);
    expect(headers.get('subject')).toBe('[AB-123456] old Mac line ends');
    expect(
      verdictFromHeaders(headers, raw, replayEnvelope(raw, { fromLine: null }, new Date(), headers), config),
    ).toMatchObject({ verdict: 'post', messageId: 'mac@example.net' });
    const { d } = await draftFixture('lines-bare-cr.eml');
    expect(d.update).toMatchObject({ author_email: 'customer@example.net', posted_at: '2010-10-12T16:21:05Z' });
    expect(d.update.message).toMatch(/First line\.\r?\nSecond line\./);
    const file = Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(d.attachments.map((a) => [a.filename, a.sha256])).toEqual([['a.bin', sha256(file)]]);
    // CPython reads bare CR as a line end too (same attachment bytes); it keeps the CR in the text.
    expect(cpythonReads('lines-bare-cr.eml').attachments).toEqual([['a.bin', sha256(file)]]);
    expect(raw.equals(before)).toBe(true);
  });

  it('mixed CRLF, LF and CR line ends', async () => {
    const { d } = await draftFixture('lines-mixed.eml');
    expect(d.update).toMatchObject({
      subject: '[AB-123456] mixed line ends',
      author_email: 'customer@example.net',
      posted_at: '2010-10-12T16:21:05Z',
    });
    expect(
      d.update.message
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter(Boolean),
    ).toEqual(['First line.', 'Second line.', 'Third line.']);
    expect(cpythonReads('lines-mixed.eml').subject).toBe('[AB-123456] mixed line ends');
  });
});
