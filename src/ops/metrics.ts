// Prometheus metrics, one registry per gateway so tests can run several in one process. Names and
// labels are part of the operator interface (README "What each metric means", the Grafana
// dashboard in ops/): rename nothing without updating both.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  /** outcome: accepted, rate_limited, concurrency_limited, refused_closing, closed_before_greeting. */
  smtpSessions: Counter<'outcome'>;
  /**
   * Commands refused and sessions cut: by the gateway (stage MAIL|RCPT|DATA|SESSION, reason
   * tls_required, shutting_down, recipient, too_many_refused, transaction_timeout, data_timeout)
   * and by smtp-server itself (intake/server-refusals.ts: stage COMMAND|RCPT|MAIL|AUTH|STARTTLS|
   * SESSION, reason unrecognized_command, syntax_error, bad_sequence, not_implemented, disabled,
   * too_many_recipients, too_large, internal_error, reply_<code>, idle_timeout, line_too_long,
   * too_many_unrecognized, shutting_down, http_request, closed).
   */
  smtpRefusals: Counter<'stage' | 'reason'>;
  doorVerdicts: Counter<'verdict' | 'reason'>;
  acceptLatency: Histogram<string>;
  rawBytesStored: Counter<string>;
  /** Door threads started again after one died (each death also means 451s for its messages). */
  doorThreadRestarts: Counter<string>;
  jobOutcomes: Counter<'outcome'>;
  /** outcome: posted, retry, failed. */
  jobDuration: Histogram<'outcome'>;
  ticketsCreated: Counter<'route'>;
  /** Attempts that will be tried again, by error kind (rate_limited, server, timeout, …). */
  jobRetries: Counter<'kind'>;
  queueJobs: Gauge<'state'>;
  queueOldestWaiting: Gauge<string>;
  /** method: add_attachment, post_update, ticket; status: HTTP status, 2xx, timeout, network. */
  sirportlyRequests: Counter<'method' | 'status'>;
  /** 1 while Sirportly accepts an account's credentials, 0 while it refuses them; by account. */
  sirportlyCredentialsOk: Gauge<'account'>;
  sirportlyLatency: Histogram<'method'>;
}

export function createMetrics(opts: { defaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaults !== false) collectDefaultMetrics({ register: registry, prefix: 'mailgate_' });
  const registers = [registry];
  return {
    registry,
    smtpSessions: new Counter({
      name: 'mailgate_smtp_sessions_total',
      help: 'SMTP connections, by outcome (accepted, rate_limited, concurrency_limited, refused_closing, closed_before_greeting: refused by maxClients or gone before the greeting)',
      labelNames: ['outcome'],
      registers,
    }),
    smtpRefusals: new Counter({
      name: 'mailgate_smtp_refused_total',
      help: "SMTP commands refused and sessions closed by a limit, by stage (MAIL, RCPT, DATA, SESSION; for smtp-server's own refusals also COMMAND, AUTH, STARTTLS) and reason (the gateway's: tls_required, shutting_down, recipient, too_many_refused, transaction_timeout, data_timeout; smtp-server's: unrecognized_command, syntax_error, bad_sequence, not_implemented, disabled, too_many_recipients, too_large, internal_error, idle_timeout, line_too_long, too_many_unrecognized, http_request, closed, reply_<code>); verdicts on messages are in mailgate_door_verdicts_total",
      labelNames: ['stage', 'reason'],
      registers,
    }),
    doorVerdicts: new Counter({
      name: 'mailgate_door_verdicts_total',
      help: 'Messages judged at the door, by verdict (queued, duplicate, dropped, rejected, tempfail, too_large) and reason',
      labelNames: ['verdict', 'reason'],
      registers,
    }),
    acceptLatency: new Histogram({
      name: 'mailgate_accept_seconds',
      help: 'End of DATA to reply: door verdict plus durable store',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    }),
    rawBytesStored: new Counter({
      name: 'mailgate_raw_bytes_stored_total',
      help: 'Bytes of raw mail written to Redis',
      registers,
    }),
    doorThreadRestarts: new Counter({
      name: 'mailgate_door_thread_restarts_total',
      help: 'Door threads started again after one died or could not start (its messages got 451)',
      registers,
    }),
    jobOutcomes: new Counter({
      name: 'mailgate_jobs_total',
      help: 'Update job attempt outcomes: posted, skipped, retry, failed',
      labelNames: ['outcome'],
      registers,
    }),
    jobDuration: new Histogram({
      name: 'mailgate_job_seconds',
      help: 'Time spent on one job attempt, by outcome (posted, retry, failed, waiting)',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    ticketsCreated: new Counter({
      name: 'mailgate_tickets_created_total',
      help: 'Tickets opened for mail without a reference (tickets/submit), by route',
      labelNames: ['route'],
      registers,
    }),
    jobRetries: new Counter({
      name: 'mailgate_job_retries_total',
      help: 'Job attempts that failed and will be retried, by error kind',
      labelNames: ['kind'],
      registers,
    }),
    queueJobs: new Gauge({
      name: 'mailgate_queue_jobs',
      help: 'Jobs in the update queue by state',
      labelNames: ['state'],
      registers,
    }),
    queueOldestWaiting: new Gauge({
      name: 'mailgate_queue_oldest_waiting_seconds',
      help: 'Age of the oldest job waiting for a worker (0 when none waits), from when it was accepted',
      registers,
    }),
    sirportlyRequests: new Counter({
      name: 'mailgate_sirportly_requests_total',
      help: 'Calls to the Sirportly API, by method (add_attachment, post_update, ticket, submit, spql) and status (HTTP status, 2xx, timeout, network)',
      labelNames: ['method', 'status'],
      registers,
    }),
    sirportlyCredentialsOk: new Gauge({
      name: 'mailgate_sirportly_credentials_ok',
      help: 'Whether Sirportly accepts the credentials of an account (1) or refuses them with 401/403 (0); jobs of a refused account wait',
      labelNames: ['account'],
      registers,
    }),
    sirportlyLatency: new Histogram({
      name: 'mailgate_sirportly_request_seconds',
      help: 'Duration of one Sirportly API call, by method, whatever its outcome',
      labelNames: ['method'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
  };
}
