// Which recipients the gateway takes mail for. Kept separate from the SMTP wiring so the
// rule can be tested on its own and reused by replay.
import type { Config } from '../config/schema.js';

export interface RecipientPolicy {
  acceptsAll: boolean;
  accepts(address: string): boolean;
}

/** `support+GJ-060309@Example.COM` → `support@example.com` (local part case kept). */
export function baseAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1).toLowerCase();
  const plus = local.indexOf('+');
  return `${plus >= 0 ? local.slice(0, plus) : local}@${domain}`;
}

export function recipientPolicy(config: Config): RecipientPolicy {
  const domains = new Set(config.recipients.domains.map((d) => d.toLowerCase().replace(/^@/, '')));
  const addresses = new Set(config.recipients.addresses.map((a) => baseAddress(a).toLowerCase()));
  const acceptsAll = domains.size === 0 && addresses.size === 0;
  return {
    acceptsAll,
    accepts(address: string): boolean {
      if (acceptsAll) return true;
      const at = address.lastIndexOf('@');
      if (at < 0) return false;
      if (domains.has(address.slice(at + 1).toLowerCase())) return true;
      return addresses.has(baseAddress(address).toLowerCase());
    },
  };
}
