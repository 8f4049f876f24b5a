// Who wrote the message: the first usable mailbox of From:, read from the same header block the
// door saw (first From: header), so the worker and inspect agree with the door. An address is sent
// only as the mail wrote it: a mailbox whose address cannot be read as written is unusable, never
// shortened or repaired into another (real-looking) address. Without a usable From: the author is
// taken, in this order, from Sender:, Reply-To:, then the envelope sender (MAIL FROM; Return-Path
// or the mbox From_ line for archives), with a warning naming the source.
import { relabelJapaneseWords } from './charset.js';
import { clip } from './clean.js';
import type { HeaderBlock } from './headers.js';
import { mailboxes } from './mailboxes.js';
import type { AuthorSource } from './types.js';

export interface Author {
  name?: string;
  email?: string;
  /** Absent when there is no author at all. */
  source?: AuthorSource;
  warning?: string;
}

// Deliberately loose: Sirportly matches contacts by address, it is not an RFC 5321 validator. The
// local part is a run without whitespace, or a quoted string ("Some Name"@example.com).
const USABLE_ADDRESS = /^(?:[^\s<>@"]+|"(?:[^"\\\r\n]|\\.)*")@[^\s<>@"()[\],;:\\]+$/;

function usable(address: string | undefined): string | undefined {
  const a = address?.trim();
  return a && USABLE_ADDRESS.test(a) ? a : undefined;
}

/**
 * The top-level pieces of an address list: split at commas and group punctuation that are outside
 * quoted strings, comments and angle brackets. A group's name ("Team:") is left out.
 */
function topLevelMailboxes(value: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  let depth = 0;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && (quoted || depth > 0)) {
      current += c + (value[i + 1] ?? '');
      i++;
      continue;
    }
    if (quoted) {
      if (c === '"') quoted = false;
      current += c;
      continue;
    }
    if (depth > 0) {
      if (c === '(') depth++;
      else if (c === ')') depth--;
      current += c;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === '(') depth++;
    else if (c === '<') angle = true;
    else if (c === '>') angle = false;
    else if (!angle && (c === ',' || c === ';')) {
      out.push(current);
      current = '';
      continue;
    } else if (!angle && c === ':') {
      // A group's display name ends here; its mailboxes follow.
      current = '';
      continue;
    }
    current += c;
  }
  out.push(current);
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

/** The text of a value outside comments, with quoted strings kept as they are. */
function withoutComments(value: string): string {
  let out = '';
  let quoted = false;
  let depth = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && (quoted || depth > 0)) {
      if (depth === 0) out += c + (value[i + 1] ?? '');
      i++;
      continue;
    }
    if (!quoted && c === '(') {
      depth++;
      continue;
    }
    if (depth > 0) {
      if (c === ')') depth--;
      continue;
    }
    if (c === '"') quoted = !quoted;
    out += c;
  }
  return out;
}

/**
 * The name Sirportly shows for the author: the display name, else the address itself. Sent as
 * author_name on every update and as contact_name on tickets/submit (which requires one), so a
 * contact is never nameless. The whole address rather than its local part: local parts such as
 * "info", "noreply" or "j.smith1984" name nobody, and two senders "info@a.example" and
 * "info@b.example" would show as the same person; the address is also what mail clients show for
 * a sender without a name.
 */
export function authorName(author: Author): string | undefined {
  return author.name ?? author.email;
}

/** Index of the first "<" outside quoted strings, or -1. */
function angleStart(text: string): number {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === '<' && !quoted) return i;
  }
  return -1;
}

/** Whitespace outside quoted strings. */
function hasBareWhitespace(text: string): boolean {
  return /\s/.test(text.replace(/"(?:[^"\\]|\\.)*"/g, '""'));
}

function cleanName(name: string): string {
  return name.replace(/\s+/g, ' ').trim();
}

export interface MailboxReading {
  mailbox: { name?: string; email: string } | null;
  /** Why the first mailbox with an address was not used (e.g. whitespace inside <…>). */
  problem?: string;
  /** The first display name met, for a fallback address that has none of its own. */
  name?: string;
}

/** One top-level mailbox, or why it cannot be used. */
function readMailbox(piece: string): { name?: string; email?: string; problem?: string } {
  const text = withoutComments(piece).trim();
  const lt = angleStart(text);
  if (lt !== -1) {
    const gt = text.indexOf('>', lt);
    // RFC 5322 §4.4 (obsolete syntax): whitespace may stand around the dots and the "@" of an
    // address ("jdoe@machine.  example" is jdoe@machine.example); anywhere else it makes the
    // address unreadable as written.
    const inside = (gt === -1 ? text.slice(lt + 1) : text.slice(lt + 1, gt))
      .trim()
      .replace(/\s*([.@])\s*/g, (m, c: string) => (m.includes('"') ? m : c));
    const phrase = text.slice(0, lt).trim();
    // The display name as mailparser decodes it (encoded words, quotes), read without the address.
    const name = phrase === '' ? '' : cleanName(mailboxes(`${phrase} <x@x.invalid>`)[0]?.name ?? '');
    if (inside === '') return { name };
    if (hasBareWhitespace(inside)) return { name, problem: `whitespace inside <${inside}>` };
    const email = usable(inside.replace(/^@[^:]*:/, ''));
    if (!email) return { name, problem: `<${inside}> is not an address` };
    // A name that is the address again says nothing.
    return { name: name.toLowerCase() === email.toLowerCase() ? '' : name, email };
  }
  // No angle brackets: an addr-spec, possibly after words that are a name ("Test test@example.com"),
  // or a quoted local part with a stray ">" after it.
  const parsed = mailboxes(piece)[0];
  const name = cleanName(parsed?.name ?? '');
  const address = parsed?.address?.trim().replace(/^<|>$/g, '') ?? '';
  if (address === '') return { name };
  const email = usable(address);
  // The address must be in the mail as written, as one whitespace-delimited word.
  const words = text.replace(/^<|>$/g, '').split(/\s+(?=(?:[^"]*"[^"]*")*[^"]*$)/);
  if (!email || !words.some((w) => w.replace(/^<|>$/g, '') === email))
    return { name, problem: `${JSON.stringify(address)} is not an address` };
  return { name, email };
}

/** First usable mailbox of a raw (undecoded) address header value; groups are looked into. */
export function readMailboxes(raw: string | undefined): MailboxReading {
  if (raw === undefined || raw.trim() === '') return { mailbox: null };
  let problem: string | undefined;
  let firstName: string | undefined;
  for (const piece of topLevelMailboxes(relabelJapaneseWords(raw))) {
    const m = readMailbox(piece);
    if (m.name && firstName === undefined && !m.name.includes('@')) firstName = m.name;
    if (m.email) return { mailbox: m.name ? { name: m.name, email: m.email } : { email: m.email } };
    problem ??= m.problem;
  }
  return {
    mailbox: null,
    ...(problem !== undefined ? { problem } : {}),
    ...(firstName !== undefined ? { name: firstName } : {}),
  };
}

/** First mailbox of a raw (undecoded) From: value with a usable address; groups are looked into. */
export function firstMailbox(rawFrom: string | undefined): { name?: string; email: string } | null {
  return readMailboxes(rawFrom).mailbox;
}

const FALLBACK_HEADERS: ReadonlyArray<[header: string, source: AuthorSource, label: string]> = [
  ['sender', 'sender', 'the Sender header'],
  ['reply-to', 'reply-to', 'the Reply-To header'],
];

/**
 * The author of a message. mailFrom: the envelope sender (MAIL FROM for SMTP; for archives and
 * inspect the mbox From_ line sender or Return-Path), used last.
 */
export function authorOf(headers: HeaderBlock, mailFrom: string): Author {
  const rawFrom = headers.getRaw('from');
  const from = readMailboxes(rawFrom);
  if (from.mailbox) return { ...from.mailbox, source: 'from' };
  const what =
    rawFrom === undefined
      ? 'no From header'
      : `From header ${JSON.stringify(clip(rawFrom))} has no usable address${from.problem !== undefined ? ` (${from.problem})` : ''}`;
  for (const [header, source, label] of FALLBACK_HEADERS) {
    const m = readMailboxes(headers.getRaw(header)).mailbox;
    if (!m) continue;
    const name = m.name ?? from.name;
    return { ...(name ? { name } : {}), email: m.email, source, warning: `${what}; author is ${label}` };
  }
  const envelopeSender = usable(mailFrom.trim().replace(/^<|>$/g, ''));
  if (envelopeSender) {
    // The name the sender gave still names them; only the address comes from the envelope.
    return {
      ...(from.name ? { name: from.name } : {}),
      email: envelopeSender,
      source: 'envelope',
      warning: `${what}; author is the envelope sender`,
    };
  }
  return { warning: `${what}, no usable Sender, Reply-To or envelope sender; no author sent` };
}
