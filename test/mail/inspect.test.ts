import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { draft } from '../../src/mail/draft/draft.js';
import { inspectMessage } from '../../src/mail/inspect.js';
import { doorVerdict } from '../../src/mail/door/verdict.js';
import { dkimSign } from 'mailauth';
import { dkimKey, stubDns } from './dns-stub.js';
import { envelope, fixture, mail, testConfig } from './helpers.js';

const config = testConfig();

describe('inspectMessage', () => {
  it('shows a post with its update and attachments', async () => {
    const raw = mail(
      'From: Ann <ann@example.com>',
      'Subject: [AB-123456] hello',
      'Date: Wed, 1 May 2024 12:34:56 +0000',
      'Message-ID: <i1@example.com>',
      'Content-Type: multipart/mixed; boundary=b',
      '',
      '--b',
      'Content-Type: text/plain',
      '',
      'hi',
      '--b',
      'Content-Type: application/octet-stream',
      'Content-Disposition: attachment; filename="a.bin"',
      '',
      'abc',
      '--b--',
    );
    const r = await inspectMessage(raw, envelope(), config);
    const v = doorVerdict(raw, envelope(), config);
    expect(r).toEqual({
      verdict: 'post',
      reason: 'reference:subject',
      detail: null,
      smtp_reply: '250 2.0.0 Queued',
      message_id: 'i1@example.com',
      idempotency_key: v.idempotencyKey,
      route: 'default',
      new_ticket: null,
      same_ticket_as: null,
      update: {
        ticket: 'AB-123456',
        subject: '[AB-123456] hello',
        message: 'hi',
        html_body: null,
        html_safe: null,
        author_name: 'Ann',
        author_email: 'ann@example.com',
        posted_at: '2024-05-01T12:34:56Z',
        authenticated: null,
      },
      attachments: [
        {
          filename: 'a.bin',
          content_type: 'application/octet-stream',
          size: 3,
          sha256: createHash('sha256').update('abc').digest('hex'),
        },
      ],
      warnings: [],
      // The door's Redis checks cannot run offline, and inspect says so.
      checks: {
        thread: 'not needed: the headers name the ticket',
        known_sender: 'off (policy.knownSendersOnly)',
        loop_rate_limit: 'not applied to replayed mail',
        new_ticket_limit: 'not needed',
      },
      auth: {
        spf: 'not_run',
        dkim: 'not_run',
        dkimDomains: [],
        dmarc: 'not_run',
        from: null,
        authenticated: false,
        reason: 'replayed mail is not authenticated',
      },
    });
    // The update is the worker's draft, field for field.
    const d = await draft(raw, envelope(), config, 'AB-123456');
    expect(r.update).toMatchObject({ ...d.update, html_body: null, html_safe: null, authenticated: null });
  });

  it('shows a reject with its SMTP reply and no update', async () => {
    const r = await inspectMessage(mail('Subject: no ref', 'Message-ID: <r@x>', '', 'body'), envelope(), config);
    expect(r).toMatchObject({
      verdict: 'reject',
      reason: 'no_reference',
      update: null,
      attachments: [],
      message_id: 'r@x',
    });
    expect(r.smtp_reply).toBe(`550 5.7.1 ${config.policy.noReferenceText}`);
  });

  it('says which door checks need Redis and were not run', async () => {
    const r = await inspectMessage(
      mail('Subject: Re: lost the reference', 'In-Reply-To: <a@x>', 'References: <root@x> <a@x>', '', 'body'),
      envelope(),
      config,
    );
    expect(r).toMatchObject({ verdict: 'reject', reason: 'no_reference' });
    expect(r.checks?.thread).toBe(
      'not run: needs Redis (not available offline); would look up 2 Message-ID(s) from In-Reply-To/References',
    );
    const strict = testConfig({ policy: { knownSendersOnly: true } });
    const posted = await inspectMessage(
      mail('From: a@example.com', 'Subject: [AB-123456] x', '', 'body'),
      envelope({ source: 'inspect', mailFrom: '' }),
      strict,
      { resolver: stubDns().resolver },
    );
    expect(posted.checks).toEqual({
      thread: 'not needed: the headers name the ticket',
      known_sender: 'not run: needs Redis (not available offline)',
      loop_rate_limit: 'not run: needs Redis (not available offline)',
      new_ticket_limit: 'not needed',
    });
  });

  it('shows the authenticity verdict and the authenticated flag it gives (stub DNS)', async () => {
    const key = dkimKey();
    const d = stubDns();
    d.txt('s1._domainkey.example.com', key.record);
    d.txt('_dmarc.example.com', 'v=DMARC1; p=reject');
    const raw = mail(
      'From: Ann <ann@example.com>',
      'Subject: [AB-123456] signed',
      'Date: Wed, 1 May 2024 12:00:00 +0000',
      '',
      'hello',
      '',
    );
    const { signatures } = await dkimSign(raw, {
      signatureData: [{ signingDomain: 'example.com', selector: 's1', privateKey: key.privateKey }],
    } as Parameters<typeof dkimSign>[1]);
    const r = await inspectMessage(
      Buffer.concat([Buffer.from(signatures), raw]),
      envelope({ source: 'inspect', mailFrom: '' }),
      config,
      { resolver: d.resolver },
    );
    expect(r.auth).toMatchObject({ spf: 'not_run', dkim: 'pass', dmarc: 'pass', authenticated: true });
    expect(r.update?.authenticated).toBe('1');
  });

  it('is plain JSON', async () => {
    const r = await inspectMessage(mail('Subject: [AB-123456]', '', 'x'), envelope(), config);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('shows a bounce as dropped', async () => {
    const r = await inspectMessage(
      fixture('machine/dsn.eml'),
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
});
