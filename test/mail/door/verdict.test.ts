import { describe, expect, it } from 'vitest';
import { doorVerdict } from '../../../src/mail/door/verdict.js';
import { envelope, fixture, mail, testConfig } from '../helpers.js';

const config = testConfig();

describe('doorVerdict', () => {
  it('posts mail with a subject reference', () => {
    const v = doorVerdict(
      mail('Message-ID: <a@b>', 'Subject: Re: [ab-123456] =?UTF-8?Q?h=C3=A9llo?=', '', 'x'),
      envelope(),
      config,
    );
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
    const v = doorVerdict(
      mail('Subject: hello', '', 'x'),
      envelope({ rcptTo: ['support+ab-123456@example.com'] }),
      config,
    );
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
    const v = doorVerdict(
      mail('Subject: x', '', ''),
      envelope(),
      testConfig({ policy: { noReferenceText: 'No ref.\r\nSee docs.' } }),
    );
    expect(v.smtpReply.text).toBe('No ref. See docs.');
  });

  it('drops auto-replies and bounces before looking at the reference', () => {
    const auto = doorVerdict(
      mail('Auto-Submitted: auto-replied', 'Subject: Out of office [AB-123456]', '', 'x'),
      envelope(),
      config,
    );
    expect(auto).toMatchObject({
      verdict: 'drop',
      reason: 'auto_submitted',
      ticket: 'AB-123456',
      smtpReply: { code: 250 },
    });
    const dsn = doorVerdict(
      mail('Content-Type: multipart/report; boundary=x', 'Subject: failed [AB-123456]', '', 'x'),
      envelope(),
      config,
    );
    expect(dsn).toMatchObject({ verdict: 'drop', reason: 'delivery_report' });
  });

  it('posts machine mail whose policy is post', () => {
    const c = testConfig({ policy: { autoSubmitted: 'post', deliveryReports: 'post' } });
    const v = doorVerdict(
      mail(
        'Auto-Submitted: auto-replied',
        'Content-Type: multipart/report; boundary=x',
        'Subject: [AB-123456]',
        '',
        '',
      ),
      envelope(),
      c,
    );
    expect(v).toMatchObject({ verdict: 'post', reason: 'reference:subject' });
    // A DSN that also says Auto-Submitted is dropped while either policy says drop.
    const onlyReports = testConfig({ policy: { autoSubmitted: 'drop', deliveryReports: 'post' } });
    const both = doorVerdict(
      mail(
        'Auto-Submitted: auto-replied',
        'Content-Type: multipart/report; boundary=x',
        'Subject: [AB-123456]',
        '',
        '',
      ),
      envelope(),
      onlyReports,
    );
    expect(both).toMatchObject({ verdict: 'drop', reason: 'auto_submitted' });
  });

  it('drops each machine class under its own policy, saying what gave it away', () => {
    const cases: Array<[string[], Partial<import('../../../src/mail/types.js').Envelope>, string, string]> = [
      [['Precedence: bulk'], {}, 'precedence', 'Precedence: bulk'],
      [['X-Autoreply: yes'], {}, 'auto_reply_header', 'x-autoreply: yes'],
      [['From: MAILER-DAEMON@mx.example'], {}, 'mailer_daemon', 'From: MAILER-DAEMON@mx.example'],
      [[], { source: 'smtp', mailFrom: '' }, 'null_sender', 'MAIL FROM:<>'],
    ];
    for (const [headers, env, reason, detail] of cases) {
      const raw = mail(...headers, 'Subject: [AB-123456] x', '', 'body');
      expect(doorVerdict(raw, envelope(env), config)).toMatchObject({
        verdict: 'drop',
        reason,
        detail,
        ticket: 'AB-123456',
        smtpReply: { code: 250 },
      });
    }
    const keep = testConfig({
      policy: { precedence: 'post', autoReplyHeaders: 'post', mailerDaemon: 'post', nullSender: 'post' },
    });
    for (const [headers, env] of cases) {
      expect(doorVerdict(mail(...headers, 'Subject: [AB-123456] x', '', 'body'), envelope(env), keep).verdict).toBe(
        'post',
      );
    }
  });

  it('drops list mail as machine mail only when "list" is configured', () => {
    const raw = mail('Precedence: list', 'Subject: [AB-123456] x', '', 'body');
    expect(doorVerdict(raw, envelope(), config).verdict).toBe('post');
    expect(
      doorVerdict(raw, envelope(), testConfig({ policy: { precedenceValues: ['bulk', 'junk', 'list'] } })).reason,
    ).toBe('precedence');
  });

  it('takes the group named "ticket" of a configured pattern for another system\'s subjects', () => {
    const c = testConfig({ reference: { subjectPatterns: ['[A-Z]{2}-\\d{6}', 'Case #(?<ticket>[A-Z]{2}\\d{6})'] } });
    expect(doorVerdict(mail('Subject: Re: Case #gj060309 printer', '', ''), envelope(), c)).toMatchObject({
      verdict: 'post',
      ticket: 'GJ060309',
    });
    expect(doorVerdict(mail('Subject: [GJ-060309]', '', ''), envelope(), c).ticket).toBe('GJ-060309');
    expect(doorVerdict(mail('Subject: x', '', ''), envelope({ rcptTo: ['support+gj-060309@x'] }), c).ticket).toBe(
      'GJ-060309',
    );
  });

  it('reads nothing beyond the header block', () => {
    const v = doorVerdict(
      mail('Subject: hello', '', 'Subject: [AB-123456]', 'Auto-Submitted: auto-replied'),
      envelope(),
      config,
    );
    expect(v.verdict).toBe('reject');
  });

  // Its speed on the SMTP hot path is measured in bench/ (bench/README.md).
  it('decides on a 5 MB message from its headers', () => {
    const body = Buffer.alloc(5 * 1024 * 1024, 'a');
    const raw = Buffer.concat([
      mail('Message-ID: <x@y>', 'From: a@example.com', 'Subject: [AB-123456] big', '', ''),
      body,
    ]);
    expect(doorVerdict(raw, envelope(), config)).toMatchObject({ verdict: 'post', ticket: 'AB-123456' });
  });

  it('drops whole bounces and auto-replies', () => {
    expect(doorVerdict(fixture('machine/dsn.eml'), envelope(), config).reason).toBe('delivery_report');
    expect(doorVerdict(fixture('machine/vacation.eml'), envelope(), config).reason).toBe('auto_submitted');
    expect(doorVerdict(fixture('machine/postmaster.eml'), envelope(), config).verdict).toBe('drop');
  });
});
