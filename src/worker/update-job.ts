// What the stages of an update job share: the job as the processor sees it, what it is given to
// work with, and the error that puts it back for a while.
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { DnsResolver } from '../mail/auth/resolver.js';
import type { Draft } from '../mail/types.js';
import type { SirportlyApi } from '../sirportly/client.js';
import type { JobData } from '../queue/job.js';

/** Thrown to put a job back for a while without counting an attempt (see update-worker.ts). */
export class WaitError extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
  }
}

/** BullMQ job states as Queue.getJobState names them ('unknown' when there is no such job). */
export type JobStateName = string;

/** The part of a BullMQ job the processor uses (narrow, so tests can drive it directly). */
export interface UpdateJob {
  id?: string;
  data: JobData;
  timestamp: number;
  attemptsMade: number;
  updateData(data: JobData): Promise<void>;
}

export interface ProcessDeps {
  config: Config;
  redis: Redis;
  /** The main Sirportly account (routes without their own). */
  client: SirportlyApi;
  /** Clients of routes with their own account, by route name. */
  routeClients?: ReadonlyMap<string, SirportlyApi>;
  /** State of another job (replay threads wait for the job that opens their ticket). */
  jobState?: (id: string) => Promise<JobStateName>;
  log: Logger;
  now?: () => number;
  /** DNS for SPF/DKIM/DMARC; the system resolver (bounded by auth.dnsTimeoutMs) when absent. */
  resolver?: DnsResolver;
  /** Drafts the update off this event loop (the drafting pool); draft() in-process when absent. */
  drafter?: Drafter;
}

export type Drafter = (raw: Buffer, envelope: JobData['envelope'], ticket: string) => Promise<Draft>;
