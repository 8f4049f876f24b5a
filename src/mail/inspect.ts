// `mailgate inspect` and `replay --dry-run`: what the gateway would do with one message, built
// from the very functions the door and the worker run, so the answer cannot drift from reality.
import type { Config } from '../config.js';
import { formatReply } from '../errors.js';
import { draft } from './draft.js';
import type { Envelope, UpdateFields, VerdictKind } from './types.js';
import { doorVerdict } from './verdict.js';

export interface InspectAttachment {
  filename: string;
  content_type: string;
  size: number;
  sha256: string;
}

export interface InspectResult {
  verdict: VerdictKind;
  reason: string;
  smtp_reply: string;
  message_id: string | null;
  idempotency_key: string;
  update: {
    ticket: string;
    subject: string;
    message: string;
    html_body: string | null;
    html_safe: '1' | null;
    author_name: string | null;
    author_email: string | null;
    posted_at: string;
  } | null;
  attachments: InspectAttachment[];
  warnings: string[];
}

function updateView(u: UpdateFields): NonNullable<InspectResult['update']> {
  // Every key present (null when not sent) so the JSON shape is the same for every message.
  return {
    ticket: u.ticket,
    subject: u.subject,
    message: u.message,
    html_body: u.html_body ?? null,
    html_safe: u.html_safe ?? null,
    author_name: u.author_name ?? null,
    author_email: u.author_email ?? null,
    posted_at: u.posted_at,
  };
}

export async function inspectMessage(raw: Buffer, envelope: Envelope, config: Config): Promise<InspectResult> {
  const v = doorVerdict(raw, envelope, config);
  const result: InspectResult = {
    verdict: v.verdict,
    reason: v.reason,
    smtp_reply: formatReply(v.smtpReply),
    message_id: v.messageId,
    idempotency_key: v.idempotencyKey,
    update: null,
    attachments: [],
    warnings: [],
  };
  if (v.verdict !== 'post' || v.ticket === null) return result;
  const d = await draft(raw, envelope, config, v.ticket);
  result.update = updateView(d.update);
  result.attachments = d.attachments.map((a) => ({ filename: a.filename, content_type: a.contentType, size: a.size, sha256: a.sha256 }));
  result.warnings = d.warnings;
  return result;
}
