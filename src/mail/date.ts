// Date: parsed here rather than by mailparser, which turns an unparseable date into "now" and so
// would silently post old mail as new. RFC 5322 §3.3 with its obsolete forms (§4.3), plus the
// junk real archives hold: ISO 8601, asctime, "May 8, 2005 1:17 PM".
import { clip } from './clean.js';
import { stripComments } from './headers.js';

const MONTHS = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];
const DAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];

/** Offsets in minutes east of UTC. RFC 5322 §4.3: other alphabetic zones mean -0000 (unknown). */
const NAMED_ZONES: Record<string, number> = {
  ut: 0,
  utc: 0,
  gmt: 0,
  z: 0,
  est: -300,
  edt: -240,
  cst: -360,
  cdt: -300,
  mst: -420,
  mdt: -360,
  pst: -480,
  pdt: -420,
};

/** "Sept", "sep", "September" → 0-based month; a word that is no month's prefix → -1. */
function monthIndex(word: string): number {
  const w = word.toLowerCase().replace(/\.$/, '');
  if (w.length < 3) return -1;
  return MONTHS.findIndex((m) => m.startsWith(w));
}

function isDayName(word: string): boolean {
  const w = word.toLowerCase();
  return w.length >= 2 && DAYS.some((d) => d.startsWith(w));
}

/** Zone text → minutes east of UTC; undefined when it is not a zone. Empty means unknown (UTC). */
function zoneOffset(text: string): number | undefined {
  const t = text.trim();
  if (t === '') return 0;
  const numeric = /^(?:(?:UTC|GMT|UT)\s*)?([+-])(\d{2}):?(\d{2})(?:\s+[A-Za-z]{1,10})?$/i.exec(t);
  if (numeric) {
    const hours = Number(numeric[2]);
    // "+0360" occurs in real mail; the grammar is just 4DIGIT, so take it literally (+04:00).
    const minutes = Number(numeric[3]);
    if (hours > 23) return undefined;
    return (numeric[1] === '-' ? -1 : 1) * (hours * 60 + minutes);
  }
  // Named and military zones; anything alphabetic that is unknown counts as -0000 (RFC 5322 §4.3).
  if (/^[A-Za-z]{1,10}$/.test(t)) return NAMED_ZONES[t.toLowerCase()] ?? 0;
  return undefined;
}

interface Zone {
  offset: number;
  /** Set when the zone was not read as written: what was done instead, for a warning. */
  note?: string;
}

/**
 * The zone after a date and time that are already read. The date and time are what the sender
 * wrote whatever follows them, so an unreadable zone ("H0500") does not throw them away: they are
 * taken as UTC. A numeric zone with the next header run into it ("+0200Received: from …") is
 * read, and the rest ignored. Either way the caller warns.
 */
function zoneAfterTime(text: string): Zone {
  const offset = zoneOffset(text);
  if (offset !== undefined) return { offset };
  const t = text.trim();
  const glued = /^((?:(?:UTC|GMT|UT)\s*)?[+-]\d{2}:?\d{2})(?!\d)\s*(.+)$/i.exec(t);
  const gluedOffset = glued ? zoneOffset(glued[1]!) : undefined;
  if (glued && gluedOffset !== undefined) {
    return {
      offset: gluedOffset,
      note: `text after the time zone ignored (${JSON.stringify(glued[2]!.slice(0, 40))})`,
    };
  }
  return { offset: 0, note: `unreadable time zone ${JSON.stringify(t.slice(0, 40))}; date and time taken as UTC` };
}

function fullYear(text: string): number {
  const y = Number(text);
  if (text.length === 2) return y < 50 ? 2000 + y : 1900 + y;
  if (text.length === 3) return 1900 + y;
  return y;
}

interface Parts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  offset: number;
}

function build(p: Parts): Date | null {
  if (p.year < 1900 || p.year > 9999) return null;
  if (p.month < 0 || p.month > 11 || p.day < 1 || p.day > 31) return null;
  if (p.hour > 23 || p.minute > 59 || p.second > 60) return null;
  // A leap second is real but Date cannot hold it; keep it inside the same minute.
  const second = Math.min(p.second, 59);
  const ms = Date.UTC(p.year, p.month, p.day, p.hour, p.minute, second);
  const check = new Date(ms);
  // Date.UTC rolls 31 April into 1 May: such a date is invalid, not a different day.
  if (check.getUTCFullYear() !== p.year || check.getUTCMonth() !== p.month || check.getUTCDate() !== p.day) return null;
  return new Date(ms - p.offset * 60_000);
}

function to24h(hour: number, meridiem: string | undefined): number {
  if (!meridiem) return hour;
  if (hour < 1 || hour > 12) return 99;
  const pm = meridiem.toLowerCase().startsWith('p');
  return (hour % 12) + (pm ? 12 : 0);
}

// 2017-11-23T11:01:56Z, 2017-11-23 11:01:56+01:00
const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*(.*)$/i;
// [dow,] 1 Jan 2001 10:25[:36] zone; also "1-Jan-2001" and a zone glued to the time.
const RFC = /^(\d{1,2})[\s-]+([A-Za-z]{3,}\.?)[\s-]+(\d{2,4}),?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*(.*)$/;
// asctime: Jun  4 08:12:13 [EDT] 2016
const ASCTIME = /^([A-Za-z]{3,})\s+(\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s+(?:(\S+)\s+)?(\d{4})$/;
// US style: May 8, 2005 1:17 PM / Feb 9, 2011 at 11:55 AM
const US =
  /^([A-Za-z]{3,}\.?)\s+(\d{1,2}),?\s+(\d{4}),?\s+(?:at\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([ap]\.?m\.?)?\s*(.*)$/i;

/** Parse a Date: header value; null when it is not a date we can trust. */
export function parseMailDate(value: string | undefined | null): Date | null {
  return readMailDate(value)?.date ?? null;
}

export interface ReadDate {
  date: Date;
  /** What was not read as written (a zone taken as UTC, text ignored), for a warning. */
  note?: string;
}

/** The date of these fields at the zone's offset, with the zone's note; null when it is no date. */
function dated(fields: Omit<Parts, 'offset'>, zone: Zone): ReadDate | null {
  const date = build({ ...fields, offset: zone.offset });
  if (!date) return null;
  return zone.note !== undefined ? { date, note: zone.note } : { date };
}

/** A Date: header value read, with a note when part of it was not used; null when no date is there. */
export function readMailDate(value: string | undefined | null): ReadDate | null {
  if (!value) return null;
  // Obsolete syntax allows CFWS around the time's colons: "09(comment):   55  :  06".
  let s = stripComments(value)
    .replace(/\s+/g, ' ')
    .replace(/\s*:\s*/g, ':')
    .trim();
  if (s === '') return null;

  const iso = ISO.exec(s);
  if (iso) {
    return dated(
      {
        year: Number(iso[1]),
        month: Number(iso[2]) - 1,
        day: Number(iso[3]),
        hour: Number(iso[4]),
        minute: Number(iso[5]),
        second: Number(iso[6] ?? 0),
      },
      zoneAfterTime(iso[7]!),
    );
  }

  // Day of week: optional, never checked against the date (senders get it wrong, the date wins).
  const dow = /^([A-Za-z]+)\.?(?:\s*,\s*|\s+)/.exec(s);
  if (dow && (isDayName(dow[1]!) || (dow[0].includes(',') && monthIndex(dow[1]!) === -1))) s = s.slice(dow[0].length);

  const rfc = RFC.exec(s);
  if (rfc) {
    return dated(
      {
        year: fullYear(rfc[3]!),
        month: monthIndex(rfc[2]!),
        day: Number(rfc[1]),
        hour: Number(rfc[4]),
        minute: Number(rfc[5]),
        second: Number(rfc[6] ?? 0),
      },
      zoneAfterTime(rfc[7]!),
    );
  }

  const asc = ASCTIME.exec(s);
  if (asc) {
    const offset = zoneOffset(asc[6] ?? '');
    if (offset === undefined) return null;
    return dated(
      {
        year: Number(asc[7]),
        month: monthIndex(asc[1]!),
        day: Number(asc[2]),
        hour: Number(asc[3]),
        minute: Number(asc[4]),
        second: Number(asc[5] ?? 0),
      },
      { offset },
    );
  }

  const us = US.exec(s);
  if (us) {
    return dated(
      {
        year: Number(us[3]),
        month: monthIndex(us[1]!),
        day: Number(us[2]),
        hour: to24h(Number(us[4]), us[7]),
        minute: Number(us[5]),
        second: Number(us[6] ?? 0),
      },
      zoneAfterTime(us[8]!),
    );
  }
  return null;
}

/** UTC ISO 8601 at second precision: 2024-05-01T12:34:56Z. */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A Date further ahead than this is a wrong clock, not the time the mail was written. */
export const FUTURE_TOLERANCE_MS = 15 * 60_000;

/**
 * A Date before this is a wrong clock or a forged header, not when the mail was written: no
 * helpdesk ticket it could answer existed then (Sirportly dates from 2010; 1990 leaves room for
 * archives of any earlier system) and an update dated that far back sorts before the ticket.
 */
export const DATE_FLOOR_MS = Date.UTC(1990, 0, 1);

export interface PostedAt {
  iso: string;
  source: 'date' | 'fallback';
  warning?: string;
}

/**
 * posted_at for the update. `fallbackIso` is the receive time (SMTP), the mbox From-line date
 * (replay) or the time of the run (inspect). On live mail the fallback is the moment the mail
 * arrived, so a Date more than 15 minutes after it is a wrong clock. Archived mail cannot be
 * checked that way, but a Date still in the future when we read it (year 3609 is in the corpus)
 * is not when it was written either.
 */
export function postedAt(
  dateHeader: string | undefined,
  fallbackIso: string,
  opts: { live: boolean; now?: number },
): PostedAt {
  const fallback = new Date(fallbackIso);
  if (Number.isNaN(fallback.getTime())) throw new TypeError(`postedAt: fallback is not a date: ${fallbackIso}`);
  const fallbackText = isoSeconds(fallback);
  if (dateHeader === undefined || dateHeader.trim() === '') {
    return { iso: fallbackText, source: 'fallback', warning: 'no Date header; posted_at is the fallback time' };
  }
  const read = readMailDate(dateHeader);
  const parsed = read?.date;
  if (!parsed) {
    return {
      iso: fallbackText,
      source: 'fallback',
      warning: `unparseable Date header ${JSON.stringify(clip(dateHeader))}; posted_at is the fallback time`,
    };
  }
  const limit = opts.live ? fallback.getTime() : (opts.now ?? Date.now());
  if (parsed.getTime() - limit > FUTURE_TOLERANCE_MS) {
    const after = opts.live ? 'receipt' : 'now';
    return {
      iso: fallbackText,
      source: 'fallback',
      warning: `Date header ${isoSeconds(parsed)} is more than 15 minutes after ${after}; posted_at is the fallback time`,
    };
  }
  if (parsed.getTime() < DATE_FLOOR_MS) {
    return {
      iso: fallbackText,
      source: 'fallback',
      warning: `Date header ${isoSeconds(parsed)} is before 1990; posted_at is the fallback time`,
    };
  }
  if (read.note !== undefined) {
    return {
      iso: isoSeconds(parsed),
      source: 'date',
      warning: `Date header ${JSON.stringify(clip(dateHeader))}: ${read.note}`,
    };
  }
  return { iso: isoSeconds(parsed), source: 'date' };
}
