// A drafting thread (pool.ts): drafts one message at a time, for the worker's posting pipeline
// and `mailgate inspect` (draft) or for `replay --dry-run` (the whole inspect line), and answers
// with the result. The pool stops the thread when a message takes too long; its heap is capped at start.
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { GatewayError, type ErrorKind } from '../errors.js';
import { draft } from '../mail/draft/draft.js';
import type { Envelope } from '../mail/types.js';
import { dryRunOne, type DateFilter, type DryRunInput, type DryRunOutput } from '../replay/dry-run/dry-run-task.js';
import type { Draft } from '../mail/types.js';

export interface ThreadInit {
  config: Config;
}

export type ToThread =
  | { id: number; kind: 'draft'; raw: Uint8Array; envelope: Envelope; ticket: string }
  | { id: number; kind: 'dry-run'; input: DryRunInput; filter: DateFilter };

export type FromThread =
  | { id: number; ok: true; draft?: Draft; dryRun?: DryRunOutput }
  | { id: number; ok: false; message: string; kind?: ErrorKind }
  /** Sent once, when every module has loaded: a death before it is the build's fault, not a message's. */
  | { ready: true };

const { config } = workerData as ThreadInit;
const port = parentPort;
if (!port) throw new Error('drafting/thread-main.js runs as a worker thread only');

async function work(task: ToThread): Promise<FromThread> {
  if (task.kind === 'draft') {
    const raw = Buffer.from(task.raw.buffer, task.raw.byteOffset, task.raw.byteLength);
    return { id: task.id, ok: true, draft: await draft(raw, task.envelope, config, task.ticket) };
  }
  const input = task.input;
  return { id: task.id, ok: true, dryRun: await dryRunOne(input, config, task.filter) };
}

port.on('message', (task: ToThread) => {
  work(task).then(
    (reply) => port.postMessage(reply),
    (err: unknown) => {
      const reply: FromThread = { id: task.id, ok: false, message: err instanceof Error ? err.message : String(err) };
      if (err instanceof GatewayError) reply.kind = err.kind;
      port.postMessage(reply);
    },
  );
});
port.postMessage({ ready: true } satisfies FromThread);
