// The streaming mbox splitter against real archives of the corpus (the same list month written by
// three archivers, MimeKit's mbox files), and replay's envelope and sources on real mail. Every
// test states counts and bytes that a wrong splitter gets wrong.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { inspectMessage } from '../../src/mail/inspect.js';
import { parseHeaders } from '../../src/mail/headers.js';
import { detectFormat } from '../../src/replay/archive/detect.js';
import { replayEnvelope } from '../../src/replay/archive/envelope.js';
import type { MboxFormat } from '../../src/replay/archive/mbox-reader.js';
import { readMessages, type ReplayItem } from '../../src/replay/archive/messages.js';
import { discover } from '../../src/replay/archive/sources.js';
import { bodyOf, CORPUS, corpusFile, messageIdOf, messagesOf, split } from '../replay/helpers.js';

const ASF = 'ponymail-unit-tests';

/** Message-ID → body of the first message with it. */
function bodiesById(file: string, format: MboxFormat): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const m of messagesOf(split(corpusFile(`${ASF}/${file}`), format))) {
    // Keyed by Message-ID; one message of the month has none, and is keyed by its Subject and Date.
    const h = parseHeaders(m.raw);
    const id = messageIdOf(m.raw) || `${h.getRaw('subject')}|${h.getRaw('date')}`;
    if (!out.has(id)) out.set(id, bodyOf(m.raw));
  }
  return out;
}

function differing(a: Map<string, Buffer>, b: Map<string, Buffer>): string[] {
  return [...a.keys()].filter((id) => b.has(id) && !a.get(id)!.equals(b.get(id)!));
}

describe('the same ASF month written by three archivers', () => {
  for (const [month, total, unique] of [
    ['maven-dev-2017-11', 317, 317],
    ['maven-dev-2017-12', 221, 221],
    ['maven-dev-2017-11-124652', 1, 1],
  ] as const) {
    it(`${month}: after unquoting, every message has the same body in all three`, () => {
      const listsao = bodiesById(`${month}-listsao.mbox`, 'mboxo');
      const mailarchive = bodiesById(`${month}-mailarchivesao.mbox`, 'mboxo');
      const mboxvm = bodiesById(`${month}-mboxvm.mbox`, 'mboxrd');
      expect(mailarchive.size).toBe(total);
      expect(mboxvm.size).toBe(unique);
      expect(listsao.size).toBe(unique);
      expect([...mboxvm.keys()].sort()).toEqual([...listsao.keys()].sort());
      expect([...mailarchive.keys()].sort()).toEqual([...listsao.keys()].sort());
      expect(differing(listsao, mboxvm)).toEqual([]);
      expect(differing(mailarchive, mboxvm)).toEqual([]);
    });
  }

  it('listsao holds three messages twice (320 From_ lines, 317 Message-IDs)', () => {
    expect(messagesOf(split(corpusFile(`${ASF}/maven-dev-2017-11-listsao.mbox`), 'mboxo'))).toHaveLength(320);
  });

  it('the quoting really differs: reading the mboxrd archive as mboxo leaves one message different', () => {
    const listsao = bodiesById('maven-dev-2017-11-124652-listsao.mbox', 'mboxo');
    const wrong = bodiesById('maven-dev-2017-11-124652-mboxvm.mbox', 'mboxo');
    expect(differing(listsao, wrong)).toHaveLength(1);
    const body = [...wrong.values()][0]!.toString('latin1');
    expect(body).toMatch(/^>>>From "Failed to create parent directories"/m);
    const right = [...bodiesById('maven-dev-2017-11-124652-mboxvm.mbox', 'mboxrd').values()][0]!.toString('latin1');
    expect(right).toMatch(/^>>From "Failed to create parent directories"/m);
    // A body line that was "From my perspective…" is unquoted by both readings.
    const nov = bodiesById('maven-dev-2017-11-mboxvm.mbox', 'mboxrd');
    expect([...nov.values()].some((b) => /^From my perspective the build time/m.test(b.toString('latin1')))).toBe(true);
  });

  it('auto: the mboxrd archive is told apart from nothing, and says it guessed', () => {
    const vm = detectFormat(corpusFile(`${ASF}/maven-dev-2017-11-124652-mboxvm.mbox`), true);
    expect(vm.ambiguous).toBe(true);
    expect(vm.why).toMatch(/--format mboxrd/);
    const plain = detectFormat(corpusFile(`${ASF}/maven-dev-2017-12-mboxvm.mbox`), true);
    expect(plain).toMatchObject({ format: 'mboxrd', ambiguous: false });
    expect(plain.why).toMatch(/read the same/);
  });
});

describe('MimeKit mbox files', () => {
  it('content-length.mbox.txt (Netscape, Content-Length, some lengths wrong): 29 messages, bodies intact', () => {
    const data = corpusFile('mimekit/mbox/content-length.mbox.txt');
    const detected = detectFormat(data, true);
    expect(detected.format).toBe('mboxcl2');
    const items = split(data, 'mboxcl2');
    const msgs = messagesOf(items);
    expect(items).toHaveLength(29);
    expect(msgs).toHaveLength(29);
    // Each message's bytes are exactly the file's bytes from after its From_ line up to the next
    // From_ line, less the one blank separator line.
    const text = data.toString('latin1');
    const starts = [...text.matchAll(/^From .*\n/gm)].map((m) => ({ at: m.index, len: m[0].length }));
    expect(starts).toHaveLength(29);
    starts.forEach((s, i) => {
      const end = starts[i + 1]?.at ?? data.length;
      let expected = data.subarray(s.at + s.len, end);
      if (i + 1 < starts.length && expected.subarray(-2).toString() === '\n\n') expected = expected.subarray(0, -1);
      expect(msgs[i]!.raw.equals(expected), `message ${i + 1}`).toBe(true);
      expect(msgs[i]!.offset).toBe(s.at);
    });
    // The lengths that were right framed their message; the first ones are wrong in the file.
    expect(msgs.filter((m) => m.framing === 'content-length').length).toBe(25);
    expect(msgs[0]!.framing).toBe('separator');
    expect(msgs[0]!.raw.toString('latin1')).toMatch(/--===========================_ _= 1212158\(26598\)--\n$/);
    // Read as mboxo (no lengths) the same 29 messages come out, the quoted From_ lines of the
    // forwarded messages inside one of them unquoted.
    const asMboxo = messagesOf(split(data, 'mboxo'));
    expect(asMboxo).toHaveLength(29);
    const quoted = msgs.findIndex((m) => m.raw.includes('\n>From - Fri Dec 13 15:01:21 1996\n'));
    expect(quoted).toBeGreaterThan(0);
    const quotedLines = msgs[quoted]!.raw.toString('latin1').match(/^>From /gm)!.length;
    expect(asMboxo[quoted]!.raw.length).toBe(msgs[quoted]!.raw.length - quotedLines);
    expect(asMboxo[quoted]!.raw.toString('latin1')).toMatch(/^From - Fri Dec 13 15:01:21 1996$/m);
    expect(asMboxo.map((m) => m.offset)).toEqual(msgs.map((m) => m.offset));
  });

  it('unmunged.mbox.txt (BOM, unescaped "From Russia with love"): 2 messages, the line stays in the body', () => {
    const data = corpusFile('mimekit/mbox/unmunged.mbox.txt');
    expect(data.subarray(0, 3).toString('hex')).toBe('efbbbf');
    for (const format of ['mboxo', 'mboxrd', 'mboxcl2'] as const) {
      const msgs = messagesOf(split(data, format));
      expect(msgs).toHaveLength(2);
      expect(msgs[0]!.raw.toString().startsWith('From: Jeffrey Stedfast')).toBe(true);
      expect(msgs[0]!.fromLine).toBe('From -');
      expect(msgs[0]!.raw.toString()).toMatch(/\n\nFrom Russia with love\n\nWhat does Thunderbird do\?\n$/);
      expect(msgs[1]!.raw.toString()).toMatch(
        /\nFrom Russia with love\nYear: 1963\n\nWhat did Thunderbird do this time\?\n$/,
      );
    }
  });

  it('simple.mbox.txt and issue1189.mbox.txt: 3 and 4 messages', () => {
    expect(messagesOf(split(corpusFile('mimekit/mbox/simple.mbox.txt'), 'mboxrd'))).toHaveLength(3);
    const gmail = messagesOf(split(corpusFile('mimekit/mbox/issue1189.mbox.txt'), 'mboxrd'));
    expect(gmail.map((m) => m.fromLine)).toEqual([
      'From 1844347792267117879@xxx',
      'From 1844347839636459560@xxx',
      'From 1844347853750471882@xxx',
      'From 1844347869536581428@xxx',
    ]);
  });
});

describe('chunking does not change the result', () => {
  const files: Array<[string, MboxFormat]> = [
    ['mimekit/mbox/content-length.mbox.txt', 'mboxcl2'],
    ['mimekit/mbox/unmunged.mbox.txt', 'mboxrd'],
    [`${ASF}/maven-dev-2017-11-124652-mboxvm.mbox`, 'mboxrd'],
    [`${ASF}/httpd-users-200606-part.mbox`, 'mboxo'],
  ];
  for (const [file, format] of files) {
    it(`${file} in odd-sized chunks`, () => {
      const data = corpusFile(file);
      const whole = split(data, format);
      for (const chunks of [[1], [7, 1, 3], [4096], [65_537]]) {
        const parts = split(data, format, { chunks });
        expect(parts.length).toBe(whole.length);
        parts.forEach((p, i) => {
          const w = whole[i]!;
          expect(p.kind).toBe(w.kind);
          if (p.kind === 'message' && w.kind === 'message') expect(p.raw.equals(w.raw)).toBe(true);
        });
      }
    });
  }
});

describe('replay envelope and sources on real mail', () => {
  const config = loadConfig({ env: {} });
  const NOW = new Date('2030-01-01T00:00:00Z');
  async function all(paths: string[]) {
    const found = await discover(paths);
    const items: ReplayItem[] = [];
    const events = {
      format: () => undefined,
      bytes: () => undefined,
      junk: () => undefined,
      fileError: () => undefined,
    };
    for await (const item of readMessages(
      found.sources,
      { format: 'auto', maxMessageBytes: config.smtp.maxMessageBytes },
      events,
    ))
      items.push(item);
    return { found, items };
  }

  it('posted_at: Date:, else the From_ line date, else the newest Received date (draft of real corpus mail)', async () => {
    // ponymail's no_date.mbox: "From " with no date, no Date: header, no Received.
    const noDate = messagesOf(split(corpusFile('ponymail-unit-tests/no_date.mbox'), 'mboxrd'))[0]!;
    const withRef = Buffer.concat([Buffer.from('Subject: [AB-123456] no date\n'), noDate.raw]);
    const r1 = await inspectMessage(withRef, replayEnvelope(withRef, { fromLine: noDate.fromLine }, NOW), config);
    expect(r1.update?.posted_at).toBe('2030-01-01T00:00:00Z');
  });

  it('an .eml that starts with a From_ line: one message, the line kept for the envelope', async () => {
    const { items } = await all([join(CORPUS, 'mailgun-flanker/torture.eml')]);
    expect(items).toHaveLength(1);
    expect(items[0]!.fromLine).toBe('From mrc@CAC.Washington.EDU Mon Feb  8 02:53:47 PST 1993');
    expect(items[0]!.raw!.subarray(0, 5).toString()).toBe('Date:');
  });
});
