// The messages of an archive as `mailgate replay` reads them (its own discover() and mbox reader,
// so ">From " is unquoted): the bytes replay drafts, for the benchmarks that time a step of it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dist = (p) => import(path.join(ROOT, 'dist/src', p));

/**
 * Yields { raw: Buffer, fromLine } for each message of `file` that is not over maxMessageBytes;
 * null when the file holds no mail.
 */
export async function archiveMessages(file, maxMessageBytes) {
  const { discover } = await dist('replay/archive/sources.js');
  const { readMessages } = await dist('replay/archive/messages.js');
  const found = await discover([file]);
  if (found.sources.length === 0) return null;
  const ignore = () => undefined;
  const events = { format: ignore, bytes: ignore, junk: ignore, fileError: ignore };
  return (async function* () {
    for await (const item of readMessages(found.sources, { format: 'auto', maxMessageBytes }, events)) {
      if (item.raw !== null)
        yield { raw: Buffer.from(item.raw.buffer, item.raw.byteOffset, item.raw.byteLength), fromLine: item.fromLine };
    }
  })();
}
