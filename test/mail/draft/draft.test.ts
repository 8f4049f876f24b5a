import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { draft } from '../../../src/mail/draft/draft.js';
import { ATTACHMENTS_ONLY_TEXT, EMPTY_MESSAGE_TEXT } from '../../../src/mail/draft/body.js';
import { doorVerdict } from '../../../src/mail/door/verdict.js';
import { base64PartAfter, envelope, fixture, mail, testConfig } from '../helpers.js';

const config = testConfig();
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const b64 = (b: Buffer): string => b.toString('base64').replace(/.{76}/g, '$&\r\n');

// Bytes that are neither valid UTF-8 nor text, so any re-encoding would change the hash.
const png = Buffer.from([
  0x89,
  0x50,
  0x4e,
  0x47,
  0x0d,
  0x0a,
  0x1a,
  0x0a,
  0x00,
  0xff,
  0xfe,
  0x80,
  ...Array.from({ length: 300 }, (_, i) => (i * 37) % 256),
]);
const pdf = Buffer.from(`%PDF-1.4\n${'\u00e9\u00ff binary '.repeat(50)}`, 'latin1');

const rich = mail(
  'From: "Jörg Müller" <Joerg@Example.COM>',
  'To: support@example.com',
  'Subject: =?UTF-8?Q?Re=3A_Drucker_kaputt_=5BAB-123456=5D?=',
  'Date: Wed, 1 May 2024 13:34:56 +0200',
  'Message-ID: <rich@example.com>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="outer"',
  '',
  '--outer',
  'Content-Type: multipart/related; boundary="rel"',
  '',
  '--rel',
  'Content-Type: multipart/alternative; boundary="alt"',
  '',
  '--alt',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Gr=C3=BC=C3=9Fe, the printer is on fire. {{ticket.secret}}',
  '--alt',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p onmouseover="x()">Grüße, <b>on fire</b> <img src="cid:chart@local" alt="chart"></p><script>evil()</script>',
  '--alt--',
  '--rel',
  'Content-Type: image/png',
  'Content-Transfer-Encoding: base64',
  'Content-ID: <chart@local>',
  '',
  b64(png),
  '--rel--',
  '--outer',
  'Content-Type: application/pdf',
  'Content-Transfer-Encoding: base64',
  "Content-Disposition: attachment; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf",
  '',
  b64(pdf),
  '--outer',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Disposition: attachment; filename="=?UTF-8?Q?notes_=C3=BC.txt?="',
  '',
  'attached text, not the body',
  '--outer--',
  '',
);

describe('draft', () => {
  it('maps a rich message to one update with every attachment byte for byte', async () => {
    const d = await draft(rich, envelope({ source: 'smtp', receivedAt: '2024-05-01T12:00:00Z' }), config, 'AB-123456');
    expect(d.update).toEqual({
      ticket: 'AB-123456',
      subject: 'Re: Drucker kaputt [AB-123456]',
      message: 'Grüße, the printer is on fire. {{ticket.secret}}',
      html_body: expect.stringContaining('<img src="cid:chart@local" alt="chart" />'),
      html_safe: '1',
      author_name: 'Jörg Müller',
      author_email: 'Joerg@Example.COM',
      posted_at: '2024-05-01T11:34:56Z',
    });
    expect(d.update.html_body).not.toMatch(/script|evil|onmouseover/);
    expect(d.update).not.toHaveProperty('parse_ticket_variables');
    expect(d.update).not.toHaveProperty('outgoing');

    expect(d.attachments.map(({ content: _c, ...a }) => a)).toEqual([
      {
        filename: 'attachment-1.png',
        contentType: 'image/png',
        size: png.length,
        sha256: sha(png),
        contentId: 'chart@local',
        inline: true,
      },
      {
        filename: 'Rechnung März.pdf',
        contentType: 'application/pdf',
        size: pdf.length,
        sha256: sha(pdf),
        inline: false,
      },
      {
        filename: 'notes ü.txt',
        contentType: 'text/plain',
        size: 27,
        sha256: sha(Buffer.from('attached text, not the body')),
        inline: false,
      },
    ]);
    expect(d.attachments[0]!.content.equals(png)).toBe(true);
    expect(d.warnings).toEqual([]);
  });

  it('uses the subject the door saw', async () => {
    const d = await draft(rich, envelope(), config, 'AB-123456');
    expect(d.update.subject).toBe(doorVerdict(rich, envelope(), config).subject);
  });

  it('makes an inline cid image without Content-Disposition an inline attachment', async () => {
    const raw = mail(
      'From: a@example.com',
      'Subject: pic',
      'Content-Type: multipart/mixed; boundary=b',
      '',
      '--b',
      'Content-Type: text/html',
      '',
      '<p>see <img src="cid:pic1"></p>',
      '--b',
      'Content-Type: image/gif',
      'Content-ID: <pic1>',
      'Content-Transfer-Encoding: base64',
      '',
      b64(png),
      '--b--',
    );
    const d = await draft(raw, envelope(), config, 'AB-123456');
    expect(d.attachments).toHaveLength(1);
    expect(d.attachments[0]).toMatchObject({
      filename: 'attachment-1.gif',
      contentId: 'pic1',
      inline: true,
      sha256: sha(png),
    });
    expect(d.update.message).toBe('see');
    expect(d.update.html_body).toContain('cid:pic1');
  });

  it('converts an HTML-only message to text', async () => {
    const raw = mail(
      'From: a@example.com',
      'Subject: html',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<div>Hello <i>world</i><br>line two</div>',
    );
    const d = await draft(raw, envelope(), config, 'AB-123456');
    expect(d.update.message).toBe('Hello world\nline two');
    expect(d.update.html_body).toBe('<div>Hello <i>world</i><br />line two</div>');
    expect(d.update.html_safe).toBe('1');
  });

  it('sends a placeholder for an attachment-only message and for an empty one', async () => {
    const only = mail(
      'From: a@example.com',
      'Subject: file',
      'Content-Type: application/pdf; name="doc.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      b64(pdf),
    );
    const d = await draft(only, envelope(), config, 'AB-123456');
    expect(d.update.message).toBe(ATTACHMENTS_ONLY_TEXT);
    expect(d.attachments.map((a) => [a.filename, a.sha256])).toEqual([['doc.pdf', sha(pdf)]]);
    expect(d.update).not.toHaveProperty('html_body');
    const empty = await draft(mail('From: a@example.com', 'Subject: nothing', '', ''), envelope(), config, 'AB-123456');
    expect(empty.update.message).toBe(EMPTY_MESSAGE_TEXT);
    expect(empty.attachments).toEqual([]);
  });

  it('keeps a forwarded message/rfc822 as one attachment, bytes unchanged', async () => {
    const inner = 'From: c@example.com\r\nSubject: inner\r\nContent-Type: text/plain\r\n\r\ninner body\r\n';
    const raw = mail(
      'From: a@example.com',
      'Subject: fwd',
      'Content-Type: multipart/mixed; boundary=b',
      '',
      '--b',
      'Content-Type: text/plain',
      '',
      'see below',
      '--b',
      'Content-Type: message/rfc822',
      'Content-Disposition: inline',
      '',
      inner,
      '--b--',
    );
    const d = await draft(raw, envelope(), config, 'AB-123456');
    expect(d.update.message).toBe('see below');
    expect(d.attachments).toHaveLength(1);
    // Named after its subject, so staff see what it is before opening it.
    expect(d.attachments[0]).toMatchObject({ filename: 'inner.eml', contentType: 'message/rfc822' });
    expect(d.attachments[0]!.content.toString()).toBe(inner);
  });

  it('names a forwarded message after its subject, keeps a name the sender gave, and is safe for file systems', async () => {
    const fwd = (inner: string, disposition = 'Content-Disposition: attachment') =>
      mail(
        'From: a@example.com',
        'Subject: fwd',
        'Content-Type: multipart/mixed; boundary=b',
        '',
        '--b',
        'Content-Type: text/plain',
        '',
        'see',
        '--b',
        'Content-Type: message/rfc822',
        disposition,
        '',
        inner,
        '--b--',
      );
    const named = async (raw: Buffer) =>
      (await draft(raw, envelope(), config, 'AB-123456')).attachments.map((a) => a.filename);
    expect(await named(fwd('Subject: =?UTF-8?Q?Rechnung_M=C3=A4rz?=\r\n\r\nx\r\n'))).toEqual(['Rechnung März.eml']);
    expect(await named(fwd('Subject: a/b: "c" <d>?\r\n\r\nx\r\n'))).toEqual(['a b c d.eml']);
    expect(await named(fwd('From: x@y\r\n\r\nno subject\r\n'))).toEqual(['forwarded-message-1.eml']);
    expect(
      await named(fwd('Subject: ignored\r\n\r\nx\r\n', 'Content-Disposition: attachment; filename="Original.eml"')),
    ).toEqual(['Original.eml']);
    expect(
      await named(fwd('Subject: ignored\r\n\r\nx\r\n', 'Content-Disposition: attachment; filename="Re: hello"')),
    ).toEqual(['Re: hello.eml']);
    expect(await named(fwd(`Subject: ${'long '.repeat(60)}\r\n\r\nx\r\n`))).toEqual([
      `${'long '.repeat(24).trim()}.eml`,
    ]);
  });

  it('reads a part whose Content-Type has no subtype as text/plain, as RFC 2045 and CPython do', async () => {
    const d = await draft(fixture('broken/missing-subtype.eml'), envelope(), config, 'AB-123456');
    expect(d.update.message).toBe('Hi,\n\nthe type of this message has no subtype.');
    expect(d.attachments).toEqual([]);
    // A named one stays a file too.
    const named = await draft(fixture('broken/missing-subtype-named.eml'), envelope(), config, 'AB-123456');
    expect(named.update.message).toBe('the report is attached');
    expect(named.attachments.map((a) => [a.filename, a.size])).toEqual([['report.xml.gz', 300]]);
  });

  it('reads the body of a message or part that lacks the empty line after its headers', async () => {
    const d = await draft(fixture('broken/no-blank-line.eml'), envelope(), config, 'AB-123456');
    expect(d.update.subject).toBe('no empty line');
    expect(d.update.message).toBe('this line is the body, there is no empty line before it');
    const parts = await draft(fixture('broken/no-blank-line-parts.eml'), envelope(), config, 'AB-123456');
    expect(parts.update.message).toBe('plain text of the part');
    expect(parts.update.html_body).toContain('html of the part');
  });

  it('reads what it can of broken MIME: no closing boundary, a misspelt or unknown transfer encoding, junk in base64', async () => {
    const open = await draft(fixture('broken/no-closing-boundary.eml'), envelope(), config, 'AB-123456');
    expect(open.update.message).toBe('the first part');
    expect(open.attachments.map((a) => [a.filename, a.content.toString().trim()])).toEqual([
      ['notes.txt', 'the notes, cut short'],
    ]);
    expect((await draft(fixture('broken/bad-cte.eml'), envelope(), config, 'AB-123456')).update.message).toBe(
      'Grüße aus München',
    );
    expect((await draft(fixture('broken/unknown-cte.eml'), envelope(), config, 'AB-123456')).update.message).toBe(
      'plain words under an unknown encoding',
    );
    expect((await draft(fixture('broken/bad-base64.eml'), envelope(), config, 'AB-123456')).update.message).toBe(
      'the text survives junk in base64',
    );
    const badHeader = await draft(fixture('broken/bad-header-name.eml'), envelope(), config, 'AB-123456');
    expect(badHeader.update).toMatchObject({
      subject: 'after a bad header',
      author_name: 'Ann',
      author_email: 'ann@example.net',
      message: 'body',
    });
  });

  it('keeps the From name when the address comes from the envelope', async () => {
    const d = await draft(
      mail('From: MAILER DAEMON <>', 'Subject: x', '', 'body'),
      envelope({ mailFrom: 'bounce@example.org' }),
      config,
      'AB-123456',
    );
    expect(d.update).toMatchObject({ author_name: 'MAILER DAEMON', author_email: 'bounce@example.org' });
  });

  it('falls back to the receive time for a missing or garbage Date, with a warning', async () => {
    const env = envelope({ receivedAt: '2024-05-01T12:00:00.500Z' });
    const none = await draft(mail('From: a@example.com', 'Subject: x', '', 'body'), env, config, 'AB-123456');
    expect(none.update.posted_at).toBe('2024-05-01T12:00:00Z');
    expect(none.warnings.join()).toMatch(/no Date/);
    const garbage = await draft(
      mail('From: a@example.com', 'Date: <HR>', 'Subject: x', '', 'body'),
      env,
      config,
      'AB-123456',
    );
    expect(garbage.update.posted_at).toBe('2024-05-01T12:00:00Z');
    expect(garbage.warnings.join()).toMatch(/unparseable/);
  });

  it('uses the receive time for a live message dated in the future', async () => {
    const raw = mail('From: a@example.com', 'Date: Wed, 1 May 2024 14:00:00 +0000', 'Subject: x', '', 'body');
    const live = await draft(
      raw,
      envelope({ source: 'smtp', receivedAt: '2024-05-01T12:00:00Z' }),
      config,
      'AB-123456',
    );
    expect(live.update.posted_at).toBe('2024-05-01T12:00:00Z');
    const replay = await draft(
      raw,
      envelope({ source: 'replay', receivedAt: '2024-05-01T12:00:00Z' }),
      config,
      'AB-123456',
    );
    expect(replay.update.posted_at).toBe('2024-05-01T14:00:00Z');
  });

  it('uses the envelope sender when From is missing, and no author when both are', async () => {
    const d = await draft(
      mail('Subject: x', '', 'body'),
      envelope({ mailFrom: 'bounces@example.org' }),
      config,
      'AB-123456',
    );
    // No display name: the address is the name too (authorName), so no contact is nameless.
    expect(d.update).toMatchObject({ author_email: 'bounces@example.org', author_name: 'bounces@example.org' });
    const none = await draft(mail('Subject: x', '', 'body'), envelope({ mailFrom: '' }), config, 'AB-123456');
    expect(none.update).not.toHaveProperty('author_email');
    expect(none.warnings.join()).toMatch(/no author/);
  });

  it('rejects a message over the size limit and a parse over the time limit', async () => {
    const small = testConfig({ smtp: { maxMessageBytes: 100 } });
    await expect(draft(rich, envelope(), small, 'AB-123456')).rejects.toMatchObject({ kind: 'too_large' });
    const big = Buffer.concat([
      mail('Subject: big', 'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64', '', ''),
      Buffer.from(b64(Buffer.alloc(8 * 1024 * 1024, 7))),
    ]);
    const hurried = testConfig({ queue: { parseTimeoutMs: 1 } });
    const err: unknown = await draft(big, envelope(), hurried, 'AB-123456').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ kind: 'draft_limit', message: expect.stringMatching(/within 1 ms/) });
  });
});

describe('draft of whole test messages', () => {
  it('decodes RFC 2231 (with continuations) and RFC 2047 file names', async () => {
    const d = await draft(fixture('filenames/rfc2231-and-2047.eml'), envelope(), config, 'AB-123456');
    expect(d.attachments.map((a) => a.filename)).toEqual([
      'Prüfbericht März.pdf',
      'Résumé de la semaine longue.doc',
      'naïve ciële.txt',
      'Biodiversité de la semaine.doc',
    ]);
  });

  it('hashes attachments to the bytes of their base64 parts; cid images are inline and referenced', async () => {
    const raw = fixture('cid/related.eml');
    const d = await draft(raw, envelope(), config, 'AB-123456');
    const byName = new Map(d.attachments.map((a) => [a.filename, a]));
    for (const name of ['logo.png', 'photo.jpg', 'attachment.txt']) {
      const expected = base64PartAfter(raw, `name="${name}"`);
      expect(expected.length).toBeGreaterThan(1000);
      expect(byName.get(name)).toMatchObject({ size: expected.length, sha256: sha(expected) });
    }
    expect(byName.get('logo.png')).toMatchObject({ contentId: 'image-1', inline: true });
    // No Content-Disposition: inline because the HTML refers to it.
    expect(byName.get('photo.jpg')).toMatchObject({ contentId: 'photo.jpg@01D0AB12.34CD5600', inline: true });
    expect(byName.get('attachment.txt')).toMatchObject({ inline: false });
    expect(d.update.html_body).toContain('src="cid:image-1"');
    expect(d.update.html_body).toContain('src="cid:photo.jpg@01D0AB12.34CD5600"');
    expect(d.update.message).toBe('Our logo and a photo.');
  });

  it('hashes a PDF to the bytes of its base64 part', async () => {
    const raw = fixture('cid/pdf.eml');
    const d = await draft(raw, envelope(), config, 'AB-123456');
    const expected = base64PartAfter(raw, 'filename="invoice.pdf"');
    expect(d.attachments).toHaveLength(1);
    expect(d.attachments[0]).toMatchObject({
      filename: 'invoice.pdf',
      contentType: 'application/pdf',
      size: expected.length,
      sha256: sha(expected),
    });
    expect(d.attachments[0]!.content.equals(expected)).toBe(true);
    expect(d.attachments[0]!.content.subarray(0, 8).toString()).toBe('%PDF-1.4');
  });

  it('drafts an HTML-only message: the text without tags, the HTML sanitised', async () => {
    const d = await draft(fixture('cid/html-only.eml'), envelope(), config, 'AB-123456');
    expect(d.update.html_body).toContain('<h1>Release notes</h1>');
    expect(d.update.html_body).not.toContain('<style');
    expect(d.update.message).toMatch(
      /^Release notes\n\nThe new version fixes the login bug <https:\/\/example\.org\/bug\/1> and the export\./,
    );
    expect(d.update.message).not.toMatch(/<[a-z]+[ >]/i);
  });

  it('drafts an attachment-only message', async () => {
    const d = await draft(fixture('cid/attachment-only.eml'), envelope(), config, 'AB-123456');
    expect(d.update.message).toBe(ATTACHMENTS_ONLY_TEXT);
    expect(d.attachments.map((a) => [a.filename, a.contentType])).toEqual([['logs.gz', 'application/gzip']]);
  });

  it('keeps a forwarded message with its own attachment as one .eml file, and reads a base64 root part', async () => {
    const raw = fixture('nested/forwarded.eml');
    const d = await draft(raw, envelope(), config, 'AB-123456');
    expect(d.update.message).toBe("See the customer's mail below.");
    expect(d.attachments.map((a) => [a.filename, a.contentType])).toEqual([['order 7.eml', 'message/rfc822']]);
    const inner = d.attachments[0]!.content.toString('latin1');
    expect(inner).toMatch(/^From: Customer <customer@example\.org>\r\n/);
    expect(raw.includes(d.attachments[0]!.content)).toBe(true);
    const root = await draft(fixture('nested/base64-root.eml'), envelope(), config, 'AB-123456');
    expect(root.update.message).toBe('The whole message body is base64, as some web mailers send it.');
  });
});
