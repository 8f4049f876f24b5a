// From mailparser's view of a message to ours: the text and HTML bodies and the files to upload,
// after the repairs mailparser does not do: winmail.dat unpacked into its real attachments (and
// its body used when the mail has none), UTF-7 bodies decoded, and a part whose Content-Type has
// no subtype read as the text/plain it is by RFC 2045 §5.2 (as CPython does), and uuencoded files
// (x-uuencode parts, begin … end blocks in plain text) decoded into the files they are.
import libmime from 'libmime';
import type { Attachment } from 'mailparser';
import { sourceOf, type AttachmentSource } from './attachments.js';
import { hasText } from './body.js';
import { decodeBytes } from '../charset.js';
import type { ParsedBody } from './parse.js';
import { decodeTnef, isTnefPart, TnefError } from '../tnef/tnef.js';
import { decodeUtf7, textPartsAreUtf7 } from '../utf7.js';
import { decodeUuPart, extractUuBlocks } from './uuencode.js';

export interface MessageParts {
  text?: string;
  html?: string;
  attachments: AttachmentSource[];
  warnings: string[];
}

/** A Content-Type without a subtype ("text", "application-x-gzip") is invalid: text/plain applies. */
function invalidType(att: Attachment): boolean {
  return (
    typeof att.contentType === 'string' && !att.contentType.includes('/') && att.contentDisposition !== 'attachment'
  );
}

function isUuencoded(att: Attachment): boolean {
  const cte = att.headers.get('content-transfer-encoding');
  return typeof cte === 'string' && /^(?:x-)?uu(?:encode|e)?$/i.test(cte.trim());
}

function uuSource(filename: string, content: Buffer): AttachmentSource {
  return {
    filename,
    contentType: libmime.detectMimeType(filename) || 'application/octet-stream',
    content,
    inline: false,
  };
}

function decodeText(att: Attachment): string {
  const header = att.headers.get('content-type');
  const params: unknown =
    typeof header === 'object' && !Array.isArray(header) && 'params' in header ? header.params : undefined;
  const charset =
    typeof params === 'object' && params !== null && 'charset' in params && typeof params.charset === 'string'
      ? params.charset
      : undefined;
  return decodeBytes(att.content, charset);
}

export function messageParts(parsed: ParsedBody, raw: Buffer): MessageParts {
  const warnings: string[] = [];
  let text = parsed.text;
  let html = typeof parsed.html === 'string' ? parsed.html : undefined;
  // decodeUtf7 leaves text without a "+" as it is, so then the raw bytes need no search.
  if ((text?.includes('+') || html?.includes('+')) && textPartsAreUtf7(raw)) {
    if (text !== undefined) text = decodeUtf7(text);
    if (html !== undefined) html = decodeUtf7(html);
  }

  const attachments: AttachmentSource[] = [];
  let tnefBody: { text?: string; html?: string } | null = null;
  let untypedText: string | undefined;
  for (const att of parsed.attachments) {
    if (isTnefPart(att.contentType, att.filename)) {
      try {
        const tnef = decodeTnef(att.content);
        warnings.push(...tnef.warnings);
        if (tnef.attachments.length > 0 || tnef.text !== undefined || tnef.html !== undefined) {
          for (const inner of tnef.attachments) {
            const src: AttachmentSource = {
              filename: inner.filename,
              contentType: inner.contentType ?? (libmime.detectMimeType(inner.filename) || 'application/octet-stream'),
              content: inner.content,
              inline: false,
            };
            if (inner.contentId) src.contentId = inner.contentId;
            attachments.push(src);
          }
          tnefBody ??= {
            ...(tnef.text !== undefined ? { text: tnef.text } : {}),
            ...(tnef.html !== undefined ? { html: tnef.html } : {}),
          };
          continue;
        }
        warnings.push(`${att.filename ?? 'winmail.dat'} holds neither files nor a body; uploaded as it is`);
      } catch (err) {
        if (!(err instanceof TnefError)) throw err;
        warnings.push(`${att.filename ?? 'winmail.dat'} is not readable TNEF (${err.message}); uploaded as it is`);
      }
    } else if (invalidType(att) && untypedText === undefined && !hasText(text) && !hasText(html)) {
      // Line ends as mailparser gives them for the parts it reads as text.
      untypedText = decodeText(att).replace(/\r\n?/g, '\n');
      // A named part stays a file as well: its bytes are what the sender attached.
      if (att.filename === undefined) continue;
    }
    if (isUuencoded(att)) {
      const file = decodeUuPart(att.content);
      if (file) {
        attachments.push({ ...sourceOf(att), filename: att.filename ?? file.filename, content: file.content });
        continue;
      }
      warnings.push(`${att.filename ?? 'a part'} says x-uuencode but holds no uuencoded file; uploaded as it is`);
    }
    attachments.push(sourceOf(att));
  }

  // Old clients put files into the text itself: they become attachments, and leave the text.
  if (text?.includes('begin ')) {
    const found = extractUuBlocks(text);
    if (found.files.length > 0) {
      text = found.text;
      for (const f of found.files) attachments.push(uuSource(f.filename, f.content));
    }
  }

  if (!hasText(text) && !hasText(html)) {
    if (tnefBody) {
      text = tnefBody.text;
      html = tnefBody.html;
    } else if (untypedText !== undefined) {
      text = untypedText;
    }
  }
  const out: MessageParts = { attachments, warnings };
  if (text !== undefined) out.text = text;
  if (html !== undefined) out.html = html;
  return out;
}
