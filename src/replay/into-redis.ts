// `mailgate replay` into Redis: every message through the same ingest() as SMTP (door verdict,
// door checks, durable store), with back-pressure while the workers are behind. Its own module
// so that a dry run never loads BullMQ, ioredis or the door (replay.ts imports it only when needed).
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.js';
import { DoorChecks } from '../intake/door-checks.js';
import { ingest, type IngestOutcome } from '../intake/ingest.js';
import type { Logger } from '../log.js';
import { parseHeaders, type HeaderBlock } from '../mail/headers.js';
import type { DoorVerdict } from '../mail/types.js';
import { createMetrics } from '../ops/metrics.js';
import { describeTarget, doorConnection, waitReady } from '../queue/connection.js';
import type { JobData } from '../queue/job.js';
import { MessageStore, createQueue } from '../queue/store.js';
import { formatReply } from '../smtp-replies.js';
import { outsideDates, type DateFilter } from './dry-run/dry-run-task.js';
import { messageTime, replayEnvelope } from './archive/envelope.js';
import type { ReplayItem } from './archive/messages.js';
import type { ProgressBar } from './progress.js';
import type { Example, Summary } from './summary.js';
import { ArchiveThreads, threadFacts } from './conversations.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface QueueProbe {
  /** Jobs waiting for a worker: waiting + delayed + prioritized. */
  waiting: number;
  /** used_memory as a percentage of maxmemory, or null when Redis has no maxmemory. */
  memoryPercent: number | null;
}

export async function probeQueue(queue: Queue<JobData>, redis: Redis): Promise<QueueProbe> {
  const counts = await queue.getJobCounts('waiting', 'delayed', 'prioritized');
  const waiting = Object.values(counts).reduce((a, b) => a + b, 0);
  const info = await redis.info('memory');
  const used = Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0);
  const max = Number(/^maxmemory:(\d+)/m.exec(info)?.[1] ?? 0);
  return { waiting, memoryPercent: max > 0 ? (100 * used) / max : null };
}

/**
 * Pauses the reader while the queue is too full. Checked every `checkEvery` messages (or second),
 * so at most checkEvery + maxInFlight jobs are added past the limit; resumes below 80 % of it.
 */
export class BackPressure {
  readonly checkEvery: number;
  private sinceCheck = 0;
  private lastCheck = 0;

  constructor(
    private readonly probe: () => Promise<QueueProbe>,
    private readonly limits: { maxWaitingJobs: number; maxRedisMemoryPercent: number },
    private readonly onWait: (why: string | null) => void,
    private readonly pollMs = 500,
  ) {
    this.checkEvery = Math.max(1, Math.min(100, Math.floor(limits.maxWaitingJobs / 10)));
  }

  private over(p: QueueProbe, share: number): string | null {
    if (p.waiting >= this.limits.maxWaitingJobs * share) {
      return `paused: ${p.waiting.toLocaleString('en-US')} jobs wait for workers (limit ${this.limits.maxWaitingJobs}; is \`mailgate serve\` running?)`;
    }
    if (p.memoryPercent !== null && p.memoryPercent >= this.limits.maxRedisMemoryPercent * share) {
      return `paused: Redis uses ${p.memoryPercent.toFixed(0)} % of its maxmemory (limit ${this.limits.maxRedisMemoryPercent} %)`;
    }
    return null;
  }

  /** Resolves when reading may go on (or the signal is aborted). */
  async wait(signal?: AbortSignal): Promise<void> {
    this.sinceCheck++;
    if (this.sinceCheck < this.checkEvery && Date.now() - this.lastCheck < 1000) return;
    this.sinceCheck = 0;
    this.lastCheck = Date.now();
    const first = await this.probe().catch(() => null);
    if (!first || !this.over(first, 1)) return;
    this.onWait(this.over(first, 1));
    for (;;) {
      await sleep(this.pollMs);
      if (signal?.aborted) break;
      const p = await this.probe().catch(() => null);
      // Redis gone: go on, and let the store's own errors decide (retries, then a stop).
      if (!p) break;
      const why = this.over(p, 0.8);
      if (!why) break;
      this.onWait(why);
    }
    this.lastCheck = Date.now();
    this.onWait(null);
  }
}

function exampleOf(item: ReplayItem, o: IngestOutcome | null, subject: string | null, detail?: string): Example {
  const e: Example = {
    path: item.path,
    index: item.index,
    message_id: o?.verdict?.messageId ?? null,
    subject: o?.verdict?.subject ?? subject,
    ticket: o?.verdict?.ticket ?? null,
  };
  if (detail !== undefined) e.detail = detail;
  return e;
}

export async function intoRedis(
  messages: AsyncIterable<ReplayItem>,
  config: Config,
  log: Logger,
  filter: DateFilter,
  summary: Summary,
  progress: ProgressBar,
  signal: AbortSignal | undefined,
  interrupted: () => void,
): Promise<boolean> {
  const redisName = describeTarget(config.redis);
  const redis = doorConnection(config.redis);
  redis.on('error', (err: Error) => log.debug({ err: err.message }, 'redis connection error'));
  const queue = createQueue(config, redis);
  queue.on('error', (err: Error) => log.debug({ err: err.message }, 'queue error'));
  try {
    // A refused connection is the answer: the operator hears at once that Redis is not there.
    if (!(await waitReady(redis, 5000, { failOnError: true }))) {
      progress.done();
      progress.log(`mailgate: replay: Redis at ${redisName} is not reachable; nothing was replayed`);
      return false;
    }
    // The door's Redis checks too (thread lookup, known senders; the loop limit exempts replay),
    // so an archive meets exactly the rules live mail meets.
    const deps = {
      config,
      store: new MessageStore(config, redis, queue, redis),
      log,
      metrics: createMetrics({ defaults: false }),
      door: new DoorChecks(config, redis),
      // One ticket per thread: replies in the archive join the ticket its first message opens.
      threads: (v: DoorVerdict, headers: HeaderBlock, raw: Buffer) =>
        threads.claim(v, threadFacts(headers, raw)).verdict,
    };
    const threads = new ArchiveThreads();
    const { maxInFlight, tempfailAttempts, tempfailBackoffMs } = config.replay;
    let paused = false;
    const gate = new BackPressure(
      () => probeQueue(queue, redis),
      config.replay,
      (why) => {
        // Said once per pause (above the bar, or in the log), then shown short on the bar.
        if (why && !paused) {
          if (progress.enabled) progress.log(`mailgate: replay: ${why}`);
          else log.warn({ why }, 'replay paused');
        }
        paused = why !== null;
        progress.setStatus(paused ? 'paused' : '');
      },
    );

    const handle = async (item: ReplayItem): Promise<void> => {
      if (item.raw === null) {
        summary.record(
          'rejected',
          'too_large',
          exampleOf(item, null, null, `${item.size} bytes (limit ${config.smtp.maxMessageBytes})`),
        );
        return;
      }
      const headers = parseHeaders(item.raw);
      const envelope = replayEnvelope(
        item.raw,
        { fromLine: item.fromLine, deliveredAt: item.deliveredAt },
        new Date(),
        headers,
      );
      if (filter.since !== null || filter.until !== null) {
        const outside = outsideDates(messageTime(headers, envelope), filter);
        if (outside) {
          summary.record('skipped', outside, exampleOf(item, null, headers.get('subject') ?? null));
          return;
        }
      }
      let o: IngestOutcome | null = null;
      for (let attempt = 1; attempt <= tempfailAttempts; attempt++) {
        o = await ingest(item.raw, envelope, deps);
        if (o.outcome !== 'tempfail') break;
        if (summary.stopped) break;
        if (attempt < tempfailAttempts) await sleep(tempfailBackoffMs * 2 ** (attempt - 1));
      }
      const out = o!;
      switch (out.outcome) {
        case 'queued':
          summary.record('accepted', 'queued', exampleOf(item, out, null));
          break;
        case 'duplicate':
          summary.record('duplicate', 'duplicate', exampleOf(item, out, null));
          break;
        case 'dropped':
          summary.record('dropped', out.verdict?.reason ?? 'dropped', exampleOf(item, out, null));
          break;
        case 'rejected':
          summary.record(
            'rejected',
            out.verdict?.reason ?? 'rejected',
            exampleOf(item, out, null, `${out.reply.code} ${out.reply.enhanced}`),
          );
          break;
        case 'too_large':
          summary.record('rejected', 'too_large', exampleOf(item, out, null, `${item.raw.length} bytes`));
          break;
        case 'tempfail':
          summary.record('rejected', 'store_unavailable', exampleOf(item, out, null, formatReply(out.reply)));
          summary.stopped ??=
            `Redis did not take a message after ${tempfailAttempts} attempts (${formatReply(out.reply)}); ` +
            'the run stopped. Run the same command again to go on: what was already queued counts as duplicate.';
          break;
      }
      progress.update(summary.messages, summary.bytes);
    };

    const inFlight = new Set<Promise<void>>();
    for await (const item of messages) {
      if (summary.stopped) break;
      while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
      if (summary.stopped) break;
      await gate.wait(signal);
      if (signal?.aborted) {
        interrupted();
        break;
      }
      const p: Promise<void> = handle(item)
        .catch((err: unknown) => {
          summary.record(
            'rejected',
            'internal_error',
            exampleOf(item, null, null, err instanceof Error ? err.message : String(err)),
          );
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
    progress.update(summary.messages, summary.bytes, true);
    return true;
  } finally {
    await queue.close().catch(() => undefined);
    redis.disconnect();
  }
}
