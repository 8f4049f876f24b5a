// What the authenticity check needs of DNS. The system resolver lives at the edge
// (src/dns-resolver.ts); callers pass it in, tests a stub.

/** mailauth's resolver contract: dns.promises.resolve(name, rrtype); absence = ENOTFOUND/ENODATA. */
export type DnsResolver = (name: string, rrtype: string) => Promise<string[][] | string[]>;
