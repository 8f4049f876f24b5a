import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { draft } from '../../src/mail/draft.js';
import { inspectMessage } from '../../src/mail/inspect.js';
import { doorVerdict } from '../../src/mail/verdict.js';
import { corpusFile, envelope, mail, testConfig } from './helpers.js';

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
      smtp_reply: '250 2.0.0 Queued',
      message_id: 'i1@example.com',
      idempotency_key: v.idempotencyKey,
      update: {
        ticket: 'AB-123456',
        subject: '[AB-123456] hello',
        message: 'hi',
        html_body: null,
        html_safe: null,
        author_name: 'Ann',
        author_email: 'ann@example.com',
        posted_at: '2024-05-01T12:34:56Z',
      },
      attachments: [{ filename: 'a.bin', content_type: 'application/octet-stream', size: 3, sha256: createHash('sha256').update('abc').digest('hex') }],
      warnings: [],
    });
    // The update is the worker's draft, field for field.
    const d = await draft(raw, envelope(), config, 'AB-123456');
    expect(r.update).toMatchObject({ ...d.update, html_body: null, html_safe: null });
  });

  it('shows a reject with its SMTP reply and no update', async () => {
    const r = await inspectMessage(mail('Subject: no ref', 'Message-ID: <r@x>', '', 'body'), envelope(), config);
    expect(r).toMatchObject({ verdict: 'reject', reason: 'no_reference', update: null, attachments: [], message_id: 'r@x' });
    expect(r.smtp_reply).toBe(`550 5.7.1 ${config.policy.noReferenceText}`);
  });

  it('is plain JSON', async () => {
    const r = await inspectMessage(mail('Subject: [AB-123456]', '', 'x'), envelope(), config);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('shows a real bounce as dropped', async () => {
    const r = await inspectMessage(corpusFile('cpython-test_email/msg_16.txt'), envelope({ rcptTo: ['support+AB-123456@example.com'] }), config);
    expect(r).toMatchObject({ verdict: 'drop', reason: 'delivery_report', smtp_reply: '250 2.0.0 Accepted', update: null });
  });
});
