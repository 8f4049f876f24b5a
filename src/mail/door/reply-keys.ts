// The Message-IDs a reply points at (In-Reply-To, then References newest first): the keys of the
// thread index, for replies whose subject lost the ticket reference. Pure: the lookup
// itself is in src/intake/door-checks.ts.
import type { HeaderBlock } from '../headers.js';

// An id is whatever sits between angle brackets; real References often hold junk between them.
const BRACKETED = /<([^<>\s]{1,998})>/g;

/** A value's ids in order of appearance; an unbracketed single id is taken as it is. */
function idsIn(value: string): string[] {
  const ids = [...value.matchAll(BRACKETED)].map((m) => m[1]!);
  if (ids.length === 0) {
    const bare = value.trim();
    if (bare !== '' && !/\s/.test(bare) && bare.includes('@') && bare.length <= 998) ids.push(bare);
  }
  return ids;
}

/**
 * At most `max` distinct ids: In-Reply-To first (the message answered), then References from the
 * newest (last) to the oldest root, which is often the ticket's own Message-ID.
 */
export function referencedMessageIds(headers: HeaderBlock, max: number): string[] {
  const out: string[] = [];
  const add = (id: string): void => {
    if (out.length < max && !out.includes(id)) out.push(id);
  };
  // Bounded scans: a hostile megabyte of References costs nothing extra at the door.
  for (const id of idsIn((headers.getRaw('in-reply-to') ?? '').slice(0, 8192))) add(id);
  const refs = idsIn((headers.getRaw('references') ?? '').slice(-65536));
  for (let i = refs.length - 1; i >= 0; i--) add(refs[i]!);
  return out;
}
