// The DNS resolver the authenticity check is given: the I/O edge of src/mail/auth, which takes a
// resolver as a parameter, so tests pass a stub and never touch the network.
import { Resolver } from 'node:dns/promises';
import type { DnsResolver } from './mail/auth/resolver.js';

/** Node's resolver with one try per query and a hard per-query deadline (a lost UDP packet must not stall a job). */
export function systemResolver(timeoutMs: number): DnsResolver {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  return async (name, rrtype) => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      // No resolver.cancel() here: it would cancel every query in flight, other jobs' too; the
      // resolver's own timeout ends this one.
      timer = setTimeout(() => {
        // ETIMEOUT is what mailauth reads as a temporary error (temperror), not as "no record".
        reject(
          Object.assign(new Error(`DNS ${rrtype} ${name}: no answer within ${timeoutMs} ms`), { code: 'ETIMEOUT' }),
        );
      }, timeoutMs);
    });
    try {
      return (await Promise.race([resolver.resolve(name, rrtype), deadline])) as string[][] | string[];
    } finally {
      clearTimeout(timer);
    }
  };
}
