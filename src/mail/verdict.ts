// The decision at the door, from the header block alone: drop machine mail, find the ticket,
// reject or drop what has none. SMTP, replay and inspect all call this one function.
import type { Config } from '../config.js';
import { machineClasses, type MachineClass } from './classify.js';
import { parseHeaders, type HeaderBlock } from './headers.js';
import { idempotencyKey, normaliseMessageId } from './idempotency.js';
import { findReference, referenceMatchers } from './reference.js';
import type { DoorVerdict, Envelope, SmtpReply } from './types.js';

const QUEUED: SmtpReply = { code: 250, enhanced: '2.0.0', text: 'Queued' };
const ACCEPTED: SmtpReply = { code: 250, enhanced: '2.0.0', text: 'Accepted' };

function policyFor(cls: MachineClass, config: Config): 'drop' | 'post' {
  return cls === 'auto_submitted' ? config.policy.autoSubmitted : config.policy.deliveryReports;
}

/** One SMTP reply line: configured text must not smuggle in line breaks. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

export function verdictFromHeaders(headers: HeaderBlock, raw: Buffer, envelope: Envelope, config: Config): DoorVerdict {
  const subject = headers.get('subject') ?? '';
  const messageId = normaliseMessageId(headers.getRaw('message-id'));
  // The reference is looked up even for mail that is dropped, so logs can say which ticket it was for.
  const ref = findReference(subject, envelope.rcptTo, referenceMatchers(config));
  const ticket = ref?.ticket ?? null;
  const base = { ticket, messageId, subject, idempotencyKey: idempotencyKey(messageId, raw, ticket) };

  for (const cls of machineClasses(headers)) {
    if (policyFor(cls, config) === 'drop') return { ...base, verdict: 'drop', reason: cls, smtpReply: ACCEPTED };
  }
  if (ref) return { ...base, verdict: 'post', reason: `reference:${ref.via}`, smtpReply: QUEUED };
  if (config.policy.noReference === 'drop') return { ...base, verdict: 'drop', reason: 'no_reference', smtpReply: ACCEPTED };
  return {
    ...base,
    verdict: 'reject',
    reason: 'no_reference',
    smtpReply: { code: 550, enhanced: '5.7.1', text: oneLine(config.policy.noReferenceText) },
  };
}

/** Decide from the header block only; the body is never decoded here. */
export function doorVerdict(raw: Buffer, envelope: Envelope, config: Config): DoorVerdict {
  return verdictFromHeaders(parseHeaders(raw), raw, envelope, config);
}
