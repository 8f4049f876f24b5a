// Edges of the door and the operator's view: recipient cap, STARTTLS, HTTP endpoints,
// token checkpoints on retry, secrets kept out of logs.
import { randomBytes, createHash } from 'node:crypto';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, sendRaw, startHarness, waitFor, waitForLog, type Double, type Harness } from '../support/harness.js';
import { selfSignedCert } from '../support/tls.js';

const FROM = 'customer@example.net';
const TO = ['support@help.example.com'];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let double: Double;
let h: Harness;

beforeAll(async () => {
  double = await startSirportlyDouble();
  h = await startHarness(inject('redisUrl'), double, {
    smtp: { maxRecipients: 3 },
    sirportly: { requestTimeoutMs: 500 },
  });
});
afterAll(async () => {
  await h?.close();
  await double?.close();
});
beforeEach(() => {
  double.resetFaults();
  double.state.tokenTtlMs = 3_600_000;
});

describe('door', () => {
  it('more recipients than smtp.maxRecipients: 452 for the extra ones, the message still accepted for the rest', async () => {
    const to = ['a@x.example', 'b@x.example', 'c@x.example', 'd@x.example'];
    const raw = await compose({
      from: FROM,
      to,
      subject: `[GJ-060309] many ${randomBytes(3).toString('hex')}`,
      text: 'x',
    });
    const transport = createTransport({ host: '127.0.0.1', port: h.smtpPort, ignoreTLS: true });
    const info = await transport.sendMail({ envelope: { from: FROM, to }, raw });
    transport.close();
    expect(info.accepted).toHaveLength(3);
    expect(info.rejected).toEqual(['d@x.example']);
    expect(String(info.rejectedErrors?.[0]?.response)).toMatch(/^452/);
  });
});

describe('SMTP surface', () => {
  it('offers no AUTH: an inbound MX takes no logins', async () => {
    const { connect } = await import('node:net');
    const sock = connect(h.smtpPort, '127.0.0.1');
    let text = '';
    sock.on('data', (d: Buffer) => (text += d.toString()));
    await waitFor('greeting', () => text.includes('220 '));
    sock.write('EHLO probe.example\r\n');
    await waitFor('ehlo', () => /\r\n250 /.test(text));
    sock.write('AUTH PLAIN AGFhAGI=\r\n');
    await waitFor('auth reply', () => /\r\n5\d\d [^\r]*\r\n$/.test(text));
    sock.destroy();
    expect(text).not.toMatch(/250-AUTH|250 AUTH/);
    expect(text).toMatch(/250[- ]SIZE 26214400/);
    expect(text).toMatch(/\r\n50[02] [^\r]*\r\n$/);
  });

  it('keeps the raw message for queue.rawRetentionHours after posting, then lets it expire', async () => {
    const tag = randomBytes(4).toString('hex');
    const r = await sendRaw(
      h.smtpPort,
      await compose({ from: FROM, to: TO[0], subject: `[GJ-060309] keep ${tag}`, text: tag }),
      { from: FROM, to: TO },
    );
    const id = /queued as ([0-9a-f]+)/.exec(r.response)![1]!;
    await waitFor('update', () => double.state.updates('GJ-060309').find((x) => x.fields.subject?.includes(tag)));
    const { Redis } = await import('ioredis');
    const redis = new Redis(inject('redisUrl'));
    try {
      const ttl = await waitFor('retention set', async () => {
        const t = await redis.ttl(`${h.config.redis.prefix}:raw:${id}`);
        return t > 0 ? t : null;
      });
      expect(ttl).toBeGreaterThan(167 * 3600);
      expect(ttl).toBeLessThanOrEqual(168 * 3600);
    } finally {
      redis.disconnect();
    }
  });
});

describe('HTTP endpoint', () => {
  it('/healthz, /readyz and /metrics answer', async () => {
    const base = `http://127.0.0.1:${h.httpPort}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      checks: { redis: true, smtp: true, door_thread: true, not_shutting_down: true },
    });
    await sendRaw(h.smtpPort, await compose({ from: FROM, to: TO[0], subject: 'no ref', text: 'x' }), {
      from: FROM,
      to: TO,
    });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/mailgate_door_verdicts_total\{verdict="rejected",reason="no_reference"\} [1-9]/);
    expect(metrics).toMatch(/mailgate_queue_jobs\{state="waiting"\}/);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});

describe('attachment tokens across retries', () => {
  it('tokens still valid are reused on retry: each file uploaded once', async () => {
    const tag = randomBytes(4).toString('hex');
    const file = randomBytes(5000);
    double.faults.only = ['post_update'];
    double.faults.failNext = 1;
    const uploadsBefore = double.state.uploads().length;
    await sendRaw(
      h.smtpPort,
      await compose({
        from: FROM,
        to: TO[0],
        subject: `[GJ-060309] reuse ${tag}`,
        text: tag,
        attachments: [{ filename: 'r.bin', content: file }],
      }),
      { from: FROM, to: TO },
    );
    const u = await waitFor('update', () =>
      double.state.updates('GJ-060309').find((x) => x.fields.subject?.includes(tag)),
    );
    expect(u.attachments.map((a) => a.sha256)).toEqual([sha(file)]);
    expect(double.state.uploads().length - uploadsBefore).toBe(1);
  });

  it('tokens about to expire are uploaded again before the retry posts', async () => {
    const tag = randomBytes(4).toString('hex');
    const file = randomBytes(5000);
    // Tokens live 60 s, inside the 300 s refresh margin: a retry must not trust them.
    double.state.tokenTtlMs = 60_000;
    double.faults.only = ['post_update'];
    double.faults.failNext = 1;
    const uploadsBefore = double.state.uploads().length;
    await sendRaw(
      h.smtpPort,
      await compose({
        from: FROM,
        to: TO[0],
        subject: `[GJ-060309] refresh ${tag}`,
        text: tag,
        attachments: [{ filename: 'r.bin', content: file }],
      }),
      { from: FROM, to: TO },
    );
    const u = await waitFor('update', () =>
      double.state.updates('GJ-060309').find((x) => x.fields.subject?.includes(tag)),
    );
    expect(u.attachments.map((a) => a.sha256)).toEqual([sha(file)]);
    expect(double.state.uploads().length - uploadsBefore).toBe(2);
  });
});

describe('logs', () => {
  it('never carry the token or the secret, at debug level, through failures', async () => {
    double.faults.only = ['post_update'];
    double.faults.failNext = 1;
    const tag = randomBytes(4).toString('hex');
    const r = await sendRaw(
      h.smtpPort,
      await compose({ from: FROM, to: TO[0], subject: `[GJ-060309] log ${tag}`, text: `BODY-${tag}-SECRETIVE` }),
      { from: FROM, to: TO },
    );
    // The job's last line: every line about it has been written.
    await waitForLog(h.logs, 'job posted', { queueId: /queued as ([0-9a-f]+)/.exec(r.response)?.[1] });
    expect(h.config.log.level).toBe('debug');
    expect(h.logs.lines.some((l) => l.msg === 'job will be retried')).toBe(true);
    const all = h.logs.text.join('\n');
    if (process.env.PEEK) console.log(all);
    expect(all).not.toContain(double.secret);
    expect(all).not.toContain(double.token);
    expect(all).not.toContain(`BODY-${tag}`);
  });
});

describe('STARTTLS', () => {
  it('is offered with a configured certificate and mail goes through it', async () => {
    const { keyFile, certFile } = selfSignedCert();
    const d = await startSirportlyDouble();
    const g = await startHarness(inject('redisUrl'), d, { smtp: { tls: { keyFile, certFile } } });
    try {
      const tag = randomBytes(4).toString('hex');
      const transport = createTransport({
        host: '127.0.0.1',
        port: g.smtpPort,
        requireTLS: true,
        tls: { rejectUnauthorized: false },
      });
      const info = await transport.sendMail({
        envelope: { from: FROM, to: TO },
        raw: await compose({ from: FROM, to: TO[0], subject: `[GJ-060309] tls ${tag}`, text: tag }),
      });
      transport.close();
      expect(String(info.response)).toMatch(/^250/);
      await waitFor('update', () => d.state.updates('GJ-060309').find((x) => x.fields.subject?.includes(tag)));
    } finally {
      await g.close();
      await d.close();
    }
  });

  it('is not offered without a certificate', async () => {
    const transport = createTransport({ host: '127.0.0.1', port: h.smtpPort, requireTLS: true });
    await expect(
      transport.sendMail({ envelope: { from: FROM, to: TO }, raw: Buffer.from('Subject: x\r\n\r\nx\r\n') }),
    ).rejects.toThrow(/STARTTLS/);
    transport.close();
  });
});

describe('PROXY protocol', () => {
  it("takes the client address from a trusted proxy's PROXY line", async () => {
    const d = await startSirportlyDouble();
    const g = await startHarness(inject('redisUrl'), d, { smtp: { trustedProxies: ['127.0.0.1'] } });
    try {
      const { connect } = await import('node:net');
      const sock = connect(g.smtpPort, '127.0.0.1');
      let text = '';
      sock.on('data', (x: Buffer) => (text += x.toString()));
      const tag = randomBytes(4).toString('hex');
      sock.write('PROXY TCP4 203.0.113.7 127.0.0.1 40000 25\r\n');
      await waitFor('greeting', () => text.includes('220 '));
      sock.write(`EHLO p.example\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n`);
      await waitFor('354', () => text.includes('354'));
      sock.write(`Subject: [GJ-060309] proxy ${tag}\r\n\r\nhi\r\n.\r\n`);
      await waitFor('queued', () => text.includes('queued as'));
      sock.destroy();
      const line = g.logs.lines.find((l) => l.msg === 'door verdict' && l.ticket === 'GJ-060309');
      expect(line?.remote).toBe('203.0.113.7');
    } finally {
      await g.close();
      await d.close();
    }
  });
});
