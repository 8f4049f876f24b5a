// Keeps the replay process small on large archives. V8 collects garbage lazily: with the default
// limits it lets a busy heap and the Buffers it points to (read chunks, copies of messages) grow
// by a hundred MB or more before a full collection, although almost all of it is garbage after
// each message. A replay holds little for long, so a full collection when the heap and external
// memory have grown by a few MB since their lowest point keeps the peak near what is really used.
// `gc` is not exposed without --expose-gc; the flag can still be set at run time, and a new
// context then carries the function.
//
// A dry run drafts on this thread too, so its heap churns through the young generation all the
// time: measured as above, every refill of the young generation (16 MB then: V8's own size on
// Node 20's main thread) looked like growth and cost a full collection. There the governor leaves
// the young generation out of the measure (old generation + ArrayBuffer memory), and first frees
// dead Buffers (read chunks, messages, output: their bytes live outside the heap) with a
// young-generation collection, which is cheap because little survives it; a full one follows only
// when memory has grown all the same.
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type GcFunction = (options?: { type: 'minor' | 'major' }) => void;
let gcFunction: GcFunction | null | undefined;

function gc(): GcFunction | null {
  if (gcFunction === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const fn: unknown = runInNewContext('gc');
      gcFunction = typeof fn === 'function' ? (fn as GcFunction) : null;
    } catch {
      gcFunction = null;
    }
  }
  return gcFunction;
}

/**
 * Lets every heap of the process (this thread's and those of worker threads started afterwards)
 * grow by `percent` % of what survived the last full collection before V8 starts the next one,
 * instead of V8's own factor (up to 4x on a machine with plenty of memory: a heap with 50 MB in
 * use may reach 200 MB before a collection). V8 then collects early by itself, concurrently and
 * incrementally, which is far cheaper than the full collections a governor forces from outside.
 * Returns the function that puts V8's default back.
 */
export function tightHeapGrowth(percent: number): () => void {
  setFlagsFromString(`--heap-growing-percent=${Math.max(1, Math.round(percent))}`);
  return () => setFlagsFromString('--heap-growing-percent=0');
}

export interface GovernorOptions {
  /**
   * Measure the old generation and ArrayBuffer memory instead of heap + external memory, for a
   * thread that allocates fast: its young generation alone refills by more than growthBytes.
   */
  excludeYoung?: boolean;
  /** With excludeYoung: ArrayBuffer memory growth that triggers a young-generation collection first. */
  youngBytes?: number;
}

/** Bytes in use outside the young generation (old, code and large-object spaces). */
function oldGenerationUsed(): number {
  let used = 0;
  for (const s of getHeapSpaceStatistics())
    if (s.space_name !== 'new_space' && s.space_name !== 'new_large_object_space') used += s.space_used_size;
  return used;
}

export class MemoryGovernor {
  private timer: NodeJS.Timeout | null = null;
  private base = 0;
  private bufferBase = 0;

  /**
   * @param intervalMs how often to look
   * @param growthBytes growth since its lowest point that triggers a full collection
   */
  constructor(
    private readonly intervalMs = 250,
    private readonly growthBytes = 4 * 1024 * 1024,
    private readonly options: GovernorOptions = {},
  ) {}

  private used(): number {
    const m = process.memoryUsage();
    return this.options.excludeYoung ? oldGenerationUsed() + m.arrayBuffers : m.heapUsed + m.external;
  }

  start(): this {
    const collect = gc();
    if (!collect || this.timer) return this;
    this.base = this.used();
    this.bufferBase = process.memoryUsage().arrayBuffers;
    const youngBytes = this.options.excludeYoung ? (this.options.youngBytes ?? 0) : 0;
    this.timer = setInterval(() => {
      if (youngBytes > 0) {
        const buffers = process.memoryUsage().arrayBuffers;
        this.bufferBase = Math.min(this.bufferBase, buffers);
        if (buffers - this.bufferBase >= youngBytes) {
          collect({ type: 'minor' });
          this.bufferBase = process.memoryUsage().arrayBuffers;
        }
      }
      const used = this.used();
      // V8's own collections count too: growth is measured from the lowest point seen.
      this.base = Math.min(this.base, used);
      if (used - this.base < this.growthBytes) return;
      collect();
      this.base = this.used();
      this.bufferBase = process.memoryUsage().arrayBuffers;
    }, this.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
