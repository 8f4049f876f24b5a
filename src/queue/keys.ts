// Every Redis key the gateway writes besides BullMQ's own, derived from one prefix so that
// several gateways can share a Redis.
export const QUEUE_NAME = 'updates';

export interface Keys {
  /** BullMQ prefix: BullMQ keys are `${prefix}:updates:…`. */
  bullPrefix: string;
  raw(key: string): string;
  seen(key: string): string;
  /** Reference of the ticket a create job opened (for replayed replies in its thread). */
  created(key: string): string;
  /** Observed posted_at offsets of one Sirportly account (sorted set; see sirportly/posted-at-offset.ts). */
  postedAtOffsets(account: string): string;
}

export function keys(prefix: string): Keys {
  return {
    bullPrefix: prefix,
    raw: (key) => `${prefix}:raw:${key}`,
    seen: (key) => `${prefix}:seen:${key}`,
    created: (key) => `${prefix}:created:${key}`,
    postedAtOffsets: (account) => `${prefix}:sirportly:offsets:${account}`,
  };
}
