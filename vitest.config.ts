import { configDefaults, defineConfig } from 'vitest/config';

// `npm test`: everything but the corpus suite, which needs third-party mail the repository does not
// carry (vitest.corpus.config.ts, `npm run test:corpus`).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, 'test/corpus/**'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30000,
    hookTimeout: 30000,
    pool: 'forks',
  },
});
