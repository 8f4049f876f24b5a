// Where the third-party mail corpus is: ../shared/corpus beside the repository, or the folder named
// by MAILGATE_CORPUS. The repository cannot carry it (the mail is not ours to publish), so only the
// corpus suite (vitest.corpus.config.ts) reads it; `npm test` runs on test/fixtures/ alone.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const corpusRoot = process.env.MAILGATE_CORPUS
  ? path.resolve(process.env.MAILGATE_CORPUS)
  : path.resolve(repoRoot, '../shared/corpus');
export const hasCorpus = existsSync(corpusRoot);

export function corpusFile(rel: string): Buffer {
  const file = path.resolve(corpusRoot, rel);
  if (!existsSync(file)) throw new Error(`corpus file missing: ${file} (set MAILGATE_CORPUS to the corpus folder)`);
  return readFileSync(file);
}
