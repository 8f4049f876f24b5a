import type { UpdateFields } from '../mail/types.js';
import type { SirportlyTicket, SirportlyUpdate } from './types.js';

/**
 * After an ambiguous failure (timeout, reset, 5xx) the post may or may not have taken effect, and
 * Sirportly has no idempotency key. We sent posted_at = the mail's Date, so our update is
 * recognisable by what we chose rather than by what the server generated:
 * - message equal after trimming and CRLF→LF: form posts and Rails storage may rewrite line ends
 *   and edge whitespace, but not the text;
 * - from_address equal ignoring case when we sent author_email and the update carries one: the
 *   contact lookup may hand back the stored spelling, and whether API posts keep from_address at
 *   all is unconfirmed, so a missing one must not hide our update (that would post twice);
 * - posted_at, compared as instants to the second, at the account's posted_at offset.
 *
 * The offset: the format Sirportly reads posted_at in is undocumented, and an account may take
 * our UTC time for its local wall time and store an instant off by its UTC offset (a whole number
 * of quarter hours, at most 14 h; with summer time it changes twice a year). Matching at "any"
 * offset would take a genuinely different mail for ours (two identical "Thanks" from one author
 * an hour apart are two mails) and drop it; matching only at zero would post twice. So the offset
 * is learned, never guessed: every successful post_update answers with the update it made, whose
 * posted_at against the one we sent is the offset at that date (see posted-at-offset.ts, which
 * keeps these observations per account in Redis). A read-back then decides:
 * - no update with our author and text at any quarter-hour offset within ±14 h: not posted (post);
 * - one at exactly the offset expected for the mail's date (the nearest observation; zero, the
 *   documented reading, while nothing is learned yet): that is ours (do not post);
 * - only at other offsets: when observations on both sides of the mail's date agree on the
 *   expected offset (so no summer-time change lies between), those are other mails (post);
 *   otherwise it cannot be told yet (`unsure`): the caller waits for more observations and, if
 *   none settle it, fails the job for a person rather than post twice or drop a mail.
 * Two different mails agreeing on author, text and instant to the second are still taken for
 * one, which is the price of having no server-side key.
 */
export const QUARTER_HOUR_SECONDS = 900;
export const MAX_OFFSET_SECONDS = 14 * 3600;

/** What is known of the account's posted_at offset (seconds, sent minus stored) at a mail's date. */
export interface OffsetKnowledge {
  /** The offset observed nearest to the mail's date; null when none has been observed. */
  expected: number | null;
  /** True when observations on both sides of the date agree on `expected` (no change between). */
  confirmed: boolean;
}

export const NOTHING_LEARNED: OffsetKnowledge = { expected: null, confirmed: false };

export type ReadBack =
  | { kind: 'found'; update: SirportlyUpdate; offsetSeconds: number }
  | { kind: 'absent' }
  /** Updates with our author and text exist, but only at offsets the knowledge cannot vouch for. */
  | { kind: 'unsure'; candidates: Array<{ update: SirportlyUpdate; offsetSeconds: number }> };

/** sent − stored in whole seconds when it is a plausible account offset (quarter hours, ±14 h), else null. */
export function accountOffset(sentIso: string, storedIso: string): number | null {
  const sent = toSecond(sentIso);
  const stored = toSecond(storedIso);
  if (sent === null || stored === null) return null;
  const d = sent - stored;
  return d % QUARTER_HOUR_SECONDS === 0 && Math.abs(d) <= MAX_OFFSET_SECONDS ? d : null;
}

export function readBack(
  ticket: SirportlyTicket,
  fields: UpdateFields,
  knowledge: OffsetKnowledge = NOTHING_LEARNED,
): ReadBack {
  if (toSecond(fields.posted_at) === null) return { kind: 'absent' };
  const candidates: Array<{ update: SirportlyUpdate; offsetSeconds: number }> = [];
  for (const update of ticket.updates) {
    if (!sameAuthorAndText(update, fields) || update.posted_at === null) continue;
    const offsetSeconds = accountOffset(fields.posted_at, update.posted_at);
    if (offsetSeconds !== null) candidates.push({ update, offsetSeconds });
  }
  if (candidates.length === 0) return { kind: 'absent' };
  const expected = knowledge.expected ?? 0;
  const exact = candidates.find((c) => c.offsetSeconds === expected);
  if (exact) return { kind: 'found', ...exact };
  if (knowledge.expected !== null && knowledge.confirmed) return { kind: 'absent' };
  return { kind: 'unsure', candidates };
}

/** Our update at exactly `offsetSeconds` (sent − stored), or null. */
export function findPostedUpdate(
  ticket: SirportlyTicket,
  fields: UpdateFields,
  offsetSeconds = 0,
): SirportlyUpdate | null {
  const second = toSecond(fields.posted_at);
  if (second === null) return null;
  for (const update of ticket.updates) {
    if (update.posted_at === null || toSecond(update.posted_at) !== second - offsetSeconds) continue;
    if (sameAuthorAndText(update, fields)) return update;
  }
  return null;
}

function sameAuthorAndText(update: SirportlyUpdate, fields: UpdateFields): boolean {
  const email = fields.author_email?.trim().toLowerCase();
  const from = update.from_address?.trim().toLowerCase();
  if (email && from && from !== email) return false;
  return normaliseMessage(update.message ?? '') === normaliseMessage(fields.message);
}

function toSecond(iso: string): number | null {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}

function normaliseMessage(text: string): string {
  return text.replace(/\r\n?/g, '\n').trim();
}
