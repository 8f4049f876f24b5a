import type { UpdateFields } from '../mail/types.js';
import type { SirportlyTicket, SirportlyUpdate } from './types.js';

/**
 * After an ambiguous failure (timeout, reset, 5xx) the post may or may not have taken effect,
 * and Sirportly has no idempotency key. We sent posted_at = the mail's Date, so our update is
 * recognisable by what we chose rather than what the server generated:
 * - posted_at equal to the second, compared as instants: we send `…Z`, Sirportly answers
 *   `…+00:00` (or another offset), and it keeps no sub-second part;
 * - from_address equal ignoring case when we sent author_email and the update carries one: the
 *   contact lookup may hand back the stored spelling; and whether API posts fill from_address
 *   at all is unconfirmed, so a missing one must not hide our update (that would post twice);
 * - message equal after trimming and CRLF→LF: form posts and Rails storage may rewrite line ends
 *   and edge whitespace, but not the text.
 * Two different mails agreeing on all three within one second are treated as one, which is the
 * price of having no server-side key.
 */
export function findPostedUpdate(ticket: SirportlyTicket, fields: UpdateFields): SirportlyUpdate | null {
  const second = toSecond(fields.posted_at);
  if (second === null) return null;
  const email = fields.author_email?.trim().toLowerCase();
  const message = normaliseMessage(fields.message);
  for (const update of ticket.updates) {
    if (toSecond(update.posted_at) !== second) continue;
    const from = update.from_address?.trim().toLowerCase();
    if (email && from && from !== email) continue;
    if (normaliseMessage(update.message ?? '') !== message) continue;
    return update;
  }
  return null;
}

function toSecond(iso: string): number | null {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}

function normaliseMessage(text: string): string {
  return text.replace(/\r\n?/g, '\n').trim();
}
