// Composition: builds the gateway's parts for a role, wires their dependencies, and stops them
// within bounded time without losing anything: the SMTP side (finish what was taken, answer 421
// to the rest) and the workers close at the same time, each within its own timeout.
import os from 'node:os';
import type { Redis } from 'ioredis';
import type { Config } from './config/schema.js';
import { settleWithin, within } from './deadline.js';
import { GatewayError } from './errors.js';
import type { Logger } from './log.js';
import { DoorChecks } from './intake/door-checks.js';
import { startDoorThread } from './intake/door-thread.js';
import { decide } from './intake/ingest.js';
import { startSmtp, type SmtpListener } from './intake/smtp.js';
import type { Envelope } from './mail/types.js';
import { oldestWaiting } from './admin/stats.js';
import { startHttp, type HttpEndpoint } from './ops/http.js';
import { instrumentSirportly } from './ops/instrumented-sirportly.js';
import { createMetrics, type Metrics } from './ops/metrics.js';
import { describeTarget, doorConnection, redisAnswers, waitReady, workerConnection } from './queue/connection.js';
import { DurabilityGuard, describePlan, durabilityOptions } from './queue/durability.js';
import { MessageStore, createQueue } from './queue/store.js';
import { startUpdateWorker, type UpdateWorker } from './worker/update-worker.js';
import { routeTable } from './mail/door/route.js';
import type { SirportlyApi } from './worker/process-job.js';
import { SirportlyClient } from './sirportly/client.js';
import { CredentialWatch, accountLabel } from './sirportly/credential-watch.js';

export type Role = 'all' | 'smtp' | 'worker';

export interface GatewayOptions {
  role?: Role;
  /** Sirportly API (tests may pass their own); built from config otherwise. */
  client?: SirportlyApi & { close?: () => Promise<void> };
  /** Collect Node's default process metrics (off in tests that run several gateways). */
  defaultMetrics?: boolean;
}

export interface Gateway {
  config: Config;
  metrics: Metrics;
  smtp: SmtpListener | null;
  http: HttpEndpoint;
  worker: UpdateWorker | null;
  store: MessageStore;
  redis: Redis;
  close(): Promise<void>;
}

/** A worker-only process yields the CPU to an SMTP door on the same host (queue.workerNiceness). */
function lowerPriority(niceness: number, log: Logger): void {
  try {
    // Never raise priority: only ever move towards nicer.
    if (os.getPriority() < niceness) os.setPriority(niceness);
  } catch (err) {
    log.warn({ err: (err as Error).message, niceness }, 'could not lower the worker process priority; going on');
  }
}

export async function startGateway(config: Config, log: Logger, opts: GatewayOptions = {}): Promise<Gateway> {
  const role = opts.role ?? 'all';
  const metrics = createMetrics({ defaults: opts.defaultMetrics ?? true });
  const redis = doorConnection(config.redis);
  redis.on('error', (err: Error) => log.warn({ err: err.message }, 'redis connection error'));
  const ready = await waitReady(redis, 2000);
  if (!ready)
    log.warn({ redis: describeTarget(config.redis) }, 'redis not reachable yet; SMTP answers 451 until it is');
  // Checked again on each reconnect (a failover may bring a primary that gives more or less).
  const durability =
    role === 'worker'
      ? undefined
      : new DurabilityGuard(redis, durabilityOptions(config.redis), (plan) => {
          if (plan instanceof GatewayError)
            log.error({ durability: config.redis.durability }, `${plan.message}; SMTP answers 451 until it can`);
          else
            log.info(
              {
                durability: plan.level,
                setting: config.redis.durability,
                fsync: plan.fsync ?? undefined,
                replicas: plan.replicas || undefined,
                means: describePlan(plan),
              },
              'redis durability',
            );
        });
  if (ready && durability) {
    const plan = await durability.check();
    if (plan instanceof GatewayError) {
      redis.disconnect();
      throw plan;
    }
  }

  // BullMQ loads its Lua scripts on the connection it is given, and every ioredis pipeline copies
  // the scripts of its connection: the door's own pipelines run on a connection without them.
  const queueConn = doorConnection(config.redis);
  queueConn.on('error', () => undefined);
  const queue = createQueue(config, queueConn);
  queue.on('error', (err: Error) => log.warn({ err: err.message }, 'queue error'));
  const store = new MessageStore(config, redis, queue, queueConn, durability);
  let shuttingDown = false;

  const door = new DoorChecks(config, redis);
  const doorThread =
    role !== 'worker' && config.smtp.doorThread
      ? await startDoorThread(config, log, { onRestart: () => metrics.doorThreadRestarts.inc() })
      : null;
  const decideHere = (raw: Buffer, envelope: Envelope) => decide(raw, envelope, { config, store, door });
  const smtp =
    role === 'worker'
      ? null
      : await startSmtp(config, {
          log,
          metrics,
          decide: doorThread ? (raw, envelope) => doorThread.decide(raw, envelope) : decideHere,
        });

  let worker: UpdateWorker | null = null;
  let credentials: CredentialWatch | null = null;
  let workerConn: Redis | null = null;
  let client = opts.client;
  const ownClients: SirportlyClient[] = [];
  const newClient = (account: { url: string; token: string; secret: string }): SirportlyClient => {
    const c = new SirportlyClient({
      ...account,
      requestTimeoutMs: config.sirportly.requestTimeoutMs,
      connections: config.sirportly.connections,
    });
    ownClients.push(c);
    return c;
  };
  if (role === 'worker' && config.queue.workerNiceness > 0) lowerPriority(config.queue.workerNiceness, log);
  if (role !== 'smtp') {
    client ??= newClient(config.sirportly);
    // One client per route with its own Sirportly account (its own sockets and credentials).
    const routeClients = new Map<string, SirportlyApi>();
    credentials = new CredentialWatch({ log, metrics, recheckMs: config.sirportly.credentialsRecheckSeconds * 1000 });
    credentials.add(accountLabel(null), client);
    for (const route of routeTable(config)) {
      if (!route.account) continue;
      const own = newClient(route.account);
      routeClients.set(route.name, instrumentSirportly(own, metrics));
      credentials.add(accountLabel(route), own);
    }
    // Not awaited: start-up does not wait on Sirportly; a refusal is logged when it is known.
    void credentials.start();
    workerConn = workerConnection(config.redis);
    workerConn.on('error', (err: Error) => log.debug({ err: err.message }, 'worker redis connection error'));
    worker = startUpdateWorker({
      config,
      connection: workerConn,
      redis: workerConn,
      client: instrumentSirportly(client, metrics),
      routeClients,
      queue,
      log,
      metrics,
      credentials,
    });
  }

  const http = await startHttp(config, {
    log,
    metrics,
    readiness: [
      { name: 'redis', check: () => redisAnswers(redis, 1000) },
      { name: 'smtp', check: () => smtp === null || smtp.listening() },
      { name: 'door_thread', check: () => doorThread === null || doorThread.running() },
      { name: 'not_shutting_down', check: () => !shuttingDown },
      // Named when failing, never a 503: refused credentials hold jobs back, not mail.
      {
        name: 'sirportly_credentials',
        advisory: true,
        check: () => credentials === null || credentials.failing().length === 0,
      },
    ],
    beforeMetrics: async () => {
      const [counts, oldest] = await within(
        Promise.all([
          queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized', 'waiting-children'),
          oldestWaiting({ queue, now: Date.now }),
        ]),
        1000,
        () => {
          throw new Error('timeout');
        },
      );
      for (const [state, n] of Object.entries(counts)) metrics.queueJobs.set({ state }, n);
      metrics.queueOldestWaiting.set(oldest?.ageSeconds ?? 0);
    },
    // Loaded only when wanted: bull-board is a large import that every other start can skip.
    admin: config.admin.enabled ? (await import('./ops/admin-board.js')).createAdminBoard(config, queue, log) : null,
  });

  log.info(
    {
      role,
      smtpPort: smtp?.port(),
      httpPort: http.port(),
      sirportly: config.sirportly.url,
      routes: routeTable(config).map(
        (r) => `${r.name}:${r.noReference}${r.account ? `@${new URL(r.account.url).host}` : ''}`,
      ),
      prefix: config.redis.prefix,
      admin: config.admin.enabled ? (config.admin.readOnly ? 'read-only' : 'read-write') : 'off',
      adminWhy: config.admin.why,
    },
    'mailgate started',
  );

  return {
    config,
    metrics,
    smtp,
    http,
    worker,
    store,
    redis,
    async close() {
      if (shuttingDown) return;
      shuttingDown = true;
      log.info(
        { smtpCloseTimeoutMs: config.smtp.closeTimeoutMs, queueCloseTimeoutMs: config.queue.closeTimeoutMs },
        'shutting down: new SMTP sessions get 421; finishing messages in flight',
      );
      // Both sides at once, each within its own time, whatever Redis or Sirportly are doing.
      const smtpSide = (async () => {
        const started = Date.now();
        await smtp?.close();
        await doorThread?.close(Math.max(100, config.smtp.closeTimeoutMs - (Date.now() - started)));
      })();
      const [smtpOutcome, workerOutcome] = await Promise.all([
        settleWithin(smtpSide, config.smtp.closeTimeoutMs),
        worker ? worker.close() : ('done' as const),
      ]);
      credentials?.close();
      // What is left only releases sockets: a short wait, then they are cut.
      await settleWithin(
        Promise.allSettled([queue.close(), ...ownClients.map((c) => c.close()), opts.client?.close?.()]),
        300,
      );
      // disconnect, not quit: QUIT would wait forever in the offline queue of a lost connection.
      redis.disconnect();
      queueConn.disconnect();
      workerConn?.disconnect();
      await settleWithin(http.close(), 200);
      if (smtpOutcome === 'done' && workerOutcome === 'done') log.info('shut down cleanly');
      else
        log.warn(
          { smtp: smtpOutcome, workers: workerOutcome },
          'shut down at the deadline; what was cut off is retried (by the sender, or by another worker)',
        );
    },
  };
}
