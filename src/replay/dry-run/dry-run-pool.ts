// src/replay/dry-run is `replay --dry-run`: each message drafted as `inspect` would show it.
//
// Drafting for `replay --dry-run`: the gateway's drafting pool (drafting/pool.ts), with the
// thread count of replay.dryRunThreads. The main thread reads, splits and prints (a small part of
// the work) and drafts nothing itself, so a message that would run for minutes or blow up its
// heap is stopped at queue.parseTimeoutMs or draft.heapMb like in `serve`: its line says so
// (reason draft_limit) and the run goes on. Results come back in any order; the caller keeps the
// input order. 0 threads = one fewer than the cores, at least 1: V8's own compiler and
// garbage-collector threads keep about a core busy while drafting runs.
import type { Config } from '../../config/schema.js';
import { DraftPool } from '../../drafting/pool.js';
import { GatewayError } from '../../errors.js';
import { undraftable, type DateFilter, type DryRunInput, type DryRunOutput } from './dry-run-task.js';

export class DryRunPool {
  private constructor(
    private readonly pool: DraftPool,
    private readonly filter: DateFilter,
  ) {}

  static create(config: Config, filter: DateFilter, threads: number): DryRunPool {
    return new DryRunPool(DraftPool.withLimits(config, threads), filter);
  }

  /** Drafting threads. */
  get threads(): number {
    return this.pool.size;
  }

  /** False while every thread is busy: wait for a result before sending more. */
  hasRoom(): boolean {
    return this.pool.hasRoom();
  }

  async run(input: DryRunInput): Promise<DryRunOutput> {
    try {
      return await this.pool.dryRun(input, this.filter);
    } catch (err) {
      if (err instanceof GatewayError && err.kind === 'draft_limit')
        return undraftable(input, 'draft_limit', err.message);
      throw err;
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
