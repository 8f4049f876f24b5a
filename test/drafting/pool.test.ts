// The drafting pool with real worker threads (running src/drafting/thread-main.ts): a message past its
// deadline or its heap stops its thread, not the pool.
import { afterEach, describe, expect, it } from 'vitest';
import { DraftPool } from '../../src/drafting/pool.js';
import { GatewayError } from '../../src/errors.js';
import { DryRunPool } from '../../src/replay/dry-run/dry-run-pool.js';
import { envelope, mail, testConfig } from '../mail/helpers.js';

// Sanitising this takes minutes (the sanitiser's work grows with depth × tags) once the HTML
// limits that normally keep it away are raised.
const DEPTH = 300_000;
const bomb = mail(
  'Subject: [AB-123456] bomb',
  'Content-Type: text/html',
  '',
  `${'<div>'.repeat(DEPTH)}x${'</div>'.repeat(DEPTH)}`,
);
const ordinary = mail(
  'Subject: [AB-123456] hello',
  'From: Ann <ann@example.org>',
  'Content-Type: text/html',
  '',
  '<p>hello <b>there</b></p>',
);
const unlimitedHtml = { html: { maxDepth: 100_000_000, maxBytes: 100_000_000 } };

const pools: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.close();
});
function pool(overrides: Record<string, unknown>, threads: number, deadlineMs: number, heapMb = 256): DraftPool {
  const p = new DraftPool(testConfig(overrides), { threads, deadlineMs, heapMb });
  pools.push(p);
  return p;
}

describe('DraftPool', () => {
  it('drafts in a thread what draft() gives in-process, attachments as Buffers', async () => {
    const p = pool({}, 1, 30_000);
    const withFile = mail(
      'Subject: f',
      'Content-Type: multipart/mixed; boundary=b',
      '',
      '--b',
      'Content-Type: text/plain',
      '',
      'hi',
      '--b',
      'Content-Type: application/pdf; name=a.pdf',
      'Content-Transfer-Encoding: base64',
      '',
      'JVBERi0=',
      '--b--',
      '',
    );
    const d = await p.draft(withFile, envelope(), 'AB-123456');
    expect(d.update).toMatchObject({ ticket: 'AB-123456', subject: 'f', message: 'hi' });
    expect(d.attachments).toHaveLength(1);
    expect(Buffer.isBuffer(d.attachments[0]!.content)).toBe(true);
    expect(d.attachments[0]!.content.toString()).toBe('%PDF-');
  });

  it('stops a thread past the deadline, fails that message with draft_limit, and drafts the others meanwhile and after', async () => {
    const p = pool(unlimitedHtml, 2, 3000);
    const stuck = p.draft(bomb, envelope(), 'AB-123456').catch((e: unknown) => e);
    // The second thread drafts while the first is stuck.
    const meanwhile = await p.draft(ordinary, envelope(), 'AB-123456');
    expect(meanwhile.update.html_body).toBe('<p>hello <b>there</b></p>');
    const err = await stuck;
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({
      kind: 'draft_limit',
      message: 'drafting took longer than queue.parseTimeoutMs (3000 ms); the drafting thread was stopped',
    });
    expect(p.replaced).toBe(1);
    expect((await p.draft(ordinary, envelope(), 'AB-1')).update.ticket).toBe('AB-1');
  });

  it('a message that needs more than the heap cap ends its thread, not the process', async () => {
    // Enough heap to load the drafting code and draft ordinary mail even on a busy host; far too little for the bomb.
    const p = pool(unlimitedHtml, 1, 60_000, 48);
    const err: unknown = await p.draft(bomb, envelope(), 'AB-123456').catch((e: unknown) => e);
    expect(err).toMatchObject({
      kind: 'draft_limit',
      message: 'drafting ran out of memory (draft.heapMb 48 MB); the drafting thread was stopped',
    });
    expect((await p.draft(ordinary, envelope(), 'AB-1')).update.message).toBe('hello there');
  });

  it('passes a draft error back with its kind', async () => {
    const p = pool({ smtp: { maxMessageBytes: 10 } }, 1, 30_000);
    await expect(p.draft(ordinary, envelope(), 'AB-1')).rejects.toMatchObject({ kind: 'too_large' });
  });

  it('a thread that cannot start fails the message as a fault of the install, not as a drafting limit', async () => {
    const p = new DraftPool(testConfig(), {
      threads: 1,
      deadlineMs: 30_000,
      heapMb: 64,
      url: new URL('data:text/javascript,throw new Error("broken build")'),
    });
    pools.push(p);
    const err: unknown = await p.draft(ordinary, envelope(), 'AB-1').catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ message: 'drafting thread could not start: broken build' });
  });

  it('fails the messages still waiting when it is closed', async () => {
    const p = new DraftPool(testConfig(unlimitedHtml), { threads: 1, deadlineMs: 60_000, heapMb: 256 });
    const first = p.draft(bomb, envelope(), 'AB-1').catch((e: unknown) => e);
    const second = p.draft(ordinary, envelope(), 'AB-2').catch((e: unknown) => e);
    await p.close();
    expect(await first).toMatchObject({ message: 'drafting pool closed' });
    expect(await second).toMatchObject({ message: 'drafting pool closed' });
  });
});

describe('DryRunPool', () => {
  it('gives a message past the deadline a draft_limit line and goes on', async () => {
    const p = DryRunPool.create(
      testConfig({ ...unlimitedHtml, queue: { parseTimeoutMs: 2000 } }),
      { since: null, until: null },
      1,
    );
    pools.push(p);
    const input = (seq: number, raw: Buffer) => ({
      seq,
      path: 'a.mbox',
      index: seq,
      raw: new Uint8Array(raw),
      size: raw.length,
      fromLine: null,
      deliveredAt: null,
    });
    const stuck = await p.run(input(0, bomb));
    expect(stuck).toMatchObject({ seq: 0, outcome: 'rejected', reason: 'draft_limit' });
    expect(JSON.parse(stuck.line!)).toMatchObject({
      verdict: 'post',
      reason: 'draft_limit',
      warnings: [
        'the worker could not draft this message: drafting took longer than queue.parseTimeoutMs (2000 ms); the drafting thread was stopped',
      ],
    });
    const next = await p.run(input(1, ordinary));
    expect(next).toMatchObject({ seq: 1, outcome: 'accepted' });
  });
});
