// A small TNEF (winmail.dat, MS-OXTNEF) writer and compressed-RTF (MS-OXRTFCP) compressor for the
// tests: Outlook's formats built from parts the test names, so the decoder can be checked on
// every feature without third-party files.
import { rtfCrc } from '../../src/mail/tnef/rtf-compressed.js';

const SIGNATURE = 0x223e9f78;
export const LVL_MESSAGE = 1;
export const LVL_ATTACHMENT = 2;

export const ATT = {
  body: 0x0001800c,
  mapiProps: 0x00069003,
  oemCodepage: 0x00069007,
  attachRendData: 0x00069002,
  attachTitle: 0x00018010,
  attachData: 0x0006800f,
  attachment: 0x00069005,
} as const;

export const PR = {
  body: 0x1000,
  bodyHtml: 0x1013,
  rtfCompressed: 0x1009,
  internetCpid: 0x3fde,
  displayName: 0x3001,
  attachData: 0x3701,
  attachFilename: 0x3704,
  attachLongFilename: 0x3707,
  attachMimeTag: 0x370e,
  attachContentId: 0x3712,
} as const;

export const PT = {
  long: 0x0003,
  boolean: 0x000b,
  string8: 0x001e,
  unicode: 0x001f,
  binary: 0x0102,
  object: 0x000d,
  mv: 0x1000,
} as const;

/** IID_IMessage: an embedded object that is an Outlook item in TNEF form. */
export const IID_IMESSAGE = Buffer.from('0703020000000000c000000000000046', 'hex');
/** IID_IStorage: an embedded OLE document. */
export const IID_ISTORAGE = Buffer.from('0b00000000000000c000000000000046', 'hex');

export interface Prop {
  id: number;
  type: number;
  /** One value, or several for a multi-valued type (PT.mv | type). */
  values: Buffer[];
  /** For a named property (id >= 0x8000): its GUID and name. */
  name?: { guid: Buffer; name: string };
}

const pad = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

export const str8 = (id: number, s: string, encoding: BufferEncoding = 'latin1'): Prop => ({
  id,
  type: PT.string8,
  values: [Buffer.from(`${s}\0`, encoding)],
});
export const unicode = (id: number, s: string): Prop => ({
  id,
  type: PT.unicode,
  values: [Buffer.from(`${s}\0`, 'utf16le')],
});
export const binary = (id: number, b: Buffer, type: number = PT.binary): Prop => ({ id, type, values: [b] });
export const long = (id: number, n: number): Prop => ({ id, type: PT.long, values: [u32(n)] });

/** A MAPI property list, as attMAPIProps and attAttachment hold it. */
export function propList(props: Prop[]): Buffer {
  const out: Buffer[] = [u32(props.length)];
  for (const p of props) {
    const head = Buffer.alloc(4);
    head.writeUInt16LE(p.type, 0);
    head.writeUInt16LE(p.id, 2);
    out.push(head);
    if (p.name)
      out.push(
        p.name.guid,
        u32(1),
        u32(Buffer.byteLength(`${p.name.name}\0`, 'utf16le')),
        pad(Buffer.from(`${p.name.name}\0`, 'utf16le')),
      );
    const base = p.type & ~PT.mv;
    const variable = base === PT.string8 || base === PT.unicode || base === PT.binary || base === PT.object;
    if (variable || p.type & PT.mv) out.push(u32(p.values.length));
    for (const v of p.values) {
      if (variable) out.push(u32(v.length));
      out.push(pad(v));
    }
  }
  return Buffer.concat(out);
}

/** One attribute: level, id, length, value, and the 16-bit sum of the value's bytes. */
export function attribute(level: number, id: number, value: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUInt8(level, 0);
  head.writeUInt32LE(id, 1);
  head.writeUInt32LE(value.length, 5);
  const sum = Buffer.alloc(2);
  sum.writeUInt16LE(value.reduce((a, b) => (a + b) & 0xffff, 0));
  return Buffer.concat([head, value, sum]);
}

export interface TnefAttachmentSpec {
  /** attAttachTitle: the 8.3-era name, in the stream's code page. */
  title?: string;
  data?: Buffer;
  /** Extra attAttachment properties (long file name, MIME tag, content id, embedded object). */
  props?: Prop[];
  /** Leave out attAttachRendData, which opens an attachment: some writers start the first one with its data. */
  noRendData?: boolean;
}

export interface TnefSpec {
  codepage?: number;
  /** attBody: the plain body in the stream's code page. */
  body?: string;
  messageProps?: Prop[];
  attachments?: TnefAttachmentSpec[];
}

/** A whole TNEF stream. */
export function tnef(spec: TnefSpec): Buffer {
  const parts: Buffer[] = [u32(SIGNATURE), Buffer.from([0x01, 0x00])];
  if (spec.codepage !== undefined)
    parts.push(attribute(LVL_MESSAGE, ATT.oemCodepage, Buffer.concat([u32(spec.codepage), u32(0)])));
  if (spec.body !== undefined) parts.push(attribute(LVL_MESSAGE, ATT.body, Buffer.from(spec.body, 'latin1')));
  if (spec.messageProps) parts.push(attribute(LVL_MESSAGE, ATT.mapiProps, propList(spec.messageProps)));
  for (const a of spec.attachments ?? []) {
    if (!a.noRendData) parts.push(attribute(LVL_ATTACHMENT, ATT.attachRendData, Buffer.alloc(14)));
    if (a.noRendData && a.data) parts.push(attribute(LVL_ATTACHMENT, ATT.attachData, a.data));
    if (a.title !== undefined)
      parts.push(attribute(LVL_ATTACHMENT, ATT.attachTitle, Buffer.from(`${a.title}\0`, 'latin1')));
    if (!a.noRendData && a.data) parts.push(attribute(LVL_ATTACHMENT, ATT.attachData, a.data));
    if (a.props) parts.push(attribute(LVL_ATTACHMENT, ATT.attachment, propList(a.props)));
  }
  return Buffer.concat(parts);
}

const INITIAL_DICT = Buffer.from(
  '{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript ' +
    '\\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n' +
    '\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx',
  'latin1',
);

/** RTF stored uncompressed (COMPTYPE 'MELA'). */
export function melaRtf(rtf: string | Buffer): Buffer {
  const raw = typeof rtf === 'string' ? Buffer.from(rtf, 'latin1') : rtf;
  return Buffer.concat([u32(12 + raw.length), u32(raw.length), Buffer.from('MELA', 'latin1'), u32(0), raw]);
}

/**
 * RTF compressed as Outlook does (COMPTYPE 'LZFu'): greedy longest matches of 2 to 17 bytes in
 * the 4 KB dictionary (which starts with the format's initial text), overlapping runs included.
 */
export function lzfuRtf(rtf: string | Buffer): Buffer {
  const input = typeof rtf === 'string' ? Buffer.from(rtf, 'latin1') : rtf;
  const dict = Buffer.alloc(4096);
  INITIAL_DICT.copy(dict);
  let write = INITIAL_DICT.length;
  const out: number[] = [];
  let control = 0;
  let bit = 0;
  let controlAt = out.push(0) - 1;
  const flush = (): void => {
    out[controlAt] = control;
    control = 0;
    bit = 0;
    controlAt = out.push(0) - 1;
  };
  const put = (b: number): void => {
    dict[write] = b;
    write = (write + 1) % 4096;
  };
  let i = 0;
  while (i < input.length) {
    let bestLen = 0;
    let bestAt = 0;
    const max = Math.min(17, input.length - i);
    for (let o = 0; o < 4096 && max >= 2; o++) {
      if (o === write) continue; // that offset is the end marker
      let k = 0;
      for (; k < max; k++) {
        const back = (o + k - write + 4096) % 4096;
        const byte = back < k ? input[i + back]! : dict[(o + k) % 4096]!;
        if (byte !== input[i + k]) break;
      }
      if (k > bestLen) {
        bestLen = k;
        bestAt = o;
        if (k === max) break;
      }
    }
    if (bestLen >= 2) {
      control |= 1 << bit;
      const token = (bestAt << 4) | (bestLen - 2);
      out.push(token >> 8, token & 0xff);
      for (let k = 0; k < bestLen; k++) put(input[i + k]!);
      i += bestLen;
    } else {
      out.push(input[i]!);
      put(input[i]!);
      i++;
    }
    if (++bit === 8) flush();
  }
  // The end marker: a reference to the write position.
  control |= 1 << bit;
  out.push((write << 4) >> 8, (write << 4) & 0xff);
  out[controlAt] = control;
  const data = Buffer.from(out);
  return Buffer.concat([
    u32(12 + data.length),
    u32(input.length),
    Buffer.from('LZFu', 'latin1'),
    u32(rtfCrc(data)),
    data,
  ]);
}
