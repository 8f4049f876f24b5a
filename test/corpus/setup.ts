// Before the corpus suite: record how CPython's email package decodes every corpus message
// (test/fixtures/cpython-decoded.json, not committed: it holds excerpts of the corpus mail).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { corpusRoot, repoRoot } from '../support/corpus.js';

export function setup(): void {
  const started = Date.now();
  execFileSync('python3', [path.join(repoRoot, 'test/fixtures/make-cpython-expect.py')], {
    cwd: repoRoot,
    env: { ...process.env, MAILGATE_CORPUS: corpusRoot },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  console.log(`corpus suite: ${corpusRoot}; CPython record written in ${Date.now() - started} ms`);
}
