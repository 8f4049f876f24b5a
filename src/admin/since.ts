// The one reader of --since/--until for every command (queue retry, replay): a span back from now
// ("90m", "6h", "2d", "30s"), a day (2024-05-01, midnight UTC), or a date and time (ISO 8601 such
// as 2024-05-01T12:00:00Z, or an RFC 5322 date as mail headers carry).
import { isoSeconds, parseMailDate } from '../mail/date.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** What the error line of a bad value says it may be. */
export const SINCE_FORMS =
  'a span back from now (90m, 6h, 2d), a day (2024-05-01) or a date and time (2024-05-01T12:00:00Z, or an RFC 5322 date)';

/** Epoch ms, or null when the text is none of the forms. */
export function parseSince(text: string, now: number): number | null {
  const t = text.trim();
  const span = /^(\d+(?:\.\d+)?)\s*([smhd])$/i.exec(t);
  if (span) return now - Number(span[1]) * UNITS[span[2]!.toLowerCase()]!;
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(t);
  if (day) {
    const d = new Date(Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3])));
    // 2024-02-31 would roll over into March: refuse it instead.
    return !Number.isNaN(d.getTime()) && isoSeconds(d).startsWith(t) ? d.getTime() : null;
  }
  // ISO 8601 with its zone, to the millisecond (mail dates stop at the second).
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i.test(t)) {
    const ms = Date.parse(t);
    return Number.isNaN(ms) ? null : ms;
  }
  return parseMailDate(t)?.getTime() ?? null;
}
