// The DNS resolver the authenticity check is given: the I/O edge of src/mail/auth, which takes a
// resolver as a parameter, so tests pass a stub and never touch the network.
import { Resolver } from 'node:dns/promises';
import { within } from './deadline.js';
import type { DnsResolver } from './mail/auth/resolver.js';

/** Node's resolver with one try per query and a hard per-query deadline (a lost UDP packet must not stall a job). */
export function systemResolver(timeoutMs: number): DnsResolver {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  // No resolver.cancel() at the deadline: it would cancel every query in flight, other jobs' too;
  // the resolver's own timeout ends this one.
  return async (name, rrtype) =>
    within(resolver.resolve(name, rrtype) as Promise<string[][] | string[]>, timeoutMs, () => {
      // ETIMEOUT is what mailauth reads as a temporary error (temperror), not as "no record".
      throw Object.assign(new Error(`DNS ${rrtype} ${name}: no answer within ${timeoutMs} ms`), { code: 'ETIMEOUT' });
    });
}
