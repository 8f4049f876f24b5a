// The one full MIME parse, in the worker (never at the door), bounded in time: a pathological
// message must fail its job, not hold a worker slot forever.
import { simpleParser, type ParsedMail, type SimpleParserOptions } from 'mailparser';
import { GatewayError } from '../errors.js';

const OPTIONS: SimpleParserOptions = {
  // cid: links stay as they are instead of becoming data: copies of every inline image.
  keepCidLinks: true,
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

export async function parseMessage(raw: Buffer, timeoutMs: number): Promise<ParsedMail> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new GatewayError('bad_input', `message could not be parsed within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    // On timeout the parse keeps running in the background until it ends; simpleParser offers
    // no way to abort a Buffer input, and the work is bounded by the message size.
    return await Promise.race([simpleParser(raw, OPTIONS), timeout]);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('bad_input', `message could not be parsed: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  } finally {
    clearTimeout(timer);
  }
}
