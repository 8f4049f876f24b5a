// A worker thread of `replay --dry-run`: drafts the messages it is sent, one after the other in
// the order they came, and answers with the JSON line of each. The main thread keeps the order.
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

// One message at a time: a draft runs to its end before the next starts, so this heap holds one
// message's parse at a time (mailparser yields between parts: drafts started together would
// interleave, all stay alive longer and more of them would reach the old generation). The main
// thread keeps a few messages queued here, so the thread never waits for the next one.
const queue: DryRunInput[] = [];
let busy = false;

async function drain(p: NonNullable<typeof port>): Promise<void> {
  busy = true;
  for (let input = queue.shift(); input !== undefined; input = queue.shift()) {
    let reply: WorkerReply;
    try {
      reply = { ok: true, out: await dryRunOne(input, config, filter) };
    } catch (err) {
      reply = { ok: false, seq: input.seq, error: err instanceof Error ? err.message : String(err) };
    }
    p.postMessage(reply);
  }
  busy = false;
}

port.on('message', (input: DryRunInput) => {
  queue.push(input);
  if (!busy) void drain(port);
});
