// The observations the read-back's offset rests on (see find-update.ts): for each successful
// post_update, the posted_at we sent against the one Sirportly answered, kept per Sirportly
// account in one Redis sorted set (score: the sent instant; member: "<sent>:<offset seconds>").
// Only answers to our own request are recorded, never read-back guesses, so a wrong match can
// never teach a wrong offset.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { accountOffset, NOTHING_LEARNED, type OffsetKnowledge } from './find-update.js';

/** Observations kept per account: the newest-dated ones win (live mail is what posts most). */
const MAX_OBSERVATIONS = 5_000;
/** Two agreeing observations further apart than this may have a summer-time change and its return between them. */
const MAX_CONFIRMING_SPAN_SECONDS = 60 * 86_400;

export type OffsetRedis = Pick<Redis, 'pipeline' | 'zrangebyscore' | 'zrevrangebyscore'>;

/** Names an account by its URL and token (hosted accounts share one URL); the token is hashed. */
export function accountKey(account: { url: string; token: string }): string {
  return createHash('sha256').update(`${account.url}\n${account.token}`).digest('hex').slice(0, 16);
}

export class PostedAtOffsets {
  constructor(
    private readonly redis: OffsetRedis,
    private readonly key: string,
  ) {}

  /**
   * After a successful post: record the offset its answer shows. Returns the offset, or null when
   * the answer's posted_at is no plausible offset of ours (then nothing is recorded).
   */
  async record(sentIso: string, answeredIso: string | null): Promise<number | null> {
    if (answeredIso === null) return null;
    const offset = accountOffset(sentIso, answeredIso);
    if (offset === null) return null;
    const sent = Math.floor(Date.parse(sentIso) / 1000);
    const results = await this.redis
      .pipeline()
      .zadd(this.key, sent, `${sent}:${offset}`)
      .zremrangebyrank(this.key, 0, -(MAX_OBSERVATIONS + 1))
      .exec();
    const failed = results?.find(([err]) => err !== null)?.[0];
    if (failed) throw failed;
    return offset;
  }

  /** What the observations say of the offset at the mail's date `sentIso`. */
  async at(sentIso: string): Promise<OffsetKnowledge> {
    const ms = Date.parse(sentIso);
    if (Number.isNaN(ms)) return NOTHING_LEARNED;
    const t = Math.floor(ms / 1000);
    const [before] = await this.redis.zrevrangebyscore(this.key, t, '-inf', 'LIMIT', 0, 1);
    const [after] = await this.redis.zrangebyscore(this.key, t, '+inf', 'LIMIT', 0, 1);
    const a = parse(before);
    const b = parse(after);
    if (!a && !b) return NOTHING_LEARNED;
    if (a && b) {
      const nearest = t - a.sent <= b.sent - t ? a : b;
      const confirmed = a.offset === b.offset && b.sent - a.sent <= MAX_CONFIRMING_SPAN_SECONDS;
      return { expected: nearest.offset, confirmed };
    }
    return { expected: (a ?? b)!.offset, confirmed: false };
  }
}

function parse(member: string | undefined): { sent: number; offset: number } | null {
  if (member === undefined) return null;
  const [sent, offset] = member.split(':').map(Number);
  return Number.isFinite(sent) && Number.isFinite(offset) ? { sent: sent!, offset: offset! } : null;
}
