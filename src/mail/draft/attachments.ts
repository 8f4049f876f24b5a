// Every attachment and inline image of a parsed message, as Sirportly will receive it: bytes
// unchanged, a usable file name, and a checksum the worker can compare after upload.
import { createHash } from 'node:crypto';
import libmime from 'libmime';
import type { Attachment } from 'mailparser';
import { parseHeaders } from '../headers.js';
import type { DraftAttachment } from '../types.js';

// Bidirectional embeddings, overrides and isolates: "invoice\u202Efdp.exe" shows as
// "invoiceexe.pdf" in a staff member's browser.
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;

/** Characters of a file name at most (most file systems stop at 255 bytes). */
export const MAX_FILENAME_CHARS = 120;
/** An extension this long or shorter survives shortening ("report.final-version" is not one). */
const MAX_EXTENSION_CHARS = 16;

/** A name no longer than MAX_FILENAME_CHARS, its extension kept; cut on code points. */
export function shortenFilename(name: string): string {
  const chars = [...name];
  if (chars.length <= MAX_FILENAME_CHARS) return name;
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 ? [...name.slice(dot)] : [];
  const keep = ext.length > 1 && ext.length <= MAX_EXTENSION_CHARS ? ext : [];
  const stem = [...name.slice(0, name.length - keep.join('').length)];
  return `${stem
    .slice(0, MAX_FILENAME_CHARS - keep.length)
    .join('')
    .trimEnd()}${keep.join('')}`;
}

/** A name Sirportly can store: no directories, no control or bidi characters, bounded length. */
export function cleanFilename(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const base = name.split(/[/\\]/).pop() ?? '';
  const cleaned = base
    .replace(/\p{Cc}/gu, '')
    .replace(BIDI_CONTROLS, '')
    .trim();
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? undefined : shortenFilename(cleaned);
}

/** `attachment-3.png` for the third attachment when the part names no file. */
export function fallbackFilename(index: number, contentType: string): string {
  const ext = contentType === 'message/rfc822' ? 'eml' : libmime.detectExtension(contentType) || 'bin';
  return `attachment-${index}.${ext}`;
}

const FORWARDED_TYPES = new Set(['message/rfc822', 'message/global']);
// Characters that file systems or Sirportly's download links would trip over.
const UNSAFE_IN_NAME = /[\\/:*?"<>|\p{Cc}]+/gu;

/**
 * A forwarded message is uploaded as `<its subject>.eml`, so staff see what it is before opening
 * it. A name the sender gave wins (with .eml added when it has no extension for a message).
 */
export function forwardedFilename(content: Buffer, given: string | undefined, index: number): string {
  const named = cleanFilename(given);
  if (named) return /\.(eml|msg)$/i.test(named) ? named : shortenFilename(`${named}.eml`);
  const subject = parseHeaders(content)
    .get('subject')
    ?.replace(UNSAFE_IN_NAME, ' ')
    .replace(BIDI_CONTROLS, '')
    .replace(/\s+/g, ' ')
    .trim();
  if (!subject) return `forwarded-message-${index}.eml`;
  // Bounded, and cut on a character boundary so no surrogate pair is split.
  return `${[...subject].slice(0, 120).join('').trim()}.eml`;
}

/** Content-IDs the HTML points at with cid: links (URL-decoded, as RFC 2392 writes them). */
export function referencedCids(html: string | undefined): Set<string> {
  const cids = new Set<string>();
  if (!html) return cids;
  for (const m of html.matchAll(/cid:([^"'\s<>)]+)/gi)) {
    try {
      cids.add(decodeURIComponent(m[1]!));
    } catch {
      cids.add(m[1]!);
    }
  }
  return cids;
}

/** An attachment before naming and hashing: from mailparser or unpacked from a winmail.dat. */
export interface AttachmentSource {
  filename?: string;
  contentType: string;
  content: Buffer;
  contentId?: string;
  /** The container says inline (multipart/related or Content-Disposition: inline). */
  inline: boolean;
}

/** `index` is 1-based, for the fallback name; `cids` are the Content-IDs the HTML references. */
export function makeDraftAttachment(src: AttachmentSource, index: number, cids: ReadonlySet<string>): DraftAttachment {
  const cid = src.contentId?.trim() || undefined;
  const content = src.content;
  const contentType = (src.contentType || 'application/octet-stream').toLowerCase();
  const filename = FORWARDED_TYPES.has(contentType)
    ? forwardedFilename(content, src.filename, index)
    : (cleanFilename(src.filename) ?? fallbackFilename(index, contentType));
  const out: DraftAttachment = {
    filename,
    contentType,
    size: content.length,
    sha256: createHash('sha256').update(content).digest('hex'),
    // A cid: image is inline whether or not it sits in multipart/related or says so in
    // Content-Disposition (Outlook often sends neither): the HTML reference is what matters.
    inline: src.inline || (cid !== undefined && cids.has(cid)),
    content,
  };
  if (cid) out.contentId = cid;
  return out;
}

export function sourceOf(att: Attachment): AttachmentSource {
  const src: AttachmentSource = {
    contentType: att.contentType || 'application/octet-stream',
    content: att.content,
    inline: att.related === true || att.contentDisposition === 'inline',
  };
  if (att.filename !== undefined) src.filename = att.filename;
  if (att.cid) src.contentId = att.cid;
  return src;
}

export function toDraftAttachment(att: Attachment, index: number, cids: ReadonlySet<string>): DraftAttachment {
  return makeDraftAttachment(sourceOf(att), index, cids);
}
