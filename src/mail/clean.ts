// Text from a message that reaches Sirportly's fields, the logs or a terminal: one line, no
// control character left raw, and a bounded length where it is only there to identify the message.

/** Characters of one header value written to a log line or a warning at most. */
export const LOG_VALUE_MAX = 300;

// C0 and C1 controls and DEL. CR, LF and TAB become spaces (a folded or encoded line break
// separates words); the rest (NUL, ESC, backspace...) go.
const LINE_BREAKS = /[\r\n\t\v\f\u0085\u2028\u2029]+/g;
const CONTROLS = /\p{Cc}/gu;
// What could forge or hide part of a printed line: controls, bidi controls (text shown reordered),
// and the backslash that starts an escape.
const UNPRINTABLE = /[\\\p{Cc}\p{Bidi_Control}]/gu;

const hex = (c: string, digits: number): string => c.charCodeAt(0).toString(16).padStart(digits, '0');

/** A Subject or display name as one clean line: no CR, LF, NUL or other control character. */
export function cleanLine(value: string): string {
  return value.replace(LINE_BREAKS, ' ').replace(CONTROLS, '');
}

/**
 * At most `max` characters (code points, so no surrogate pair is split), marked with "…" and the
 * full length when cut, control characters shown escaped: fit for a log line.
 */
export function clip(value: string, max = LOG_VALUE_MAX): string {
  return shorten(
    value.replace(CONTROLS, (c) => `\\x${hex(c, 2)}`),
    max,
    value.length,
  );
}

/** At most `max` code points, marked with "…" and the full length when cut; nothing escaped. */
export function shorten(value: string, max = LOG_VALUE_MAX, fullLength = value.length): string {
  if (value.length <= max) return value;
  const cut = [...value.slice(0, max + 1)].slice(0, max).join('');
  return `${cut}…(${fullLength} chars)`;
}

/**
 * Controls, bidi controls and backslashes escaped (`\u000a`, `\\`), nothing cut: a file name
 * or value printed as one honest line, which reads back unambiguously.
 */
export function printable(value: string): string {
  return value.replace(UNPRINTABLE, (c) => (c === '\\' ? '\\\\' : `\\u${hex(c, 4)}`));
}

/** clip() for optional values (log fields that may be absent). */
export function clipped(value: string | null | undefined, max = LOG_VALUE_MAX): string | undefined {
  return value === null || value === undefined ? undefined : clip(value, max);
}
