import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { idempotencyKey, normaliseMessageId } from '../../../src/mail/door/idempotency.js';
import { doorVerdict } from '../../../src/mail/door/verdict.js';
import { envelope, mail, testConfig } from '../helpers.js';

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

describe('normaliseMessageId', () => {
  it.each([
    ['<Abc.123@Example.COM>', 'Abc.123@Example.COM'],
    ['  <abc@example.com>  ', 'abc@example.com'],
    ['abc@example.com', 'abc@example.com'],
    ['< abc@example.com >', 'abc@example.com'],
    ['<abc@example.com> (added by relay)', 'abc@example.com'],
    ['<first@x> <second@x>', 'first@x'],
  ])('%j → %j', (input, expected) => {
    expect(normaliseMessageId(input)).toBe(expected);
  });

  // A quadratic reading of these 400,000 characters would run far past this test's bound.
  it('reads hostile input in linear time', { timeout: 5_000 }, () => {
    const hostile = `${'>'.repeat(200_000)}x${'<'.repeat(200_000)}`;
    expect(normaliseMessageId(hostile)).toBe(hostile);
  });

  it.each([undefined, null, '', '   ', '<>'])('%j has no id', (input) => {
    expect(normaliseMessageId(input)).toBeNull();
  });
});

describe('idempotencyKey', () => {
  it('is sha256("mid:" + id + "\\n" + ticket), 32 hex characters', () => {
    expect(idempotencyKey('abc@example.com', Buffer.from('x'), 'AB-123456')).toBe(
      sha('mid:abc@example.com\nAB-123456').slice(0, 32),
    );
  });

  it('uses the sha256 of the raw bytes when there is no Message-ID', () => {
    const raw = Buffer.from('Subject: hi\r\n\r\nbody');
    expect(idempotencyKey(null, raw, 'AB-123456')).toBe(sha(`raw:${sha(raw)}\nAB-123456`).slice(0, 32));
    expect(idempotencyKey(null, raw, null)).toBe(sha(`raw:${sha(raw)}\n`).slice(0, 32));
  });

  it('gives the same message, retried with other trace headers, the same key', () => {
    const config = testConfig();
    const a = mail('Received: from a', 'Message-ID: <m1@example.com>', 'Subject: [AB-123456] hi', '', 'body');
    const b = mail(
      'Received: from b',
      'Received: from a',
      'Message-ID:   <m1@example.com>',
      'Subject: [AB-123456] hi',
      '',
      'body',
    );
    const ka = doorVerdict(a, envelope(), config).idempotencyKey;
    expect(doorVerdict(b, envelope(), config).idempotencyKey).toBe(ka);
    expect(ka).toMatch(/^[0-9a-f]{32}$/);
  });

  it('distinguishes tickets, Message-ID case and, without a Message-ID, any byte', () => {
    const config = testConfig();
    const key = (raw: Buffer): string => doorVerdict(raw, envelope(), config).idempotencyKey;
    const base = key(mail('Message-ID: <m1@example.com>', 'Subject: [AB-123456]', '', 'x'));
    expect(key(mail('Message-ID: <m1@example.com>', 'Subject: [AB-654321]', '', 'x'))).not.toBe(base);
    expect(key(mail('Message-ID: <M1@example.com>', 'Subject: [AB-123456]', '', 'x'))).not.toBe(base);
    const noId = key(mail('Subject: [AB-123456]', '', 'x'));
    expect(key(mail('Subject: [AB-123456]', '', 'x'))).toBe(noId);
    expect(key(mail('Subject: [AB-123456]', '', 'y'))).not.toBe(noId);
  });
});
