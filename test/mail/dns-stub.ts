// A DNS resolver for mailauth that answers from a table: tests of SPF/DKIM/DMARC never touch the
// network. Absence is signalled the way Node's resolver does it (ENOTFOUND), so mailauth reads it
// as "no record"; `fail` makes a name answer with another error code (ETIMEOUT = temperror).
import { generateKeyPairSync } from 'node:crypto';
import type { DnsResolver } from '../../src/mail/auth/resolver.js';

export interface StubDns {
  resolver: DnsResolver;
  /** Names asked, as "TYPE name", in order. */
  asked: string[];
  txt(name: string, value: string): void;
  fail(name: string, code: string): void;
  /** Every query goes unanswered, for ever (for deadline tests). */
  hang: boolean;
}

export function stubDns(): StubDns {
  const txt = new Map<string, string[][]>();
  const failures = new Map<string, string>();
  const stub: StubDns = {
    asked: [],
    hang: false,
    txt(name, value) {
      // TXT answers are arrays of character-string chunks of at most 255 bytes.
      const chunks = value.match(/.{1,255}/gs) ?? [''];
      txt.set(name.toLowerCase(), [...(txt.get(name.toLowerCase()) ?? []), chunks]);
    },
    fail(name, code) {
      failures.set(name.toLowerCase(), code);
    },
    resolver: async (name, rrtype) => {
      stub.asked.push(`${rrtype} ${name}`);
      if (stub.hang) await new Promise(() => undefined);
      const key = name.toLowerCase();
      const code = failures.get(key);
      if (code) throw Object.assign(new Error(`stub: ${code} ${name}`), { code });
      if (rrtype === 'TXT' && txt.has(key)) return txt.get(key)!;
      throw Object.assign(new Error(`stub: no ${rrtype} for ${name}`), { code: 'ENOTFOUND' });
    },
  };
  return stub;
}

/** An RSA key pair and the DKIM TXT record publishing it. */
export function dkimKey(): { privateKey: string; record: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const der = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    record: `v=DKIM1; k=rsa; p=${der}`,
  };
}
