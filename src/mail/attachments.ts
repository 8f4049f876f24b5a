// Every attachment and inline image of a parsed message, as Sirportly will receive it: bytes
// unchanged, a usable file name, and a checksum the worker can compare after upload.
import { createHash } from 'node:crypto';
import libmime from 'libmime';
import type { Attachment } from 'mailparser';
import type { DraftAttachment } from './types.js';

/** A name Sirportly can store: no directories, no control characters. */
export function cleanFilename(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const base = name.split(/[/\\]/).pop() ?? '';
  const cleaned = base.replace(/\p{Cc}/gu, '').trim();
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? undefined : cleaned;
}

/** `attachment-3.png` for the third attachment when the part names no file. */
export function fallbackFilename(index: number, contentType: string): string {
  const ext = contentType === 'message/rfc822' ? 'eml' : libmime.detectExtension(contentType) || 'bin';
  return `attachment-${index}.${ext}`;
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

/** `index` is 1-based, for the fallback name; `cids` are the Content-IDs the HTML references. */
export function toDraftAttachment(att: Attachment, index: number, cids: ReadonlySet<string>): DraftAttachment {
  const cid = att.cid?.trim() || undefined;
  const content = att.content;
  const contentType = (att.contentType || 'application/octet-stream').toLowerCase();
  const out: DraftAttachment = {
    filename: cleanFilename(att.filename) ?? fallbackFilename(index, contentType),
    contentType,
    size: content.length,
    sha256: createHash('sha256').update(content).digest('hex'),
    // A cid: image is inline whether or not it sits in multipart/related or says so in
    // Content-Disposition: senders are inconsistent, the HTML reference is what matters.
    inline: att.related === true || att.contentDisposition === 'inline' || (cid !== undefined && cids.has(cid)),
    content,
  };
  if (cid) out.contentId = cid;
  return out;
}
