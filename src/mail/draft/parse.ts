// The one full MIME parse, in the worker (never at the door), bounded in time: a pathological
// message must fail its job, not hold a worker slot forever.
//
// What draft() needs from mailparser is the MIME structure: the text and HTML bodies and the
// attachments (their bytes, type, name, Content-ID, Content-Disposition and Content-Type
// parameters). Subject, Date and From come from headers.ts, never from mailparser. So the parse
// here is mailparser's own MailParser, read the way simpleParser reads it, minus two pieces of
// work whose results nothing reads (together about half of mailparser's time on ordinary mail):
//
// - Header fields other than Content-*: mailparser decodes every header of every part (address
//   lists, List-*, dates, encoded words). Only the Content-* fields are handed to it, so the MIME
//   structure, the attachment fields and `attachment.headers.get('content-type')` are exactly
//   what they were; `ParsedBody` carries no message headers.
// - `textAsHtml` (the plain text turned into HTML for every message with text): skipped when the
//   message has no HTML part. When it has one, mailparser uses the same conversion to put plain
//   text parts outside multipart/alternative into `html`, so then it runs as before.
import { MailParser, type Attachment, type HeaderLines, type MailParserOptions, type ParsedMail } from 'mailparser';
import { within } from '../../deadline.js';
import { GatewayError } from '../../errors.js';

// cid: links stay as they are: MailParser never turns them into data: copies of the inline images
// (simpleParser does, unless told keepCidLinks).
const OPTIONS: MailParserOptions = {
  skipImageLinks: true,
  // body.ts converts HTML itself, from the sanitised HTML.
  skipHtmlToText: true,
  skipTextLinks: true,
  // A forwarded message/rfc822 stays one attachment, byte for byte, instead of being merged
  // into the body with its own attachments spilled among ours.
  ignoreEmbedded: true,
  // A DSN's machine-readable part is an attachment, not message text.
  keepDeliveryStatus: true,
  // attachments.ts hashes with sha256; mailparser's md5 would be wasted work.
  checksumAlgo: false,
};

/** What draft() reads of a parsed message. */
export type ParsedBody = Pick<ParsedMail, 'text' | 'html' | 'attachments'>;

/** Members of MailParser that its type declarations leave out (marked internal). */
interface MailParserInternals {
  hasHtml: boolean;
  processHeaders(lines: HeaderLines | undefined): Map<string, unknown>;
}

const base = MailParser.prototype as unknown as Partial<MailParserInternals>;
// Both shortcuts lean on mailparser internals, so each is taken only when they are what this
// file was written against (else the parse is simply mailparser's full one).
const probe = new MailParser(OPTIONS);
const CAN_SKIP_TEXT_AS_HTML = typeof (probe as unknown as Partial<MailParserInternals>).hasHtml === 'boolean';
probe.destroy();
const processHeaders = typeof base.processHeaders === 'function' ? base.processHeaders : null;

class BodyParser extends MailParser {
  override textToHtml(str: string): string {
    // Without an HTML part the conversion only feeds textAsHtml, which is not read.
    if (CAN_SKIP_TEXT_AS_HTML && !(this as unknown as MailParserInternals).hasHtml) return '';
    return super.textToHtml(str);
  }
}

if (processHeaders) {
  (BodyParser.prototype as unknown as MailParserInternals).processHeaders = function (this: MailParser, lines) {
    return processHeaders.call(
      this,
      lines?.filter((l) => l.key.startsWith('content-')),
    );
  };
}

/** The decoded parts of one message came to more than draft.maxDecodedBytes. */
export function decodedTooLarge(bytes: number, max: number): GatewayError {
  return new GatewayError(
    'draft_limit',
    `decoded parts of the message exceed draft.maxDecodedBytes (${max}): ${bytes} bytes or more`,
  );
}

/** simpleParser's reading of a MailParser, for a Buffer and with cid: links kept. */
function parseBody(raw: Buffer, maxDecodedBytes: number, maxMimeParts: number): Promise<ParsedBody> {
  return new Promise<ParsedBody>((resolve, reject) => {
    const mail: ParsedBody = { attachments: [] };
    const parser = new BodyParser({ ...OPTIONS, maxChildNodes: maxMimeParts });
    // MailParser may emit a non-fatal 'error' and still reach 'end': the first of the two wins.
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    parser.on('error', fail);
    // Decoded bytes so far: attachments as they stream, bodies when they come.
    let decoded = 0;
    const count = (n: number): boolean => {
      decoded += n;
      if (decoded <= maxDecodedBytes) return true;
      fail(decodedTooLarge(decoded, maxDecodedBytes));
      parser.destroy();
      return false;
    };
    let reading = false;
    const reader = (): void => {
      reading = true;
      const data = parser.read();
      if (data === null) {
        reading = false;
        return;
      }
      if (data.type === 'text') {
        if (data.text !== undefined) mail.text = data.text;
        if (data.html !== undefined) mail.html = data.html;
        if (!count((mail.text?.length ?? 0) + (typeof mail.html === 'string' ? mail.html.length : 0))) return;
        reader();
        return;
      }
      const attachment = data;
      const chunks: Buffer[] = [];
      let size = 0;
      const stream = attachment.content;
      stream.on('readable', () => {
        for (let chunk = stream.read() as Buffer | null; chunk !== null; chunk = stream.read() as Buffer | null) {
          if (settled) return;
          chunks.push(chunk);
          size += chunk.length;
          if (!count(chunk.length)) return;
        }
      });
      stream.on('end', () => {
        if (settled) return;
        const release = attachment.release;
        const done = attachment as unknown as Attachment;
        done.content = Buffer.concat(chunks, size);
        mail.attachments.push(done);
        release?.();
        reader();
      });
    };
    parser.on('readable', () => {
      if (!reading) reader();
    });
    parser.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(mail);
    });
    parser.end(raw);
  });
}

export interface ParseLimits {
  /** See decodedTooLarge (draft.maxDecodedBytes; default none). */
  maxDecodedBytes?: number;
  /** MIME parts of the message at most, itself included (draft.maxMimeParts; default mailparser's 1000). */
  maxMimeParts?: number;
}

/** mailsplit's error past maxChildNodes (it has no code of its own: EMAXLEN is shared with maxHeadSize). */
const TOO_MANY_PARTS = /^Max allowed child nodes exceeded/;

/**
 * timeoutMs runs on the caller's own event loop, so it bounds the parse's asynchronous steps only;
 * drafting threads have the hard deadline.
 */
export async function parseMessage(raw: Buffer, timeoutMs: number, limits: ParseLimits = {}): Promise<ParsedBody> {
  const maxMimeParts = limits.maxMimeParts ?? 1000;
  try {
    // On timeout the parse keeps running in the background until it ends; the work is bounded
    // by the message size.
    return await within(
      parseBody(raw, limits.maxDecodedBytes ?? Number.POSITIVE_INFINITY, maxMimeParts),
      timeoutMs,
      () => {
        throw new GatewayError(
          'draft_limit',
          `message could not be parsed within ${timeoutMs} ms (queue.parseTimeoutMs)`,
        );
      },
    );
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    // The same bytes meet the same limit at every try: bad_input, the job fails at once.
    if (err instanceof Error && TOO_MANY_PARTS.test(err.message))
      throw new GatewayError('bad_input', `message has more than ${maxMimeParts} MIME parts (draft.maxMimeParts)`, {
        cause: err,
      });
    throw new GatewayError(
      'bad_input',
      `message could not be parsed: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
}
