// Drafting (MIME parse, HTML sanitising, text conversion) runs here, in worker threads, never on
// the event loop that answers SMTP, HTTP and Redis: its cost grows with what a sender chose to
// write, far faster than the message's size for some inputs (deeply nested HTML). Each message has
// a hard deadline: past it the thread is terminated, however busy its own loop is, and a new one
// takes its place; a heap cap makes a memory blow-up end the thread, not the process. Either way
// the message's promise rejects with a draft_limit error naming the limit, and the pool goes on.
// The posting worker and `mailgate inspect` (draft), and `replay --dry-run` (the inspect line) use it.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { Draft, DraftAttachment, Envelope } from '../mail/types.js';
import type { DateFilter, DryRunInput, DryRunOutput } from '../replay/dry-run/dry-run-task.js';
import { threadModule, type ThreadModule } from '../thread-module.js';
import type { FromThread, ThreadInit, ToThread } from './thread-main.js';

/** A task as sent, without its id (given when it is handed to a thread). */
type Task = ToThread extends infer T ? (T extends ToThread ? Omit<T, 'id'> : never) : never;

interface Pending {
  task: Task;
  transfer: ArrayBuffer[];
  resolve(reply: Extract<FromThread, { ok: true }>): void;
  reject(err: Error): void;
}

interface Thread {
  worker: Worker;
  /** The task it is drafting, and the timer that stops it. */
  busy: { id: number; pending: Pending; timer: NodeJS.Timeout } | null;
  /** It came up (its modules loaded and it said so): a death after that is the message's doing. */
  online: boolean;
  /** Why it was stopped or died, once it was. */
  ended: Error | null;
}

export interface DraftPoolOptions {
  /** Drafting threads at most; 0 = one fewer than the CPU cores, at least 1. */
  threads: number;
  /** Per-message deadline, ms (queue.parseTimeoutMs). */
  deadlineMs: number;
  /** Old-generation heap of one thread, MB (draft.heapMb). */
  heapMb: number;
  /** The thread's module (tests); drafting/thread-main.js otherwise. */
  url?: URL;
}

/** An ArrayBuffer holding a copy of these bytes, to be moved to a thread. */
function ownCopy(raw: Uint8Array): ArrayBuffer {
  const copy = new ArrayBuffer(raw.byteLength);
  new Uint8Array(copy).set(raw);
  return copy;
}

/** Buffers again: attachment bytes arrive from a thread as plain Uint8Arrays. */
function revive(d: Draft): Draft {
  const attachments = d.attachments.map((a): DraftAttachment => ({
    ...a,
    content: Buffer.from(a.content.buffer, a.content.byteOffset, a.content.byteLength),
  }));
  return { ...d, attachments };
}

export class DraftPool {
  private readonly threads = new Set<Thread>();
  private readonly queue: Pending[] = [];
  private readonly module: ThreadModule;
  private readonly max: number;
  private nextId = 1;
  private closed = false;
  private stopped = 0;

  constructor(
    private readonly config: Config,
    private readonly opts: DraftPoolOptions,
  ) {
    this.module = opts.url ? { url: opts.url } : threadModule(import.meta.url, 'thread-main');
    this.max = opts.threads > 0 ? opts.threads : Math.max(1, availableParallelism() - 1);
  }

  /**
   * The pool of `mailgate serve`: draft.threads (0: one fewer than the cores, but at least two, so
   * that one message stuck until its deadline does not hold up the drafting of all other mail),
   * queue.parseTimeoutMs, draft.heapMb.
   */
  static forServe(config: Config): DraftPool {
    return DraftPool.withLimits(
      config,
      config.draft.threads > 0 ? config.draft.threads : Math.max(2, availableParallelism() - 1),
    );
  }

  /**
   * A pool with the drafting limits of `serve` (queue.parseTimeoutMs, draft.heapMb), for the
   * commands that draft (inspect, replay --dry-run); 0 threads = one fewer than the cores, at least 1.
   */
  static withLimits(config: Config, threads: number): DraftPool {
    return new DraftPool(config, { threads, deadlineMs: config.queue.parseTimeoutMs, heapMb: config.draft.heapMb });
  }

  /** Drafting threads at most. */
  get size(): number {
    return this.max;
  }

  /** Threads stopped or lost so far (deadline, heap, crash), each replaced. */
  get replaced(): number {
    return this.stopped;
  }

  /** Messages waiting for a free thread. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Fewer messages wait than there are threads: a feeder (replay) keeps each thread's next message
   * ready, so no thread waits for it. A deadline starts when its message is handed to a thread.
   */
  hasRoom(): boolean {
    return this.queue.length < this.max;
  }

  /** The update a message becomes, drafted in a thread. */
  async draft(raw: Buffer, envelope: Envelope, ticket: string): Promise<Draft> {
    const copy = ownCopy(raw);
    const reply = await this.submit({ kind: 'draft', raw: new Uint8Array(copy), envelope, ticket }, [copy]);
    if (!reply.draft) throw new Error('drafting thread answered without a draft');
    return revive(reply.draft);
  }

  /** One message of `replay --dry-run`, drafted in a thread. */
  async dryRun(input: DryRunInput, filter: DateFilter): Promise<DryRunOutput> {
    let task: Task = { kind: 'dry-run', input, filter };
    const transfer: ArrayBuffer[] = [];
    if (input.raw !== null) {
      // The thread gets its own copy, moved rather than copied again (and a message split from
      // a shared chunk of the archive does not drag the chunk along).
      const copy = ownCopy(input.raw);
      task = { kind: 'dry-run', input: { ...input, raw: new Uint8Array(copy) }, filter };
      transfer.push(copy);
    }
    const reply = await this.submit(task, transfer);
    if (!reply.dryRun) throw new Error('drafting thread answered without a dry-run line');
    return reply.dryRun;
  }

  private submit(task: Task, transfer: ArrayBuffer[]): Promise<Extract<FromThread, { ok: true }>> {
    if (this.closed) return Promise.reject(new Error('drafting pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ task, transfer, resolve, reject });
      this.pump();
    });
  }

  /** Hands waiting messages to free threads, starting threads up to the maximum. */
  private pump(): void {
    while (this.queue.length > 0 && !this.closed) {
      let free: Thread | null = null;
      for (const t of this.threads) {
        if (t.busy === null && t.ended === null) {
          free = t;
          break;
        }
      }
      if (!free) {
        if (this.threads.size >= this.max) return;
        free = this.spawn();
      }
      this.start(free, this.queue.shift()!);
    }
  }

  private start(t: Thread, pending: Pending): void {
    const id = this.nextId++;
    // The deadline runs on this thread's loop, which drafting never blocks.
    const timer = setTimeout(() => {
      this.stop(
        t,
        new GatewayError(
          'draft_limit',
          `drafting took longer than queue.parseTimeoutMs (${this.opts.deadlineMs} ms); the drafting thread was stopped`,
        ),
      );
    }, this.opts.deadlineMs);
    t.busy = { id, pending, timer };
    t.worker.postMessage({ ...pending.task, id }, pending.transfer);
  }

  private spawn(): Thread {
    const init: ThreadInit = { config: this.config };
    const worker = new Worker(this.module.url, {
      workerData: init,
      execArgv: this.module.execArgv,
      resourceLimits: {
        maxOldGenerationSizeMb: this.opts.heapMb,
        // Small: a young generation grown for one large message stays grown for every later one
        // (RAM held for garbage in each thread), and drafting keeps little alive for long.
        maxYoungGenerationSizeMb: Math.min(8, Math.max(4, Math.round(this.opts.heapMb / 8))),
      },
    });
    const t: Thread = { worker, busy: null, online: false, ended: null };
    this.threads.add(t);
    worker.on('message', (reply: FromThread) => {
      if ('ready' in reply) {
        t.online = true;
        return;
      }
      const busy = t.busy;
      if (!busy || busy.id !== reply.id) return;
      clearTimeout(busy.timer);
      t.busy = null;
      if (reply.ok) busy.pending.resolve(reply);
      else busy.pending.reject(reply.kind ? new GatewayError(reply.kind, reply.message) : new Error(reply.message));
      this.pump();
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (t.ended) return;
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        t.ended = new GatewayError(
          'draft_limit',
          `drafting ran out of memory (draft.heapMb ${this.opts.heapMb} MB); the drafting thread was stopped`,
        );
      } else if (t.online) {
        t.ended = new GatewayError('draft_limit', `the drafting thread died: ${err.message}`);
      } else {
        // It never came up: the build or the install is at fault, not the message.
        t.ended = new Error(`drafting thread could not start: ${err.message}`);
      }
    });
    worker.on('exit', (code) =>
      this.lost(
        t,
        t.ended ??
          (t.online
            ? new GatewayError('draft_limit', `the drafting thread exited (code ${code})`)
            : new Error(`drafting thread could not start (exit code ${code})`)),
      ),
    );
    return t;
  }

  /** Terminates a thread that overran its deadline and starts another for the next message. */
  private stop(t: Thread, why: Error): void {
    if (t.ended) return;
    t.ended = why;
    this.threads.delete(t);
    this.stopped++;
    // Failed now, not when the thread has wound down: the caller learns at the deadline.
    this.fail(t, why);
    void t.worker.terminate();
    this.pump();
  }

  private fail(t: Thread, why: Error): void {
    const busy = t.busy;
    if (!busy) return;
    clearTimeout(busy.timer);
    t.busy = null;
    busy.pending.reject(why);
  }

  private lost(t: Thread, why: Error): void {
    if (!this.threads.delete(t)) return;
    this.fail(t, why);
    if (this.closed) return;
    if (t.online) this.stopped++;
    // A thread that could not even start fails the messages waiting rather than being started
    // again and again; the next message tries a new one.
    if (!t.online) {
      for (const p of this.queue.splice(0)) p.reject(why);
      return;
    }
    this.pump();
  }

  /** Stops every thread; messages waiting or in progress fail (their jobs are tried again). */
  async close(): Promise<void> {
    this.closed = true;
    const why = new Error('drafting pool closed');
    for (const p of this.queue.splice(0)) p.reject(why);
    const threads = [...this.threads];
    this.threads.clear();
    for (const t of threads) this.fail(t, why);
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }
}
