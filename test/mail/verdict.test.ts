import { describe, expect, it } from 'vitest';
import { doorVerdict } from '../../src/mail/verdict.js';
import { corpusFile, envelope, mail, testConfig } from './helpers.js';

const config = testConfig();

describe('doorVerdict', () => {
  it('posts mail with a subject reference', () => {
    const v = doorVerdict(mail('Message-ID: <a@b>', 'Subject: Re: [ab-123456] =?UTF-8?Q?h=C3=A9llo?=', '', 'x'), envelope(), config);
    expect(v).toMatchObject({
      verdict: 'post',
      reason: 'reference:subject',
      ticket: 'AB-123456',
      messageId: 'a@b',
      subject: 'Re: [ab-123456] héllo',
      smtpReply: { code: 250, enhanced: '2.0.0', text: 'Queued' },
    });
  });

  it('posts mail with a plus-tag reference', () => {
    const v = doorVerdict(mail('Subject: hello', '', 'x'), envelope({ rcptTo: ['support+ab-123456@example.com'] }), config);
    expect(v).toMatchObject({ verdict: 'post', reason: 'reference:plus_tag', ticket: 'AB-123456', messageId: null });
  });

  it('rejects mail without a reference with 550 5.7.1 and the configured text', () => {
    const v = doorVerdict(mail('Subject: hello', '', 'x'), envelope(), config);
    expect(v).toMatchObject({ verdict: 'reject', reason: 'no_reference', ticket: null });
    expect(v.smtpReply).toEqual({ code: 550, enhanced: '5.7.1', text: config.policy.noReferenceText });
  });

  it('drops mail without a reference when policy.noReference is drop', () => {
    const v = doorVerdict(mail('Subject: hello', '', 'x'), envelope(), testConfig({ policy: { noReference: 'drop' } }));
    expect(v).toMatchObject({ verdict: 'drop', reason: 'no_reference', smtpReply: { code: 250 } });
  });

  it('keeps the reject text on one line', () => {
    const v = doorVerdict(mail('Subject: x', '', ''), envelope(), testConfig({ policy: { noReferenceText: 'No ref.\r\nSee docs.' } }));
    expect(v.smtpReply.text).toBe('No ref. See docs.');
  });

  it('drops auto-replies and bounces before looking at the reference', () => {
    const auto = doorVerdict(mail('Auto-Submitted: auto-replied', 'Subject: Out of office [AB-123456]', '', 'x'), envelope(), config);
    expect(auto).toMatchObject({ verdict: 'drop', reason: 'auto_submitted', ticket: 'AB-123456', smtpReply: { code: 250 } });
    const dsn = doorVerdict(mail('Content-Type: multipart/report; boundary=x', 'Subject: failed [AB-123456]', '', 'x'), envelope(), config);
    expect(dsn).toMatchObject({ verdict: 'drop', reason: 'delivery_report' });
  });

  it('posts machine mail whose policy is post', () => {
    const c = testConfig({ policy: { autoSubmitted: 'post', deliveryReports: 'post' } });
    const v = doorVerdict(mail('Auto-Submitted: auto-replied', 'Content-Type: multipart/report; boundary=x', 'Subject: [AB-123456]', '', ''), envelope(), c);
    expect(v).toMatchObject({ verdict: 'post', reason: 'reference:subject' });
    // A DSN that also says Auto-Submitted is dropped while either policy says drop.
    const onlyReports = testConfig({ policy: { autoSubmitted: 'drop', deliveryReports: 'post' } });
    const both = doorVerdict(mail('Auto-Submitted: auto-replied', 'Content-Type: multipart/report; boundary=x', 'Subject: [AB-123456]', '', ''), envelope(), onlyReports);
    expect(both).toMatchObject({ verdict: 'drop', reason: 'auto_submitted' });
  });

  it('reads nothing beyond the header block', () => {
    const v = doorVerdict(mail('Subject: hello', '', 'Subject: [AB-123456]', 'Auto-Submitted: auto-replied'), envelope(), config);
    expect(v.verdict).toBe('reject');
  });

  it('is fast enough for the SMTP hot path', () => {
    const body = Buffer.alloc(5 * 1024 * 1024, 'a');
    const raw = Buffer.concat([mail('Message-ID: <x@y>', 'From: a@example.com', 'Subject: [AB-123456] big', '', ''), body]);
    const started = performance.now();
    for (let i = 0; i < 100; i++) doorVerdict(raw, envelope(), config);
    expect((performance.now() - started) / 100).toBeLessThan(2);
  });

  it('drops real bounces and auto-replies', () => {
    expect(doorVerdict(corpusFile('cpython-test_email/msg_16.txt'), envelope(), config).reason).toBe('delivery_report');
    expect(doorVerdict(corpusFile('bounceparser/t/corpus/aol-vacation.msg'), envelope(), config).reason).toBe('auto_submitted');
    expect(doorVerdict(corpusFile('mailgun-flanker/bounce/office365.eml'), envelope(), config).verdict).toBe('drop');
  });
});
