// The project's own test mail under test/fixtures/mail, written for the tests by
// test/fixtures/make-mail.mjs (no third-party content).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './corpus.js';

export const fixturesRoot = path.join(repoRoot, 'test/fixtures/mail');

export function fixture(rel: string): Buffer {
  return readFileSync(path.join(fixturesRoot, rel));
}

/** The fixture files under a folder, relative to test/fixtures/mail, sorted. */
export function fixtureFiles(dir = ''): string[] {
  return readdirSync(path.join(fixturesRoot, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.endsWith('.json'))
    .map((e) => path.relative(fixturesRoot, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}
