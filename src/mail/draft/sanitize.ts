// Customer HTML is shown to staff in Sirportly's UI with html_safe=1, i.e. rendered as is: this
// allowlist is the only thing between a hostile mail and a staff session. Anything not listed goes.
import sanitizeHtml from 'sanitize-html';

// Values of the allowed CSS properties: no url(), expression(), var() or escapes, so a style
// attribute can neither load anything nor smuggle a scheme past the attribute checks.
const SAFE_CSS_VALUE = /^(?![\s\S]*(?:url|expression|image-set|var|attr)\s*\()(?![\s\S]*\\)[#%(),.\-\w\s'"/!+]*$/i;

const STYLE_PROPERTIES = [
  'color',
  'background-color',
  'font',
  'font-family',
  'font-size',
  'font-style',
  'font-weight',
  'font-variant',
  'text-align',
  'text-decoration',
  'text-indent',
  'text-transform',
  'line-height',
  'letter-spacing',
  'vertical-align',
  'white-space',
  'word-break',
  'word-wrap',
  'overflow-wrap',
  'direction',
  'width',
  'height',
  'max-width',
  'min-width',
  'max-height',
  'min-height',
  'margin',
  'margin-top',
  'margin-right',
  'margin-bottom',
  'margin-left',
  'padding',
  'padding-top',
  'padding-right',
  'padding-bottom',
  'padding-left',
  'border',
  'border-top',
  'border-right',
  'border-bottom',
  'border-left',
  'border-color',
  'border-style',
  'border-width',
  'border-collapse',
  'border-spacing',
  'border-radius',
  'list-style-type',
  'display',
];

const TABLE_ATTRIBUTES = [
  'align',
  'valign',
  'width',
  'height',
  'bgcolor',
  'border',
  'cellpadding',
  'cellspacing',
  'colspan',
  'rowspan',
  'scope',
];

const BASE: sanitizeHtml.IOptions = {
  allowedTags: [...sanitizeHtml.defaults.allowedTags, 'img', 'font', 'center', 'del', 'ins', 'strike', 'tt', 'big'],
  disallowedTagsMode: 'discard',
  // The text of these goes too, not only the tags (a <title> or <style> is not message text).
  nonTextTags: ['script', 'style', 'textarea', 'option', 'noscript', 'title', 'head', 'xml'],
  allowedAttributes: {
    '*': ['dir', 'lang', 'title', 'align', 'style'],
    // rel and target are always overwritten by transformTags below.
    a: ['href', 'name', 'rel', 'target'],
    img: ['src', 'alt', 'width', 'height', 'border'],
    font: ['color', 'face', 'size'],
    table: TABLE_ATTRIBUTES,
    thead: TABLE_ATTRIBUTES,
    tbody: TABLE_ATTRIBUTES,
    tfoot: TABLE_ATTRIBUTES,
    tr: TABLE_ATTRIBUTES,
    td: TABLE_ATTRIBUTES,
    th: TABLE_ATTRIBUTES,
    col: TABLE_ATTRIBUTES,
    colgroup: TABLE_ATTRIBUTES,
    ol: ['start', 'type'],
    li: ['value'],
  },
  allowedStyles: { '*': Object.fromEntries(STYLE_PROPERTIES.map((p) => [p, [SAFE_CSS_VALUE]])) },
  allowedSchemes: ['http', 'https', 'mailto', 'tel'],
  // cid: keeps inline images pointing at their attachment; data: images are never allowed.
  allowedSchemesByTag: { img: ['http', 'https', 'cid'] },
  allowedSchemesAppliedToAttributes: [
    'href',
    'src',
    'cite',
    'background',
    'action',
    'formaction',
    'longdesc',
    'usemap',
    'poster',
    'xlink:href',
  ],
  allowProtocolRelative: false,
  transformTags: {
    // Links leave the staff UI without telling the target where they came from.
    a: sanitizeHtml.simpleTransform('a', { rel: 'noopener noreferrer nofollow', target: '_blank' }),
  },
};

/** html.remoteImages: keep the remote image as it is, or put its alt text in its place. */
export type RemoteImages = 'keep' | 'drop';

const REMOTE_SRC = /^\s*https?:\/\//i;

function withImages(remote: RemoteImages): sanitizeHtml.IOptions {
  return {
    ...BASE,
    transformTags: {
      ...BASE.transformTags,
      img: (tagName, attribs) => {
        // A mail has no base URL, so a relative image source can only be a trick (e.g. a
        // backquoted "javascript:" that old browsers ran): only absolute http(s) and cid: sources stay.
        const kept = Object.fromEntries(
          Object.entries(attribs).filter(
            ([name, value]) => name !== 'src' || REMOTE_SRC.test(value) || /^\s*cid:/i.test(value),
          ),
        );
        if (remote === 'drop' && kept.src !== undefined && REMOTE_SRC.test(kept.src)) {
          // A remote image loads when staff open the update: the sender learns that, when and
          // from where the mail was read (a tracking beacon). Its alt text stays in its place.
          const alt = kept.alt?.trim();
          return { tagName: 'span', attribs: {}, text: alt ? `[${alt}]` : '' };
        }
        return { tagName, attribs: kept };
      },
    },
  };
}

const OPTIONS: Record<RemoteImages, sanitizeHtml.IOptions> = { keep: withImages('keep'), drop: withImages('drop') };

// display:none stays allowed: hidden text (preheaders, tracking snippets) cannot run or load
// anything once the allowlist above has done its work, and stripping it would take a guess at
// CSS that breaks ordinary mail (responsive layouts hide one of two copies of the content).
export function sanitiseHtml(html: string, remoteImages: RemoteImages = 'keep'): string {
  return sanitizeHtml(html, OPTIONS[remoteImages]);
}
