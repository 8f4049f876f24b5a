// Every real message of ../shared/corpus through the door verdict and the full draft: nothing may
// throw or take long, whatever the archive holds (DSNs, torture tests, broken MIME, 8-bit junk).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { draft } from '../src/mail/draft.js';
import { doorVerdict } from '../src/mail/verdict.js';
import { corpusRoot, envelope as makeEnvelope, hasCorpus, splitMbox, testConfig } from './mail/helpers.js';

const PER_MESSAGE_LIMIT_MS = 5000;

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...listFiles(full));
    else out.push(full);
  }
  return out;
}

function isMail(file: string): boolean {
  const rel = path.relative(corpusRoot, file);
  if (rel === 'SOURCES.md' || path.basename(rel) === '.gitattributes') return false;
  // Raw winmail.dat payloads for a TNEF decoder, not messages.
  return !(rel.startsWith(`mimekit${path.sep}tnef${path.sep}`) && rel.endsWith('.tnef'));
}

const files = hasCorpus ? listFiles(corpusRoot).filter(isMail) : [];
const config = testConfig();
const envelope = makeEnvelope();

const totals = {
  messages: 0,
  verdicts: {} as Record<string, number>,
  attachments: 0,
  datesParsed: 0,
  datesFallback: 0,
  authors: 0,
  authorsFromEnvelope: 0,
  slowestMs: 0,
  slowest: '',
};

describe('corpus', () => {
  afterAll(() => {
    const verdicts = Object.entries(totals.verdicts)
      .map(([k, n]) => `${k}=${n}`)
      .join(' ');
    console.log(
      `corpus: ${totals.messages} messages from ${files.length} files; verdicts ${verdicts}; ` +
        `attachments ${totals.attachments}; dates parsed ${totals.datesParsed}, fallback ${totals.datesFallback}; ` +
        `authors from From ${totals.authors}, from envelope ${totals.authorsFromEnvelope}; slowest ${totals.slowestMs.toFixed(0)} ms (${totals.slowest})`,
    );
  });

  it('finds the corpus', () => {
    expect(files.length).toBeGreaterThan(400);
  });

  for (const file of files) {
    const rel = path.relative(corpusRoot, file);
    it(rel, async () => {
      const messages = splitMbox(readFileSync(file));
      for (const [i, raw] of messages.entries()) {
        const name = messages.length > 1 ? `${rel}#${i + 1}` : rel;
        const started = performance.now();
        const verdict = doorVerdict(raw, envelope, config);
        const d = await draft(raw, envelope, config, 'AB-123456');
        const ms = performance.now() - started;
        expect(ms, `${name} took ${ms.toFixed(0)} ms`).toBeLessThan(PER_MESSAGE_LIMIT_MS);
        expect(d.update.message.trim(), `${name}: empty message`).not.toBe('');
        expect(d.update.subject, `${name}: subject differs from the door's`).toBe(verdict.subject);
        expect(d.update.posted_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
        totals.messages++;
        totals.verdicts[verdict.verdict] = (totals.verdicts[verdict.verdict] ?? 0) + 1;
        totals.attachments += d.attachments.length;
        if (d.update.posted_at === '2024-05-01T12:00:00Z') totals.datesFallback++;
        else totals.datesParsed++;
        if (d.update.author_email === envelope.mailFrom) totals.authorsFromEnvelope++;
        else if (d.update.author_email) totals.authors++;
        if (ms > totals.slowestMs) {
          totals.slowestMs = ms;
          totals.slowest = name;
        }
      }
    });
  }
});
