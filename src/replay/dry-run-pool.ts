// Drafting is CPU work (MIME parse, HTML sanitising and conversion), so --dry-run spreads it over
// the cores, but one: V8's own compiler and garbage-collector threads keep about a core busy
// while drafting runs (measured on 2 cores, bench/replay: one drafting thread was as fast as two
// on 100 MB, 3 to 27 % slower on 1 GB, with 10 to 35 % less CPU and some 50 MB less memory). Worker
// threads draft, and the main thread, which reads, splits and prints (a small part of the work),
// drafts a message itself whenever every worker has its share queued. Results come back in any
// order; the caller keeps the input order. A worker's heap is capped so the process stays small; a
// message that does not fit in a worker (it died) is drafted again on the main thread, whose heap
// is not capped.
// From TypeScript sources (tests) there is no .js worker file: all work runs on the main thread.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Config } from '../config.js';
import { dryRunOne, type DateFilter, type DryRunInput, type DryRunOutput } from './dry-run-task.js';
import type { WorkerInit, WorkerReply } from './dry-run-worker.js';

interface Pending {
  input: DryRunInput;
  resolve(out: DryRunOutput): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  /** Bytes of the messages sent to it and not answered yet. */
  bytes: number;
  dead: boolean;
}

const WORKER_URL = new URL('./dry-run-worker.js', import.meta.url);
/**
 * Messages queued on one worker at most: it drafts them one after the other, so it never waits
 * for the main thread (which may be drafting a message of its own) to send the next one.
 */
const PER_WORKER = 8;
/** ... and their bytes at most (a single message is always sent, whatever its size). */
const PER_WORKER_BYTES = 4 * 1024 * 1024;
/** Messages the main thread drafts at a time. */
const PER_MAIN = 1;
/**
 * Heap caps of a worker thread (MB): enough for ordinary mail; larger work falls back to main.
 * How far the heap grows between collections is set for the whole run (see tightHeapGrowth).
 */
const WORKER_LIMITS = { maxOldGenerationSizeMb: 96, maxYoungGenerationSizeMb: 16 };
/** Workers replaced after dying, at most, before the pool carries on without them. */
const MAX_RESPAWNS = 8;

export class DryRunPool {
  private readonly slots: Slot[] = [];
  private mainBusy = 0;
  private respawns = 0;
  private closing = false;

  private constructor(
    private readonly config: Config,
    private readonly filter: DateFilter,
  ) {}

  /** threads: drafting threads in all, main thread included; 0 = one fewer than the cores, at least 1. */
  static create(config: Config, filter: DateFilter, threads: number): DryRunPool {
    const pool = new DryRunPool(config, filter);
    const n = threads > 0 ? threads : Math.max(1, availableParallelism() - 1);
    if (!existsSync(fileURLToPath(WORKER_URL))) return pool;
    for (let i = 1; i < n; i++) pool.spawn();
    return pool;
  }

  /** Drafting threads, the main thread included. */
  get threads(): number {
    return this.slots.length + 1;
  }

  private spawn(): void {
    const init: WorkerInit = { config: this.config, filter: this.filter };
    const worker = new Worker(WORKER_URL, { workerData: init, resourceLimits: WORKER_LIMITS });
    const slot: Slot = { worker, pending: new Map(), bytes: 0, dead: false };
    worker.on('message', (reply: WorkerReply) => {
      const seq = reply.ok ? reply.out.seq : reply.seq;
      const p = slot.pending.get(seq);
      if (!p) return;
      slot.pending.delete(seq);
      slot.bytes -= p.input.size;
      if (reply.ok) p.resolve(reply.out);
      else p.reject(new Error(reply.error));
    });
    const died = () => {
      if (slot.dead) return;
      slot.dead = true;
      this.slots.splice(this.slots.indexOf(slot), 1);
      // What it was drafting is drafted again here, without a heap cap.
      for (const p of slot.pending.values()) dryRunOne(p.input, this.config, this.filter).then(p.resolve, p.reject);
      slot.pending.clear();
      if (!this.closing && this.respawns < MAX_RESPAWNS) {
        this.respawns++;
        this.spawn();
      }
    };
    worker.on('error', died);
    worker.on('exit', died);
    this.slots.push(slot);
  }

  private hasShare(s: Slot): boolean {
    return s.pending.size === 0 || (s.pending.size < PER_WORKER && s.bytes < PER_WORKER_BYTES);
  }

  /** False while every thread has its share: wait for a result before sending more. */
  hasRoom(): boolean {
    return this.mainBusy < PER_MAIN || this.slots.some((s) => this.hasShare(s));
  }

  run(input: DryRunInput): Promise<DryRunOutput> {
    // Workers first, so the main thread stays free to read and print.
    let slot: Slot | null = null;
    for (const s of this.slots) if (this.hasShare(s) && (!slot || s.pending.size < slot.pending.size)) slot = s;
    if (!slot) {
      this.mainBusy++;
      return dryRunOne(input, this.config, this.filter).finally(() => this.mainBusy--);
    }
    const target = slot;
    return new Promise<DryRunOutput>((resolve, reject) => {
      target.pending.set(input.seq, { input, resolve, reject });
      target.bytes += input.size;
      if (input.raw === null) {
        target.worker.postMessage(input);
        return;
      }
      // The worker gets its own copy of the message, moved to it rather than serialised and
      // copied again (and a message split from a shared pool chunk does not drag the chunk
      // along); this thread keeps the message, to draft it again should the worker die.
      const copy = new Uint8Array(input.raw.byteLength);
      copy.set(input.raw);
      target.worker.postMessage({ ...input, raw: copy }, [copy.buffer]);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    const slots = this.slots.splice(0);
    for (const s of slots) s.dead = true;
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
