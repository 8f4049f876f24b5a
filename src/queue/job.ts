// The data of one queued update job. The raw message is NOT here (it lives under its own
// binary key); the job carries what the door decided plus the worker's checkpoints.
import { z } from 'zod';

export const uploadCheckpointSchema = z.object({
  sha256: z.string(),
  token: z.string(),
  expiresAt: z.string().nullable(),
});

export const jobDataSchema = z.object({
  key: z.string(),
  /** The reference to post to; null for mail that opens a new ticket (see checkpoint.created). */
  ticket: z.string().nullable(),
  /** The route the recipients chose; absent on jobs from before routes (the default route). */
  route: z.string().optional(),
  /** Replay: post to the ticket the job with this key opens (the first message of the thread). */
  parentKey: z.string().optional(),
  messageId: z.string().nullable(),
  subject: z.string(),
  reason: z.string(),
  envelope: z.object({
    mailFrom: z.string(),
    rcptTo: z.array(z.string()),
    receivedAt: z.string(),
    source: z.enum(['smtp', 'replay', 'inspect']),
    remoteAddress: z.string().optional(),
    // Optional: jobs queued before it was recorded have none (SPF then checks the IP alone).
    helo: z.string().optional(),
  }),
  size: z.number().int().nonnegative(),
  checkpoint: z
    .object({
      /** Attachment index → token already obtained for it. */
      uploads: z.record(z.string(), uploadCheckpointSchema).default({}),
      /** Set before the first post_update is sent: from then on a retry reads the ticket first. */
      postStarted: z.boolean().default(false),
      /** Set before tickets/submit is sent: from then on a retry looks for the ticket first. */
      submitStarted: z.boolean().default(false),
      /** When that submit was sent (ISO 8601): the lookup after it waits for a late commit. */
      submitStartedAt: z.string().nullable().default(null),
      /** Reference of the ticket this job opened (or found opened): never submitted again. */
      created: z.string().nullable().default(null),
      /** Since when (ISO 8601) the read-back after a lost answer cannot tell whether the post took effect. */
      unsureSince: z.string().nullish(),
    })
    .default({ uploads: {}, postStarted: false, submitStarted: false, submitStartedAt: null, created: null }),
});

export type JobData = z.infer<typeof jobDataSchema>;
export type UploadCheckpoint = z.infer<typeof uploadCheckpointSchema>;

export interface JobResult {
  updateId: number | null;
  /** The ticket posted to (for a create job, the one it opened). */
  ticket?: string;
  /** True when this job opened that ticket. */
  created?: boolean;
  /** Why nothing was posted although the job completed (e.g. 'unknown_sender'); absent when posted. */
  skipped?: string;
  /** True when the update was found already posted after an ambiguous failure. */
  recovered: boolean;
  attachments: number;
}
