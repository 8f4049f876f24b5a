// src/mail/door is what the door may know: the header block and the envelope, never the body.
//
// The decision at the door, from the header block alone: drop machine mail, find the ticket,
// reject or drop what has none. SMTP, replay and inspect all call this one function.
import type { Config } from '../../config/schema.js';
import { machineSignals, type MachineClass } from './machine-mail.js';
import { parseHeaders, type HeaderBlock } from '../headers.js';
import { idempotencyKey, normaliseMessageId } from './idempotency.js';
import { findReference, referenceMatchers } from './reference.js';
import { routeFor, routeNamed } from './route.js';
import type { DoorVerdict, Envelope } from '../types.js';
import { REPLY } from '../../smtp-replies.js';

type MachinePolicyKey =
  'deliveryReports' | 'autoSubmitted' | 'autoReplyHeaders' | 'precedence' | 'mailerDaemon' | 'nullSender';

const POLICY_OF: Record<MachineClass, MachinePolicyKey> = {
  delivery_report: 'deliveryReports',
  auto_submitted: 'autoSubmitted',
  auto_reply_header: 'autoReplyHeaders',
  precedence: 'precedence',
  mailer_daemon: 'mailerDaemon',
  null_sender: 'nullSender',
};

function policyFor(cls: MachineClass, config: Config): 'drop' | 'post' {
  return config.policy[POLICY_OF[cls]];
}

/**
 * The verdict for mail that has no usable reference (none found, or a sender not allowed on it),
 * by its route's policy. Only mail with no reference at all opens a ticket: a stranger writing
 * with someone else's reference is refused under "create" too, not given a ticket of their own.
 */
export function noMatchVerdict(
  base: Omit<DoorVerdict, 'verdict' | 'reason' | 'smtpReply'>,
  reason: string,
  config: Config,
): DoorVerdict {
  let policy = routeNamed(config, base.route)?.noReference ?? config.policy.noReference;
  if (policy === 'create' && reason !== 'no_reference') policy = 'reject';
  if (policy === 'drop') return { ...base, verdict: 'drop', reason, smtpReply: REPLY.accepted };
  if (policy === 'create') return { ...base, verdict: 'create', reason, ticket: null, smtpReply: REPLY.queued };
  return { ...base, verdict: 'reject', reason, smtpReply: REPLY.policyRefused(config.policy.noReferenceText) };
}

export function verdictFromHeaders(headers: HeaderBlock, raw: Buffer, envelope: Envelope, config: Config): DoorVerdict {
  const subject = headers.get('subject') ?? '';
  const messageId = normaliseMessageId(headers.getRaw('message-id'));
  // The reference is looked up even for mail that is dropped, so logs can say which ticket it was for.
  const ref = findReference(subject, envelope.rcptTo, referenceMatchers(config));
  const ticket = ref?.ticket ?? null;
  const route = routeFor(config, envelope.rcptTo).name;
  const base = { ticket, messageId, subject, idempotencyKey: idempotencyKey(messageId, raw, ticket), route };

  const signals = machineSignals(headers, envelope, config.policy);
  for (const signal of signals) {
    if (policyFor(signal.class, config) === 'drop')
      return { ...base, verdict: 'drop', reason: signal.class, detail: signal.detail, smtpReply: REPLY.accepted };
  }
  if (ref) return { ...base, verdict: 'post', reason: `reference:${ref.via}`, smtpReply: REPLY.queued };
  const v = noMatchVerdict(base, 'no_reference', config);
  // A class set to "post" lets machine mail onto existing tickets; it never opens one, or an
  // auto-responder and the helpdesk's own acknowledgements would open tickets for each other.
  // The reason stays no_reference so the door's thread lookup still finds its ticket, if any.
  const machine = signals[0];
  if (v.verdict === 'create' && machine) {
    return {
      ...base,
      verdict: 'drop',
      reason: 'no_reference',
      detail: `${machine.detail}; machine mail never opens a ticket`,
      smtpReply: REPLY.accepted,
    };
  }
  return v;
}

/** The same verdict for another ticket (found later, by the thread index): a new key, reason and reply. */
export function postToTicket(v: DoorVerdict, ticket: string, via: string, raw: Buffer): DoorVerdict {
  const { detail: _detail, ...rest } = v;
  return {
    ...rest,
    verdict: 'post',
    reason: `reference:${via}`,
    ticket,
    idempotencyKey: idempotencyKey(v.messageId, raw, ticket),
    smtpReply: REPLY.queued,
  };
}

/** Decide from the header block only; the body is never decoded here. */
export function doorVerdict(raw: Buffer, envelope: Envelope, config: Config): DoorVerdict {
  return verdictFromHeaders(parseHeaders(raw), raw, envelope, config);
}
