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
    // Two test files at a time, also on two cores (vitest's default is one fewer than the cores):
    // most tests wait on sockets, Redis, child processes and retry timers rather than compute, and
    // each file has its own key prefix, ports and Sirportly double.
    maxWorkers: 2,
  },
});
