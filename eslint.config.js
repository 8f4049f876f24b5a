// Lint: typescript-eslint's type-checked rules, plus the layer rules that keep the mail logic pure
// and the Sirportly client independent of the queue.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const ioModules = ['fs', 'fs/promises', 'net', 'dns', 'dns/promises', 'http', 'https', 'http2', 'tls', 'dgram'];
const mailDoesNoIo = [
  ...ioModules.flatMap((m) => [m, `node:${m}`]).map((name) => ({ name, message: 'src/mail does no I/O.' })),
  ...['undici', 'ioredis', 'bullmq'].map((name) => ({ name, message: 'src/mail does no I/O.' })),
];
const doorReadsHeadersOnly = 'src/mail/door decides from the header block: no MIME parse, no draft or TNEF code.';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/out/', 'test/artifacts/', '.ci/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: ['./tsconfig.test.json'], tsconfigRootDir: import.meta.dirname },
      globals: { ...globals.node },
    },
    rules: {
      // A variable a closure reads before its one assignment (a listener made after its handlers).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // Mail logic is pure: no network, file system, Redis or queue, in every subfolder (door, draft,
    // tnef, auth). The DNS resolver for the authenticity check is passed in by the caller.
    files: ['src/mail/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: mailDoesNoIo }],
    },
  },
  {
    // The door runs on the SMTP path: headers only. This entry replaces the one above for
    // src/mail/door, so it repeats the I/O rule.
    files: ['src/mail/door/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...mailDoesNoIo, { name: 'mailparser', message: doorReadsHeadersOnly }],
          patterns: [{ group: ['**/draft/*', '**/tnef/*'], message: doorReadsHeadersOnly }],
        },
      ],
    },
  },
  {
    files: ['src/sirportly/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          // A type from ioredis is allowed: the posted_at offset store is handed its connection.
          paths: ['ioredis', 'bullmq'].map((name) => ({
            name,
            message: 'The Sirportly client knows nothing of the queue.',
            allowTypeImports: true,
          })),
          patterns: [
            {
              group: ['**/queue/*', '**/queue', '**/worker/*', '**/worker'],
              message: 'The Sirportly client knows nothing of the queue.',
            },
          ],
        },
      ],
    },
  },
  {
    // Tests match on expect.any() and loosely typed JSON, stub async interfaces without awaiting,
    // and feed control characters on purpose.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/unbound-method': 'off',
      'no-control-regex': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
