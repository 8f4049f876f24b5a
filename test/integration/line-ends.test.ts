// A message whose lines end in bare CR (old Mac mail), through `mailgate inspect` (the built CLI)
// and through SMTP end to end (bytes written on a socket as they are: nodemailer would turn each
// bare CR into CRLF). Either way it must read as the same message written with CRLF.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { InspectResult } from '../../src/mail/inspect.js';
import { startHarness, waitFor, type Double, type Harness } from '../support/harness.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { SmtpSession } from '../support/smtp-session.js';

const CLI = resolve(import.meta.dirname, '../../dist/src/cli.js');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const FILE = Buffer.from([0, 1, 2, 3, 13, 10, 13, 4, 5]);

/** A multipart message with a text part and an attachment, its lines joined by `eol`. */
function message(eol: string, tag: string, headers: string[] = ['From: "Ann Able" <ann@example.net>']): Buffer {
  return Buffer.from(
    [
      ...headers,
      'To: support@help.example.com',
      `Subject: [GJ-060309] old Mac line ends ${tag}`,
      'Date: Tue, 12 Oct 2010 16:21:05 +0000',
      `Message-ID: <${tag}@example.net>`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      `First line ${tag}.`,
      'Second line.',
      '--b1',
      'Content-Type: application/octet-stream; name="a.bin"',
      'Content-Disposition: attachment; filename="a.bin"',
      'Content-Transfer-Encoding: base64',
      '',
      FILE.toString('base64'),
      '--b1--',
      '',
    ].join(eol),
  );
}

function inspect(file: string): Promise<{ code: number | null; out: InspectResult; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, 'inspect', file], { env: { PATH: process.env.PATH ?? '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => done({ code, out: JSON.parse(stdout) as InspectResult, stderr }));
  });
}

const lines = (text: string | undefined) =>
  (text ?? '')
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter(Boolean);

describe('mailgate inspect of a bare-CR message', () => {
  it('reads what the CRLF version of it says: author, subject, date, text, attachment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inspect-cr-'));
    writeFileSync(join(dir, 'cr.eml'), message('\r', 'i1'));
    writeFileSync(join(dir, 'crlf.eml'), message('\r\n', 'i1'));
    const cr = await inspect(join(dir, 'cr.eml'));
    const crlf = await inspect(join(dir, 'crlf.eml'));
    expect(cr.code).toBe(0);
    expect(cr.stderr).toBe('');
    expect(cr.out.update).toMatchObject({
      ticket: 'GJ-060309',
      subject: '[GJ-060309] old Mac line ends i1',
      author_name: 'Ann Able',
      author_email: 'ann@example.net',
      posted_at: '2010-10-12T16:21:05Z',
    });
    expect(lines(cr.out.update?.message)).toEqual(['First line i1.', 'Second line.']);
    expect(cr.out.attachments.map((a) => [a.filename, a.size, a.sha256])).toEqual([['a.bin', FILE.length, sha(FILE)]]);
    expect({ ...cr.out.update, message: lines(cr.out.update?.message) }).toEqual({
      ...crlf.out.update,
      message: lines(crlf.out.update?.message),
    });
    expect(cr.out.attachments).toEqual(crlf.out.attachments);
    expect([cr.out.verdict, cr.out.reason]).toEqual([crlf.out.verdict, crlf.out.reason]);
  });

  it('a leading From_ line ended by a bare CR gives the envelope sender: the author when From: is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inspect-cr-'));
    const raw = message('\r', 'i2', []);
    writeFileSync(
      join(dir, 'cr.eml'),
      Buffer.concat([Buffer.from('From bob@example.org Tue Oct 12 16:21:05 2010\r'), raw]),
    );
    const r = await inspect(join(dir, 'cr.eml'));
    expect(r.code).toBe(0);
    expect(r.out.update).toMatchObject({
      author_email: 'bob@example.org',
      subject: '[GJ-060309] old Mac line ends i2',
    });
  });
});

describe('SMTP delivery of a bare-CR message', () => {
  let double: Double;
  let h: Harness;
  beforeAll(async () => {
    double = await startSirportlyDouble();
    h = await startHarness(inject('redisUrl'), double, { recipients: { domains: ['help.example.com'] } });
  });
  afterAll(async () => {
    await h?.close();
    await double?.close();
  });

  it('is posted as the lines it has: subject, author, date, text and the attachment byte for byte', async () => {
    const tag = randomBytes(4).toString('hex');
    const raw = message('\r', tag);
    expect(raw.includes('\n')).toBe(false);
    const c = await SmtpSession.open(h.smtpPort);
    try {
      expect(await c.reply()).toMatch(/^220 /);
      expect(await c.send('EHLO client.example.net\r\n')).toMatch(/^250 /m);
      expect(await c.send('MAIL FROM:<ann@example.net>\r\n')).toMatch(/^250 /);
      expect(await c.send('RCPT TO:<support@help.example.com>\r\n')).toMatch(/^250 /);
      expect(await c.send('DATA\r\n')).toMatch(/^354 /);
      // The message's last line is closed by the CRLF of the end-of-data marker.
      expect(await c.send(Buffer.concat([raw.subarray(0, -1), Buffer.from('\r\n.\r\n')]))).toMatch(/^250 /);
      await c.send('QUIT\r\n');
    } finally {
      c.close();
    }
    const update = await waitFor('the update', () =>
      double.state.updates('GJ-060309').find((u) => u.fields.subject?.includes(tag)),
    );
    expect(update.fields).toMatchObject({
      subject: `[GJ-060309] old Mac line ends ${tag}`,
      author_name: 'Ann Able',
      author_email: 'ann@example.net',
      posted_at: '2010-10-12T16:21:05Z',
    });
    expect(lines(update.fields.message)).toEqual([`First line ${tag}.`, 'Second line.']);
    expect(update.attachments.map((a) => [a.filename, a.sha256])).toEqual([['a.bin', sha(FILE)]]);
  });
});
