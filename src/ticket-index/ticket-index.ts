// src/ticket-index is the state the worker writes and the door reads; door-keys.ts names its keys.
//
// What the worker teaches the door: the Message-ID of every posted message and the ticket's own
// Message-ID (for the thread lookup), and the addresses seen on a ticket (for the known-sender
// rule). Written after a post succeeded or a ticket was read; read by src/intake/door-checks.ts.
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.js';
import { normaliseMessageId } from '../mail/door/idempotency.js';
import type { SirportlyTicket } from '../sirportly/types.js';
import { doorKeys, type DoorKeys } from './door-keys.js';
import { trustedDomain } from '../intake/sender.js';

// A learned ticket is read again after a day, so addresses added in Sirportly meanwhile count.
const LEARNED_TTL_SECONDS = 86_400;

const ADDRESS = /^[^\s<>@]+@[^\s<>@]+$/;

/** Every address the ticket shows: authors of its updates and an e-mail contact method. */
export function ticketAddresses(ticket: SirportlyTicket): string[] {
  const found = new Set<string>();
  const add = (a: unknown): void => {
    if (typeof a === 'string' && ADDRESS.test(a.trim())) found.add(a.trim().toLowerCase());
  };
  for (const u of ticket.updates) add(u.from_address);
  const method = ticket.customer_contact_method;
  if (typeof method === 'object' && method !== null && (method as { method_type?: unknown }).method_type === 'email') {
    add((method as { data?: unknown }).data);
  }
  return [...found];
}

export type IndexRedis = Pick<Redis, 'pipeline' | 'exists' | 'sismember'>;

export class TicketIndex {
  private readonly keys: DoorKeys;
  private readonly ttlSeconds: number;

  constructor(
    private readonly config: Config,
    private readonly redis: IndexRedis,
  ) {
    this.keys = doorKeys(config.redis.prefix);
    this.ttlSeconds = Math.round(config.threads.ttlDays * 86_400);
  }

  /** After a post: replies to this message find the ticket, and its author counts as known. */
  async recordPost(ticket: string, messageId: string | null, authorEmail: string | undefined): Promise<void> {
    const p = this.redis.pipeline();
    if (messageId) p.set(this.keys.thread(messageId), ticket, 'EX', this.ttlSeconds);
    if (authorEmail)
      p.sadd(this.keys.senders(ticket), authorEmail.toLowerCase()).expire(this.keys.senders(ticket), this.ttlSeconds);
    if (p.length === 0) return;
    await exec(p);
  }

  /** From a tickets/ticket answer: its own Message-ID and the addresses on it. */
  async learnTicket(ticket: SirportlyTicket): Promise<void> {
    const reference = ticket.reference.toUpperCase();
    const p = this.redis.pipeline();
    const own = normaliseMessageId(ticket.message_id ?? null);
    if (own) p.set(this.keys.thread(own), reference, 'EX', this.ttlSeconds);
    // Update Message-IDs too (Sirportly keeps the one of each inbound mail): a reply to any of them.
    for (const u of ticket.updates) {
      const id = normaliseMessageId(typeof u.message_id === 'string' ? u.message_id : null);
      if (id) p.set(this.keys.thread(id), reference, 'EX', this.ttlSeconds);
    }
    const addresses = ticketAddresses(ticket);
    if (addresses.length > 0)
      p.sadd(this.keys.senders(reference), ...addresses).expire(this.keys.senders(reference), this.ttlSeconds);
    p.set(this.keys.learned(reference), '1', 'EX', Math.min(LEARNED_TTL_SECONDS, this.ttlSeconds));
    await exec(p);
  }

  async learned(ticket: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.learned(ticket))) === 1;
  }

  /** policy.knownSendersOnly, as far as the index knows: a trusted domain or an address seen on the ticket. */
  async senderKnown(ticket: string, sender: string): Promise<boolean> {
    if (trustedDomain(sender, this.config)) return true;
    return (await this.redis.sismember(this.keys.senders(ticket), sender.toLowerCase())) === 1;
  }
}

async function exec(p: ReturnType<Redis['pipeline']>): Promise<void> {
  const replies = await p.exec();
  for (const [err] of replies ?? []) if (err) throw err;
}
