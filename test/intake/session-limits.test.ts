// Limits on what one SMTP client may hold, over real sockets: sessions open at once per address,
// refused commands per session, the deadlines of a transaction and of its DATA; each refusal
// counted in /metrics by reason, and ordinary mail still accepted meanwhile.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SmtpSession } from '../support/smtp-session.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, sendRaw, startHarness, waitFor, type Double, type Harness } from '../support/harness.js';

const FROM = 'customer@example.net';
const TO = 'support@help.example.com';

async function metrics(h: Harness): Promise<string> {
  return (await fetch(`http://127.0.0.1:${h.httpPort}/metrics`)).text();
}

async function ordinaryMailAccepted(h: Harness): Promise<void> {
  const tag = randomBytes(4).toString('hex');
  const raw = await compose({ from: FROM, to: TO, subject: `[GJ-060309] ordinary ${tag}`, text: tag });
  const r = await sendRaw(h.smtpPort, raw, { from: FROM, to: [TO] });
  expect(r.code).toBe(250);
}

let double: Double;
beforeAll(async () => {
  double = await startSirportlyDouble();
});
afterAll(async () => {
  await double?.close();
});

const base = { recipients: { domains: ['help.example.com'] }, smtp: { doorThread: false } };

describe('sessions open at once per client address', () => {
  it('past the cap: 421 4.7.0 at connect; other addresses unaffected; a slot freed is usable again', async () => {
    const h = await startHarness(inject('redisUrl'), double, {
      ...base,
      smtp: { ...base.smtp, limits: { maxConnectionsPerAddress: 2 } },
    });
    const open: SmtpSession[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const s = await SmtpSession.open(h.smtpPort);
        open.push(s);
        expect(await s.reply()).toMatch(/^220 /);
      }
      const third = await SmtpSession.open(h.smtpPort);
      expect(await third.reply()).toMatch(/^421 4\.7\.0 Too many open connections/);
      await third.waitClosed();

      const other = await SmtpSession.open(h.smtpPort, '127.0.0.2');
      open.push(other);
      expect(await other.reply()).toMatch(/^220 /);

      await open.shift()!.end();
      // The server learns of the close on its own turn: wait for the slot, not for a time.
      const again = await waitFor('a freed slot', async () => {
        const s = await SmtpSession.open(h.smtpPort);
        const r = await s.reply();
        if (r?.startsWith('220 ')) return s;
        await s.end();
        return null;
      });
      open.push(again);
      const text = await metrics(h);
      expect(text).toMatch(/mailgate_smtp_sessions_total\{outcome="concurrency_limited"\} [1-9]/);
    } finally {
      await Promise.all(open.map((s) => s.end()));
      await h.close();
    }
  });
});

describe('refused commands per session', () => {
  it('a flood of refused RCPTs ends the session with 421 after the allowance; counted by reason', async () => {
    const h = await startHarness(inject('redisUrl'), double, {
      ...base,
      smtp: { ...base.smtp, limits: { maxRefusedCommands: 3 } },
    });
    try {
      const s = await SmtpSession.open(h.smtpPort);
      expect(await s.reply()).toMatch(/^220 /);
      expect(await s.command('EHLO client.example')).toMatch(/^250/);
      expect(await s.command(`MAIL FROM:<${FROM}>`)).toMatch(/^250/);
      for (let i = 0; i < 3; i++)
        expect(await s.command(`RCPT TO:<nobody${i}@elsewhere.example>`)).toMatch(/^550 5\.1\.1/);
      expect(await s.command('RCPT TO:<nobody3@elsewhere.example>')).toMatch(/^421 4\.7\.0 Too many refused commands/);
      await s.waitClosed();
      const text = await metrics(h);
      expect(text).toMatch(/mailgate_smtp_refused_total\{stage="RCPT",reason="recipient"\} 4/);
      expect(text).toMatch(/mailgate_smtp_refused_total\{stage="RCPT",reason="too_many_refused"\} 1/);
      await ordinaryMailAccepted(h);
    } finally {
      await h.close();
    }
  });
});

describe('messages refused at DATA', () => {
  it('count towards the allowance: past it the refusal is followed by 421 and the connection closes', async () => {
    const h = await startHarness(inject('redisUrl'), double, {
      ...base,
      smtp: { ...base.smtp, limits: { maxRefusedCommands: 1 } },
    });
    try {
      const s = await SmtpSession.open(h.smtpPort);
      expect(await s.reply()).toMatch(/^220 /);
      await s.command('EHLO client.example');
      const noReference = async () => {
        expect(await s.command(`MAIL FROM:<${FROM}>`)).toMatch(/^250/);
        expect(await s.command(`RCPT TO:<${TO}>`)).toMatch(/^250/);
        expect(await s.command('DATA')).toMatch(/^354/);
        return s.command(
          `From: <${FROM}>\r\nSubject: no reference here ${randomBytes(4).toString('hex')}\r\n\r\nhello\r\n.`,
        );
      };
      expect(await noReference()).toMatch(/^550 /);
      expect(await noReference()).toMatch(/^550 /);
      expect(await s.reply()).toMatch(/^421 4\.7\.0 Too many refused commands/);
      await s.waitClosed();
      expect(await metrics(h)).toMatch(/mailgate_smtp_refused_total\{stage="DATA",reason="too_many_refused"\} 1/);
    } finally {
      await h.close();
    }
  });
});

describe('deadlines of a transaction and of DATA', () => {
  it('DATA dribbled a line at a time past dataTimeoutMs: 421 4.4.2, connection closed, nothing stored', async () => {
    const h = await startHarness(inject('redisUrl'), double, {
      ...base,
      smtp: { ...base.smtp, limits: { dataTimeoutMs: 300, transactionTimeoutMs: 0 } },
    });
    try {
      const s = await SmtpSession.open(h.smtpPort);
      expect(await s.reply()).toMatch(/^220 /);
      await s.command('EHLO client.example');
      await s.command(`MAIL FROM:<${FROM}>`);
      expect(await s.command(`RCPT TO:<${TO}>`)).toMatch(/^250/);
      expect(await s.command('DATA')).toMatch(/^354/);
      // Always just inside the idle timeout: only the DATA deadline can end this.
      const drip = setInterval(() => s.write('X-Drip: still here\r\n'), 20);
      try {
        expect(await s.reply()).toMatch(/^421 4\.4\.2 Message data took too long/);
        await s.waitClosed();
      } finally {
        clearInterval(drip);
      }
      const text = await metrics(h);
      expect(text).toMatch(/mailgate_smtp_refused_total\{stage="DATA",reason="data_timeout"\} 1/);
      expect(text).not.toMatch(/mailgate_door_verdicts_total\{verdict="queued"/);
      await ordinaryMailAccepted(h);
    } finally {
      await h.close();
    }
  });

  it('a transaction that never reaches DATA within transactionTimeoutMs: 421 4.4.2', async () => {
    const h = await startHarness(inject('redisUrl'), double, {
      ...base,
      smtp: { ...base.smtp, limits: { transactionTimeoutMs: 300 } },
    });
    try {
      const s = await SmtpSession.open(h.smtpPort);
      expect(await s.reply()).toMatch(/^220 /);
      await s.command('EHLO client.example');
      expect(await s.command(`MAIL FROM:<${FROM}>`)).toMatch(/^250/);
      const drip = setInterval(() => s.write('NOOP\r\n'), 20);
      try {
        // NOOPs are answered 250 until the deadline; the 421 comes among them.
        let r: string | null;
        do r = await s.reply();
        while (r !== null && r.startsWith('250'));
        expect(r).toMatch(/^421 4\.4\.2 Transaction took too long/);
        await s.waitClosed();
      } finally {
        clearInterval(drip);
      }
      expect(await metrics(h)).toMatch(/mailgate_smtp_refused_total\{stage="SESSION",reason="transaction_timeout"\} 1/);
    } finally {
      await h.close();
    }
  });

  it('a message sent in time over a session with deadlines is accepted, and the next one too', async () => {
    const h = await startHarness(inject('redisUrl'), double, {
      ...base,
      smtp: { ...base.smtp, limits: { transactionTimeoutMs: 20_000, dataTimeoutMs: 20_000 } },
    });
    try {
      const s = await SmtpSession.open(h.smtpPort);
      expect(await s.reply()).toMatch(/^220 /);
      await s.command('EHLO client.example');
      for (let i = 0; i < 2; i++) {
        const tag = randomBytes(4).toString('hex');
        expect(await s.command(`MAIL FROM:<${FROM}>`)).toMatch(/^250/);
        expect(await s.command(`RCPT TO:<${TO}>`)).toMatch(/^250/);
        expect(await s.command('DATA')).toMatch(/^354/);
        expect(
          await s.command(
            `From: <${FROM}>\r\nTo: <${TO}>\r\nSubject: [GJ-060309] in time ${tag}\r\nMessage-ID: <${tag}@example.net>\r\n\r\n${tag}\r\n.`,
          ),
        ).toMatch(/^250 /);
      }
      await s.command('QUIT');
      await s.waitClosed();
    } finally {
      await h.close();
    }
  });
});

describe("smtp-server's own refusals", () => {
  const counted = (text: string, stage: string, reason: string): number => {
    const m = new RegExp(`^mailgate_smtp_refused_total\\{stage="${stage}",reason="${reason}"\\} (\\d+)$`, 'm').exec(
      text,
    );
    return m ? Number(m[1]) : 0;
  };

  it('unknown commands, bad syntax, commands out of order, AUTH, RCPT past maxRecipients: counted by reason and towards the allowance', async () => {
    const h = await startHarness(inject('redisUrl'), double, {
      ...base,
      smtp: { ...base.smtp, maxRecipients: 2, limits: { maxRefusedCommands: 6 } },
    });
    try {
      const s = await SmtpSession.open(h.smtpPort);
      expect(await s.reply()).toMatch(/^220 /);
      expect(await s.command(`MAIL FROM:<${FROM}>`)).toMatch(/^503 /);
      expect(await s.command('EHLO client.example')).toMatch(/^250/);
      expect(await s.command('XYZZY')).toMatch(/^500 /);
      expect(await s.command('AUTH PLAIN AGFubgBzZWNyZXQ=')).toMatch(/^500 /);
      expect(await s.command('MAIL FROM')).toMatch(/^501 /);
      expect(await s.command(`MAIL FROM:<${FROM}>`)).toMatch(/^250/);
      expect(await s.command(`RCPT TO:<${TO}>`)).toMatch(/^250/);
      // The gateway's own refusal: counted once, by its own reason.
      expect(await s.command('RCPT TO:<nobody@elsewhere.example>')).toMatch(/^550 5\.1\.1/);
      expect(await s.command('RCPT TO:<second@help.example.com>')).toMatch(/^250/);
      expect(await s.command('RCPT TO:<third@help.example.com>')).toMatch(/^452 /);
      expect(await s.command('NOOP')).toMatch(/^250/);
      // Six refused so far, the allowance; the next is answered and then the session is closed.
      expect(await s.command('PLUGH')).toMatch(/^500 /);
      expect(await s.reply()).toMatch(/^421 4\.7\.0 Too many refused commands/);
      await s.waitClosed();

      const text = await metrics(h);
      expect(counted(text, 'COMMAND', 'bad_sequence')).toBe(1);
      expect(counted(text, 'COMMAND', 'unrecognized_command')).toBe(2);
      expect(counted(text, 'AUTH', 'disabled')).toBe(1);
      expect(counted(text, 'COMMAND', 'syntax_error')).toBe(1);
      expect(counted(text, 'RCPT', 'recipient')).toBe(1);
      expect(counted(text, 'RCPT', 'too_many_recipients')).toBe(1);
      expect(counted(text, 'COMMAND', 'too_many_refused')).toBe(1);
      // Neither the gateway's 550 nor its closing 421 is counted a second time as smtp-server's.
      expect(text).not.toMatch(/mailgate_smtp_refused_total\{stage="(COMMAND|SESSION)",reason="(reply_550|closed)"\}/);
      await ordinaryMailAccepted(h);
    } finally {
      await h.close();
    }
  });

  it('MAIL FROM with a SIZE over smtp.maxMessageBytes: counted as MAIL too_large and towards the allowance', async () => {
    const h = await startHarness(inject('redisUrl'), double, {
      ...base,
      smtp: { ...base.smtp, maxMessageBytes: 1000, limits: { maxRefusedCommands: 1 } },
    });
    try {
      const s = await SmtpSession.open(h.smtpPort);
      expect(await s.reply()).toMatch(/^220 /);
      expect(await s.command('EHLO client.example')).toMatch(/^250/);
      expect(await s.command(`MAIL FROM:<${FROM}> SIZE=5000`)).toMatch(/^552 /);
      // One refused, the allowance; the next is answered and then the session is closed.
      expect(await s.command(`MAIL FROM:<${FROM}> SIZE=5000`)).toMatch(/^552 /);
      expect(await s.reply()).toMatch(/^421 4\.7\.0 Too many refused commands/);
      await s.waitClosed();

      const text = await metrics(h);
      expect(counted(text, 'MAIL', 'too_large')).toBe(2);
      expect(counted(text, 'MAIL', 'too_many_refused')).toBe(1);
    } finally {
      await h.close();
    }
  });

  it('a command line too long and the idle timeout end the session: counted under SESSION', async () => {
    const h = await startHarness(inject('redisUrl'), double, { ...base, smtp: { ...base.smtp, socketTimeoutMs: 300 } });
    try {
      const long = await SmtpSession.open(h.smtpPort);
      expect(await long.reply()).toMatch(/^220 /);
      expect(await long.command(`NOOP ${'x'.repeat(20_000)}`)).toMatch(/^421 .*too long/i);
      await long.waitClosed();

      const idle = await SmtpSession.open(h.smtpPort);
      expect(await idle.reply()).toMatch(/^220 /);
      expect(await idle.reply()).toMatch(/^421 Timeout/);
      await idle.waitClosed();

      const text = await metrics(h);
      expect(counted(text, 'SESSION', 'line_too_long')).toBe(1);
      expect(counted(text, 'SESSION', 'idle_timeout')).toBe(1);
    } finally {
      await h.close();
    }
  });

  it('a message over smtp.maxMessageBytes is a door verdict (too_large), not also a refused command', async () => {
    const h = await startHarness(inject('redisUrl'), double, {
      ...base,
      smtp: { ...base.smtp, maxMessageBytes: 1000 },
    });
    try {
      const raw = await compose({ from: FROM, to: TO, subject: '[GJ-060309] too large', text: 'x'.repeat(5000) });
      const r = await sendRaw(h.smtpPort, raw, { from: FROM, to: [TO] });
      expect(r.code).toBe(552);
      const text = await metrics(h);
      expect(text).toMatch(/mailgate_door_verdicts_total\{verdict="too_large",reason="too_large"\} 1/);
      expect(text).not.toMatch(/^mailgate_smtp_refused_total\{/m);
    } finally {
      await h.close();
    }
  });
});
