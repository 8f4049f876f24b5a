// SPF, DKIM and DMARC with a stub DNS (no network): authenticated only when DMARC passes for the
// very From address the update is posted as; every failure to decide is temperror, never a throw.
import { dkimSign } from 'mailauth';
import { describe, expect, it } from 'vitest';
import { authenticityOf, checkAuthenticity } from '../../src/mail/auth/verify.js';
import { systemResolver } from '../../src/dns-resolver.js';
import { envelope, fixture, mail, testConfig } from './helpers.js';
import { dkimKey, stubDns } from './dns-stub.js';

const key = dkimKey();
const smtp = envelope({
  source: 'smtp',
  mailFrom: 'ann@example.com',
  remoteAddress: '192.0.2.10',
  helo: 'mail.example.com',
});

function message(from = 'Ann <ann@example.com>'): Buffer {
  return mail(
    `From: ${from}`,
    'To: support@help.example',
    'Subject: [AB-123456] hi',
    'Date: Wed, 1 May 2024 12:00:00 +0000',
    'Message-ID: <a1@example.com>',
    '',
    'Hello there.',
    '',
  );
}

async function signed(raw: Buffer, domain: string): Promise<Buffer> {
  const { signatures, errors } = await dkimSign(raw, {
    signatureData: [{ signingDomain: domain, selector: 's1', privateKey: key.privateKey }],
  } as Parameters<typeof dkimSign>[1]);
  expect(errors).toEqual([]);
  return Buffer.concat([Buffer.from(signatures), raw]);
}

function dns(opts: { dkimFor?: string; spf?: string; dmarc?: string } = {}) {
  const d = stubDns();
  if (opts.dkimFor) d.txt(`s1._domainkey.${opts.dkimFor}`, key.record);
  if (opts.spf) d.txt('example.com', opts.spf);
  if (opts.dmarc !== undefined) d.txt('_dmarc.example.com', opts.dmarc);
  return d;
}

const opts = (resolver: ReturnType<typeof stubDns>['resolver'], authorEmail = 'ann@example.com') => ({
  resolver,
  timeoutMs: 5000,
  mta: 'mailgate.test',
  authorEmail,
});

describe('checkAuthenticity', () => {
  it('passes DMARC with an aligned DKIM signature', async () => {
    const d = dns({ dkimFor: 'example.com', dmarc: 'v=DMARC1; p=reject' });
    const v = await checkAuthenticity(await signed(message(), 'example.com'), smtp, opts(d.resolver));
    expect(v).toMatchObject({
      dkim: 'pass',
      dkimDomains: ['example.com'],
      dmarc: 'pass',
      from: 'ann@example.com',
      authenticated: true,
    });
    expect(v.reason).toBe('DMARC pass for ann@example.com');
  });

  it('passes DMARC with aligned SPF for the client IP and no signature', async () => {
    const d = dns({ spf: 'v=spf1 ip4:192.0.2.10 -all', dmarc: 'v=DMARC1; p=none' });
    const v = await checkAuthenticity(message(), smtp, opts(d.resolver));
    expect(v).toMatchObject({ spf: 'pass', dkim: 'none', dmarc: 'pass', authenticated: true });
    expect(d.asked).toContain('TXT example.com');
  });

  it('does not authenticate SPF for another client IP', async () => {
    const d = dns({ spf: 'v=spf1 ip4:192.0.2.10 -all', dmarc: 'v=DMARC1; p=reject' });
    const v = await checkAuthenticity(message(), { ...smtp, remoteAddress: '198.51.100.7' }, opts(d.resolver));
    expect(v).toMatchObject({ spf: 'fail', dmarc: 'fail', authenticated: false });
  });

  it('does not authenticate a forged From signed by another domain', async () => {
    const d = dns({ dkimFor: 'attacker.example', dmarc: 'v=DMARC1; p=reject' });
    const v = await checkAuthenticity(
      await signed(message(), 'attacker.example'),
      { ...smtp, mailFrom: 'x@attacker.example' },
      opts(d.resolver),
    );
    expect(v).toMatchObject({ dkim: 'pass', dkimDomains: ['attacker.example'], dmarc: 'fail', authenticated: false });
  });

  it('does not authenticate a message changed after signing', async () => {
    const d = dns({ dkimFor: 'example.com', dmarc: 'v=DMARC1; p=reject' });
    const tampered = Buffer.from(
      (await signed(message(), 'example.com')).toString().replace('Hello there.', 'Pay me.'),
    );
    const v = await checkAuthenticity(tampered, smtp, opts(d.resolver));
    // mailauth calls a body-hash mismatch "neutral" (RFC 6376 §6.3 leaves it open); never "pass".
    expect(['fail', 'neutral']).toContain(v.dkim);
    expect(v).toMatchObject({ dmarc: 'fail', authenticated: false });
  });

  it('does not authenticate without a DMARC record, even with a good signature', async () => {
    const d = dns({ dkimFor: 'example.com' });
    const v = await checkAuthenticity(await signed(message(), 'example.com'), smtp, opts(d.resolver));
    expect(v).toMatchObject({ dkim: 'pass', dmarc: 'none', authenticated: false });
  });

  it('does not authenticate when the update is posted as someone else than the From DMARC judged', async () => {
    const d = dns({ dkimFor: 'example.com', dmarc: 'v=DMARC1; p=reject' });
    const v = await checkAuthenticity(
      await signed(message(), 'example.com'),
      smtp,
      opts(d.resolver, 'bob@example.net'),
    );
    expect(v).toMatchObject({ dmarc: 'pass', authenticated: false });
    expect(v.reason).toMatch(/author is bob@example.net/);
  });

  it('judges nothing for a message with several From addresses', async () => {
    const d = dns({ dmarc: 'v=DMARC1; p=reject' });
    const v = await checkAuthenticity(message('ann@example.com, eve@example.com'), smtp, opts(d.resolver));
    expect(v).toMatchObject({ from: null, authenticated: false });
  });

  it('gives temperror, not an exception, when DNS fails', async () => {
    const d = dns({ dkimFor: 'example.com' });
    d.fail('_dmarc.example.com', 'ETIMEOUT');
    d.fail('example.com', 'ESERVFAIL');
    const v = await checkAuthenticity(await signed(message(), 'example.com'), smtp, opts(d.resolver));
    expect(v).toMatchObject({ dmarc: 'temperror', authenticated: false });
    expect(['temperror', 'none']).toContain(v.spf);
  });

  it('gives temperror within the deadline when DNS hangs', async () => {
    const d = dns({ dkimFor: 'example.com', dmarc: 'v=DMARC1; p=reject' });
    // DNS never answers: only the deadline can end the check.
    d.hang = true;
    const v = await checkAuthenticity(await signed(message(), 'example.com'), smtp, {
      ...opts(d.resolver),
      timeoutMs: 200,
    });
    expect(v).toMatchObject({ spf: 'temperror', dkim: 'temperror', dmarc: 'temperror', authenticated: false });
    expect(v.reason).toMatch(/within 200 ms/);
  });

  it('runs no SPF without an SMTP client address (inspect)', async () => {
    const d = dns({ dkimFor: 'example.com', spf: 'v=spf1 -all', dmarc: 'v=DMARC1; p=reject' });
    const v = await checkAuthenticity(
      await signed(message(), 'example.com'),
      envelope({ source: 'inspect', mailFrom: '' }),
      opts(d.resolver),
    );
    expect(v).toMatchObject({ spf: 'not_run', dkim: 'pass', dmarc: 'pass', authenticated: true });
    expect(d.asked).not.toContain('TXT example.com');
  });

  it('asks only the injected resolver for a signing key it does not hold (a whole multipart message)', async () => {
    const raw = await signed(fixture('cid/related.eml'), 'mail.example.net');
    const d = stubDns();
    const v = await checkAuthenticity(raw, envelope({ source: 'inspect', mailFrom: '' }), opts(d.resolver, 'x'));
    // The key is not in the stub: no network is asked, and the verdict says so instead of throwing.
    expect(v.authenticated).toBe(false);
    expect(v.dkim).not.toBe('pass');
    expect(d.asked.some((q) => q.includes('s1._domainkey.mail.example.net'))).toBe(true);
  });
});

describe('authenticityOf', () => {
  const config = testConfig();

  it('leaves replayed mail alone (no session, rotated keys) and respects auth.enabled', async () => {
    const d = dns({ dkimFor: 'example.com', dmarc: 'v=DMARC1; p=reject' });
    const raw = await signed(message(), 'example.com');
    expect(
      await authenticityOf(raw, envelope({ source: 'replay' }), config, 'ann@example.com', d.resolver),
    ).toMatchObject({ authenticated: false, reason: 'replayed mail is not authenticated' });
    expect(
      await authenticityOf(raw, smtp, testConfig({ auth: { enabled: false } }), 'ann@example.com', d.resolver),
    ).toMatchObject({ authenticated: false, reason: 'auth.enabled is off' });
    expect(d.asked).toEqual([]);
    expect(await authenticityOf(raw, smtp, config, 'ann@example.com', d.resolver)).toMatchObject({
      authenticated: true,
    });
  });

  // The bound of this test (a few times auth.timeoutMs) is what catches a hang.
  it(
    'with the system resolver and no reachable DNS: a verdict, not a crash or a hang',
    { timeout: 10_000 },
    async () => {
      const v = await authenticityOf(
        message(),
        smtp,
        testConfig({ auth: { timeoutMs: 3000, dnsTimeoutMs: 1000 } }),
        'ann@example.com',
        systemResolver(1000),
      );
      expect(v.authenticated).toBe(false);
      expect(['none', 'temperror']).toContain(v.dmarc);
    },
  );
});
