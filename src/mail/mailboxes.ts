// The mailboxes of an address header value (From:, To:, Cc:) as mailparser reads them: encoded
// words in display names decoded, groups flattened, addresses as written (no punycode decoding).
// One message asks for its From: several times (the machine-mail check, the author, replay's
// thread key), and mailparser's address parser is one of the costlier steps per message, so the
// last few values read are remembered. Callers must not change what they are given.
import { parseAddressHeader, type EmailAddress } from 'mailparser';

/** Values remembered: a message's From, To and Cc, with room for a second message in flight. */
const REMEMBERED = 8;
/** Longer values (a mailing list's whole To:) are parsed each time rather than held. */
const MAX_REMEMBERED_LENGTH = 4096;
const recent = new Map<string, readonly EmailAddress[]>();

export function mailboxes(value: string): readonly EmailAddress[] {
  const known = recent.get(value);
  if (known !== undefined) return known;
  const parsed = parseAddressHeader(value, { flatten: true, decodePunycode: false }).value;
  if (value.length > MAX_REMEMBERED_LENGTH) return parsed;
  if (recent.size >= REMEMBERED) recent.delete(recent.keys().next().value!);
  recent.set(value, parsed);
  return parsed;
}
