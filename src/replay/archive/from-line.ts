// The mbox "From " separator line ("From_ line"): "From sender asctime-date [more]". Real archives
// also write "From -" (Netscape), "From " alone, and "From 1844…@xxx" (Gmail): the sender and the
// date are both optional. What must not pass is a body line such as "From Russia with love".
import { parseMailDate } from '../../mail/date.js';

export interface FromLine {
  /** The envelope sender as an address, '' for the null sender (MAILER-DAEMON), null when unknown. */
  sender: string | null;
  /** The date written on the line, or null. */
  date: Date | null;
}

const TIME = /\b\d{1,2}:\d{2}\b/;
// An address with a dotted domain: "1844347792267117879@xxx" (Gmail's thread id) is not a sender.
const ADDRESS = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;

/** Text after "From " as written, without the line break; undefined when the line is not one. */
function tail(line: string): string | undefined {
  if (!line.startsWith('From ')) return undefined;
  return line.slice(5).replace(/\r?\n?$/, '');
}

/**
 * True when the line has the shape of a From_ line: nothing after "From ", one token (the
 * sender), or a sender followed by something that holds a time of day (the date).
 */
export function isFromLine(line: string): boolean {
  const rest = tail(line);
  if (rest === undefined) return false;
  const m = /^\s*(\S*)\s*(.*)$/.exec(rest);
  if (!m) return false;
  const after = m[2]!.trim();
  return after === '' || TIME.test(after);
}

export function parseFromLine(line: string): FromLine {
  const rest = tail(line);
  if (rest === undefined) return { sender: null, date: null };
  const m = /^\s*(\S*)\s*(.*)$/.exec(rest);
  const token = m?.[1] ?? '';
  const after = (m?.[2] ?? '').trim();
  let sender: string | null = null;
  const bare = token.replace(/^<|>$/g, '');
  if (/^MAILER-DAEMON(@|$)/i.test(bare) || token === '<>') sender = '';
  else if (ADDRESS.test(bare)) sender = bare;
  let date: Date | null = null;
  if (after !== '') {
    // UUCP archives append "remote from host".
    date = parseMailDate(after) ?? parseMailDate(after.replace(/\s+remote from .*$/i, ''));
  }
  return { sender, date };
}
