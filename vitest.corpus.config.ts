import { defineConfig } from 'vitest/config';
import { corpusRoot, hasCorpus } from './test/support/corpus.js';

// `npm run test:corpus`: the tests over the third-party mail corpus (../shared/corpus, or the folder
// in MAILGATE_CORPUS). Without a corpus there is nothing to run: one line says so, and the run
// passes, so that a clone without it can still run every script.
if (!hasCorpus)
  console.log(`corpus suite skipped: no corpus at ${corpusRoot} (set MAILGATE_CORPUS=/path/to/corpus to run it)`);

export default defineConfig({
  test: {
    include: hasCorpus ? ['test/corpus/**/*.corpus.test.ts'] : [],
    passWithNoTests: true,
    globalSetup: hasCorpus ? ['test/support/global-setup.ts', 'test/corpus/setup.ts'] : [],
    testTimeout: 60000,
    hookTimeout: 30000,
    pool: 'forks',
  },
});
