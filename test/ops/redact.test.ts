// Secrets leave error messages and failure reasons only as whole values: ordinary text around
// them, or text that merely contains the same letters, is never rewritten.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { classifySirportlyFailure } from '../../src/sirportly/classify-failure.js';
import { redactSecrets, safeRedisUrl } from '../../src/redact.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, sendRaw, startHarness, waitFor, type Double, type Harness } from '../support/harness.js';
import { runQueue } from './cli.js';

describe('redactSecrets', () => {
  it('replaces a secret where it stands as a whole value', () => {
    expect(redactSecrets('bad token tok-1234 / sec-4567', ['tok-1234', 'sec-4567'])).toBe(
      'bad token [redacted] / [redacted]',
    );
    expect(redactSecrets('"tok-1234"', ['tok-1234'])).toBe('"[redacted]"');
    expect(redactSecrets('token=tok-1234&x=1', ['tok-1234'])).toBe('token=[redacted]&x=1');
    expect(redactSecrets('tok-1234', ['tok-1234'])).toBe('[redacted]');
    expect(redactSecrets('tok-1234. Next', ['tok-1234'])).toBe('[redacted]. Next');
  });

  it('leaves words that only contain the secret alone', () => {
    // The letters of a one-letter token are in almost every word: nothing changes.
    expect(redactSecrets('Sirportly tickets/post_update: 404 Ticket not found', ['t'])).toBe(
      'Sirportly tickets/post_update: 404 Ticket not found',
    );
    expect(redactSecrets('tickets/post_update', ['post_upd'])).toBe('tickets/post_update');
    expect(redactSecrets('xtok-1234 tok-12345 tok-1234_', ['tok-1234'])).toBe('xtok-1234 tok-12345 tok-1234_');
    expect(redactSecrets('Übertok-1234 tok-1234é', ['tok-1234'])).toBe('Übertok-1234 tok-1234é');
  });

  it('a secret with non-word characters at its edges needs no boundary there', () => {
    expect(redactSecrets('key:+ab/cd==!', ['+ab/cd=='])).toBe('key:[redacted]!');
    expect(redactSecrets('x+ab/cd==y', ['+ab/cd=='])).toBe('x[redacted]y');
  });

  it('takes the longest secret first, treats regex characters literally, and catches the URL-encoded form', () => {
    expect(redactSecrets('abc12345xyz abc12345', ['abc12345', 'abc12345xyz'])).toBe('[redacted] [redacted]');
    expect(redactSecrets('a.b*c(d)e a-b*c(d)e', ['a.b*c(d)e'])).toBe('[redacted] a-b*c(d)e');
    expect(redactSecrets('GET /x?secret=p%40ss%2Fw0rd', ['p@ss/w0rd'])).toBe('GET /x?secret=[redacted]');
  });

  it('ignores empty secrets', () => {
    expect(redactSecrets('nothing to hide', ['', ''])).toBe('nothing to hide');
  });

  it('safeRedisUrl hides the password and keeps the rest', () => {
    expect(safeRedisUrl('redis://:hunter22@10.0.0.1:6379/2')).toBe('redis://***@10.0.0.1:6379/2');
    expect(safeRedisUrl('redis://10.0.0.1:6379')).toBe('redis://10.0.0.1:6379');
  });

  it('is what the Sirportly error classifier uses', () => {
    const ctx = { operation: 'tickets/post_update', secrets: ['post_upd', 'sec-4567'] };
    const err = classifySirportlyFailure(
      { type: 'status', status: 403, headers: {}, body: JSON.stringify({ error: 'secret sec-4567 is wrong' }) },
      ctx,
    );
    expect(err.message).toBe('Sirportly tickets/post_update: 403 secret [redacted] is wrong');
  });
});

describe('failure reasons kept in Redis', () => {
  // A token whose letters also stand inside ordinary words of the failure reason.
  let double: Double;
  let h: Harness;
  beforeAll(async () => {
    double = await startSirportlyDouble({ token: 'post_upd', secret: 'ot found' });
    h = await startHarness(inject('redisUrl'), double);
  });
  afterAll(async () => {
    await h?.close();
    await double?.close();
  });

  it('`queue failed` shows the reason as Sirportly gave it, nothing rewritten', async () => {
    const tag = randomBytes(4).toString('hex');
    const raw = await compose({
      from: 'customer@example.net',
      to: 'support@help.example.com',
      subject: `[ZZ-999999] ${tag}`,
      messageId: `<${tag}@example.net>`,
      text: 'x',
    });
    const r = await sendRaw(h.smtpPort, raw, { from: 'customer@example.net', to: ['support@help.example.com'] });
    const id = /queued as ([0-9a-f]+)/.exec(r.response)![1]!;
    await waitFor('job failed', () => h.logs.lines.some((l) => l.msg === 'job failed' && l.queueId === id));

    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const cfg = join(mkdtempSync(join(tmpdir(), 'mailgate-redact-')), 'c.yaml');
    writeFileSync(cfg, `redis:\n  prefix: ${h.config.redis.prefix}\n`);
    const failed = await runQueue(['failed', '--json'], { REDIS_URL: inject('redisUrl'), MAILGATE_CONFIG: cfg });
    expect(failed.code).toBe(0);
    const job = (JSON.parse(failed.stdout) as Array<{ id: string; reason: string }>).find((j) => j.id === id)!;
    expect(job.reason).toMatch(/^not_found: Sirportly tickets\/[a-z_]+: 404 Ticket not found$/);
    expect(job.reason).not.toContain('[redacted]');
  });
});
