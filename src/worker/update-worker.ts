// src/worker runs each accepted message to Sirportly: this file is the BullMQ side, process-job.ts
// the pipeline of one job (draft, uploads, post), retry-or-fail.ts what becomes of a failed attempt.
//
// BullMQ wiring for the update jobs: concurrency, backoff, outcome logging, retention of the
// raw bytes, and a close() that cannot hang shutdown.
import { DelayedError, UnrecoverableError, Worker, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.js';
import { DraftPool } from '../drafting/pool.js';
import { settleWithin } from '../deadline.js';
import { GatewayError } from '../errors.js';
import { routeNamed } from '../mail/door/route.js';
import { accountLabel, type CredentialWatch } from '../sirportly/credential-watch.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { jobDataSchema, type JobData, type JobResult } from '../queue/job.js';
import { QUEUE_NAME, keys } from '../queue/keys.js';
import { parkFailed, parkUnrecordedFailed } from '../queue/parked.js';
import { processUpdateJob, type SirportlyApi } from './process-job.js';
import { backoffDelay, classifyFailure } from './retry-or-fail.js';
import { WaitError } from './update-job.js';

export interface UpdateWorkerDeps {
  config: Config;
  /** Connection for BullMQ's blocking commands (maxRetriesPerRequest: null). */
  connection: Redis;
  /** Connection for the raw bytes and retention. */
  redis: Redis;
  client: SirportlyApi;
  /** Clients of routes with their own Sirportly account, by route name. */
  routeClients?: ReadonlyMap<string, SirportlyApi>;
  /** The queue, to read the state of the job a replayed reply waits for. */
  queue?: Pick<Queue<JobData>, 'getJobState'>;
  log: Logger;
  metrics: Metrics;
  /** Whether Sirportly takes each account's credentials; jobs of a refused account wait. */
  credentials?: CredentialWatch;
}

export interface UpdateWorker {
  worker: Worker<JobData, JobResult>;
  /** Within queue.closeTimeoutMs: 'timeout' when running jobs were cut off. */
  close(): Promise<'done' | 'timeout'>;
}

export function startUpdateWorker(deps: UpdateWorkerDeps): UpdateWorker {
  const { config, connection, redis, client, routeClients, queue, log, metrics, credentials } = deps;
  const jobState = queue ? (id: string) => queue.getJobState(id) : undefined;
  const k = keys(config.redis.prefix);
  // Drafting runs in threads that can be stopped, never on this event loop (see drafting/pool.ts).
  const pool = DraftPool.forServe(config);
  const drafter = (raw: Buffer, envelope: JobData['envelope'], ticket: string) => pool.draft(raw, envelope, ticket);

  const processor = async (job: Job<JobData, JobResult>, token?: string): Promise<JobResult> => {
    const parsed = jobDataSchema.safeParse(job.data);
    const jobLog = log.child({ queueId: job.id, ticket: job.data?.ticket });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const err = new GatewayError(
        'bad_job',
        `job data invalid: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unknown'}`,
      );
      throw classifyFailure(err, job, config, Date.now());
    }
    const started = Date.now();
    let outcome: 'posted' | 'retry' | 'failed' | 'waiting' = 'posted';
    const account = accountLabel(routeNamed(config, parsed.data.route));
    // Back to delayed without using an attempt: waiting is not failing.
    const wait = async (delayMs: number, why: string): Promise<never> => {
      outcome = 'waiting';
      jobLog.debug({ delayMs }, why);
      await job.moveToDelayed(Date.now() + delayMs, token);
      throw new DelayedError();
    };
    try {
      if (credentials?.refused(account) && token !== undefined) {
        await wait(credentials.recheckMs, `Sirportly refuses the credentials of account ${account}: waiting`);
      }
      return await processUpdateJob(
        {
          id: job.id,
          data: parsed.data,
          timestamp: job.timestamp,
          attemptsMade: job.attemptsMade,
          updateData: (d) => job.updateData(d),
        },
        { config, redis, client, routeClients, jobState, log: jobLog, drafter },
      );
    } catch (err) {
      if (err instanceof DelayedError) throw err;
      if (err instanceof WaitError && token !== undefined) await wait(err.delayMs, err.message);
      // A 401/403: if the credentials themselves are refused, the job waits for them to be fixed;
      // if they are accepted, the token lacks this one method and the job fails, naming it.
      if (err instanceof GatewayError && err.kind === 'auth' && credentials && token !== undefined) {
        if ((await credentials.recheck(account)) === 'refused')
          await wait(credentials.recheckMs, `Sirportly refuses the credentials of account ${account}: waiting`);
      }
      const failure = classifyFailure(err, job, config, Date.now());
      outcome = failure instanceof UnrecoverableError ? 'failed' : 'retry';
      throw failure;
    } finally {
      metrics.jobDuration.observe({ outcome }, (Date.now() - started) / 1000);
    }
  };

  // HTTP timeouts are far below the default lock, so a job is never taken for stalled while it waits.
  const lockDuration =
    config.queue.lockDurationMs > 0
      ? config.queue.lockDurationMs
      : Math.max(60_000, config.sirportly.requestTimeoutMs * 4);
  const worker = new Worker<JobData, JobResult>(QUEUE_NAME, processor, {
    connection,
    prefix: k.bullPrefix,
    concurrency: config.queue.concurrency,
    lockDuration,
    // A crashed worker's jobs are found as soon as their lock can have lapsed, not up to 30 s later.
    stalledInterval: Math.min(30_000, Math.max(500, Math.round(lockDuration / 2))),
    settings: { backoffStrategy: (attemptsMade, _type, err) => backoffDelay(attemptsMade, err, config) },
    autorun: true,
  });

  worker.on('completed', (job, result) => {
    if (result.skipped) {
      // Not posted on purpose (e.g. the known-sender rule): counted and logged as what it is.
      metrics.jobOutcomes.inc({ outcome: 'skipped' });
      log.info(
        { queueId: job.id, ticket: job.data.ticket, reason: result.skipped, attempts: job.attemptsMade },
        'job skipped',
      );
    } else {
      metrics.jobOutcomes.inc({ outcome: 'posted' });
      if (result.created) metrics.ticketsCreated.inc({ route: job.data.route ?? 'default' });
      log.info(
        {
          queueId: job.id,
          ticket: result.ticket ?? job.data.ticket,
          created: result.created || undefined,
          updateId: result.updateId,
          recovered: result.recovered,
          attachments: result.attachments,
          attempts: job.attemptsMade,
        },
        'job posted',
      );
    }
    const retentionSeconds = Math.round(config.queue.rawRetentionHours * 3600);
    const rawKey = k.raw(job.data.key);
    const done = retentionSeconds > 0 ? redis.expire(rawKey, retentionSeconds) : redis.del(rawKey);
    done.catch((err: Error) =>
      log.warn({ queueId: job.id, err: err.message }, 'could not set retention of raw message'),
    );
  });
  worker.on('failed', (job, err) => {
    if (!job) return;
    const final = job.finishedOn !== undefined && job.finishedOn !== null;
    if (final) {
      metrics.jobOutcomes.inc({ outcome: 'failed' });
      log.error(
        { queueId: job.id, ticket: job.data.ticket, reason: err.message, attempts: job.attemptsMade },
        'job failed',
      );
      // Its raw bytes now expire (queue.failedRetentionDays) and it counts against its sender's cap.
      parkFailed(redis, config, job.data).catch((e: Error) =>
        log.warn({ queueId: job.id, err: e.message }, 'could not record the failed job for retention'),
      );
    } else {
      metrics.jobOutcomes.inc({ outcome: 'retry' });
      metrics.jobRetries.inc({ kind: err instanceof GatewayError ? err.kind : 'other' });
      log.warn(
        { queueId: job.id, ticket: job.data.ticket, reason: err.message, attempts: job.attemptsMade },
        'job will be retried',
      );
    }
  });
  worker.on('error', (err) => log.error({ err: err.message }, 'worker error'));
  parkUnrecordedFailed(redis, config).then(
    (n) =>
      n > 0 &&
      log.info(
        { jobs: n, days: config.queue.failedRetentionDays },
        'failed jobs without a retention of their raw bytes given one',
      ),
    (err: Error) => log.warn({ err: err.message }, 'could not give failed jobs their retention'),
  );

  return {
    worker,
    async close() {
      const outcome = await settleWithin(worker.close(), config.queue.closeTimeoutMs);
      if (outcome === 'timeout') {
        // A close already begun cannot be forced, and with Redis away it waits forever: cutting
        // the sockets ends it. Jobs still running keep their lock until it lapses; another worker
        // then takes them over and reads the ticket before posting, so nothing is lost or doubled.
        log.warn({ afterMs: config.queue.closeTimeoutMs }, 'worker did not finish in time; disconnecting');
        worker.disconnect().catch(() => undefined);
      }
      // Drafting threads end at once when terminated; bounded all the same.
      await settleWithin(pool.close(), 1000);
      return outcome;
    },
  };
}
