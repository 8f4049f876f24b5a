// What an HTML body may be before it is sanitised: sanitize-html's work grows with the nesting
// depth times the number of tags (each closing tag searches the stack of open ones), so a
// megabyte of nested <div>s takes minutes. One linear pass over the tags measures the depth
// first; HTML past the limits is not sanitised at all and the update carries its text only.

export interface HtmlLimits {
  /** Deepest nesting of elements allowed (html.maxDepth). */
  maxDepth: number;
  /** Largest HTML body, in bytes of UTF-8 once decoded (html.maxBytes). */
  maxBytes: number;
}

// Elements that never hold others: they open nothing.
const VOID = new Set([
  'area',
  'base',
  'br',
  'col',
  'embed',
  'hr',
  'img',
  'input',
  'link',
  'meta',
  'param',
  'source',
  'track',
  'wbr',
  'basefont',
  'bgsound',
  'frame',
  'keygen',
  'image',
]);
// Elements an HTML parser closes by itself when a sibling starts (<p>…<p>, <li>…<li>, <td>…<td>):
// real mail leaves them unclosed by the thousand, so counting them would measure no real depth.
const IMPLIED_END = new Set([
  'p',
  'li',
  'dt',
  'dd',
  'option',
  'optgroup',
  'tr',
  'td',
  'th',
  'thead',
  'tbody',
  'tfoot',
  'rp',
  'rt',
  'colgroup',
]);
// Their content is text, not markup: a "<div>" inside a <script> or <style> nests nothing.
const RAW_TEXT = new Set(['script', 'style', 'textarea', 'title', 'xmp', 'plaintext', 'noscript']);

const TAG = /<(?:(!--)|(\/?)([a-zA-Z][^\s/>]*)([^>]*)>)/g;

/**
 * The deepest element nesting of `html`, counted from its tags without parsing it; counting
 * stops as soon as it passes `stopAbove`. An upper bound of what a parser builds, close to it
 * for mail: unclosed tags other than the self-closing kinds above count as still open.
 */
export function htmlDepth(html: string, stopAbove = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  TAG.lastIndex = 0;
  for (let m = TAG.exec(html); m !== null; m = TAG.exec(html)) {
    if (m[1] !== undefined) {
      // A comment: skip to its end.
      const end = html.indexOf('-->', m.index + 4);
      if (end < 0) break;
      TAG.lastIndex = end + 3;
      continue;
    }
    const name = m[3]!.toLowerCase();
    if (m[2] === '/') {
      if (!VOID.has(name) && !IMPLIED_END.has(name) && depth > 0) depth--;
      continue;
    }
    if (RAW_TEXT.has(name)) {
      const close = new RegExp(`</${name}`, 'gi');
      close.lastIndex = TAG.lastIndex;
      if (!close.test(html)) break;
      TAG.lastIndex = close.lastIndex - name.length - 2;
      continue;
    }
    if (VOID.has(name) || IMPLIED_END.has(name) || m[4]!.endsWith('/')) continue;
    depth++;
    if (depth > deepest) {
      deepest = depth;
      if (deepest > stopAbove) break;
    }
  }
  return deepest;
}

/** Why `html` is not to be sanitised (a warning for the update), or null when it is within the limits. */
export function htmlOverLimits(html: string, limits: HtmlLimits): string | null {
  const bytes = Buffer.byteLength(html, 'utf8');
  if (bytes > limits.maxBytes) {
    return `HTML body of ${bytes} bytes exceeds html.maxBytes (${limits.maxBytes}); the update carries the text only`;
  }
  const depth = htmlDepth(html, limits.maxDepth);
  if (depth > limits.maxDepth) {
    return `HTML body nests elements deeper than html.maxDepth (${limits.maxDepth}); the update carries the text only`;
  }
  return null;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/**
 * The text of HTML that is too large or deep to convert properly: tags out, line breaks where
 * blocks end, the common entities decoded. Linear in the input, whatever its nesting.
 */
export function roughHtmlText(html: string): string {
  return html
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<(script|style|head|title)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<(?:br|\/p|\/div|\/tr|\/li|\/h[1-6]|\/table|\/blockquote)\b[^>]*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(
      /&(?:#(\d{1,7})|#x([0-9a-f]{1,6})|([a-z]+));/gi,
      (all, dec: string | undefined, hex: string | undefined, name: string | undefined) => {
        const code = dec !== undefined ? Number(dec) : hex !== undefined ? parseInt(hex, 16) : undefined;
        if (code !== undefined) return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '';
        return ENTITIES[name!.toLowerCase()] ?? all;
      },
    )
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
