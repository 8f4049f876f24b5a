// The update's `message` and `html_body`. Sirportly rejects an empty message (422), so there is
// always some text, even for a mail that is only attachments or nothing at all.
import EmailReplyParser from 'email-reply-parser';
import { compile, type FormatCallback } from 'html-to-text';
import { htmlOverLimits, roughHtmlText, type HtmlLimits } from './html-limits.js';
import { sanitiseHtml, type RemoteImages } from './sanitize.js';

export const ATTACHMENTS_ONLY_TEXT = '(This message has no text; see the attached files.)';
export const EMPTY_MESSAGE_TEXT = '(empty message)';

export interface BodyFields {
  message: string;
  html_body?: string;
  html_safe?: '1';
  /** Why the HTML was left out, when it was over html.maxDepth or html.maxBytes. */
  warning?: string;
}

export interface BodySource {
  /** The text/plain body (mailparser's `text`), if any. */
  text?: string;
  /** The text/html body with cid: links kept, unsanitised. */
  html?: string;
  attachmentCount: number;
  /** Cut quoted history and signatures from `message` (replies.stripQuoted); html_body stays whole. */
  stripQuoted?: boolean;
  /** html.remoteImages (default keep). */
  remoteImages?: RemoteImages;
  /** HTML past these is neither sanitised nor sent; its text is (default: no limits). */
  htmlLimits?: HtmlLimits;
}

/**
 * The new part of a reply: "On … wrote:" blocks, "> " quotes and "-- " signatures cut. When that
 * leaves nothing (a reply that is all quote, a parser surprise), the full text is kept: a lost
 * message is worse than a long one.
 */
export function stripQuotedReply(text: string): string {
  const visible = new EmailReplyParser().read(text.replace(/\r\n?/g, '\n')).getVisibleText();
  return visible.trim() === '' ? text : visible;
}

// An image says nothing in text except its alt; its src (often cid:) would only be noise.
const altOnly: FormatCallback = (elem, _walk, builder) => {
  const attribs = (elem.attribs ?? {}) as Record<string, string | undefined>;
  const alt = attribs.alt?.trim();
  if (alt) builder.addInline(`[${alt}]`);
};

const keepCase = { uppercase: false };

const toText = compile({
  wordwrap: false,
  formatters: { altOnly },
  selectors: [
    { selector: 'img', format: 'altOnly' },
    { selector: 'a', options: { hideLinkHrefIfSameAsText: true, linkBrackets: ['<', '>'] } },
    // Headings keep the writer's case.
    { selector: 'h1', options: keepCase },
    { selector: 'h2', options: keepCase },
    { selector: 'h3', options: keepCase },
    { selector: 'h4', options: keepCase },
    { selector: 'h5', options: keepCase },
    { selector: 'h6', options: keepCase },
  ],
  // Deeply nested HTML (seen in the wild) would otherwise exhaust the stack in the recursive walk.
  limits: { maxDepth: 256 },
});

export function htmlToMessageText(html: string): string {
  return toText(html);
}

// \S is everything trim() keeps (both use ECMAScript's WhiteSpace and LineTerminator), so this is
// s.trim() !== '' without copying the whole text.
const NOT_SPACE = /\S/;

/** Holds something other than white space. */
export function hasText(s: string | undefined): s is string {
  return s !== undefined && NOT_SPACE.test(s);
}

export function composeBody(src: BodySource): BodyFields {
  // Measured before the expensive step, with a linear scan: sanitising HTML past the limits could
  // take minutes.
  const overLimits = src.html !== undefined && src.htmlLimits ? htmlOverLimits(src.html, src.htmlLimits) : null;
  const safeHtml = src.html !== undefined && overLimits === null ? sanitiseHtml(src.html, src.remoteImages) : undefined;
  const htmlFields: Pick<BodyFields, 'html_body' | 'html_safe'> = hasText(safeHtml)
    ? { html_body: safeHtml, html_safe: '1' }
    : {};
  let message: string;
  if (hasText(src.text)) {
    message = src.text;
  } else {
    // Converted from the sanitised HTML: no script or style text can leak into the message. HTML
    // past the limits gives its text by a linear strip of the tags instead.
    const fromHtml =
      overLimits !== null ? roughHtmlText(src.html!) : hasText(safeHtml) ? htmlToMessageText(safeHtml) : '';
    if (hasText(fromHtml)) message = fromHtml;
    else message = src.attachmentCount > 0 ? ATTACHMENTS_ONLY_TEXT : EMPTY_MESSAGE_TEXT;
  }
  if (src.stripQuoted && message !== ATTACHMENTS_ONLY_TEXT && message !== EMPTY_MESSAGE_TEXT)
    message = stripQuotedReply(message);
  return { message: message.trimEnd(), ...htmlFields, ...(overLimits !== null ? { warning: overLimits } : {}) };
}
