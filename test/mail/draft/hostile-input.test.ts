// Limits and cleaning that keep a hostile message from exploding the drafter or from carrying
// control characters into Sirportly's fields and the logs.
import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { cleanFilename, MAX_FILENAME_CHARS, shortenFilename } from '../../../src/mail/draft/attachments.js';
import { composeBody } from '../../../src/mail/draft/body.js';
import { clip, cleanLine, LOG_VALUE_MAX, shorten } from '../../../src/mail/clean.js';
import { postedAt } from '../../../src/mail/date.js';
import { draft } from '../../../src/mail/draft/draft.js';
import { htmlDepth, htmlOverLimits, roughHtmlText } from '../../../src/mail/draft/html-limits.js';
import { sanitiseHtml } from '../../../src/mail/draft/sanitize.js';
import { classifyFailure } from '../../../src/worker/retry-or-fail.js';
import type { UpdateJob } from '../../../src/worker/update-job.js';
import { Summary } from '../../../src/replay/summary.js';
import { envelope, mail, testConfig } from '../helpers.js';

const config = testConfig();
/** A job at this try, for the retry policy. */
const job = (attemptsMade: number): UpdateJob => ({
  id: 'x',
  timestamp: Date.now(),
  attemptsMade,
  data: {} as UpdateJob['data'],
  updateData: async () => undefined,
});
const LIMITS = { maxDepth: 10, maxBytes: 1000 };

describe('HTML depth pre-scan', () => {
  it('counts nesting from the tags', () => {
    expect(htmlDepth('plain text')).toBe(0);
    expect(htmlDepth('<div><div><span>x</span></div></div>')).toBe(3);
    expect(htmlDepth('<div></div><div></div><div></div>')).toBe(1);
    expect(htmlDepth('<DIV><Div class="a>b"><b>x</B></div></DIV>')).toBe(3);
  });

  it('does not count void, self-closed or implicitly closed elements', () => {
    expect(htmlDepth('<div>' + '<br><img src="x"><hr/>'.repeat(100) + '</div>')).toBe(1);
    expect(htmlDepth('<div/><span/>'.repeat(100))).toBe(0);
    // Sloppy mail leaves these open by the thousand; a parser closes each at the next.
    expect(htmlDepth('<table>' + '<tr><td>cell'.repeat(500) + '</table>')).toBe(1);
    expect(htmlDepth('<p>one<p>two<p>three<ul><li>a<li>b</ul>')).toBe(1);
  });

  it('skips comments and the text of script and style', () => {
    expect(htmlDepth(`<!-- ${'<div>'.repeat(50)} -->x`)).toBe(0);
    expect(htmlDepth(`<style>${'<div>'.repeat(50)}</style><script>${'<b>'.repeat(50)}</SCRIPT><p>x</p>`)).toBe(0);
  });

  it('counts unclosed nesting elements as open and stops once past the cap', () => {
    expect(htmlDepth('<font><font><font>x')).toBe(3);
    expect(htmlDepth('<div>'.repeat(1_000_000), 500)).toBe(501);
  });

  it('names the limit passed', () => {
    expect(htmlOverLimits('<div>'.repeat(11), LIMITS)).toBe(
      'HTML body nests elements deeper than html.maxDepth (10); the update carries the text only',
    );
    expect(htmlOverLimits('<div>'.repeat(10), LIMITS)).toBeNull();
    expect(htmlOverLimits('é'.repeat(501), LIMITS)).toBe(
      'HTML body of 1002 bytes exceeds html.maxBytes (1000); the update carries the text only',
    );
    expect(htmlOverLimits('é'.repeat(500), LIMITS)).toBeNull();
  });

  it('gives the text of HTML it does not sanitise by stripping the tags', () => {
    expect(
      roughHtmlText(
        '<head><title>t</title><style>p{}</style></head><p>Hello&nbsp;&amp; <b>you</b></p><div>next&#33;<br>line &#x263A; &bogus;</div><script>evil()</script>',
      ),
    ).toBe('Hello & you\nnext!\nline ☺ &bogus;');
  });
});

describe('composeBody past the HTML limits', () => {
  const deep = `<p>Hello ${'<div>'.repeat(20)}deep${'</div>'.repeat(20)}</p>`;

  it('sends the text only, without html_body, and says why', () => {
    const body = composeBody({ html: deep, attachmentCount: 0, htmlLimits: LIMITS });
    expect(body).toEqual({ message: 'Hello deep', warning: expect.stringMatching(/html\.maxDepth \(10\)/) });
    const withText = composeBody({ text: 'the plain part', html: deep, attachmentCount: 0, htmlLimits: LIMITS });
    expect(withText).toEqual({ message: 'the plain part', warning: expect.stringMatching(/html\.maxDepth/) });
  });

  it('sanitises HTML within them as before', () => {
    const body = composeBody({ html: '<p>fine</p>', attachmentCount: 0, htmlLimits: LIMITS });
    expect(body).toEqual({ message: 'fine', html_body: '<p>fine</p>', html_safe: '1' });
  });
});

describe('html.remoteImages', () => {
  const html =
    '<p>Hi <img src="https://track.example/pixel.gif?u=42" alt=" Our logo "><img src="http://t.example/p.gif"><img src="cid:sig@x" alt="sig"></p>';

  it('drop: a remote image becomes its alt text; inline cid: images stay', () => {
    expect(sanitiseHtml(html, 'drop')).toBe(
      '<p>Hi <span>[Our logo]</span><span></span><img src="cid:sig@x" alt="sig" /></p>',
    );
  });

  it('keep: remote images stay', () => {
    expect(sanitiseHtml(html, 'keep')).toBe(
      '<p>Hi <img src="https://track.example/pixel.gif?u=42" alt=" Our logo " /><img src="http://t.example/p.gif" /><img src="cid:sig@x" alt="sig" /></p>',
    );
  });

  it('defaults to drop in the configuration, and draft applies it', async () => {
    expect(config.html.remoteImages).toBe('drop');
    const d = await draft(mail('Subject: x', 'Content-Type: text/html', '', html), envelope(), config, 'AB-123456');
    expect(d.update.html_body).not.toContain('track.example');
    expect(d.update.html_body).toContain('[Our logo]');
    const kept = await draft(
      mail('Subject: x', 'Content-Type: text/html', '', html),
      envelope(),
      testConfig({ html: { remoteImages: 'keep' } }),
      'AB-123456',
    );
    expect(kept.update.html_body).toContain('https://track.example/pixel.gif');
  });

  it('leaves display:none text in place (it can neither run nor load anything)', () => {
    expect(sanitiseHtml('<div style="display:none">preheader</div><p>body</p>', 'drop')).toBe(
      '<div style="display:none">preheader</div><p>body</p>',
    );
  });
});

describe('values that reach Sirportly', () => {
  it('cleanLine: no CR, LF, NUL or other control character', () => {
    expect(cleanLine('Re: a\r\nBcc: evil@x\u0000\u001b[31m\u007f\u0085end\ttab')).toBe('Re: a Bcc: evil@x[31m end tab');
  });

  it('draft: Subject and author name come out clean, whatever their encoded words held', async () => {
    const raw = mail(
      'From: =?utf-8?q?Eve=0D=0AX-Injected=3A_1=00?= <eve@example.org>',
      'Subject: =?utf-8?q?Help=0D=0ABcc=3A_x=40y=00_now?=',
      'Date: Wed, 1 May 2024 13:34:56 +0200',
      '',
      'body',
    );
    const d = await draft(raw, envelope(), config, 'AB-123456');
    expect(d.update.subject).toBe('Help Bcc: x@y now');
    expect(d.update.author_name).toBe('Eve X-Injected: 1');
  });

  it('attachment names lose bidi controls and are shortened keeping their extension', () => {
    expect(cleanFilename('invoice\u202Efdp.exe')).toBe('invoicefdp.exe');
    expect(cleanFilename('a\u2066b\u2067c\u2068d\u2069e\u202A\u202B\u202C\u202D.txt')).toBe('abcde.txt');
    const long = cleanFilename(`${'x'.repeat(500)}.pdf`)!;
    expect([...long]).toHaveLength(MAX_FILENAME_CHARS);
    expect(long.endsWith('x.pdf')).toBe(true);
    // No extension worth keeping: plainly cut, and never in the middle of a surrogate pair.
    expect(shortenFilename('😀'.repeat(200))).toBe('😀'.repeat(MAX_FILENAME_CHARS));
    expect(shortenFilename(`${'y'.repeat(200)}.this-is-no-extension-at-all`)).toBe('y'.repeat(MAX_FILENAME_CHARS));
    expect(shortenFilename('short.txt')).toBe('short.txt');
  });

  it('a Date before 1990 is treated like a missing one', () => {
    expect(postedAt('Mon, 1 Jan 1970 00:00:00 +0000', '2024-05-01T12:00:00Z', { live: true })).toEqual({
      iso: '2024-05-01T12:00:00Z',
      source: 'fallback',
      warning: 'Date header 1970-01-01T00:00:00Z is before 1990; posted_at is the fallback time',
    });
    expect(postedAt('Mon, 1 Jan 1990 00:00:00 +0000', '2024-05-01T12:00:00Z', { live: true })).toEqual({
      iso: '1990-01-01T00:00:00Z',
      source: 'date',
    });
  });

  it('header values in logs and warnings are clipped to a few hundred characters', () => {
    expect(clip('short <id@x>')).toBe('short <id@x>');
    const long = clip(`<${'a'.repeat(100_000)}@x>`);
    expect(long.length).toBeLessThan(LOG_VALUE_MAX + 30);
    expect(long).toMatch(/^<a+…\(100004 chars\)$/);
    expect(clip('a\r\nb\u0000')).toBe('a\\x0d\\x0ab\\x00');
    const warning = postedAt(`x${'y'.repeat(10_000)}`, '2024-05-01T12:00:00Z', { live: true }).warning!;
    expect(warning.length).toBeLessThan(LOG_VALUE_MAX + 100);
  });

  // Shortened when recorded; escaped once, where the summary is printed (JSON escapes on its own).
  it('replay summary examples carry shortened Message-IDs and subjects', () => {
    const summary = new Summary(true);
    summary.record('rejected', 'no_reference', {
      path: 'a.mbox',
      index: 1,
      message_id: `${'m'.repeat(5000)}@x`,
      subject: `s\r\n${'s'.repeat(5000)}`,
      ticket: null,
    });
    const [example] = summary.toJSON().rejected.reasons.no_reference!.examples;
    expect(example!.message_id).toBe(shorten(`${'m'.repeat(5000)}@x`));
    expect(example!.subject).toMatch(/^s\r\ns+…\(5003 chars\)$/);
  });
});

describe('caps on what a message decodes to', () => {
  const attachmentsMail = (n: number) =>
    mail(
      'Subject: many',
      'Content-Type: multipart/mixed; boundary="b"',
      '',
      '--b',
      'Content-Type: text/plain',
      '',
      'see the files',
      ...Array.from({ length: n }, (_, i) => [
        `--b`,
        'Content-Type: application/octet-stream',
        `Content-Disposition: attachment; filename="f${i + 1}.bin"`,
        '',
        `data ${i + 1}`,
      ]).flat(),
      '--b--',
      '',
    );

  it('uploads draft.maxAttachments files and lists the others in the message', async () => {
    const d = await draft(attachmentsMail(5), envelope(), testConfig({ draft: { maxAttachments: 3 } }), 'AB-123456');
    expect(d.attachments.map((a) => a.filename)).toEqual(['f1.bin', 'f2.bin', 'f3.bin']);
    expect(d.update.message).toBe(
      'see the files\n\n[2 more attachment(s) of this message were not uploaded (draft.maxAttachments):]\n- f4.bin (application/octet-stream, 6 bytes)\n- f5.bin (application/octet-stream, 6 bytes)',
    );
    expect(d.warnings).toContain('5 attachments: the first 3 uploaded, 2 listed in the message (draft.maxAttachments)');
    const all = await draft(attachmentsMail(5), envelope(), testConfig({ draft: { maxAttachments: 0 } }), 'AB-123456');
    expect(all.attachments).toHaveLength(5);
  });

  it('counts MIME parts against draft.maxMimeParts, the message itself included, and fails past it at once', async () => {
    // 8 attachments + the text part + the multipart = 10 parts.
    const limited = testConfig({ draft: { maxMimeParts: 10 } });
    expect((await draft(attachmentsMail(8), envelope(), limited, 'AB-123456')).attachments).toHaveLength(8);
    const err: unknown = await draft(attachmentsMail(9), envelope(), limited, 'AB-123456').catch((e: unknown) => e);
    expect(err).toMatchObject({
      kind: 'bad_input',
      message: 'message has more than 10 MIME parts (draft.maxMimeParts)',
    });
    // The same bytes meet the same limit again: no second try.
    expect(classifyFailure(err, job(0), config, Date.now())).toBeInstanceOf(UnrecoverableError);
  });

  it('drafts 1,000 attachments (1,002 parts) under the default draft.maxMimeParts: draft.maxAttachments uploaded, the rest listed', async () => {
    const d = await draft(attachmentsMail(1000), envelope(), config, 'AB-123456');
    expect(d.attachments).toHaveLength(500);
    expect(d.update.message).toMatch(
      /\[500 more attachment\(s\) of this message were not uploaded \(draft\.maxAttachments\):\]/,
    );
  });

  it('fails a message whose parts decode past draft.maxDecodedBytes with draft_limit', async () => {
    const big = mail(
      'Subject: big',
      'Content-Type: application/octet-stream',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.alloc(300_000, 1).toString('base64').replace(/.{76}/g, '$&\r\n'),
    );
    const err: unknown = await draft(
      big,
      envelope(),
      testConfig({ draft: { maxDecodedBytes: 100_000 } }),
      'AB-123456',
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({
      kind: 'draft_limit',
      message: expect.stringMatching(/^decoded parts of the message exceed draft\.maxDecodedBytes \(100000\)/),
    });
    const qp = mail(
      'Subject: qp',
      'Content-Type: text/plain',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      '=41'.repeat(50_000),
    );
    await expect(
      draft(qp, envelope(), testConfig({ draft: { maxDecodedBytes: 10_000 } }), 'AB-123456'),
    ).rejects.toMatchObject({ kind: 'draft_limit' });
    await expect(draft(qp, envelope(), config, 'AB-123456')).resolves.toMatchObject({
      update: { message: 'A'.repeat(50_000) },
    });
  });
});

describe('draft_limit in the retry policy', () => {
  const twice = testConfig({ draft: { attempts: 2 } });

  it('is tried again until draft.attempts tries, then fails saying which limit', () => {
    const err = new GatewayError(
      'draft_limit',
      'drafting took longer than queue.parseTimeoutMs (30000 ms); the drafting thread was stopped',
    );
    expect(classifyFailure(err, job(0), twice, Date.now())).toBe(err);
    const out = classifyFailure(err, job(1), twice, Date.now());
    expect(out).toBeInstanceOf(UnrecoverableError);
    expect(out.message).toBe(
      'draft_limit: drafting took longer than queue.parseTimeoutMs (30000 ms); the drafting thread was stopped (2 tries, draft.attempts)',
    );
  });
});
