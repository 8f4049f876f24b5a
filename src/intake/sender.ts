// Who a message counts as coming from for the loop limit and the known-sender rule: the author the
// update will carry (first From: mailbox, else the envelope sender), lower-cased.
import type { Config } from '../config/schema.js';
import { authorOf } from '../mail/author.js';
import type { HeaderBlock } from '../mail/headers.js';

export function senderOf(headers: HeaderBlock, mailFrom: string): string | null {
  return authorOf(headers, mailFrom).email?.toLowerCase() ?? null;
}

/** A sender from policy.knownSenderDomains needs no history on the ticket. */
export function trustedDomain(sender: string, config: Config): boolean {
  const domain = sender.slice(sender.lastIndexOf('@') + 1);
  return config.policy.knownSenderDomains.includes(domain);
}
