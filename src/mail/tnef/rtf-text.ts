// An RTF message body as the HTML or text it stands for: the original HTML when Outlook
// encapsulated it (\fromhtml1, MS-OXRTFEX), the original text (\fromtext), else a plain-text
// rendering of the RTF. Hand-written rather than rtf-stream-parser: that package's public API
// only de-encapsulates and throws on plain RTF ("Not encapsulated HTML or text file", the case
// of every RTF body in our corpus), its plain-text converter is reachable only through its dist/
// internals, and it throws away the whole body on damage (unbalanced braces, \mac) where a mail
// gateway wants what can be read. One pass, no recursion: the input is attacker-supplied.
import { decodeBytes } from '../charset.js';
import { codepageLabel, fcharsetCodepage } from './rtf-codepage.js';

export interface RtfBody {
  format: 'html' | 'text';
  content: string;
}

interface Group {
  /** Inside a destination that is not body text (font table, picture, {\*\…}). */
  skip: boolean;
  /** Inside {\*\htmltag}: original HTML markup, kept whatever \htmlrtf says (MS-OXRTFEX §2.2.3.2). */
  htmltag: boolean;
  /** \htmlrtf: RTF written only for RTF readers, not part of the encapsulated original. */
  htmlrtf: boolean;
  /** Inside \fonttbl: \f and \fcharset describe fonts instead of selecting them. */
  fontTable: boolean;
  /** After {\*: the group is an optional destination, skipped unless its word is known. */
  starred: boolean;
  /** \ucN: how many fallback characters follow each \uN. */
  uc: number;
  font: number | undefined;
}

// Destinations without \* whose text is not body text.
const SKIP = new Set([
  'fonttbl',
  'colortbl',
  'stylesheet',
  'info',
  'pict',
  'object',
  'objdata',
  'listtable',
  'listoverridetable',
  'revtbl',
  'rsidtbl',
  'filetbl',
  'header',
  'headerl',
  'headerr',
  'headerf',
  'footer',
  'footerl',
  'footerr',
  'footerf',
  'footnote',
  'annotation',
  'themedata',
  'colorschememapping',
  'datastore',
  'latentstyles',
  'xmlnstbl',
  'pgdsctbl',
  'mmathPr',
  'fldinst',
  'shpinst',
  'shprslt',
  'nonshppict',
  'pn',
  'pntxta',
  'pntxtb',
  'upr',
  'xe',
  'tc',
  'txe',
  'template',
  'docvar',
  'userprops',
  'private',
  'bkmkstart',
  'bkmkend',
  'do',
]);

const SYMBOLS: Record<string, string> = {
  par: '\n',
  line: '\n',
  sect: '\n',
  page: '\n',
  row: '\n',
  tab: '\t',
  cell: '\t',
  emdash: '\u2014',
  endash: '\u2013',
  bullet: '\u2022',
  lquote: '\u2018',
  rquote: '\u2019',
  ldblquote: '\u201c',
  rdblquote: '\u201d',
  emspace: '\u2003',
  enspace: '\u2002',
  qmspace: '\u2005',
};

const isLetter = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

class Output {
  private readonly parts: string[] = [];
  private bytes: number[] = [];
  private codepage = 0;

  /** Bytes in a code page, decoded together: a double-byte character may be split across \'hh and a literal. */
  byte(b: number, codepage: number): void {
    if (this.bytes.length > 0 && codepage !== this.codepage) this.flush();
    this.codepage = codepage;
    this.bytes.push(b);
  }

  text(s: string): void {
    this.flush();
    this.parts.push(s);
  }

  done(): string {
    this.flush();
    return this.parts.join('');
  }

  private flush(): void {
    if (this.bytes.length === 0) return;
    this.parts.push(decodeBytes(Uint8Array.from(this.bytes), codepageLabel(this.codepage)));
    this.bytes = [];
  }
}

export function rtfToBody(rtf: Uint8Array): RtfBody {
  // Widened by hand: TypeScript does not see the closures below change it.
  let mode = 'rtf' as 'rtf' | 'html' | 'text';
  let codepage = 1252;
  let deff: number | undefined;
  /** The font being described in \fonttbl. */
  let defining: number | undefined;
  const fonts = new Map<number, number>();
  const out = new Output();
  const root: Group = {
    skip: false,
    htmltag: false,
    htmlrtf: false,
    fontTable: false,
    starred: false,
    uc: 1,
    font: undefined,
  };
  const stack: Group[] = [];
  let g = root;
  /** Fallback characters still to drop after a \uN. */
  let ucSkip = 0;

  const visible = (): boolean => !g.skip && (g.htmltag || !g.htmlrtf);
  // Text in an htmltag is in the document's code page, other text in its font's (MS-OXRTFEX §2.2.3.2).
  const textCodepage = (): number => {
    if (g.htmltag) return codepage;
    const font = g.font ?? deff;
    return (font !== undefined ? fonts.get(font) : undefined) ?? codepage;
  };
  const emitByte = (b: number): void => {
    if (ucSkip > 0) {
      ucSkip--;
      return;
    }
    if (visible()) out.byte(b, textCodepage());
  };
  const emitText = (s: string): void => {
    if (ucSkip > 0) {
      ucSkip--;
      return;
    }
    if (visible()) out.text(s);
  };

  const control = (word: string, param: number | undefined): void => {
    const starred = g.starred;
    g.starred = false;
    if (g.skip) {
      if (g.fontTable) {
        if (word === 'f' && param !== undefined) defining = param;
        else if (word === 'fcharset' && param !== undefined && defining !== undefined) {
          const cp = fcharsetCodepage(param);
          if (cp !== undefined) fonts.set(defining, cp);
        } else if (word === 'cpg' && param !== undefined && defining !== undefined && param > 0)
          fonts.set(defining, param);
      }
      return;
    }
    if (starred) {
      if (word === 'htmltag' && mode === 'html') g.htmltag = true;
      else g.skip = true;
      return;
    }
    if (word === 'fonttbl') {
      g.skip = true;
      g.fontTable = true;
      return;
    }
    if (SKIP.has(word)) {
      g.skip = true;
      return;
    }
    if (word === 'u' && param !== undefined) {
      ucSkip = 0;
      emitText(String.fromCharCode(param < 0 ? param + 0x10000 : param & 0xffff));
      ucSkip = g.uc;
      return;
    }
    if (ucSkip > 0) {
      // A fallback may be a control word too (\'hh is handled as a byte).
      ucSkip--;
      return;
    }
    const symbol = SYMBOLS[word];
    if (symbol !== undefined) return emitText(symbol);
    switch (word) {
      // Only in the document's own group: the header.
      case 'fromhtml':
        if (stack.length === 1) mode = 'html';
        return;
      case 'fromtext':
        if (stack.length === 1 && mode === 'rtf') mode = 'text';
        return;
      case 'htmlrtf':
        g.htmlrtf = param !== 0;
        return;
      case 'ansicpg':
        if (param !== undefined && param > 0) codepage = param;
        return;
      case 'mac':
        codepage = 10000;
        return;
      case 'pc':
        codepage = 437;
        return;
      case 'pca':
        codepage = 850;
        return;
      case 'deff':
        deff = param;
        return;
      case 'f':
        g.font = param;
        return;
      case 'plain':
        g.font = deff;
        return;
      case 'uc':
        if (param !== undefined && param >= 0) g.uc = param;
        return;
    }
  };

  const buf = Buffer.from(rtf.buffer, rtf.byteOffset, rtf.byteLength);
  const n = buf.length;
  let i = 0;
  while (i < n) {
    const c = buf[i]!;
    if (c === 0x7b) {
      // {
      stack.push(g);
      g = { ...g, starred: false };
      ucSkip = 0;
      i++;
    } else if (c === 0x7d) {
      // }
      g = stack.pop() ?? root;
      ucSkip = 0;
      i++;
      // What follows the document's closing brace (padding, NULs) is not part of it.
      if (stack.length === 0) break;
    } else if (c === 0x0d || c === 0x0a || c === 0) {
      i++;
    } else if (c !== 0x5c) {
      emitByte(c);
      i++;
    } else {
      // A backslash: control word, \'hh, or control symbol.
      const next = buf[i + 1];
      if (next === undefined) break;
      if (isLetter(next)) {
        let j = i + 1;
        while (j < n && j - i <= 32 && isLetter(buf[j]!)) j++;
        const word = buf.toString('latin1', i + 1, j);
        let param: number | undefined;
        let k = j;
        if (buf[k] === 0x2d && k + 1 < n && isDigit(buf[k + 1]!)) k++;
        while (k < n && k - j <= 11 && isDigit(buf[k]!)) k++;
        if (k > j) param = Number(buf.toString('latin1', j, k));
        if (buf[k] === 0x20) k++;
        i = k;
        if (word === 'bin') {
          // Binary data: its bytes are not RTF and may hold braces.
          i += Math.max(0, param ?? 0);
          continue;
        }
        control(word, param);
      } else if (next === 0x27) {
        // \'hh
        const hex = buf.toString('latin1', i + 2, Math.min(i + 4, n));
        i += 4;
        if (/^[0-9a-fA-F]{2}$/.test(hex)) emitByte(parseInt(hex, 16));
      } else {
        i += 2;
        if (next === 0x2a) g.starred = true;
        else if (next === 0x5c || next === 0x7b || next === 0x7d) emitByte(next);
        else if (next === 0x7e) emitText('\u00a0');
        else if (next === 0x5f) emitText('\u2011');
        else if (next === 0x0d || next === 0x0a) emitText('\n');
        // \- (optional hyphen), \| and \: (formula, index) show nothing.
      }
    }
  }
  const content = out.done();
  if (mode === 'html') return { format: 'html', content };
  return { format: 'text', content: content.replace(/[ \t]+$/gm, '').replace(/^\n+|\s+$/g, '') };
}
