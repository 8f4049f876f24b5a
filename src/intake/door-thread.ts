// The SMTP side of the door thread (door-thread-main.ts): hands each message's bytes over
// (transferred, not copied) and gets its decision back. SMTP sessions and the door's Redis work
// then share two cores instead of one event loop, which is what lets the gateway accept nearly
// as fast as a bare smtp-server (bench/smtp-intake). If the thread dies or does not answer in
// time, the message gets a 451 (the sender retries; a message stored meanwhile is then a
// duplicate, answered 250 without a second job) and a new thread is started.
import { Worker } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { settleWithin, within } from '../deadline.js';
import { replyFor } from '../errors.js';
import type { Logger } from '../log.js';
import type { Envelope } from '../mail/types.js';
import type { DoorThreadInit, FromDoorThread, ToDecide, ToDoorThread } from './door-thread-main.js';
import type { IngestDecision } from './ingest.js';
import { threadModule } from '../thread-module.js';

export interface DoorThread {
  decide(raw: Buffer, envelope: Envelope): Promise<IngestDecision>;
  /** Threads started after one died (0 while the first one lives). */
  restarts(): number;
  /** A thread is up and taking messages (false between a thread's death and its replacement). */
  running(): boolean;
  /**
   * Lets decisions in progress finish (they are awaited by SMTP first), then ends the thread;
   * one that has not ended within graceMs (its Redis away) is terminated.
   */
  close(graceMs?: number): Promise<void>;
}

function tempfail(err: string): IngestDecision {
  return {
    outcome: { outcome: 'tempfail', reply: replyFor('store_unavailable'), verdict: null, queueId: null },
    notes: { err, kind: 'door_thread' },
  };
}

/** An ArrayBuffer holding exactly these bytes, which can be transferred without harm to others. */
function ownBuffer(raw: Buffer): ArrayBuffer {
  if (raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength && raw.buffer instanceof ArrayBuffer)
    return raw.buffer;
  // A slice of Node's shared pool (small messages): transferring it would detach the pool.
  const copy = new ArrayBuffer(raw.byteLength);
  new Uint8Array(copy).set(raw);
  return copy;
}

const RESTART_DELAY_MS = 1000;
/**
 * The thread's young generation, MB. V8 sizes it for throughput when left alone (up to 64 MB
 * semi-spaces on Node 24), and under steady mail it grows to that and stays: RAM held for
 * garbage. The door keeps little alive between messages, so a small one costs no throughput.
 */
const YOUNG_GENERATION_MB = 8;
const START_TIMEOUT_MS = 15_000;

export interface DoorThreadOptions {
  /** The thread's module (tests give one that crashes or hangs on cue); door-thread-main otherwise. */
  url?: URL;
  /** Called each time a new thread is started after one died (for the metric). */
  onRestart?: () => void;
}

export async function startDoorThread(config: Config, log: Logger, opts: DoorThreadOptions = {}): Promise<DoorThread> {
  const entry = opts.url ? { url: opts.url } : threadModule(import.meta.url, 'door-thread-main');
  // The door checks and the store each have acceptTimeoutMs; past both the thread is stuck.
  const answerWithinMs = 2 * config.smtp.acceptTimeoutMs + 1000;
  /** Messages handed to the thread, by id: how to answer each. */
  const waiting = new Map<number, (d: IngestDecision) => void>();
  let nextId = 1;
  let live: Worker | null = null;
  let closing = false;
  let restarts = 0;

  const settle = (id: number, d: IngestDecision): void => {
    const resolve = waiting.get(id);
    if (!resolve) return; // answered late, after its timeout had already sent the 451
    waiting.delete(id);
    resolve(d);
  };

  const spawn = async (): Promise<void> => {
    const init: DoorThreadInit = { config };
    const worker = new Worker(entry.url, {
      workerData: init,
      execArgv: entry.execArgv,
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    let ready = false;
    const started = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: FromDoorThread) => {
        switch (m.type) {
          case 'ready':
            ready = true;
            live = worker;
            if (!m.redis) log.warn('door thread: redis not reachable yet; SMTP answers 451 until it is');
            resolve();
            break;
          case 'answers':
            for (const a of m.batch) {
              if ('decision' in a) {
                settle(a.id, a.decision);
              } else {
                log.error({ err: a.failed }, 'door thread: deciding a message failed');
                settle(a.id, tempfail(a.failed));
              }
            }
            break;
          case 'redis_error':
            // The SMTP side's own connection to the same Redis logs these at warn already.
            log.debug({ err: m.err }, 'door thread: redis connection error');
            break;
        }
      });
      worker.on('error', (err: Error) => log.error({ err: err.message }, 'door thread crashed'));
      worker.on('exit', (code) => {
        if (live === worker) live = null;
        // Every message this thread held gets its 451 now; none of them was answered 250.
        for (const id of [...waiting.keys()]) settle(id, tempfail(`door thread exited (code ${code})`));
        if (!ready) {
          reject(new Error(`door thread exited while starting (code ${code})`));
          return;
        }
        if (closing) return;
        log.error(
          { code, restartInMs: RESTART_DELAY_MS },
          'door thread exited; SMTP answers 451 until a new one is ready',
        );
        restartLater();
      });
    });
    return within(started, START_TIMEOUT_MS, () => {
      void worker.terminate();
      throw new Error(`door thread did not start within ${START_TIMEOUT_MS} ms`);
    });
  };

  const restartLater = (): void => {
    setTimeout(() => {
      if (closing) return;
      restarts++;
      opts.onRestart?.();
      spawn().catch((err: Error) => {
        log.error({ err: err.message }, 'door thread could not be restarted; trying again');
        restartLater();
      });
    }, RESTART_DELAY_MS).unref();
  };

  await spawn();

  let outbox: ToDecide[] = [];
  const flush = (): void => {
    const batch = outbox;
    outbox = [];
    const worker = live;
    if (!worker) {
      for (const item of batch) settle(item.id, tempfail('door thread not running'));
      return;
    }
    const msg: ToDoorThread = { type: 'ingest', batch };
    worker.postMessage(
      msg,
      batch.map((item) => item.raw),
    );
  };

  return {
    decide(raw, envelope) {
      if (!live || closing) return Promise.resolve(tempfail(closing ? 'shutting down' : 'door thread not running'));
      const id = nextId++;
      const answered = new Promise<IngestDecision>((resolve) => {
        waiting.set(id, resolve);
        if (outbox.length === 0) setImmediate(flush);
        outbox.push({ id, raw: ownBuffer(raw), envelope });
      });
      return within(answered, answerWithinMs, () => {
        waiting.delete(id);
        return tempfail(`door thread did not answer within ${answerWithinMs} ms`);
      });
    },
    restarts: () => restarts,
    running: () => live !== null && !closing,
    async close(graceMs = 5000) {
      if (closing) return;
      closing = true;
      const worker = live;
      if (!worker) return;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage({ type: 'close' } satisfies ToDoorThread);
      if ((await settleWithin(exited, graceMs)) === 'timeout') {
        void worker.terminate();
        await exited;
      }
    },
  };
}
