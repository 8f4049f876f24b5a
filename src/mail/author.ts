// Who wrote the message: the first mailbox of From:, read from the same header block the door
// saw (first From: header), so the worker and inspect agree with the door.
import { clip } from './clean.js';
import type { HeaderBlock } from './headers.js';
import { mailboxes } from './mailboxes.js';

export interface Author {
  name?: string;
  email?: string;
  warning?: string;
}

// Deliberately loose: Sirportly matches contacts by address, it is not an RFC 5321 validator.
const USABLE_ADDRESS = /^[^\s<>@]+@[^\s<>@]+$/;

function usable(address: string | undefined): string | undefined {
  const a = address?.trim();
  return a && USABLE_ADDRESS.test(a) ? a : undefined;
}

/** First mailbox of a raw (undecoded) From: value with an address; groups are looked into. */
export function firstMailbox(rawFrom: string | undefined): { name?: string; email: string } | null {
  if (rawFrom === undefined || rawFrom.trim() === '') return null;
  // The address is sent "as written" (mailboxes() leaves punycode alone).
  for (const mailbox of mailboxes(rawFrom)) {
    const email = usable(mailbox.address);
    if (!email) continue;
    const name = mailbox.name.replace(/\s+/g, ' ').trim();
    return name ? { name, email } : { email };
  }
  return null;
}

/** The first display name of a From: value that has no usable address ("MAILER DAEMON <>"). */
function displayNameOnly(rawFrom: string | undefined): string | undefined {
  if (rawFrom === undefined || rawFrom.trim() === '') return undefined;
  const name = mailboxes(rawFrom).map((m) => m.name.replace(/\s+/g, ' ').trim()).find((n) => n !== '' && !n.includes('@'));
  return name;
}

export function authorOf(headers: HeaderBlock, mailFrom: string): Author {
  const rawFrom = headers.getRaw('from');
  const fromHeader = firstMailbox(rawFrom);
  if (fromHeader) return fromHeader;
  const what = rawFrom === undefined ? 'no From header' : `From header ${JSON.stringify(clip(rawFrom))} has no usable address`;
  const envelopeSender = usable(mailFrom.replace(/^<|>$/g, ''));
  if (envelopeSender) {
    // The name the sender gave still names them; only the address comes from the envelope.
    const name = displayNameOnly(rawFrom);
    return { ...(name ? { name } : {}), email: envelopeSender, warning: `${what}; author is the envelope sender` };
  }
  return { warning: `${what} and no usable envelope sender; no author sent` };
}
