// src/mail/tnef holds Outlook's formats, reached from the draft's part walk: TNEF and its RTF.
//
// A small decoder for Outlook's winmail.dat (application/ms-tnef, MS-OXTNEF): its attachments with
// their real names and bytes, and its body for mail that has no other. No npm package fit: the one
// maintained candidate (node-tnef) patches String.prototype and copies every byte into JS arrays.
// Loose like the clients people use: a damaged stream yields what was read before the damage.
import { decodeBytes } from '../charset.js';
import { codepageLabel } from './rtf-codepage.js';
import { decompressRtf, RtfCompressedError } from './rtf-compressed.js';
import { rtfToBody } from './rtf-text.js';

export interface TnefAttachment {
  filename: string;
  /** From PR_ATTACH_MIME_TAG when Outlook recorded one. */
  contentType?: string;
  /** PR_ATTACH_CONTENT_ID: the HTML body's cid: references point at it. */
  contentId?: string;
  content: Buffer;
}

export interface TnefMessage {
  attachments: TnefAttachment[];
  /** Plain-text body (attBody or PR_BODY), else the text of the compressed RTF body. */
  text?: string;
  /** HTML body (PR_BODY_HTML / PR_HTML), else the HTML Outlook encapsulated in the RTF body. */
  html?: string;
  /** Damage met while reading, for the draft's warnings. */
  warnings: string[];
}

export class TnefError extends Error {}

const SIGNATURE = 0x223e9f78;
const LVL_MESSAGE = 1;
const LVL_ATTACHMENT = 2;

// Attribute ids (type << 16 | id), MS-OXTNEF §2.1.3.
const ATT_BODY = 0x0001800c;
const ATT_MAPI_PROPS = 0x00069003;
const ATT_OEM_CODEPAGE = 0x00069007;
const ATT_ATTACH_REND_DATA = 0x00069002;
const ATT_ATTACH_TITLE = 0x00018010;
const ATT_ATTACH_DATA = 0x0006800f;
const ATT_ATTACHMENT = 0x00069005;

// MAPI property ids.
const PR_BODY = 0x1000;
const PR_BODY_HTML = 0x1013;
const PR_RTF_COMPRESSED = 0x1009;
const PR_INTERNET_CPID = 0x3fde;
const PR_DISPLAY_NAME = 0x3001;
const PR_ATTACH_DATA = 0x3701;
const PR_ATTACH_FILENAME = 0x3704;
const PR_ATTACH_LONG_FILENAME = 0x3707;
const PR_ATTACH_MIME_TAG = 0x370e;
const PR_ATTACH_CONTENT_ID = 0x3712;

// MAPI property types.
const PT_STRING8 = 0x001e;
const PT_UNICODE = 0x001f;
const PT_BINARY = 0x0102;
const PT_OBJECT = 0x000d;
const MV_FLAG = 0x1000;
const FIXED_SIZE: Record<number, number> = {
  0x0001: 4, // PT_NULL
  0x0002: 2, // PT_SHORT
  0x0003: 4, // PT_LONG
  0x0004: 4, // PT_FLOAT
  0x0005: 8, // PT_DOUBLE
  0x0006: 8, // PT_CURRENCY
  0x0007: 8, // PT_APPTIME
  0x000a: 4, // PT_ERROR
  0x000b: 2, // PT_BOOLEAN
  0x0014: 8, // PT_I8
  0x0040: 8, // PT_SYSTIME
  0x0048: 16, // PT_CLSID
};

interface MapiProp {
  id: number;
  type: number;
  /** Raw values (one unless multi-valued). */
  values: Buffer[];
}

const pad4 = (n: number): number => (n + 3) & ~3;

/** A MAPI property list (attMAPIProps, attAttachment); stops at the first malformed property. */
function readProps(buf: Buffer, warnings: string[]): MapiProp[] {
  const props: MapiProp[] = [];
  if (buf.length < 4) return props;
  const count = buf.readUInt32LE(0);
  let pos = 4;
  const need = (n: number): boolean => pos + n <= buf.length;
  for (let i = 0; i < count; i++) {
    if (!need(4)) break;
    const type = buf.readUInt16LE(pos);
    const id = buf.readUInt16LE(pos + 2);
    pos += 4;
    if (id >= 0x8000) {
      // Named property: GUID, kind, then a numeric id or a UTF-16 name.
      if (!need(20)) break;
      const kind = buf.readUInt32LE(pos + 16);
      pos += 20;
      if (kind === 0) pos += 4;
      else {
        if (!need(4)) break;
        const len = buf.readUInt32LE(pos);
        pos += 4 + pad4(len);
      }
    }
    const base = type & ~MV_FLAG;
    const variable = base === PT_STRING8 || base === PT_UNICODE || base === PT_BINARY || base === PT_OBJECT;
    let n = 1;
    if (variable || type & MV_FLAG) {
      if (!need(4)) break;
      n = buf.readUInt32LE(pos);
      pos += 4;
    }
    const values: Buffer[] = [];
    let ok = true;
    for (let j = 0; j < n && ok; j++) {
      let size: number;
      if (variable) {
        if (!need(4)) {
          ok = false;
          break;
        }
        size = buf.readUInt32LE(pos);
        pos += 4;
      } else {
        const fixed = FIXED_SIZE[base];
        if (fixed === undefined) {
          warnings.push(`TNEF: unsupported MAPI property type 0x${base.toString(16)}; later properties skipped`);
          return props;
        }
        size = fixed;
      }
      if (!need(size)) {
        ok = false;
        break;
      }
      values.push(buf.subarray(pos, pos + size));
      pos += pad4(size);
    }
    if (!ok) {
      warnings.push('TNEF: a MAPI property list is truncated');
      break;
    }
    props.push({ id, type: base, values });
  }
  return props;
}

/** An 8-bit string (PT_STRING8, atpString) in the stream's code page, without its NUL terminator. */
function text8(buf: Buffer, codepage: number | undefined): string {
  const end = buf.indexOf(0);
  return decodeBytes(end === -1 ? buf : buf.subarray(0, end), codepageLabel(codepage));
}

/**
 * The body of rich-text mail, which Outlook keeps only as PR_RTF_COMPRESSED: the HTML it
 * encapsulates when the mail was HTML, else its text. Damage costs a warning, never the message.
 */
function rtfBody(data: Buffer, warnings: string[]): { text?: string; html?: string } {
  try {
    const { rtf, warnings: damage } = decompressRtf(data);
    warnings.push(...damage.map((w) => `TNEF: ${w}`));
    const body = rtfToBody(rtf);
    return body.format === 'html' ? { html: body.content } : { text: body.content };
  } catch (err) {
    if (!(err instanceof RtfCompressedError)) throw err;
    warnings.push(`TNEF: the RTF body is not readable (${err.message})`);
    return {};
  }
}

function propText(p: MapiProp, codepage: number | undefined): string | undefined {
  const v = p.values[0];
  if (!v) return undefined;
  if (p.type === PT_UNICODE) return v.toString('utf16le').replace(/\0+$/, '');
  if (p.type === PT_STRING8) return text8(v, codepage);
  if (p.type === PT_BINARY) return text8(v, codepage);
  return undefined;
}

interface Pending {
  title?: string;
  longName?: string;
  displayName?: string;
  shortName?: string;
  contentType?: string;
  contentId?: string;
  data?: Buffer;
  /** PR_ATTACH_DATA_OBJ: an embedded object, its interface id and bytes. */
  object?: { iid: Buffer; data: Buffer };
}

// IID_IMessage {00020307-0000-0000-C000-000000000046}: the object is an attached Outlook item
// (a mail, task or appointment) in TNEF form, and attAttachData holds only a placeholder text.
const IID_IMESSAGE = Buffer.from('0703020000000000c000000000000046', 'hex');
const MAX_DEPTH = 4;

function finish(p: Pending, index: number, depth: number, warnings: string[]): TnefAttachment[] {
  const name = p.longName || p.shortName || p.title || p.displayName;
  if (p.object?.iid.equals(IID_IMESSAGE)) {
    // The item itself as a .tnef file (nothing lost), plus the files inside it.
    const base = (p.displayName || p.title || `embedded-item-${index}`).replace(/[\\/:*?"<>|]+/g, ' ').trim();
    const out: TnefAttachment[] = [
      { filename: `${base}.tnef`, contentType: 'application/ms-tnef', content: p.object.data },
    ];
    if (depth < MAX_DEPTH) {
      try {
        out.push(...decodeTnefAt(p.object.data, depth + 1).attachments);
      } catch (err) {
        if (!(err instanceof TnefError)) throw err;
        warnings.push(`TNEF: embedded item ${base} is not readable (${err.message})`);
      }
    }
    return out;
  }
  const data = p.data ?? p.object?.data;
  if (!data) return [];
  const out: TnefAttachment = { filename: name || `tnef-attachment-${index}.dat`, content: data };
  if (p.contentType) out.contentType = p.contentType.toLowerCase();
  if (p.contentId) out.contentId = p.contentId.replace(/^<|>$/g, '');
  return [out];
}

/** Decode a TNEF stream. Throws TnefError only when it is not TNEF at all. */
export function decodeTnef(data: Buffer): TnefMessage {
  return decodeTnefAt(data, 0);
}

function decodeTnefAt(data: Buffer, depth: number): TnefMessage {
  if (data.length < 6 || data.readUInt32LE(0) !== SIGNATURE) throw new TnefError('not a TNEF stream (bad signature)');
  const warnings: string[] = [];
  const attachments: TnefAttachment[] = [];
  let codepage: number | undefined;
  let text: string | undefined;
  let html: string | undefined;
  let rtfCompressed: Buffer | undefined;
  let current: Pending | null = null;
  const flush = (): void => {
    if (current) attachments.push(...finish(current, attachments.length + 1, depth, warnings));
    current = null;
  };

  let pos = 6;
  while (pos < data.length) {
    if (pos + 9 > data.length) {
      warnings.push('TNEF: stream ends inside an attribute header');
      break;
    }
    const level = data[pos]!;
    const attr = data.readUInt32LE(pos + 1);
    const length = data.readUInt32LE(pos + 5);
    const start = pos + 9;
    if (level !== LVL_MESSAGE && level !== LVL_ATTACHMENT) {
      warnings.push(`TNEF: invalid attribute level ${level} at byte ${pos}; the rest is ignored`);
      break;
    }
    if (start + length > data.length) {
      warnings.push('TNEF: stream is truncated');
      break;
    }
    const value = data.subarray(start, start + length);
    // The 16-bit checksum after each value is not checked: a mismatch would only lose data.
    pos = start + length + 2;

    if (level === LVL_MESSAGE) {
      if (attr === ATT_OEM_CODEPAGE && value.length >= 4) codepage = value.readUInt32LE(0);
      else if (attr === ATT_BODY) text = text8(value, codepage);
      else if (attr === ATT_MAPI_PROPS) {
        const props = readProps(value, warnings);
        const cpid = props.find((p) => p.id === PR_INTERNET_CPID)?.values[0];
        const bodyCodepage = cpid && cpid.length >= 4 ? cpid.readUInt32LE(0) : codepage;
        for (const p of props) {
          if (p.id === PR_BODY && text === undefined) text = propText(p, bodyCodepage);
          if (p.id === PR_BODY_HTML && html === undefined) html = propText(p, bodyCodepage);
          if (p.id === PR_RTF_COMPRESSED && p.type === PT_BINARY) rtfCompressed ??= p.values[0];
        }
      }
      continue;
    }

    // Attachment level. attAttachRendData opens an attachment; files that put the data first
    // (seen in the wild) open one implicitly.
    if (attr === ATT_ATTACH_REND_DATA) {
      flush();
      current = {};
      continue;
    }
    current ??= {};
    if (attr === ATT_ATTACH_TITLE) current.title = text8(value, codepage);
    else if (attr === ATT_ATTACH_DATA) current.data = value;
    else if (attr === ATT_ATTACHMENT) {
      for (const p of readProps(value, warnings)) {
        if (p.id === PR_ATTACH_LONG_FILENAME) current.longName = propText(p, codepage);
        else if (p.id === PR_ATTACH_FILENAME) current.shortName = propText(p, codepage);
        else if (p.id === PR_DISPLAY_NAME) current.displayName = propText(p, codepage);
        else if (p.id === PR_ATTACH_MIME_TAG) current.contentType = propText(p, codepage);
        else if (p.id === PR_ATTACH_CONTENT_ID) current.contentId = propText(p, codepage);
        else if (p.id === PR_ATTACH_DATA && p.values[0]) {
          // An embedded object carries a 16-byte interface id before its bytes.
          if (p.type === PT_OBJECT && p.values[0].length >= 16)
            current.object = { iid: p.values[0].subarray(0, 16), data: p.values[0].subarray(16) };
          else if (p.type === PT_BINARY) current.data ??= p.values[0];
        }
      }
    }
  }
  flush();
  const blank = (s: string | undefined): boolean => s === undefined || s.trim() === '';
  // Only where Outlook wrote no other body; an embedded item's body is not used, so not decoded.
  if (rtfCompressed && depth === 0 && blank(text) && blank(html)) ({ text, html } = rtfBody(rtfCompressed, warnings));
  const out: TnefMessage = { attachments, warnings };
  if (text !== undefined && text.trim() !== '') out.text = text;
  if (html !== undefined && html.trim() !== '') out.html = html;
  return out;
}

/** A part that holds TNEF: by type, or by Outlook's file name when the type was lost on the way. */
export function isTnefPart(contentType: unknown, filename: unknown): boolean {
  // mailparser hands over whatever a broken header held: only strings are looked at.
  const ct = typeof contentType === 'string' ? contentType.toLowerCase() : '';
  if (typeof filename !== 'string') filename = undefined;
  if (ct === 'application/ms-tnef' || ct === 'application/vnd.ms-tnef') return true;
  return (
    typeof filename === 'string' &&
    /^winmail\.dat$/i.test(filename.trim()) &&
    (ct === 'application/octet-stream' || ct === '')
  );
}
