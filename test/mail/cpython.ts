// What CPython's email package (3.11, policy.default) decoded from each corpus message, recorded
// by test/fixtures/make-cpython-expect.py, and the comparison of our draft with it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Draft } from '../../src/mail/types.js';
import { repoRoot } from './helpers.js';

export interface CpythonRecord {
  s?: string;
  n?: string;
  b?: string | null;
  bl?: number;
  f?: string[];
  e?: string;
}

export const cpython: Record<string, CpythonRecord> = (
  JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/cpython-decoded.json'), 'utf8')) as {
    messages: Record<string, CpythonRecord>;
  }
).messages;

/**
 * Where we knowingly decode differently from CPython, and why. An entry excuses a difference only,
 * never a field left empty where CPython finds text.
 */
export const KNOWN_DIFFERENCES: Record<string, string> = {
  'mimekit/messages/issue358.txt':
    'a folded header line that lost its leading white space: CPython ends the header block there and reads the rest as body; we read it as the continuation it is, so the MIME structure and its text part survive',
  'mikel-mail/emails/attachment_emails/attachment_with_unquoted_name.eml':
    'unquoted name with spaces: CPython keeps the first word, we the whole name',
  'mikel-mail/emails/error_emails/content_transfer_encoding_7-bit.eml':
    'iso-8859-1 body with 0x80-0x9F bytes: read as windows-1252, as mail clients and browsers do',
  'mikel-mail/emails/plain_emails/raw_email_incorrect_header.eml':
    'a header line with a malformed name: CPython ends the header block there, we skip the line',
  'mikel-mail/emails/rfc2822/example13.eml':
    '"To : …" (space before the colon, RFC 5322 obsolete syntax): CPython ends the header block there',
  'php-mime-mail-parser/issue84':
    'a header line with a malformed name: CPython ends the header block there, we skip the line',
  'php-mime-mail-parser/issue116': 'an ISO-2022-JP encoded word CPython leaves undecoded; we decode it',
  'php-mime-mail-parser/issue133': 'unquoted filename=attach/01: CPython stops at "/", we keep the last path segment',
  'php-mime-mail-parser/m0027': 'file name 1234/../../1234.txt: directories are removed from file names',
  'php-mime-mail-parser/m0124':
    'file name 1234/../../1234.txt: directories are removed from file names; CPython also keeps a space from folding inside the From name',
  'mimekit/tnef/rich-text.eml': 'winmail.dat is unpacked into the files inside it',
  'mimekit/tnef/ukr.eml': 'winmail.dat is unpacked into the files inside it',
};

/** Compared without whitespace, quote markers (format=flowed rewraps) and C1 controls (undisplayable). */
export function comparable(s: string): string {
  return s.replace(/[\s>\u0080-\u009f\p{Cc}]+/gu, '');
}

/** CPython could not show the text: undecodable bytes, or an encoded word it left alone. */
function unclean(s: string): boolean {
  return s.includes('\ufffd') || /=\?[^?]+\?[bq]\?/i.test(s) || /[\u0080-\u009f]/.test(s);
}

export interface Comparison {
  /** A field CPython decodes to text that we leave empty. */
  empty: string[];
  /** A field both decode cleanly, to different text. */
  differs: string[];
}

/** `placeholder` tells whether the message text is one of ours (no text found), not the sender's. */
export function compareWithCpython(expected: CpythonRecord, d: Draft, placeholder: boolean): Comparison {
  const out: Comparison = { empty: [], differs: [] };
  const subject = d.update.subject;
  if (expected.s && expected.s.trim() !== '') {
    if (subject.trim() === '') out.empty.push(`subject (CPython: ${JSON.stringify(expected.s)})`);
    else if (!unclean(expected.s) && comparable(expected.s) !== comparable(subject))
      out.differs.push(`subject ${JSON.stringify(subject)} ≠ CPython ${JSON.stringify(expected.s)}`);
  }
  // A display name that is just the address again says nothing; we drop it.
  const name = expected.n?.trim() ?? '';
  if (name !== '' && name.toLowerCase() !== d.update.author_email?.toLowerCase() && !/^[^\s@]+@[^\s@]+$/.test(name)) {
    const ours = d.update.author_name ?? '';
    if (ours.trim() === '') out.empty.push(`author_name (CPython: ${JSON.stringify(expected.n)})`);
    else if (!unclean(name) && comparable(name) !== comparable(ours))
      out.differs.push(`author_name ${JSON.stringify(ours)} ≠ CPython ${JSON.stringify(expected.n)}`);
  }
  if (expected.b && expected.b.trim() !== '') {
    if (placeholder) out.empty.push(`message (CPython: ${JSON.stringify(expected.b)})`);
    else if (!unclean(expected.b) && !comparable(d.update.message).includes(comparable(expected.b))) {
      out.differs.push(
        `message ${JSON.stringify(d.update.message.slice(0, 80))} ≠ CPython ${JSON.stringify(expected.b)}`,
      );
    }
  }
  const names = new Set(d.attachments.map((a) => comparable(a.filename)));
  for (const f of expected.f ?? []) {
    if (!unclean(f) && !names.has(comparable(f)))
      out.differs.push(`file ${JSON.stringify(f)} not among ${JSON.stringify(d.attachments.map((a) => a.filename))}`);
  }
  return out;
}
