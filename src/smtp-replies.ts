// Every SMTP reply the gateway gives, in one table: the listener, the door, the mail verdict, the
// error kinds, replay and inspect name an entry here and never spell a code themselves. Pure data,
// so src/mail may import it. The basic code's first digit and the enhanced code's class agree
// (RFC 3463): 2 done, 4 try again later, 5 do not try again.
import type { SmtpReply } from './mail/types.js';

function reply(code: number, enhanced: string, text: string): SmtpReply {
  return Object.freeze({ code, enhanced, text });
}

/** One reply line: configured text must not smuggle in line breaks. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

export const REPLY = {
  // Taken (250). A message is answered only once it is stored, or dropped on purpose.
  /** A verdict of post or create; ingest answers a stored message with queuedAs. */
  queued: reply(250, '2.0.0', 'Queued'),
  queuedAs: (queueId: string) => reply(250, '2.0.0', `Ok: queued as ${queueId}`),
  alreadyQueued: (queueId: string) => reply(250, '2.0.0', `Ok: already queued as ${queueId}`),
  /** A verdict of drop (machine mail, a limit under policy "drop"). */
  accepted: reply(250, '2.0.0', 'Accepted'),
  acceptedNotPosted: (reason: string) => reply(250, '2.0.0', `Accepted, not posted (${reason})`),

  // Refused for good (5xx): the sending server bounces the message.
  /** A refusal whose text is configured (policy.noReferenceText, newTickets.overLimitText). */
  policyRefused: (text: string) => reply(550, '5.7.1', oneLine(text)),
  recipientRefused: (address: string) => reply(550, '5.1.1', `Recipient not accepted here: <${address}>`),
  tlsRequired: reply(530, '5.7.0', 'Must issue a STARTTLS command first'),
  tooLarge: reply(552, '5.3.4', 'Message exceeds the size limit'),
  notProcessed: reply(554, '5.6.0', 'Message could not be processed'),
  tooComplex: reply(554, '5.3.4', 'Message too complex to process'),
  ticketNotFound: reply(550, '5.1.1', 'Ticket not found'),
  helpdeskRejected: reply(550, '5.6.0', 'Helpdesk rejected the message'),
  deliveryExpired: reply(554, '5.4.7', 'Delivery period expired'),

  // Try again later (451): the sending server keeps the message and retries.
  storeUnavailable: reply(451, '4.3.0', 'Temporary storage problem, please try again later'),
  readFailed: (why: string) => reply(451, '4.3.0', `Error reading message: ${why}`),
  misconfigured: reply(451, '4.3.5', 'Gateway misconfigured, try again later'),
  helpdeskCredentials: reply(451, '4.3.0', 'Helpdesk rejected our credentials'),
  helpdeskBusy: reply(451, '4.7.0', 'Helpdesk busy, try again later'),
  helpdeskUnavailable: reply(451, '4.3.0', 'Helpdesk unavailable, try again later'),
  helpdeskTimeout: reply(451, '4.4.1', 'Helpdesk did not answer in time'),
  helpdeskUnreachable: reply(451, '4.4.1', 'Helpdesk unreachable'),
  failedParked: reply(451, '4.7.1', 'Too much undeliverable mail from you is waiting here, try again later'),

  // Closing the connection (421): the door's limits on sessions and senders, and shutdown.
  shuttingDown: reply(421, '4.3.2', 'Server shutting down, try again later'),
  connectionRate: reply(421, '4.7.0', 'Too many connections from your address, try again later'),
  concurrentSessions: reply(421, '4.7.0', 'Too many open connections from your address, try again later'),
  refusedCommands: reply(421, '4.7.0', 'Too many refused commands, closing connection'),
  transactionTimeout: reply(421, '4.4.2', 'Transaction took too long, closing connection'),
  dataTimeout: reply(421, '4.4.2', 'Message data took too long, closing connection'),
} as const satisfies Record<string, SmtpReply | ((arg: string) => SmtpReply)>;

/** Format an SMTP reply as one line, e.g. `451 4.3.0 Temporary storage problem`. */
export function formatReply(r: SmtpReply): string {
  return `${r.code} ${r.enhanced} ${r.text}`;
}
