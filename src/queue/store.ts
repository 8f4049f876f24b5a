// src/queue is the Redis side of a message's journey: connections, durability, the job's shape,
// the keys, failed mail parked per sender; this file is the durable accept.
//
// Durable accept: the raw bytes and the job are in Redis before the SMTP client hears 250.
// Order matters for "never lost": raw first, then the job, then the seen marker. A crash
// between steps leaves at worst a stored raw message without a job (the client got no 250 and
// retries), never a seen marker without a job. The raw bytes and the job go out together on the
// queue's connection, raw first: Redis runs one connection's commands in the order sent, so the
// job never exists before its raw bytes, and the pair costs one round trip instead of two.
import { Queue, type JobsOptions } from 'bullmq';
import { Command, type Redis } from 'ioredis';
import type { Config } from '../config/schema.js';
import { within } from '../deadline.js';
import { GatewayError } from '../errors.js';
import type { DoorVerdict, Envelope } from '../mail/types.js';
import type { DurabilityGuard } from './durability.js';
import type { JobData } from './job.js';
import { QUEUE_NAME, keys, type Keys } from './keys.js';

/** Raw messages at least this large are stored outside auto-pipelining (see storeRaw). */
const DIRECT_WRITE_BYTES = 1024 * 1024;

export interface AcceptResult {
  queueId: string;
  duplicate: boolean;
}

export function jobOptions(config: Config): JobsOptions {
  return {
    // The retry period, not the attempt count, ends retries (see worker): attempts is a ceiling.
    attempts: 100_000,
    backoff: { type: 'mailgate' },
    removeOnComplete: { count: config.queue.keepCompleted },
    removeOnFail: false,
  };
}

export function createQueue(config: Config, connection: Redis): Queue<JobData> {
  return new Queue<JobData>(QUEUE_NAME, {
    connection,
    prefix: keys(config.redis.prefix).bullPrefix,
    defaultJobOptions: jobOptions(config),
  });
}

export class MessageStore {
  private readonly keys: Keys;

  /**
   * @param redis the door's connection (duplicate index)
   * @param queueConn the connection `queue` was made with: the raw bytes are written on it, just
   *   ahead of the job (see above)
   * @param durability where the 250 waits for disk or replicas (redis.durability); absent: it
   *   waits for neither (replay, whose archive keeps every message)
   */
  constructor(
    private readonly config: Config,
    private readonly redis: Redis,
    private readonly queue: Queue<JobData>,
    private readonly queueConn: Redis,
    private readonly durability?: Pick<DurabilityGuard, 'confirm' | 'waits'>,
  ) {
    this.keys = keys(config.redis.prefix);
  }

  /**
   * Whether the key was accepted before (within queue.seenTtlDays). The door asks this alongside
   * its own checks, in the same round trip, and hands the answer to accept().
   */
  seen(key: string): Promise<boolean> {
    return this.redis.exists(this.keys.seen(key)).then((n) => n === 1);
  }

  /**
   * Store the message and queue its job; resolves only once both are in Redis.
   * seen: the answer of seen() for this verdict's key, when the door already asked.
   */
  async accept(raw: Buffer, verdict: DoorVerdict, envelope: Envelope, seen?: Promise<boolean>): Promise<AcceptResult> {
    const ticket = verdict.verdict === 'post' ? verdict.ticket : verdict.verdict === 'create' ? null : undefined;
    if (ticket === undefined || (verdict.verdict === 'post' && !ticket)) {
      throw new Error(`accept() called for verdict ${verdict.verdict}`);
    }
    try {
      const ms = this.config.smtp.acceptTimeoutMs;
      return await within(this.store(raw, verdict, ticket, envelope, seen), ms, () => {
        throw new GatewayError('store_unavailable', `accept: Redis did not answer within ${ms} ms`);
      });
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw new GatewayError('store_unavailable', `accept: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * SET NX of the raw bytes, written at once. Through auto-pipelining, ioredis would copy a
   * large message once more, joining it with the other commands of the tick into one write; a
   * large one is a write of its own anyway. Written now, it still goes out before the job.
   */
  private storeRaw(rawKey: string, raw: Buffer): Promise<unknown> {
    if (raw.length < DIRECT_WRITE_BYTES) return this.queueConn.set(rawKey, raw, 'NX');
    const command = new Command('set', [rawKey, raw, 'NX']);
    void this.queueConn.sendCommand(command);
    return command.promise;
  }

  private async store(
    raw: Buffer,
    verdict: DoorVerdict,
    ticket: string | null,
    envelope: Envelope,
    seen?: Promise<boolean>,
  ): Promise<AcceptResult> {
    const key = verdict.idempotencyKey;
    if (await (seen ?? this.seen(key))) {
      // Stored before, but that delivery may have got a 451 because its wait timed out: a write
      // of this connection's own (the marker, unchanged) lets the wait cover the earlier writes.
      if (this.durability?.waits()) {
        await this.redis.set(this.keys.seen(key), key, 'KEEPTTL', 'XX');
        await this.durability.confirm(this.redis);
      }
      return { queueId: key, duplicate: true };
    }

    const data: JobData = {
      key,
      ticket,
      route: verdict.route,
      ...(verdict.parentKey !== undefined ? { parentKey: verdict.parentKey } : {}),
      messageId: verdict.messageId,
      subject: verdict.subject,
      reason: verdict.reason,
      envelope,
      size: raw.length,
      checkpoint: { uploads: {}, postStarted: false, submitStarted: false, submitStartedAt: null, created: null },
    };
    // Raw bytes first, then the job, on one connection (see the top of this file); NX: the bytes
    // of a delivery that stored them and then got no 250 are the same bytes. A job id that still
    // exists makes add() a no-op, which covers two deliveries racing.
    const [, job] = await Promise.all([
      this.storeRaw(this.keys.raw(key), raw),
      this.queue.add('update', data, { jobId: key }),
    ]);
    const ttlSeconds = Math.round(this.config.queue.seenTtlDays * 86_400);
    await this.redis.set(this.keys.seen(key), job.id ?? key, 'EX', ttlSeconds);
    // The marker is the last write, on the connection that waits: the wait covers all three.
    await this.durability?.confirm(this.redis);
    return { queueId: job.id ?? key, duplicate: false };
  }
}
