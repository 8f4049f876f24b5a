// Broken mail from the shared corpus, read in place (never copied into the repository). The corpus
// root is MAILGATE_CORPUS, by default ../shared/corpus beside the repository; without it these
// tests are skipped with a message saying where they looked.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { authorOf } from '../../src/mail/author.js';
import { draft } from '../../src/mail/draft/draft.js';
import { parseHeaders } from '../../src/mail/headers.js';
import { replayEnvelope } from '../../src/replay/archive/envelope.js';
import { repoRoot, testConfig } from './helpers.js';

const root = process.env.MAILGATE_CORPUS ?? path.resolve(repoRoot, '../shared/corpus');
const present = existsSync(root);
const config = testConfig();

function read(rel: string): Buffer {
  return readFileSync(path.join(root, rel));
}

async function draftOf(rel: string) {
  const raw = read(rel);
  const headers = parseHeaders(raw);
  return draft(
    raw,
    replayEnvelope(raw, { fromLine: null }, new Date('2024-05-01T12:00:00Z'), headers),
    config,
    'AB-123456',
    headers,
  );
}

describe.runIf(present)(`broken mail in the corpus (${root})`, () => {
  it('a UTF-8 display name with one stray byte keeps its UTF-8 (U+FFFD for the byte)', () => {
    const a = authorOf(parseHeaders(read('mailgun-flanker/mailformed-headers.eml')), '');
    expect(a).toMatchObject({ name: 'Юникод запрещен\ufffd', email: 'headers@gmail.com', source: 'from' });
  });

  it('raw Latin-1 header bytes without a declared charset: the detector, then Latin-1', async () => {
    expect(authorOf(parseHeaders(read('mailgun-flanker/from-encoding.eml')), '').name).toBe('Ingo Lütkebohle');
    expect((await draftOf('mikel-mail/emails/error_emails/invalid_subject_characters.eml')).update.subject).toBe(
      'Formação FrenetikPolis: Mega Campanha Final Verão | Cursos de Setembro',
    );
  });

  it('a windows-1252 byte in a Subject of a message declaring iso-8859-1: the declared charset', async () => {
    // 0x85 is "…" in windows-1252, which is how WHATWG (and every mail client) reads iso-8859-1.
    expect((await draftOf('mailgun-flanker/spam/broken-headers.eml')).update.subject).toBe(
      'Forget Asking For A Link Exchange…',
    );
  });
});

describe.runIf(!present)('broken mail in the corpus', () => {
  it(`is skipped: no corpus at ${root} (set MAILGATE_CORPUS)`, () => {
    expect(present).toBe(false);
  });
});
