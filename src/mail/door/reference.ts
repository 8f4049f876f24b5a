// Which ticket a message belongs to, from what the door can see, in this order: a reference in the
// Subject (reference.subjectPatterns), then one as the plus-tag of an envelope recipient
// (support+GJ-060309@…, when reference.plusTag is on).
import type { Config } from '../../config/schema.js';

/**
 * How the reference was found. Matching In-Reply-To/References against the Message-IDs the
 * gateway has posted ('thread') needs the index in Redis, so it is a lookup in
 * src/intake/door-checks.ts that runs after `findReference` returns null, not here.
 */
export type ReferenceVia = 'subject' | 'plus_tag' | 'thread';

export interface TicketReference {
  /** Upper-cased, as Sirportly expects it. */
  ticket: string;
  via: ReferenceVia;
}

export interface ReferenceMatchers {
  /** Each configured pattern, word-bounded, to search a Subject. */
  readonly inText: readonly RegExp[];
  /** Each configured pattern anchored at both ends, to test a plus-tag. */
  readonly whole: readonly RegExp[];
  readonly plusTag: boolean;
}

// Letters and digits only (not \b): "[GJ-060309]", "Re:GJ-060309" and "GJ-060309." all match,
// "XGJ-060309" and "GJ-0603091" do not.
const BEFORE = '(?<![A-Za-z0-9])';
const AFTER = '(?![A-Za-z0-9])';

const cache = new WeakMap<Config, ReferenceMatchers>();

/** Compiled once per config object: the door calls this for every message. */
export function referenceMatchers(config: Config): ReferenceMatchers {
  let m = cache.get(config);
  if (!m) {
    const patterns = config.reference.subjectPatterns;
    m = {
      inText: patterns.map((p) => new RegExp(`${BEFORE}(?:${p})${AFTER}`, 'i')),
      whole: patterns.map((p) => new RegExp(`^(?:${p})$`, 'i')),
      plusTag: config.reference.plusTag,
    };
    cache.set(config, m);
  }
  return m;
}

/** The reference in a match: the group named `ticket` when the pattern has one, else all of it. */
function matched(found: RegExpExecArray): string | null {
  const text = found.groups?.ticket ?? found[0];
  return text === '' ? null : text.toUpperCase();
}

export function referenceInSubject(subject: string, matchers: ReferenceMatchers): string | null {
  for (const re of matchers.inText) {
    const found = re.exec(subject);
    const ticket = found ? matched(found) : null;
    if (ticket) return ticket;
  }
  return null;
}

/** `support+GJ-060309@example.com` → GJ-060309, when the tag is a whole reference. */
export function referenceInPlusTag(rcptTo: readonly string[], matchers: ReferenceMatchers): string | null {
  for (const rcpt of rcptTo) {
    const address = rcpt.trim().replace(/^<|>$/g, '');
    const at = address.lastIndexOf('@');
    const local = at === -1 ? address : address.slice(0, at);
    const plus = local.indexOf('+');
    if (plus === -1) continue;
    const tag = local.slice(plus + 1);
    if (tag === '') continue;
    for (const re of matchers.whole) {
      const found = re.exec(tag);
      const ticket = found ? matched(found) : null;
      if (ticket) return ticket;
    }
  }
  return null;
}

export function findReference(
  subject: string,
  rcptTo: readonly string[],
  matchers: ReferenceMatchers,
): TicketReference | null {
  const fromSubject = referenceInSubject(subject, matchers);
  if (fromSubject) return { ticket: fromSubject, via: 'subject' };
  if (matchers.plusTag) {
    const fromTag = referenceInPlusTag(rcptTo, matchers);
    if (fromTag) return { ticket: fromTag, via: 'plus_tag' };
  }
  return null;
}
