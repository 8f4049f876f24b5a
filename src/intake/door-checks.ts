// The door's Redis-backed checks, run by ingest after the pure header verdict and before the
// message is stored: the thread lookup (only when the headers named no ticket), the known-sender
// rule, the sender-per-ticket loop limit (one pipelined round trip, only what is switched on), and
// the cap on failed mail one sender or client address may have parked (queue/parked.ts).
// A Redis failure here is the same as one while storing: 451, and the sending server retries.
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.js';
import { within } from '../deadline.js';
import { GatewayError } from '../errors.js';
import type { HeaderBlock } from '../mail/headers.js';
import { referencedMessageIds } from '../mail/door/reply-keys.js';
import type { DoorVerdict, Envelope, SmtpReply } from '../mail/types.js';
import { noMatchVerdict, postToTicket } from '../mail/door/verdict.js';
import { capsFor, overCaps, parkedOwners, reconcileParked } from '../queue/parked.js';
import { REPLY } from '../smtp-replies.js';
import { doorKeys, type DoorKeys } from '../ticket-index/door-keys.js';
import { senderOf, trustedDomain } from './sender.js';

export interface DoorCheckOutcome {
  verdict: DoorVerdict;
  /** Facts for the door's log line (e.g. a rate limit passed under policy "post"). */
  notes: Record<string, unknown>;
}

export type DoorRedis = Pick<Redis, 'mget' | 'set' | 'incr' | 'sismember' | 'exists' | 'zcard' | 'get' | 'eval'>;

/** Thread index value of a message whose ticket is being opened: "pending:<job key>". */
const PENDING = 'pending:';

export class DoorChecks {
  private readonly keys: DoorKeys;

  constructor(
    private readonly config: Config,
    private readonly redis: DoorRedis,
  ) {
    this.keys = doorKeys(config.redis.prefix);
  }

  /** The final verdict; throws GatewayError('store_unavailable') when Redis does not answer. */
  async refine(verdict: DoorVerdict, headers: HeaderBlock, raw: Buffer, envelope: Envelope): Promise<DoorCheckOutcome> {
    try {
      const ms = this.config.smtp.acceptTimeoutMs;
      return await within(this.run(verdict, headers, raw, envelope), ms, () => {
        throw new GatewayError('store_unavailable', `door checks: Redis did not answer within ${ms} ms`);
      });
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw new GatewayError('store_unavailable', `door checks: ${(err as Error).message}`, { cause: err });
    }
  }

  private async run(
    verdict: DoorVerdict,
    headers: HeaderBlock,
    raw: Buffer,
    envelope: Envelope,
  ): Promise<DoorCheckOutcome> {
    const notes: Record<string, unknown> = {};
    // Read alongside the thread lookup; awaited before anything below writes.
    const parked = this.parkedOver(envelope);
    parked.catch(() => undefined);
    let v = verdict;
    if (v.reason === 'no_reference' && this.config.threads.enabled) {
      const found = await this.threadTicket(headers);
      if (found?.startsWith(PENDING)) {
        // It answers a message that is opening a ticket right now: join that ticket, don't open
        // another (the worker waits for it, as for replayed threads).
        if (v.verdict === 'create') v = { ...v, reason: 'thread_pending', parentKey: found.slice(PENDING.length) };
      } else if (found) {
        v = postToTicket(v, found, 'thread', raw);
      }
    }
    if (v.verdict === 'post' || v.verdict === 'create') {
      const over = await parked;
      if (over !== null)
        return {
          verdict: {
            ...v,
            verdict: 'reject',
            reason: 'failed_parked',
            detail: over,
            smtpReply: REPLY.failedParked,
          },
          notes,
        };
    }
    if (v.verdict === 'create') {
      const out = await this.newTicketLimit(v, headers, envelope, notes);
      if (out.verdict.verdict === 'create') await this.markPending(out.verdict, envelope);
      return out;
    }
    if (v.verdict !== 'post' || v.ticket === null) return { verdict: v, notes };
    return this.senderChecks(v, headers, envelope, notes);
  }

  /**
   * Why this message's sender or client address may park no more failed mail, or null. Reads two
   * counters an owner; only one found over a cap is recounted exactly (a stale count, e.g. of
   * jobs retried from the dashboard, never turns anyone away).
   */
  private async parkedOver(envelope: Envelope): Promise<string | null> {
    const owners = parkedOwners(this.config.redis.prefix, envelope).filter((o) => {
      const caps = capsFor(this.config, o.kind);
      return caps.maxJobs > 0 || caps.maxBytes > 0;
    });
    if (owners.length === 0) return null;
    const counted = await Promise.all(
      owners.map((o) => Promise.all([this.redis.zcard(o.set), this.redis.get(`${o.set}:bytes`)])),
    );
    for (const [i, o] of owners.entries()) {
      const caps = capsFor(this.config, o.kind);
      const [jobs, bytes] = counted[i]!;
      if (!overCaps({ jobs, bytes: Number(bytes ?? 0) }, caps)) continue;
      const exact = await reconcileParked(this.redis, this.config, o);
      if (!overCaps(exact, caps)) continue;
      const who = o.kind === 'sender' ? `sender ${envelope.mailFrom}` : `client ${envelope.remoteAddress}`;
      return `${who} has ${exact.jobs} failed messages (${exact.bytes} bytes) parked (limit ${caps.maxJobs} messages, ${caps.maxBytes} bytes)`;
    }
    return null;
  }

  /** The first ticket (or pending marker) the message's In-Reply-To/References point at. */
  private async threadTicket(headers: HeaderBlock): Promise<string | null> {
    const ids = referencedMessageIds(headers, this.config.threads.maxReferences);
    if (ids.length === 0) return null;
    const tickets = await this.redis.mget(ids.map((id) => this.keys.thread(id)));
    return tickets.find((t): t is string => typeof t === 'string' && t !== '') ?? null;
  }

  /**
   * Until the worker has opened the ticket and recorded the real reference (TicketIndex.recordPost
   * overwrites this), a reply to this message finds "pending:<key of the job opening it>". Live
   * mail only: replay has its own thread map. NX: a Message-ID already known keeps its ticket.
   */
  private async markPending(v: DoorVerdict, envelope: Envelope): Promise<void> {
    if (envelope.source !== 'smtp' || !this.config.threads.enabled || v.messageId === null) return;
    // The job that opens the ticket retries for retryPeriodHours at most.
    const pendingTtl = Math.max(60, Math.round(this.config.queue.retryPeriodHours * 3600));
    await this.redis.set(
      this.keys.thread(v.messageId),
      `${PENDING}${v.parentKey ?? v.idempotencyKey}`,
      'EX',
      pendingTtl,
      'NX',
    );
  }

  /** newTickets.perSenderMax: one sender may open so many tickets per window (SMTP mail only). */
  private async newTicketLimit(
    v: DoorVerdict,
    headers: HeaderBlock,
    envelope: Envelope,
    notes: Record<string, unknown>,
  ): Promise<DoorCheckOutcome> {
    const limits = this.config.newTickets;
    const sender = senderOf(headers, envelope.mailFrom);
    if (limits.perSenderMax === 0 || envelope.source !== 'smtp' || sender === null) return { verdict: v, notes };
    const key = this.keys.newTickets(sender);
    // Sent together, in this order, on the one connection (no pipeline object: auto-pipelining).
    const [, count] = await Promise.all([
      this.redis.set(key, '0', 'EX', limits.windowSeconds, 'NX'),
      this.redis.incr(key),
    ]);
    if (count <= limits.perSenderMax) return { verdict: v, notes };
    const detail = `${count} new tickets from ${sender} within ${limits.windowSeconds} s (limit ${limits.perSenderMax})`;
    const smtpReply: SmtpReply =
      limits.overLimit === 'drop' ? REPLY.accepted : REPLY.policyRefused(limits.overLimitText);
    return { verdict: { ...v, verdict: limits.overLimit, reason: 'new_ticket_limit', detail, smtpReply }, notes };
  }

  private async senderChecks(
    v: DoorVerdict,
    headers: HeaderBlock,
    envelope: Envelope,
    notes: Record<string, unknown>,
  ): Promise<DoorCheckOutcome> {
    const ticket = v.ticket!;
    const { policy } = this.config;
    const sender = senderOf(headers, envelope.mailFrom);
    const checkKnown = policy.knownSendersOnly && !(sender && trustedDomain(sender, this.config));
    // Replayed archives are exempt from the loop limit: their messages were not sent just now.
    const countRate = envelope.source === 'smtp' && sender !== null;
    if (checkKnown && sender === null)
      return { verdict: { ...noMatchVerdict(v, 'unknown_sender', this.config), detail: 'no sender address' }, notes };
    if (!checkKnown && !countRate) return { verdict: v, notes };

    // Sent together, in this order, on the one connection (no pipeline object: auto-pipelining).
    const calls: Promise<unknown>[] = [];
    if (checkKnown)
      calls.push(
        this.redis.sismember(this.keys.senders(ticket), sender!),
        this.redis.exists(this.keys.learned(ticket)),
      );
    if (countRate) {
      const key = this.keys.rate(sender, ticket);
      // SET NX EX then INCR: the window starts with the first message and the counter keeps its TTL.
      calls.push(this.redis.set(key, '0', 'EX', policy.loopRateLimitWindowSeconds, 'NX'), this.redis.incr(key));
    }
    const values = await Promise.all(calls);
    // Replies in the order sent: [SISMEMBER, EXISTS] when checkKnown, then [SET, INCR] when countRate.
    const rate = values.slice(checkKnown ? 2 : 0);

    if (checkKnown) {
      const [member, learned] = values;
      if (member !== 1) {
        // A ticket whose addresses were never learned is checked again by the worker, which reads it.
        if (learned === 1)
          return {
            verdict: { ...noMatchVerdict(v, 'unknown_sender', this.config), detail: `${sender} not seen on ${ticket}` },
            notes,
          };
        notes.senderCheck = 'deferred to the worker (ticket not learned yet)';
      }
    }
    if (countRate) {
      const count = Number(rate[1]);
      if (count > policy.loopRateLimitMax) {
        const detail = `${count} messages from ${sender} to ${ticket} within ${policy.loopRateLimitWindowSeconds} s (limit ${policy.loopRateLimitMax})`;
        if (policy.loopRateLimit === 'drop') {
          return {
            verdict: {
              ...v,
              verdict: 'drop',
              reason: 'loop_rate_limit',
              detail,
              smtpReply: REPLY.accepted,
            },
            notes,
          };
        }
        notes.rateLimit = `${detail}; posted (policy.loopRateLimit is post)`;
      }
    }
    return { verdict: v, notes };
  }
}
