// src/mail/draft is the full parse, run by the worker (in a drafting thread), never at the door.
//
// The update a message becomes, computed from its bytes alone. The worker posts it; `inspect`
// prints it; both call this function, so what one shows is what the other sends.
import type { Config } from '../../config/schema.js';
import { GatewayError } from '../../errors.js';
import { makeDraftAttachment, referencedCids } from './attachments.js';
import { authorName, authorOf } from '../author.js';
import { composeBody } from './body.js';
import { cleanLine } from '../clean.js';
import { postedAt } from '../date.js';
import { parseHeaders, type HeaderBlock, type HeaderBounds } from '../headers.js';
import { decodedTooLarge, parseMessage } from './parse.js';
import { messageParts } from './parts.js';
import { normaliseLineEnds, restorePartSeparators } from '../repair.js';
import type { AttachmentSource } from './attachments.js';
import type { Draft, Envelope, UpdateFields } from '../types.js';

/**
 * What mailparser is given: from the first header byte on (junk before it left out), bad folds
 * indented, and the empty line restored when the header block ended at a line that cannot be a
 * header, so mailparser sees the same header block.
 */
function forParser(raw: Buffer, bounds: HeaderBounds): Buffer {
  const pieces: Buffer[] = [];
  let last = bounds.start;
  for (const at of bounds.badFolds) {
    pieces.push(raw.subarray(last, at), Buffer.from(' '));
    last = at;
  }
  pieces.push(raw.subarray(last, bounds.end));
  if (bounds.bodyStart === bounds.end && bounds.end < raw.length) pieces.push(Buffer.from('\r\n'));
  pieces.push(raw.subarray(bounds.end));
  return restorePartSeparators(pieces.length === 2 ? raw.subarray(bounds.start) : Buffer.concat(pieces));
}

/** The files past draft.maxAttachments, as a list at the end of the message text. */
export function leftOutSummary(left: readonly AttachmentSource[]): string {
  const SHOWN = 20;
  const lines = left
    .slice(0, SHOWN)
    .map((a) => `- ${cleanLine(a.filename ?? '(no name)')} (${a.contentType}, ${a.content.length} bytes)`);
  if (left.length > SHOWN) lines.push(`- … and ${left.length - SHOWN} more`);
  return `[${left.length} more attachment(s) of this message were not uploaded (draft.maxAttachments):]\n${lines.join('\n')}`;
}

/** headers: the message's header block, when the caller has read it already (it must be parseHeaders(raw)). */
export async function draft(
  message: Buffer,
  envelope: Envelope,
  config: Config,
  ticket: string,
  headers: HeaderBlock = parseHeaders(message),
): Promise<Draft> {
  if (message.length > config.smtp.maxMessageBytes) {
    throw new GatewayError(
      'too_large',
      `message of ${message.length} bytes exceeds smtp.maxMessageBytes (${config.smtp.maxMessageBytes})`,
    );
  }
  // Bare CR line ends (old Mac mail, mixed ends) read as lines; the header block's bounds are
  // offsets in this same view (parseHeaders normalises the same way when its block has them).
  const raw = normaliseLineEnds(message);
  // Subject, Date and From come from the same header reader as the door's verdict (first
  // occurrence of each), not from mailparser, so the two can never disagree.
  const parsed = await parseMessage(forParser(raw, headers.bounds), config.queue.parseTimeoutMs, {
    maxDecodedBytes: config.draft.maxDecodedBytes,
    maxMimeParts: config.draft.maxMimeParts,
  });
  const parts = messageParts(parsed, raw);
  const warnings: string[] = [...parts.warnings];
  // Again after winmail.dat was unpacked: its compressed RTF and files can outgrow the parse.
  const decoded =
    (parts.text?.length ?? 0) + (parts.html?.length ?? 0) + parts.attachments.reduce((n, a) => n + a.content.length, 0);
  if (decoded > config.draft.maxDecodedBytes) throw decodedTooLarge(decoded, config.draft.maxDecodedBytes);

  const date = postedAt(headers.getRaw('date'), envelope.receivedAt, { live: envelope.source === 'smtp' });
  if (date.warning) warnings.push(date.warning);
  const author = authorOf(headers, envelope.mailFrom);
  if (author.warning) warnings.push(author.warning);

  const cids = referencedCids(parts.html);
  const cap = config.draft.maxAttachments;
  const uploaded = cap > 0 ? parts.attachments.slice(0, cap) : parts.attachments;
  const left = parts.attachments.slice(uploaded.length);
  const attachments = uploaded.map((src, i) => makeDraftAttachment(src, i + 1, cids));
  const body = composeBody({
    ...(parts.text !== undefined ? { text: parts.text } : {}),
    ...(parts.html !== undefined ? { html: parts.html } : {}),
    attachmentCount: attachments.length,
    stripQuoted: config.replies.stripQuoted,
    remoteImages: config.html.remoteImages,
    htmlLimits: { maxDepth: config.html.maxDepth, maxBytes: config.html.maxBytes },
  });
  if (body.warning) warnings.push(body.warning);
  if (left.length > 0) {
    body.message = `${body.message}\n\n${leftOutSummary(left)}`;
    warnings.push(
      `${parts.attachments.length} attachments: the first ${cap} uploaded, ${left.length} listed in the message (draft.maxAttachments)`,
    );
  }

  // Built field by field: parse_ticket_variables and outgoing must never be sent.
  const update: UpdateFields = {
    ticket,
    subject: cleanLine(headers.get('subject') ?? ''),
    message: body.message,
    posted_at: date.iso,
  };
  if (body.html_body !== undefined) {
    update.html_body = body.html_body;
    update.html_safe = '1';
  }
  const name = authorName(author);
  if (name !== undefined) {
    const clean = cleanLine(name).trim();
    if (clean !== '') update.author_name = clean;
  }
  if (author.email !== undefined) update.author_email = author.email;
  return { update, attachments, warnings, ...(author.source !== undefined ? { authorSource: author.source } : {}) };
}
