// Shared shapes of the mail logic. src/mail/door decides from the header block alone,
// src/mail/draft does the full parse into an update, src/mail/tnef reads winmail.dat; the files
// at this level serve all of them. Everything under src/mail is pure: bytes and config in,
// plain data out, so the SMTP door, replay, the worker and `inspect` can never disagree. The
// authenticity check takes its DNS resolver as a parameter; the system one is src/dns-resolver.ts.

/** What the transport knows about a message besides its bytes. */
export interface Envelope {
  /** MAIL FROM (null sender = ''). */
  mailFrom: string;
  /** RCPT TO addresses, as given. */
  rcptTo: string[];
  /** ISO time the gateway received the message (SMTP) or the archive date (replay). */
  receivedAt: string;
  /** Where the message came from, for logs. */
  source: 'smtp' | 'replay' | 'inspect';
  /** Client address for SMTP sessions. */
  remoteAddress?: string;
  /** EHLO/HELO name the SMTP client gave (SPF checks it); absent for other sources and old jobs. */
  helo?: string;
}

export type VerdictKind = 'post' | 'create' | 'reject' | 'drop';

/** An SMTP reply: basic code, enhanced status code and human text. */
export interface SmtpReply {
  code: number;
  enhanced: string;
  text: string;
}

/** The decision taken at the door from the header block alone. */
export interface DoorVerdict {
  verdict: VerdictKind;
  /** Machine-readable reason, e.g. 'reference:subject', 'no_reference', 'auto_submitted'. */
  reason: string;
  /** What an SMTP client is told (250 for post/drop, 5xx for reject). */
  smtpReply: SmtpReply;
  /** Upper-cased ticket reference, when one was found. */
  ticket: string | null;
  /** Message-ID without angle brackets, or null. */
  messageId: string | null;
  /** Hex key naming this message for this ticket: BullMQ job id and seen-index key. */
  idempotencyKey: string;
  /** Decoded Subject, for logs and drafts. */
  subject: string;
  /** What gave a drop or reject away (e.g. "Precedence: bulk"), for logs and inspect. */
  detail?: string;
  /** Name of the route the recipients chose (account, new-ticket fields, no-reference policy). */
  route: string;
  /**
   * Replay only, verdict create: the idempotency key of the first message of the same thread in
   * the archive. This message is posted to the ticket that one opens instead of opening another.
   */
  parentKey?: string;
}

/** The fields of one tickets/post_update call (minus attachments, which are tokens). */
export interface UpdateFields {
  ticket: string;
  subject: string;
  message: string;
  html_body?: string;
  html_safe?: '1';
  author_name?: string;
  author_email?: string;
  /** UTC ISO 8601, second precision: 2024-05-01T12:34:56Z */
  posted_at: string;
  /**
   * '1' only when DMARC passed for the From domain of SMTP mail and the author is that From
   * mailbox (set by the worker, not by draft).
   */
  authenticated?: '1';
}

export interface DraftAttachment {
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
  /** Content-ID without brackets, for inline images referenced as cid: in the HTML. */
  contentId?: string;
  inline: boolean;
  content: Buffer;
}

/** Where the author came from. Only 'from' is what DMARC vouches for. */
export type AuthorSource = 'from' | 'sender' | 'reply-to' | 'envelope';

export interface Draft {
  update: UpdateFields;
  /** Where author_email came from; absent when no author is sent. authenticated=1 needs 'from'. */
  authorSource?: AuthorSource;
  attachments: DraftAttachment[];
  /** Non-fatal problems met while drafting (bad Date, unusable From…), for logs and inspect. */
  warnings: string[];
}
