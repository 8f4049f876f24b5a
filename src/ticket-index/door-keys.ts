// Redis keys of the door's own state, under the gateway's prefix beside the queue's keys. Values
// that come from mail (Message-IDs, addresses) are hashed: bounded key length, no key injection.
import { createHash } from 'node:crypto';

export interface DoorKeys {
  /** Message-ID → ticket reference (string), for replies whose subject lost the reference. */
  thread(messageId: string): string;
  /** Messages from one sender to one ticket in the current window (counter). */
  rate(sender: string, ticket: string): string;
  /** Addresses seen on a ticket (set of lower-case addresses). */
  senders(ticket: string): string;
  /** Present while the ticket's own data (Message-ID, addresses) counts as learned. */
  learned(ticket: string): string;
  /** New tickets one sender opened in the current window (counter). */
  newTickets(sender: string): string;
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

export function doorKeys(prefix: string): DoorKeys {
  return {
    thread: (messageId) => `${prefix}:thread:${hash(messageId)}`,
    rate: (sender, ticket) => `${prefix}:rate:${hash(`${sender.toLowerCase()}\n${ticket}`)}`,
    senders: (ticket) => `${prefix}:senders:${ticket}`,
    learned: (ticket) => `${prefix}:learned:${ticket}`,
    newTickets: (sender) => `${prefix}:newtickets:${hash(sender.toLowerCase())}`,
  };
}
