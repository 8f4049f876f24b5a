// The door on machine mail written for the tests (test/fixtures/mail/machine): a DSN, a DSN whose
// text is UTF-7 (as Exchange writes them), a read receipt, auto-replies marked each way, bounces
// from MAILER-DAEMON and postmaster, and two that carry no machine header at all (a person, and an
// out-of-office reply of a system that marks nothing). The corpus suite does the same on real mail.
import { describe, expect, it } from 'vitest';
import { draft } from '../../../src/mail/draft/draft.js';
import { doorVerdict } from '../../../src/mail/door/verdict.js';
import { envelope, fixture, fixtureFiles, POLICY_ALL_POST, testConfig } from '../helpers.js';

const EXPECTED: Record<string, { verdict: string; reason: string; detail?: RegExp }> = {
  'machine/dsn.eml': {
    verdict: 'drop',
    reason: 'delivery_report',
    detail: /^multipart\/report; report-type=delivery-status$/,
  },
  'machine/dsn-utf-7.eml': { verdict: 'drop', reason: 'delivery_report' },
  'machine/read-receipt.eml': {
    verdict: 'drop',
    reason: 'delivery_report',
    detail: /report-type=disposition-notification/,
  },
  'machine/vacation.eml': { verdict: 'drop', reason: 'auto_submitted', detail: /^Auto-Submitted: auto-replied$/ },
  'machine/x-autoreply.eml': { verdict: 'drop', reason: 'auto_reply_header', detail: /^x-autoreply: yes$/ },
  'machine/precedence-junk.eml': { verdict: 'drop', reason: 'precedence', detail: /^Precedence: junk$/ },
  'machine/mailer-daemon.eml': { verdict: 'drop', reason: 'mailer_daemon', detail: /^From: MAILER-DAEMON$/ },
  'machine/postmaster.eml': { verdict: 'drop', reason: 'mailer_daemon', detail: /^From: postmaster@mx\.example\.net$/ },
  'machine/out-of-office-no-header.eml': { verdict: 'post', reason: 'reference:plus_tag' },
  'machine/person.eml': { verdict: 'post', reason: 'reference:plus_tag' },
};

// A plus-tag reference, so that mail which is not dropped posts instead of being rejected.
const env = envelope({ rcptTo: ['support+AB-123456@example.com'] });
const config = testConfig();

describe('machine mail', () => {
  it('has an expectation for every machine fixture', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(fixtureFiles('machine'));
  });

  it.each(Object.entries(EXPECTED))('%s → %o', (file, want) => {
    const v = doorVerdict(fixture(file), env, config);
    expect({ verdict: v.verdict, reason: v.reason }).toEqual({ verdict: want.verdict, reason: want.reason });
    if (want.detail) expect(v.detail).toMatch(want.detail);
  });

  it('posts every class whose policy is post', () => {
    const all = testConfig({ policy: POLICY_ALL_POST });
    for (const file of Object.keys(EXPECTED)) expect(doorVerdict(fixture(file), env, all).verdict, file).toBe('post');
  });

  it('drops anything from the null sender over SMTP', () => {
    const v = doorVerdict(
      fixture('machine/out-of-office-no-header.eml'),
      envelope({ source: 'smtp', mailFrom: '', rcptTo: ['support+AB-123456@example.com'] }),
      config,
    );
    expect({ verdict: v.verdict, reason: v.reason }).toEqual({ verdict: 'drop', reason: 'null_sender' });
  });

  it('posts a DSN when its class is post: the report text (UTF-7 decoded) is the message, the report parts are files', async () => {
    const all = testConfig({ policy: { deliveryReports: 'post' } });
    const d = await draft(fixture('machine/dsn-utf-7.eml'), env, all, 'AB-123456');
    expect(d.update.message).toBe(
      'Delivery has failed to these recipients or distribution lists:\n\nnobody@example.org',
    );
    expect(d.attachments.map((a) => [a.filename, a.contentType])).toEqual([
      ['attachment-1.bin', 'message/delivery-status'],
      ['hello.eml', 'message/rfc822'],
    ]);
  });
});
