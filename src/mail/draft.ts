// The update a message becomes, computed from its bytes alone. The worker posts it; `inspect`
// prints it; both call this function, so what one shows is what the other sends.
import type { Config } from '../config.js';
import { GatewayError } from '../errors.js';
import { referencedCids, toDraftAttachment } from './attachments.js';
import { authorOf } from './author.js';
import { composeBody } from './body.js';
import { postedAt } from './date.js';
import { parseHeaders } from './headers.js';
import { parseMessage } from './parse.js';
import type { Draft, Envelope, UpdateFields } from './types.js';

export async function draft(raw: Buffer, envelope: Envelope, config: Config, ticket: string): Promise<Draft> {
  if (raw.length > config.smtp.maxMessageBytes) {
    throw new GatewayError('too_large', `message of ${raw.length} bytes exceeds smtp.maxMessageBytes (${config.smtp.maxMessageBytes})`);
  }
  // Subject, Date and From come from the same header reader as the door's verdict (first
  // occurrence of each), not from mailparser, so the two can never disagree.
  const headers = parseHeaders(raw);
  const parsed = await parseMessage(raw.subarray(headers.bounds.start), config.queue.parseTimeoutMs);
  const warnings: string[] = [];

  const date = postedAt(headers.getRaw('date'), envelope.receivedAt, { live: envelope.source === 'smtp' });
  if (date.warning) warnings.push(date.warning);
  const author = authorOf(headers, envelope.mailFrom);
  if (author.warning) warnings.push(author.warning);

  const html = typeof parsed.html === 'string' ? parsed.html : undefined;
  const cids = referencedCids(html);
  const attachments = parsed.attachments.map((att, i) => toDraftAttachment(att, i + 1, cids));
  const body = composeBody({ text: parsed.text, html, attachmentCount: attachments.length });

  // Built field by field: parse_ticket_variables and outgoing must never be sent.
  const update: UpdateFields = {
    ticket,
    subject: headers.get('subject') ?? '',
    message: body.message,
    posted_at: date.iso,
  };
  if (body.html_body !== undefined) {
    update.html_body = body.html_body;
    update.html_safe = '1';
  }
  if (author.name !== undefined) update.author_name = author.name;
  if (author.email !== undefined) update.author_email = author.email;
  return { update, attachments, warnings };
}
