// A first set of Prometheus metrics, one registry per gateway so tests can run several.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  smtpSessions: Counter<'outcome'>;
  doorVerdicts: Counter<'verdict' | 'reason'>;
  acceptLatency: Histogram<string>;
  rawBytesStored: Counter<string>;
  jobOutcomes: Counter<'outcome'>;
  jobDuration: Histogram<string>;
  queueJobs: Gauge<'state'>;
}

export function createMetrics(opts: { defaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaults !== false) collectDefaultMetrics({ register: registry, prefix: 'mailgate_' });
  return {
    registry,
    smtpSessions: new Counter({ name: 'mailgate_smtp_sessions_total', help: 'SMTP connections accepted', labelNames: ['outcome'], registers: [registry] }),
    doorVerdicts: new Counter({
      name: 'mailgate_door_verdicts_total',
      help: 'Messages judged at the door, by verdict (post, drop, reject, duplicate, tempfail, too_large) and reason',
      labelNames: ['verdict', 'reason'],
      registers: [registry],
    }),
    acceptLatency: new Histogram({
      name: 'mailgate_accept_seconds',
      help: 'End of DATA to reply: door verdict plus durable store',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
    rawBytesStored: new Counter({ name: 'mailgate_raw_bytes_stored_total', help: 'Bytes of raw mail written to Redis', registers: [registry] }),
    jobOutcomes: new Counter({
      name: 'mailgate_jobs_total',
      help: 'Update job outcomes: posted, retry, failed',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    jobDuration: new Histogram({
      name: 'mailgate_job_seconds',
      help: 'Time spent on one job attempt',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    queueJobs: new Gauge({ name: 'mailgate_queue_jobs', help: 'Jobs in the update queue by state', labelNames: ['state'], registers: [registry] }),
  };
}
