// The mail tests that read single messages of the corpus: real charsets, machine mail, broken
// MIME, file names and authentication, as their senders' software wrote them. Each has a
// counterpart on the project's own fixtures in test/mail/.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkAuthenticity } from '../../src/mail/auth/verify.js';
import { authorOf } from '../../src/mail/author.js';
import { ATTACHMENTS_ONLY_TEXT, EMPTY_MESSAGE_TEXT } from '../../src/mail/draft/body.js';
import { classify } from '../../src/mail/door/machine-mail.js';
import { parseMailDate, isoSeconds } from '../../src/mail/date.js';
import { draft } from '../../src/mail/draft/draft.js';
import { parseHeaders } from '../../src/mail/headers.js';
import { inspectMessage } from '../../src/mail/inspect.js';
import type { Envelope } from '../../src/mail/types.js';
import { doorVerdict } from '../../src/mail/door/verdict.js';
import { compareWithCpython, cpython, KNOWN_DIFFERENCES } from '../mail/cpython.js';
import { stubDns } from '../mail/dns-stub.js';
import {
  base64PartAfter,
  corpusFile,
  CREATE_ROUTES,
  envelope,
  POLICY_ALL_POST,
  repoRoot,
  testConfig,
} from '../mail/helpers.js';

const config = testConfig();
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

// Each file with the charset it exercises and a field value CPython decodes, written out.
const FILES: Array<
  [file: string, charset: string, field: 'subject' | 'author_name' | 'message' | 'file', text: string]
> = [
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
      const theirs =
        field === 'subject'
          ? expected!.s
          : field === 'author_name'
            ? expected!.n
            : field === 'file'
              ? expected!.f?.join('\n')
              : expected!.b;
      if (field !== 'message' || text.length < 60) expect(theirs ?? '').toContain(text);
    }
  });
});

describe('machine mail of the corpus on create routes', () => {
  const configCreate = testConfig({ routes: CREATE_ROUTES });
  const lenient = testConfig({ routes: CREATE_ROUTES, policy: POLICY_ALL_POST });
  const to = (rcpt: string, over: Partial<Envelope> = {}): Envelope => envelope({ rcptTo: [rcpt], ...over });
  const ACCEPTED = { code: 250, enhanced: '2.0.0', text: 'Accepted' };

  // Real auto-replies, bounces and receipts of the corpus (test/fixtures/machine-mail.json).
  const expected = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/machine-mail.json'), 'utf8')) as Record<
    string,
    { verdict: string; reason: string }
  >;
  const machineFiles = Object.entries(expected).filter(([, v]) => v.verdict === 'drop');
  const humanFiles = Object.entries(expected).filter(([, v]) => v.verdict === 'post');

  it('has corpus mail of several classes', () => {
    expect(new Set(machineFiles.map(([, v]) => v.reason))).toEqual(
      new Set(['delivery_report', 'auto_submitted', 'precedence', 'mailer_daemon']),
    );
    expect(machineFiles.length).toBeGreaterThan(100);
    expect(humanFiles.length).toBeGreaterThan(5);
  });

  it('drops every real bounce and auto-reply on a create route with every class under policy post', () => {
    for (const [file, want] of machineFiles) {
      const v = doorVerdict(corpusFile(file), to('sales@example.com'), lenient);
      expect({ verdict: v.verdict, reason: v.reason, ticket: v.ticket }, file).toEqual({
        verdict: 'drop',
        reason: 'no_reference',
        ticket: null,
      });
      expect(v.detail, file).toMatch(/; machine mail never opens a ticket$/);
      expect(want.reason, file).not.toBe('no_reference');
      expect(v.smtpReply, file).toEqual(ACCEPTED);
    }
  });

  it('posts the same corpus mail when it carries a reference', () => {
    for (const [file] of machineFiles) {
      const v = doorVerdict(corpusFile(file), to('sales+AB-123456@example.com'), lenient);
      expect({ verdict: v.verdict, reason: v.reason, route: v.route }, file).toEqual({
        verdict: 'post',
        reason: 'reference:plus_tag',
        route: 'sales',
      });
    }
  });

  it('opens tickets for the corpus mail that shows no machine header', () => {
    for (const [file] of humanFiles) {
      const v = doorVerdict(corpusFile(file), to('sales@example.com'), configCreate);
      expect({ verdict: v.verdict, reason: v.reason }, file).toEqual({ verdict: 'create', reason: 'no_reference' });
    }
  });

  it('a real vacation reply and a real DSN, by name', () => {
    const aol = doorVerdict(corpusFile('bounceparser/t/corpus/aol-vacation.msg'), to('sales@example.com'), lenient);
    expect(aol).toMatchObject({ verdict: 'drop', reason: 'no_reference' });
    expect(aol.detail).toMatch(/^Auto-Submitted: auto-replied; machine mail never opens a ticket$/);
    const dsn = doorVerdict(corpusFile('mimekit/messages/bounce.txt'), to('sales@example.com'), lenient);
    expect(dsn).toMatchObject({ verdict: 'drop', reason: 'no_reference' });
    expect(dsn.detail).toMatch(/^multipart\/report.*; machine mail never opens a ticket$/);
  });
});

describe('draft on real mail', () => {
  it('reads a part whose Content-Type has no subtype as text/plain, as RFC 2045 and CPython do', async () => {
    const d = await draft(corpusFile('cpython-test_email/msg_14.txt'), envelope(), config, 'AB-123456');
    expect(d.update.message).toMatch(/^\s*Hi,\n\nI'm sorry but I'm using a drainbread ISP/);
    expect(d.attachments).toEqual([]);
    // A named one stays a file too.
    const named = await draft(corpusFile('mimekit/messages/missing-subtype.txt'), envelope(), config, 'AB-123456');
    expect(named.update.message).toBe('blah blah blah');
    expect(named.attachments.map((a) => a.filename)).toEqual(['document.xml.gz']);
  });

  it('reads the body of a message or part that lacks the empty line after its headers (cpython msg_35, msg_47)', async () => {
    const d = await draft(corpusFile('cpython-test_email/msg_35.txt'), envelope(), config, 'AB-123456');
    expect(d.update.subject).toBe("here's something interesting");
    expect(d.update.message).toBe("counter to RFC 2822, there's no separating newline here");
    const parts = await draft(corpusFile('cpython-test_email/msg_47.txt'), envelope(), config, 'AB-123456');
    expect(parts.update.message).toBe('bar');
    expect(parts.update.html_body).toContain('baz');
  });

  it('decodes RFC 2231 and RFC 2047 file names (mikel-mail)', async () => {
    const quoted = await draft(
      corpusFile('mikel-mail/emails/attachment_emails/attachment_with_quoted_filename.eml'),
      envelope(),
      config,
      'AB-123456',
    );
    expect(quoted.attachments.map((a) => a.filename)).toEqual(['Eelanalüüsi päring.jpg']);
    const nonAscii = await draft(
      corpusFile('mikel-mail/emails/attachment_emails/attachment_nonascii_filename.eml'),
      envelope(),
      config,
      'AB-123456',
    );
    expect(nonAscii.attachments.map((a) => a.filename)).toEqual(['ciële.txt']);
  });

  it('decodes encoded file names in other charsets (php-mime-mail-parser m0018, m0024)', async () => {
    const korean = await draft(corpusFile('php-mime-mail-parser/m0018'), envelope(), config, 'AB-123456');
    expect(korean.attachments.map((a) => a.filename)).toContain('사진.JPG');
    const french = await draft(corpusFile('php-mime-mail-parser/m0024'), envelope(), config, 'AB-123456');
    expect(french.attachments.map((a) => a.filename)).toContain('Biodiversité de semaine en semaine.doc');
  });

  it('hashes attachments to the bytes of their base64 parts (php-mime-mail-parser m0025)', async () => {
    const raw = corpusFile('php-mime-mail-parser/m0025');
    const d = await draft(raw, envelope(), config, 'AB-123456');
    const byName = new Map(d.attachments.map((a) => [a.filename, a]));
    for (const name of ['logo.jpg', 'background.jpg', 'attachment.txt']) {
      const expected = base64PartAfter(raw, `filename="${name}"`);
      expect(expected.length).toBeGreaterThan(1000);
      expect(byName.get(name)).toMatchObject({ size: expected.length, sha256: sha(expected) });
    }
    expect(byName.get('logo.jpg')).toMatchObject({ contentId: 'image-1', inline: true });
    expect(byName.get('attachment.txt')).toMatchObject({ inline: false });
    expect(d.update.html_body).toContain('src="cid:image-1"');
  });

  it('hashes a PDF to the bytes of its base64 part (mikel-mail attachment_pdf)', async () => {
    const raw = corpusFile('mikel-mail/emails/attachment_emails/attachment_pdf.eml');
    const d = await draft(raw, envelope(), config, 'AB-123456');
    const expected = base64PartAfter(raw, 'filename="broken.pdf"');
    expect(d.attachments).toHaveLength(1);
    expect(d.attachments[0]).toMatchObject({
      filename: 'broken.pdf',
      contentType: 'application/pdf',
      size: expected.length,
      sha256: sha(expected),
    });
    expect(d.attachments[0]!.content.equals(expected)).toBe(true);
  });

  it('drafts an HTML-only list mail (ponymail nexus-html-only)', async () => {
    const raw = corpusFile('ponymail-unit-tests/nexus-html-only.mbox');
    const body = raw.subarray(raw.indexOf('\n') + 1); // drop the mbox From_ line
    const d = await draft(body, envelope(), config, 'AB-123456');
    expect(d.update.html_body).toBeDefined();
    expect(d.update.message.length).toBeGreaterThan(20);
    expect(d.update.message).not.toMatch(/<[a-z]+[ >]/i);
  });

  it('drafts an attachment-only message (mikel-mail attachment_only_email)', async () => {
    const d = await draft(
      corpusFile('mikel-mail/emails/attachment_emails/attachment_only_email.eml'),
      envelope(),
      config,
      'AB-123456',
    );
    expect(d.update.message).toBe(ATTACHMENTS_ONLY_TEXT);
    expect(d.attachments.map((a) => a.filename)).toEqual(['blah.gz']);
  });
});

describe('headers, dates, authors and classes of real mail', () => {
  it('recognises real DSNs and auto-replies', () => {
    const replay = envelope();
    expect(classify(parseHeaders(corpusFile('cpython-test_email/msg_16.txt')), replay)).toBe('delivery_report');
    expect(classify(parseHeaders(corpusFile('mimekit/messages/delivery-status.txt')), replay)).toBe('delivery_report');
    expect(classify(parseHeaders(corpusFile('mailgun-flanker/bounce/office365.eml')), replay)).not.toBeNull();
    expect(classify(parseHeaders(corpusFile('mikel-mail/emails/plain_emails/basic_email.eml')), replay)).toBeNull();
  });

  it('reads real From: headers', () => {
    const a = authorOf(parseHeaders(corpusFile('mikel-mail/emails/plain_emails/raw_email_bad_time.eml')), '');
    expect(a).toEqual({ name: 'Атиковa', email: 'yusuf75thu@auracom.net', source: 'from' });
    const b = authorOf(
      parseHeaders(corpusFile('mikel-mail/emails/plain_emails/raw_email_with_at_display_name.eml')),
      '',
    );
    expect(b).toEqual({ name: 'Mikel Lindsaar', email: 'test@lindsaar.net', source: 'from' });
  });

  it('drops real bounces and auto-replies', () => {
    expect(doorVerdict(corpusFile('cpython-test_email/msg_16.txt'), envelope(), config).reason).toBe('delivery_report');
    expect(doorVerdict(corpusFile('bounceparser/t/corpus/aol-vacation.msg'), envelope(), config).reason).toBe(
      'auto_submitted',
    );
    expect(doorVerdict(corpusFile('mailgun-flanker/bounce/office365.eml'), envelope(), config).verdict).toBe('drop');
  });

  const iso = (s: string): string | null => {
    const d = parseMailDate(s);
    return d ? isoSeconds(d) : null;
  };
  it('parses the folded RFC 2822 example and rejects the corpus junk', () => {
    const folded = parseHeaders(corpusFile('mikel-mail/emails/rfc2822/example10.eml')).getRaw('date');
    expect(iso(folded!)).toBe('1969-02-14T03:02:00Z');
    const junk = parseHeaders(corpusFile('mikel-mail/emails/error_emails/bad_date_header.eml')).getRaw('date');
    expect(parseMailDate(junk)).toBeNull();
  });

  it('reads the flanker fixtures that start with a whitespace-only line', () => {
    const h = parseHeaders(corpusFile('mailgun-flanker/enclosed.eml'));
    expect(h.get('subject')).toBe('Wow');
    expect(h.getRaw('delivered-to')).toBe('bob@example.com');
  });

  it('shows a real bounce as dropped', async () => {
    const r = await inspectMessage(
      corpusFile('cpython-test_email/msg_16.txt'),
      envelope({ rcptTo: ['support+AB-123456@example.com'] }),
      config,
    );
    expect(r).toMatchObject({
      verdict: 'drop',
      reason: 'delivery_report',
      smtp_reply: '250 2.0.0 Accepted',
      update: null,
    });
  });

  const opts = (resolver: ReturnType<typeof stubDns>['resolver'], authorEmail = 'ann@example.com') => ({
    resolver,
    timeoutMs: 5000,
    mta: 'mailgate.test',
    authorEmail,
  });
  it('asks only the injected resolver for a real Gmail signature (mimekit dkim/gmail.msg)', async () => {
    const raw = corpusFile('mimekit/dkim/gmail.msg');
    const d = stubDns();
    const v = await checkAuthenticity(raw, envelope({ source: 'inspect', mailFrom: '' }), opts(d.resolver, 'x'));
    // The key is not in the stub: no network is asked, and the verdict says so instead of throwing.
    expect(v.authenticated).toBe(false);
    expect(d.asked.some((q) => q.includes('_domainkey.gmail.com'))).toBe(true);
  });
});
