// Secrets out of text that leaves the process (error messages, failure reasons kept in Redis and
// shown by `queue failed` and the dashboard, log lines). A secret is replaced only where it stands
// as a whole value: never inside a longer word, so ordinary text is never rewritten, whatever the
// secret. The configuration refuses secrets shorter than MIN_SECRET_LENGTH for the same reason.
import { escapeRegExp } from './escape-regexp.js';

export const REDACTED = '[redacted]';

/** Shortest secret the configuration accepts. */
export const MIN_SECRET_LENGTH = 8;

const WORD = /[\p{L}\p{N}_]/u;

/** A pattern for the secret as a whole value: where its first or last character is a letter,
 * digit or underscore, the neighbouring character must not be one. */
function wholeValue(secret: string): string {
  const before = WORD.test(secret[0]!) ? '(?<![\\p{L}\\p{N}_])' : '';
  const after = WORD.test(secret[secret.length - 1]!) ? '(?![\\p{L}\\p{N}_])' : '';
  return `${before}${escapeRegExp(secret)}${after}`;
}

/** The text with every secret (and its URL-encoded form) replaced by "[redacted]" where it
 * stands as a whole value. Empty secrets are ignored. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (s === '') continue;
    forms.add(s);
    const encoded = encodeURIComponent(s);
    if (encoded !== s) forms.add(encoded);
  }
  if (forms.size === 0) return text;
  // Longest first, so a secret that contains another is replaced whole.
  const alternatives = [...forms].sort((a, b) => b.length - a.length).map(wholeValue);
  return text.replace(new RegExp(alternatives.join('|'), 'gu'), REDACTED);
}

/** A Redis URL without its user name and password (host, port and database stay), for messages and logs. */
export function safeRedisUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
