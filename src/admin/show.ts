// One job as the operator needs to see it: the door's verdict, where it stands, what was done.
// Never the message itself: only `rawMessage` returns bytes, and only when asked (--raw).
import type { AdminContext } from './context.js';

export interface JobView {
  id: string;
  state: string;
  door: {
    verdict: 'post' | 'create';
    reason: string;
    ticket: string | null;
    route: string;
    messageId: string | null;
    idempotencyKey: string;
  };
  subject: string;
  envelope: { mailFrom: string; rcptTo: string[]; receivedAt: string; source: string; remoteAddress?: string };
  size: number;
  attempts: number;
  failedReason: string | null;
  queuedAt: string;
  processedAt: string | null;
  finishedAt: string | null;
  progress: { ticketSubmitStarted: boolean; attachmentsUploaded: number; postStarted: boolean };
  raw: { stored: boolean; bytes: number | null; expiresInSeconds: number | null };
}

const iso = (ms: number | undefined | null) => (ms ? new Date(ms).toISOString() : null);

export async function showJob(ctx: AdminContext, id: string): Promise<JobView | null> {
  const job = await ctx.queue.getJob(id);
  if (!job) return null;
  const data = job.data;
  const rawKey = ctx.keys.raw(data.key ?? id);
  const [state, bytes, ttl] = await Promise.all([job.getState(), ctx.redis.strlen(rawKey), ctx.redis.ttl(rawKey)]);
  return {
    id,
    state,
    door: {
      verdict: data.ticket === null || data.checkpoint?.created ? 'create' : 'post',
      reason: data.reason,
      // A create job shows the ticket once it has opened (or found) it.
      ticket: data.ticket ?? data.checkpoint?.created ?? null,
      route: data.route ?? 'default',
      messageId: data.messageId,
      idempotencyKey: data.key,
    },
    subject: data.subject,
    envelope: data.envelope,
    size: data.size,
    attempts: job.attemptsMade,
    failedReason: job.failedReason || null,
    queuedAt: new Date(job.timestamp).toISOString(),
    processedAt: iso(job.processedOn),
    finishedAt: iso(job.finishedOn),
    progress: {
      ticketSubmitStarted: data.checkpoint?.submitStarted ?? false,
      attachmentsUploaded: Object.keys(data.checkpoint?.uploads ?? {}).length,
      postStarted: data.checkpoint?.postStarted ?? false,
    },
    raw: { stored: bytes > 0, bytes: bytes > 0 ? bytes : null, expiresInSeconds: ttl > 0 ? ttl : null },
  };
}

/** The message as received, or null when the job is unknown or its bytes are gone. */
export async function rawMessage(ctx: AdminContext, id: string): Promise<Buffer | null> {
  const job = await ctx.queue.getJob(id);
  return ctx.redis.getBuffer(ctx.keys.raw(job?.data.key ?? id));
}
