// The door thread: decide() for SMTP messages on a second core, with Redis connections of its
// own. The SMTP thread keeps the sessions, the log line and the metrics; this thread parses
// headers, runs the door's Redis checks and stores raw message and job. It answers each
// message with plain data; anything it cannot answer the SMTP side turns into a 451.
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { DoorChecks } from './door-checks.js';
import type { Envelope } from '../mail/types.js';
import { doorConnection, waitReady } from '../queue/connection.js';
import { DurabilityGuard, durabilityOptions } from '../queue/durability.js';
import { MessageStore, createQueue } from '../queue/store.js';
import { decide, type IngestDecision } from './ingest.js';

export interface DoorThreadInit {
  config: Config;
}

export interface ToDecide {
  id: number;
  raw: ArrayBuffer;
  envelope: Envelope;
}

export type Answer = { id: number; decision: IngestDecision } | { id: number; failed: string };

// Messages travel in batches, one per event-loop turn on each side: under load many sessions end
// their DATA in one turn, and each postMessage costs a wake-up of the other thread.
export type ToDoorThread = { type: 'ingest'; batch: ToDecide[] } | { type: 'close' };

export type FromDoorThread =
  { type: 'ready'; redis: boolean } | { type: 'answers'; batch: Answer[] } | { type: 'redis_error'; err: string };

const port = parentPort;
if (!port) throw new Error('door-thread-main runs only as a worker thread');
const { config } = workerData as DoorThreadInit;
const send = (m: FromDoorThread): void => port.postMessage(m);

// Reported once per distinct message until the connection is back: a Redis that is away would
// otherwise produce a line per reconnect attempt on both connections.
let lastError = '';
const onRedisError = (err: Error): void => {
  if (err.message === lastError) return;
  lastError = err.message;
  send({ type: 'redis_error', err: err.message });
};
const redis = doorConnection(config.redis);
redis.on('error', onRedisError);
redis.on('ready', () => {
  lastError = '';
});
// BullMQ loads its Lua scripts on the connection it is given, and every ioredis pipeline copies
// the scripts of its connection: the door's own pipelines run on a connection without them.
const queueConn = doorConnection(config.redis);
queueConn.on('error', onRedisError);
const queue = createQueue(config, queueConn);
queue.on('error', (err: Error) => onRedisError(err));
// The SMTP side checked the level at start and logs its changes; this thread follows the same server.
const durability = new DurabilityGuard(redis, durabilityOptions(config.redis));
const deps = {
  config,
  store: new MessageStore(config, redis, queue, queueConn, durability),
  door: new DoorChecks(config, redis),
};

port.on('message', (m: ToDoorThread) => {
  if (m.type === 'close') {
    void queue
      .close()
      .catch(() => undefined)
      .finally(() => {
        redis.disconnect();
        queueConn.disconnect();
        port.close();
      });
    return;
  }
  for (const item of m.batch) {
    decide(Buffer.from(item.raw), item.envelope, deps).then(
      (decision) => answer({ id: item.id, decision }),
      (err: unknown) => answer({ id: item.id, failed: (err as Error).message }),
    );
  }
});

let answers: Answer[] = [];
function answer(a: Answer): void {
  if (answers.length === 0) setImmediate(flush);
  answers.push(a);
}
function flush(): void {
  const batch = answers;
  answers = [];
  try {
    send({ type: 'answers', batch });
  } catch (err) {
    // A decision that cannot be cloned: those messages get a 451, the thread lives on.
    send({
      type: 'answers',
      batch: batch.map((a) => ({ id: a.id, failed: `answer not sent: ${(err as Error).message}` })),
    });
  }
}

const redisReady = await waitReady(redis, 2000);
if (redisReady) await durability.check();
send({ type: 'ready', redis: redisReady });
