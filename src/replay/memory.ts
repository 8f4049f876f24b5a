// Keeps the replay process small on large archives. V8 collects garbage lazily: with the default
// limits it lets a busy heap and the Buffers it points to (read chunks, copies of messages) grow
// by a hundred MB or more before a full collection, although almost all of it is garbage after
// each message. A replay holds little for long, so a full collection when the heap and external
// memory have grown by a few MB since their lowest point keeps the peak near what is really used.
// `gc` is not exposed without --expose-gc; the flag can still be set at run time, and a new
// context then carries the function.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFunction: (() => void) | null | undefined;

function gc(): (() => void) | null {
  if (gcFunction === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const fn: unknown = runInNewContext('gc');
      gcFunction = typeof fn === 'function' ? (fn as () => void) : null;
    } catch {
      gcFunction = null;
    }
  }
  return gcFunction;
}


export class MemoryGovernor {
  private timer: NodeJS.Timeout | null = null;
  private base = 0;

  /**
   * @param intervalMs how often to look
   * @param growthBytes growth of heap + external memory since its lowest point that triggers a collection
   */
  constructor(
    private readonly intervalMs = 250,
    private readonly growthBytes = 4 * 1024 * 1024,
  ) {}

  private used(): number {
    const m = process.memoryUsage();
    return m.heapUsed + m.external;
  }

  start(): this {
    const collect = gc();
    if (!collect || this.timer) return this;
    this.base = this.used();
    this.timer = setInterval(() => {
      const used = this.used();
      // V8's own collections count too: growth is measured from the lowest point seen.
      this.base = Math.min(this.base, used);
      if (used - this.base < this.growthBytes) return;
      collect();
      this.base = this.used();
    }, this.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
