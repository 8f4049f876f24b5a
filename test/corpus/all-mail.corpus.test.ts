// Every real message of ../shared/corpus through the door verdict and the full draft: nothing may
// throw or take long, whatever the archive holds (DSNs, torture tests, broken MIME, 8-bit junk).
// Each message is compared with what CPython's email package decoded (test/fixtures/
// cpython-decoded.json): a field CPython finds text in must not come out empty here, and where
// both decode cleanly they must agree (or the file is a documented known difference). Every cid:
// image the HTML references must be an uploaded inline attachment.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { referencedCids } from '../../src/mail/draft/attachments.js';
import { ATTACHMENTS_ONLY_TEXT, EMPTY_MESSAGE_TEXT } from '../../src/mail/draft/body.js';
import { draft } from '../../src/mail/draft/draft.js';
import { doorVerdict } from '../../src/mail/door/verdict.js';
import { compareWithCpython, cpython, KNOWN_DIFFERENCES } from '../mail/cpython.js';
import { corpusRoot, envelope as makeEnvelope, hasCorpus, splitMbox, testConfig } from '../mail/helpers.js';
import { cleanLine } from '../../src/mail/clean.js';

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
  // Raw winmail.dat payloads for a TNEF decoder, not messages (test/mail/tnef/tnef.test.ts).
  return !(rel.startsWith(`mimekit${path.sep}tnef${path.sep}`) && rel.endsWith('.tnef'));
}

const files = hasCorpus ? listFiles(corpusRoot).filter(isMail) : [];
const config = testConfig();
const envelope = makeEnvelope();

/** Content-IDs present in the raw message (headers of any part), as written. */
function contentIdsIn(raw: Buffer): Set<string> {
  const ids = new Set<string>();
  for (const m of raw.toString('latin1').matchAll(/^content-id:\s*<?([^>\r\n]+)>?/gim)) ids.add(m[1]!.trim());
  return ids;
}

const totals = {
  messages: 0,
  verdicts: {} as Record<string, number>,
  reasons: {} as Record<string, number>,
  attachments: 0,
  inlineImages: 0,
  datesParsed: 0,
  datesFallback: 0,
  authors: 0,
  authorsFromEnvelope: 0,
  cpythonCompared: 0,
  cpythonKnownDifferences: 0,
  slowestMs: 0,
  slowest: '',
};

describe('corpus', () => {
  afterAll(() => {
    const verdicts = Object.entries(totals.verdicts)
      .sort()
      .map(([k, n]) => `${k}=${n}`)
      .join(' ');
    const reasons = Object.entries(totals.reasons)
      .sort()
      .map(([k, n]) => `${k}=${n}`)
      .join(' ');
    console.log(
      `corpus: ${totals.messages} messages from ${files.length} files; verdicts ${verdicts} (${reasons}); ` +
        `attachments ${totals.attachments} (inline images ${totals.inlineImages}); dates parsed ${totals.datesParsed}, fallback ${totals.datesFallback}; ` +
        `authors from From ${totals.authors}, from envelope ${totals.authorsFromEnvelope}; ` +
        `CPython: ${totals.cpythonCompared} compared, ${totals.cpythonKnownDifferences} known differences; ` +
        `slowest ${totals.slowestMs.toFixed(0)} ms (${totals.slowest})`,
    );
  });

  it('finds the corpus and its CPython record', () => {
    expect(files.length).toBeGreaterThan(400);
    expect(Object.keys(cpython).length).toBeGreaterThan(2400);
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
        // The same header reader, made one clean line for Sirportly.
        expect(d.update.subject, `${name}: subject differs from the door's`).toBe(cleanLine(verdict.subject));
        expect(d.update.posted_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);

        const expected = cpython[name.split(path.sep).join('/')];
        expect(
          expected,
          `${name}: not in test/fixtures/cpython-decoded.json (run make-cpython-expect.py)`,
        ).toBeDefined();
        const placeholder = d.update.message === ATTACHMENTS_ONLY_TEXT || d.update.message === EMPTY_MESSAGE_TEXT;
        const cmp = compareWithCpython(expected!, d, placeholder);
        expect(cmp.empty, `${name}: empty where CPython finds text`).toEqual([]);
        const known = KNOWN_DIFFERENCES[name.split(path.sep).join('/')];
        if (known) totals.cpythonKnownDifferences++;
        else expect(cmp.differs, `${name}: decoded differently from CPython`).toEqual([]);
        totals.cpythonCompared++;

        // cid: images present in the message stay referenced and are uploaded as inline files.
        const present = contentIdsIn(raw);
        const uploaded = new Map(d.attachments.filter((a) => a.contentId).map((a) => [a.contentId!, a]));
        for (const cid of referencedCids(d.update.html_body)) {
          if (!present.has(cid)) continue;
          expect(uploaded.get(cid)?.inline, `${name}: cid:${cid} not uploaded as an inline attachment`).toBe(true);
          totals.inlineImages++;
        }

        totals.messages++;
        totals.verdicts[verdict.verdict] = (totals.verdicts[verdict.verdict] ?? 0) + 1;
        totals.reasons[verdict.reason] = (totals.reasons[verdict.reason] ?? 0) + 1;
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
