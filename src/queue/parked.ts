// Failed mail parked in Redis, per envelope sender and per client address, so the door can turn
// away (451) a sender or a client that has already parked too much, without ever discarding
// what is parked. The raw bytes of a failed job expire after queue.failedRetentionDays; the
// job's entry here expires with them.
//
// Each owner (a sender or a client address) has a sorted set of "<size>:<job key>" scored by when
// the raw bytes expire, and a byte total beside it. A job is added when it fails for good and
// removed when it is retried or discarded. The door reads the counts only (two cheap reads an
// owner); only an owner found over a cap is reconciled against the queue's failed set, which
// drops entries that expired or whose job left the failed state by any way (the dashboard too),
// so a stale count never turns a sender away.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.js';
import type { JobData } from './job.js';
import { QUEUE_NAME, keys } from './keys.js';

export interface ParkedOwner {
  kind: 'sender' | 'client';
  /** Redis key of the sorted set; its byte total is at `${set}:bytes`. */
  set: string;
}

export interface ParkedCaps {
  maxJobs: number;
  maxBytes: number;
}

export interface ParkedUsage {
  jobs: number;
  bytes: number;
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/** The owners a message is counted under: its envelope sender (if any) and its client address (SMTP only). */
export function parkedOwners(
  prefix: string,
  envelope: Pick<JobData['envelope'], 'mailFrom' | 'remoteAddress' | 'source'> | undefined,
): ParkedOwner[] {
  const out: ParkedOwner[] = [];
  // A job whose data is not what it should be (it failed for that) belongs to no one.
  if (envelope?.source !== 'smtp' || typeof envelope.mailFrom !== 'string') return out;
  // The null sender (bounces) is everyone's: counting it as one sender would let one client
  // shut out every bounce. Its client address still counts.
  const sender = envelope.mailFrom.trim().toLowerCase();
  if (sender !== '') out.push({ kind: 'sender', set: `${prefix}:parked:sender:${hash(sender)}` });
  if (envelope.remoteAddress)
    out.push({ kind: 'client', set: `${prefix}:parked:client:${hash(envelope.remoteAddress)}` });
  return out;
}

export function capsFor(config: Config, kind: ParkedOwner['kind']): ParkedCaps {
  const q = config.queue;
  return kind === 'sender'
    ? { maxJobs: q.failedPerSenderMaxJobs, maxBytes: q.failedPerSenderMaxBytes }
    : { maxJobs: q.failedPerClientMaxJobs, maxBytes: q.failedPerClientMaxBytes };
}

export function overCaps(usage: ParkedUsage, caps: ParkedCaps): boolean {
  return (caps.maxJobs > 0 && usage.jobs >= caps.maxJobs) || (caps.maxBytes > 0 && usage.bytes >= caps.maxBytes);
}

// KEYS: raw key, then per owner its set and its byte total. ARGV: member, size, expire-at (ms),
// now (ms). Idempotent: a job that fails again (after a retry from the dashboard) is counted
// once. An owner's keys live as long as its latest entry.
const PARK = `
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
local expireAt = tonumber(ARGV[3])
for i = 2, #KEYS, 2 do
  if redis.call('ZADD', KEYS[i], expireAt, ARGV[1]) == 1 then
    redis.call('INCRBY', KEYS[i + 1], ARGV[2])
  end
  for j = i, i + 1 do
    local ttl = redis.call('PTTL', KEYS[j])
    if ttl < 0 or tonumber(ARGV[4]) + ttl < expireAt then redis.call('PEXPIREAT', KEYS[j], expireAt) end
  end
end
return 1
`;

// KEYS: per owner its set and its byte total. ARGV: member, size.
const UNPARK = `
for i = 1, #KEYS, 2 do
  if redis.call('ZREM', KEYS[i], ARGV[1]) == 1 then
    if redis.call('DECRBY', KEYS[i + 1], ARGV[2]) <= 0 then redis.call('DEL', KEYS[i + 1]) end
  end
end
return 1
`;

// KEYS: the set, its byte total, the queue's failed set. ARGV: now (ms).
// Drops entries past their expiry or whose job is no longer failed; returns {jobs, bytes}.
const RECONCILE = `
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local bytes = 0
for i = 1, #members, 2 do
  local m = members[i]
  local sep = string.find(m, ':', 1, true)
  local size = tonumber(string.sub(m, 1, sep - 1)) or 0
  local id = string.sub(m, sep + 1)
  if tonumber(members[i + 1]) <= tonumber(ARGV[1]) or not redis.call('ZSCORE', KEYS[3], id) then
    redis.call('ZREM', KEYS[1], m)
  else
    bytes = bytes + size
  end
end
local jobs = redis.call('ZCARD', KEYS[1])
if jobs == 0 then
  redis.call('DEL', KEYS[2])
else
  local ttl = redis.call('PTTL', KEYS[1])
  redis.call('SET', KEYS[2], bytes)
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
end
return {jobs, bytes}
`;

const sizeOf = (data: Pick<JobData, 'size'>): number =>
  Number.isSafeInteger(data.size) && data.size >= 0 ? data.size : 0;
const member = (data: Pick<JobData, 'key' | 'size'>): string => `${sizeOf(data)}:${data.key}`;

export type ParkedRedis = Pick<Redis, 'eval'>;

/**
 * A job failed for good: its raw bytes now expire after queue.failedRetentionDays, and it counts
 * against its sender and client address until then (or until it is retried or discarded).
 */
export async function parkFailed(
  redis: ParkedRedis,
  config: Config,
  data: Pick<JobData, 'key' | 'size' | 'envelope'>,
  now = Date.now(),
): Promise<number> {
  const expireAt = now + Math.round(config.queue.failedRetentionDays * 86_400_000);
  const owners = parkedOwners(config.redis.prefix, data.envelope);
  const k = [keys(config.redis.prefix).raw(data.key), ...owners.flatMap((o) => [o.set, `${o.set}:bytes`])];
  await redis.eval(PARK, k.length, ...k, member(data), String(sizeOf(data)), String(expireAt), String(Date.now()));
  return expireAt;
}

/** The job left the failed state (retried or discarded): it no longer counts. */
export async function unparkFailed(
  redis: ParkedRedis,
  config: Config,
  data: Pick<JobData, 'key' | 'size' | 'envelope'>,
): Promise<void> {
  const owners = parkedOwners(config.redis.prefix, data.envelope);
  if (owners.length === 0) return;
  const k = owners.flatMap((o) => [o.set, `${o.set}:bytes`]);
  await redis.eval(UNPARK, k.length, ...k, member(data), String(sizeOf(data)));
}

/** Exact usage of one owner, after dropping entries that expired or whose job is no longer failed. */
export async function reconcileParked(
  redis: ParkedRedis,
  config: Config,
  owner: ParkedOwner,
  now = Date.now(),
): Promise<ParkedUsage> {
  const failedSet = `${keys(config.redis.prefix).bullPrefix}:${QUEUE_NAME}:failed`;
  const [jobs, bytes] = (await redis.eval(RECONCILE, 3, owner.set, `${owner.set}:bytes`, failedSet, String(now))) as [
    number,
    number,
  ];
  return { jobs: Number(jobs), bytes: Number(bytes) };
}

/**
 * Failed jobs whose raw bytes have no expiry (they failed before retention applied, or their
 * worker died between the failure and recording it) get it now, a full failedRetentionDays from
 * now, and are counted. Run when a worker starts; idempotent. Returns how many it found.
 */
export async function parkUnrecordedFailed(
  redis: Pick<Redis, 'zrange' | 'pttl' | 'hget' | 'eval'>,
  config: Config,
  now = Date.now(),
): Promise<number> {
  const k = keys(config.redis.prefix);
  const failedSet = `${k.bullPrefix}:${QUEUE_NAME}:failed`;
  const PAGE = 500;
  let found = 0;
  for (let start = 0; ; start += PAGE) {
    const ids = await redis.zrange(failedSet, String(start), String(start + PAGE - 1));
    if (ids.length === 0) return found;
    // The job id is the message key, which names the raw bytes.
    const ttls = await Promise.all(ids.map((id) => redis.pttl(k.raw(id))));
    for (const [i, id] of ids.entries()) {
      if (ttls[i] !== -1) continue;
      const text = await redis.hget(`${k.bullPrefix}:${QUEUE_NAME}:${id}`, 'data');
      let data: Partial<JobData> = {};
      try {
        data = text ? (JSON.parse(text) as Partial<JobData>) : {};
      } catch {
        /* unreadable job data: its bytes still expire, it counts for no one */
      }
      await parkFailed(
        redis,
        config,
        { key: id, size: data.size ?? 0, envelope: data.envelope as JobData['envelope'] },
        now,
      );
      found++;
    }
    if (ids.length < PAGE) return found;
  }
}
