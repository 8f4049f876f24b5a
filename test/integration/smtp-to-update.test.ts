// End to end over real sockets: a real SMTP client → the gateway → real Redis → worker → the
// Sirportly double. Each assertion is on what the double received.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, sendRaw, startHarness, waitFor, waitForLog, type Double, type Harness } from '../support/harness.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const FROM = 'customer@example.net';
const TO = ['support@help.example.com'];

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
beforeEach(() => double.resetFaults());

async function deliver(raw: Buffer, to = TO, from = FROM) {
  return sendRaw(h.smtpPort, raw, { from, to });
}

describe('SMTP to ticket update', () => {
  it('posts text, html, author, posted_at and every attachment byte for byte (RFC 2231/2047 names, inline cid image)', async () => {
    const tag = randomBytes(4).toString('hex');
    const pdf = randomBytes(50_000);
    const png = randomBytes(3000);
    const raw = await compose({
      from: '"Zoë Ünicode" <zoe@example.net>',
      to: TO[0],
      subject: `Re: [GJ-060309] Printer on fire ${tag}`,
      date: new Date('2024-05-01T12:34:56Z'),
      messageId: `<${tag}@example.net>`,
      text: `It is still burning ${tag}`,
      html: `<p>It is <b>still</b> burning ${tag}</p><img src="cid:logo@${tag}"><script>alert(1)</script>`,
      attachments: [
        { filename: 'Résumé – straße 文件.pdf', content: pdf, contentType: 'application/pdf' },
        { filename: 'logo.png', content: png, contentType: 'image/png', cid: `logo@${tag}` },
      ],
    });
    const reply = await deliver(raw);
    expect(reply.code).toBe(250);
    expect(reply.response).toMatch(/queued as [0-9a-f]+/);

    const [update] = await waitFor('the update', () => {
      const u = double.state.updates('GJ-060309').filter((x) => x.fields.message?.includes(tag));
      return u.length ? u : null;
    });
    expect(update).toBeDefined();
    const f = update!.fields;
    expect(f.ticket).toBe('GJ-060309');
    expect(f.subject).toBe(`Re: [GJ-060309] Printer on fire ${tag}`);
    expect(f.message).toContain(`It is still burning ${tag}`);
    expect(f.author_name).toBe('Zoë Ünicode');
    expect(f.author_email).toBe('zoe@example.net');
    expect(f.posted_at).toBe('2024-05-01T12:34:56Z');
    expect(f.html_safe).toBe('1');
    expect(f.html_body).toContain(`cid:logo@${tag}`);
    expect(f.html_body).not.toContain('<script');
    expect(f.parse_ticket_variables).toBeUndefined();
    expect(f.outgoing).toBeUndefined();
    const files = update!.attachments.map((a) => ({ name: a.filename, sha: a.sha256 }));
    expect(files).toHaveLength(2);
    expect(files).toContainEqual({ name: 'Résumé – straße 文件.pdf', sha: sha(pdf) });
    expect(files).toContainEqual({ name: 'logo.png', sha: sha(png) });
  });

  it('a message of a few MB (stored in a write of its own): its attachment posted byte for byte', async () => {
    const tag = randomBytes(4).toString('hex');
    const big = randomBytes(2 * 1024 * 1024);
    const raw = await compose({
      from: FROM,
      to: TO[0],
      subject: `[GJ-060309] big ${tag}`,
      text: `A large file ${tag}`,
      attachments: [{ filename: 'big.bin', content: big, contentType: 'application/octet-stream' }],
    });
    expect(raw.length).toBeGreaterThan(2 * 1024 * 1024);
    expect((await deliver(raw)).code).toBe(250);
    const [update] = await waitFor('the update', () => {
      const u = double.state.updates('GJ-060309').filter((x) => x.fields.message?.includes(tag));
      return u.length ? u : null;
    });
    expect(update!.attachments.map((a) => ({ name: a.filename, sha: a.sha256 }))).toEqual([
      { name: 'big.bin', sha: sha(big) },
    ]);
  });

  it('HTML-only mail: message is the HTML as text', async () => {
    const tag = randomBytes(4).toString('hex');
    const raw = await compose({
      from: FROM,
      to: TO[0],
      subject: `[GJ-060309] html ${tag}`,
      html: `<h1>Hello</h1><p>Only <i>html</i> here ${tag}</p>`,
    });
    expect((await deliver(raw)).code).toBe(250);
    const u = await waitFor('update', () =>
      double.state.updates('GJ-060309').find((x) => x.fields.subject?.includes(tag)),
    );
    expect(u.fields.message).toMatch(new RegExp(`Only html here ${tag}`));
    expect(u.fields.html_body).toContain('<i>html</i>');
  });

  it('attachment-only mail: a placeholder message, the file posted', async () => {
    const tag = randomBytes(4).toString('hex');
    const data = randomBytes(1234);
    const raw = await compose({
      from: FROM,
      to: TO[0],
      subject: `[GJ-060309] files ${tag}`,
      attachments: [{ filename: 'data.bin', content: data }],
    });
    expect((await deliver(raw)).code).toBe(250);
    const u = await waitFor('update', () =>
      double.state.updates('GJ-060309').find((x) => x.fields.subject?.includes(tag)),
    );
    expect((u.fields.message ?? '').trim().length).toBeGreaterThan(0);
    expect(u.attachments.map((a) => a.sha256)).toEqual([sha(data)]);
  });

  it('missing and garbage Date: posted_at is the time received', async () => {
    for (const dateLine of ['', 'Date: the day after tomorrow\r\n']) {
      const tag = randomBytes(4).toString('hex');
      const raw = Buffer.from(
        `${dateLine}From: a@example.net\r\nTo: ${TO[0]}\r\nSubject: [GJ-060309] when ${tag}\r\nMessage-ID: <${tag}@x>\r\n\r\nbody ${tag}\r\n`,
      );
      const before = Date.now();
      expect((await deliver(raw)).code).toBe(250);
      const after = Date.now();
      const u = await waitFor('update', () =>
        double.state.updates('GJ-060309').find((x) => x.fields.subject?.includes(tag)),
      );
      const t = Date.parse(u.fields.posted_at!);
      expect(u.fields.posted_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(t).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(t).toBeLessThanOrEqual(after);
    }
  });

  it('missing From: the author is the envelope sender', async () => {
    const tag = randomBytes(4).toString('hex');
    const raw = Buffer.from(
      `To: ${TO[0]}\r\nSubject: [GJ-060309] nofrom ${tag}\r\nDate: Wed, 01 May 2024 12:34:56 +0200\r\n\r\nbody\r\n`,
    );
    expect((await deliver(raw, TO, 'bounce-sender@example.org')).code).toBe(250);
    const u = await waitFor('update', () =>
      double.state.updates('GJ-060309').find((x) => x.fields.subject?.includes(tag)),
    );
    expect(u.fields.author_email).toBe('bounce-sender@example.org');
    expect(u.fields.posted_at).toBe('2024-05-01T10:34:56Z');
  });

  it('reference from a recipient plus-tag', async () => {
    const tag = randomBytes(4).toString('hex');
    const raw = await compose({
      from: FROM,
      to: 'support+oc-820409@help.example.com',
      subject: `No tag here ${tag}`,
      text: 'hi',
    });
    expect((await deliver(raw, ['support+oc-820409@help.example.com'])).code).toBe(250);
    await waitFor('update', () => double.state.updates('OC-820409').find((x) => x.fields.subject?.includes(tag)));
  });

  it('no reference: 550 5.7.1 with a text a customer understands, nothing queued', async () => {
    const raw = await compose({ from: FROM, to: TO[0], subject: 'Help please', text: 'no reference' });
    const r = await deliver(raw);
    expect(r.code).toBe(550);
    expect(r.response).toMatch(/^550 5\.7\.1 .*reference/);
  });

  it('unknown recipient: 550 5.1.1 at RCPT', async () => {
    const raw = await compose({ from: FROM, to: 'someone@elsewhere.example', subject: '[GJ-060309] x', text: 'x' });
    const r = await deliver(raw, ['someone@elsewhere.example']);
    expect(r.code).toBe(550);
    expect(r.response).toMatch(/5\.1\.1/);
  });

  it('Auto-Submitted and multipart/report mail is dropped: 250, no update', async () => {
    const tag = randomBytes(4).toString('hex');
    const raw = Buffer.from(
      `From: robot@example.net\r\nTo: ${TO[0]}\r\nAuto-Submitted: auto-replied\r\nSubject: [GJ-060309] Out of office ${tag}\r\n\r\naway\r\n`,
    );
    const r = await deliver(raw);
    expect(r.code).toBe(250);
    expect(r.response).toMatch(/not posted \(auto_submitted\)/);
    const line = await waitFor('drop log line', () =>
      h.logs.lines.find((l) => l.msg === 'door verdict' && l.verdict === 'dropped' && l.reason === 'auto_submitted'),
    );
    expect(line).toBeTruthy();
  });

  it('the same Message-ID delivered twice makes one update', async () => {
    const tag = randomBytes(4).toString('hex');
    const raw = await compose({
      from: FROM,
      to: TO[0],
      subject: `[GJ-060309] twice ${tag}`,
      messageId: `<${tag}@example.net>`,
      text: `twice ${tag}`,
    });
    const first = await deliver(raw);
    const second = await deliver(raw);
    expect(first.code).toBe(250);
    expect(second.code).toBe(250);
    expect(second.response).toMatch(/already queued/);
    await waitFor('update', () => double.state.updates('GJ-060309').find((x) => x.fields.subject?.includes(tag)));
    // The job has ended once the worker logs it posted: nothing more is posted for it.
    await waitForLog(h.logs, 'job posted', { queueId: /queued as ([0-9a-f]+)/.exec(first.response)?.[1] });
    expect(double.state.updates('GJ-060309').filter((x) => x.fields.subject?.includes(tag))).toHaveLength(1);
  });
});
