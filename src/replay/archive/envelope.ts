// The envelope of archived mail, rebuilt from what the archive kept: the From_ line (sender and
// delivery date) and the trace headers. Replay hands this to the same ingest() as SMTP, so the
// plus-tag rule sees the original recipients and posted_at falls back to when the mail arrived.
import { postedAt, parseMailDate } from '../../mail/date.js';
import { parseHeaders, stripComments, type HeaderBlock } from '../../mail/headers.js';
import type { Envelope } from '../../mail/types.js';
import { parseFromLine } from './from-line.js';

export interface ReplayOrigin {
  /** The mbox From_ line, or null (maildir, .eml without one). */
  fromLine: string | null;
  /** Delivery time known from elsewhere (a maildir file name), used after the trace headers. */
  deliveredAt?: Date | null;
}

const ADDR = /[^\s<>()",;:[\]\\]+@[^\s<>()",;:[\]\\]+/g;

/** Every addr-spec in a header value (display names and comments ignored). */
export function addressesIn(value: string): string[] {
  return [...stripComments(value).matchAll(ADDR)].map((m) => m[0]);
}

function returnPath(headers: HeaderBlock): string | null {
  const value = headers.getRaw('return-path');
  if (value === undefined) return null;
  const v = stripComments(value).trim();
  if (v === '<>' || v === '') return '';
  return addressesIn(v)[0] ?? null;
}

/** The latest date among the Received: headers (each after its last ';'). */
export function newestReceived(headers: HeaderBlock): Date | null {
  let newest: Date | null = null;
  for (const value of headers.getAllRaw('received')) {
    const semi = value.lastIndexOf(';');
    if (semi === -1) continue;
    const d = parseMailDate(value.slice(semi + 1));
    if (d && (!newest || d.getTime() > newest.getTime())) newest = d;
  }
  return newest;
}

export function replayEnvelope(
  raw: Buffer,
  origin: ReplayOrigin,
  now: Date = new Date(),
  headers: HeaderBlock = parseHeaders(raw),
): Envelope {
  const from = origin.fromLine ? parseFromLine(origin.fromLine) : { sender: null, date: null };
  const mailFrom = from.sender ?? returnPath(headers) ?? '';
  const rcptTo: string[] = [];
  for (const name of ['delivered-to', 'to']) {
    for (const value of headers.getAllRaw(name)) {
      for (const a of addressesIn(value)) if (!rcptTo.includes(a)) rcptTo.push(a);
    }
  }
  const received = from.date ?? newestReceived(headers) ?? origin.deliveredAt ?? now;
  return { source: 'replay', mailFrom, rcptTo, receivedAt: received.toISOString() };
}

/** The time a message is dated for --since/--until: what posted_at would be. */
export function messageTime(headers: HeaderBlock, envelope: Envelope): Date {
  return new Date(postedAt(headers.getRaw('date'), envelope.receivedAt, { live: false }).iso);
}
