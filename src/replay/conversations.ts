// One ticket per thread when an archive is replayed: the first message of a thread without a
// reference opens the ticket, later ones of the same thread are posted to it. A thread is what
// In-Reply-To/References link, or the same normalised subject between the same people. Claims are
// made in archive order (the caller calls claim() synchronously per message, in order), so "first"
// means first in the archive, whatever order the messages are then stored or drafted in.
import { createHash } from 'node:crypto';
import type { HeaderBlock } from '../mail/headers.js';
import { mailboxes } from '../mail/mailboxes.js';
import { keyOf, messageIdentity, normaliseMessageId } from '../mail/door/idempotency.js';
import { referencedMessageIds } from '../mail/door/reply-keys.js';
import type { DoorVerdict } from '../mail/types.js';
import { REPLY } from '../smtp-replies.js';

/** What places a message in a thread; computable wherever the headers are (a dry-run thread too). */
export interface ThreadFacts {
  /** Own Message-ID, or null. */
  messageId: string | null;
  /** In-Reply-To, then References newest first. */
  refs: string[];
  /** Digest of normalised subject + participants, or null when the subject is empty. */
  subjectKey: string | null;
  /** What the idempotency key is made of ("mid:…" or "raw:<sha256>"), to re-key a message for another ticket. */
  identity: string;
}

interface Thread {
  /** Key of the message that opens the ticket (create), or null. */
  rootKey: string | null;
  /** Message-ID of that message (for dry-run's same_ticket_as). */
  rootMessageId: string | null;
  /** Reference when the thread already has a ticket (a message of it carried the reference). */
  ticket: string | null;
}

export interface ThreadClaim {
  verdict: DoorVerdict;
  /** Message-ID (or key) of the message whose ticket this one joins, when it joins one. */
  sameTicketAs?: string;
}

const REPLY_PREFIX = /^\s*(?:(?:re|fwd?|aw|sv|vs|antw|wg|tr|rif|ref|odp|vl)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)+/i;
const MAX_REFS = 20;

function digest(text: string): string {
  // 96 bits: collisions are out of reach for any archive; short keys keep a big archive's map small.
  return createHash('sha256').update(text).digest('base64').slice(0, 16);
}

function addresses(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  return mailboxes(raw)
    .map((m) => (m.address ?? '').trim().toLowerCase())
    .filter((a) => a.includes('@'));
}

// Bracketed tags: a ticket reference ("[AB-123456]") or a list tag ("[maven-dev]"), which the
// same thread carries on some messages and not on others.
const TAG = /\[[^\][]{1,40}\]/g;

/** "Re: AW: [AB-123456]  Printer  on fire" → "printer on fire". */
export function normaliseSubject(subject: string): string {
  let s = subject.replace(TAG, ' ');
  for (let prev = ''; prev !== s;) {
    prev = s;
    s = s.replace(REPLY_PREFIX, '');
  }
  return s.replace(/\s+/g, ' ').trim().toLowerCase();
}

export function threadFacts(headers: HeaderBlock, raw: Buffer): ThreadFacts {
  const messageId = normaliseMessageId(headers.getRaw('message-id'));
  const subject = normaliseSubject(headers.get('subject') ?? '');
  let subjectKey: string | null = null;
  if (subject !== '') {
    // A reply swaps From and To: the set of everyone on it stays the same.
    const people = new Set([
      ...addresses(headers.getRaw('from')),
      ...addresses(headers.getRaw('to')),
      ...addresses(headers.getRaw('cc')),
    ]);
    subjectKey = digest(`${subject}\n${[...people].sort().join(',')}`);
  }
  return {
    messageId,
    refs: referencedMessageIds(headers, MAX_REFS),
    subjectKey,
    identity: messageIdentity(messageId, raw),
  };
}

/** The digests a message's ids are kept under. */
interface IdKeys {
  own: string | null;
  refs: string[];
}

export class ArchiveThreads {
  private readonly byId = new Map<string, Thread>();
  private readonly bySubject = new Map<string, Thread>();

  get size(): number {
    return this.byId.size + this.bySubject.size;
  }

  private find(f: ThreadFacts, k: IdKeys): Thread | undefined {
    for (const ref of k.refs) {
      const t = this.byId.get(ref);
      if (t) return t;
    }
    if (k.own !== null) {
      const t = this.byId.get(k.own);
      if (t) return t;
    }
    return f.subjectKey !== null ? this.bySubject.get(f.subjectKey) : undefined;
  }

  private remember(t: Thread, f: ThreadFacts, k: IdKeys): void {
    if (k.own !== null) this.byId.set(k.own, t);
    // The ids it answers too: two replies to a message that is not in the archive (sent from
    // the helpdesk itself, say) are one thread.
    for (const ref of k.refs) if (!this.byId.has(ref)) this.byId.set(ref, t);
    if (f.subjectKey !== null && !this.bySubject.has(f.subjectKey)) this.bySubject.set(f.subjectKey, t);
  }

  /**
   * The verdict for this message given the archive so far. A message with a reference teaches its
   * thread the ticket; one that would open a ticket joins its thread's ticket when there is one.
   */
  claim(v: DoorVerdict, f: ThreadFacts): ThreadClaim {
    if (v.verdict !== 'create' && !(v.verdict === 'post' && v.ticket !== null)) return { verdict: v };
    // Each id digested once per message, for the lookup and the remembering alike.
    const k: IdKeys = { own: f.messageId !== null ? digest(f.messageId) : null, refs: f.refs.map(digest) };
    if (v.verdict === 'post' && v.ticket !== null) {
      const t = this.find(f, k);
      if (t) t.ticket ??= v.ticket;
      this.remember(t ?? { rootKey: null, rootMessageId: null, ticket: v.ticket }, f, k);
      return { verdict: v };
    }
    const t = this.find(f, k);
    if (!t) {
      this.remember({ rootKey: v.idempotencyKey, rootMessageId: v.messageId, ticket: null }, f, k);
      return { verdict: v };
    }
    this.remember(t, f, k);
    if (t.ticket !== null) {
      const { detail: _detail, parentKey: _parent, ...rest } = v;
      return {
        verdict: {
          ...rest,
          verdict: 'post',
          reason: 'reference:archive_thread',
          ticket: t.ticket,
          idempotencyKey: keyOf(f.identity, t.ticket),
          smtpReply: REPLY.queued,
        },
        sameTicketAs: t.ticket,
      };
    }
    if (t.rootKey === null || t.rootKey === v.idempotencyKey) return { verdict: v };
    return {
      verdict: { ...v, reason: 'thread_in_archive', parentKey: t.rootKey },
      sameTicketAs: t.rootMessageId ?? t.rootKey,
    };
  }
}
