// The idempotency key names one message for one ticket. It is the BullMQ job id and the key of
// the `seen` index, so an MTA retry, a second replay of an archive or a re-sent copy with the same
// Message-ID never becomes a second update.
import { createHash } from 'node:crypto';

/**
 * Message-ID without angle brackets or surrounding whitespace; case is kept (the local part is
 * case-sensitive). With several ids or trailing junk the first bracketed id wins. Null when empty.
 */
export function normaliseMessageId(value: string | undefined | null): string | null {
  if (value === undefined || value === null) return null;
  const trimmed = value.trim();
  const bracketed = /<([^<>]*)>/.exec(trimmed);
  const id = (bracketed ? bracketed[1]! : stripStrayBrackets(trimmed)).trim();
  return id === '' ? null : id;
}

// A loop, not /^<+|>+$/: that regex is quadratic on a long run of '>' inside a hostile header,
// and this runs at the door for every message.
function stripStrayBrackets(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && s[start] === '<') start++;
  while (end > start && s[end - 1] === '>') end--;
  return s.slice(start, end);
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * 32 hex characters of sha256(("mid:" + id | "raw:" + sha256(raw)) + "\n" + ticket). Without a
 * Message-ID only the exact same bytes are recognised as the same message.
 */
export function idempotencyKey(messageId: string | null, raw: Buffer, ticket: string | null): string {
  return keyOf(messageIdentity(messageId, raw), ticket);
}

/** What names the message in its key: its Message-ID, or without one its exact bytes. */
export function messageIdentity(messageId: string | null, raw: Buffer): string {
  return messageId !== null ? `mid:${messageId}` : `raw:${sha256Hex(raw)}`;
}

/** The key of a message (by its identity) for a ticket; null ticket: mail that opens one. */
export function keyOf(identity: string, ticket: string | null): string {
  return sha256Hex(`${identity}\n${ticket ?? ''}`).slice(0, 32);
}
