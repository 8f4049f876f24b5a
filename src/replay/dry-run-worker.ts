// A worker thread of `replay --dry-run`: drafts the messages it is sent and answers with the
// JSON line of each. The main thread keeps the order.
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config.js';
import { dryRunOne, type DateFilter, type DryRunInput, type DryRunOutput } from './dry-run-task.js';

export interface WorkerInit {
  config: Config;
  filter: DateFilter;
}

export type WorkerReply = { ok: true; out: DryRunOutput } | { ok: false; seq: number; error: string };

const { config, filter } = workerData as WorkerInit;
const port = parentPort;
if (!port) throw new Error('dry-run-worker.js runs as a worker thread only');

port.on('message', (input: DryRunInput) => {
  dryRunOne(input, config, filter).then(
    (out) => port.postMessage({ ok: true, out } satisfies WorkerReply),
    (err: unknown) => port.postMessage({ ok: false, seq: input.seq, error: err instanceof Error ? err.message : String(err) } satisfies WorkerReply),
  );
});
