// The streaming mbox splitter against real archives from the corpus and against hand-made edge
// cases. Every corpus test states counts and bytes that a wrong splitter gets wrong.
import { describe, expect, it } from 'vitest';
import { detectFormat } from '../../src/replay/detect.js';
import type { MboxFormat, MboxMessage } from '../../src/replay/mbox-reader.js';
import { parseHeaders } from '../../src/mail/headers.js';
import { bodyOf, corpusFile, messageIdOf, messagesOf, split } from './helpers.js';

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
      expect(msgs[1]!.raw.toString()).toMatch(/\nFrom Russia with love\nYear: 1963\n\nWhat did Thunderbird do this time\?\n$/);
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

const msg = (n: number, body: string, eol = '\n') =>
  [`From sender${n}@example.com Mon Jan  1 10:0${n}:00 2024`, `From: a${n}@example.com`, `Subject: m${n}`, `Message-ID: <m${n}@x>`, '', body, ''].join(eol);

describe('edge cases', () => {
  it('CRLF files split the same way and keep their CRLF', () => {
    const data = Buffer.from(msg(1, 'one\r\n', '\r\n') + '\r\n' + msg(2, 'two', '\r\n'));
    const msgs = messagesOf(split(data, 'mboxrd', { chunks: [5] }));
    expect(msgs.map((m) => m.raw.toString())).toEqual([
      'From: a1@example.com\r\nSubject: m1\r\nMessage-ID: <m1@x>\r\n\r\none\r\n\r\n',
      'From: a2@example.com\r\nSubject: m2\r\nMessage-ID: <m2@x>\r\n\r\ntwo\r\n',
    ]);
    expect(msgs[0]!.fromLine).toBe('From sender1@example.com Mon Jan  1 10:01:00 2024');
  });

  it('mboxrd quoting is reversible; mboxo is read as an mboxo writer wrote it', () => {
    const original = ['From here on', '>From there', '>>From everywhere', 'plain', ''].join('\n');
    const mboxrd = original.replace(/^(>*From )/gm, '>$1');
    const mboxo = original.replace(/^From /gm, '>From ');
    const body = (format: MboxFormat, b: string) =>
      bodyOf(messagesOf(split(Buffer.from(`From x@y.z Mon Jan  1 10:00:00 2024\nSubject: q\n\n${b}\n`), format))[0]!.raw).toString();
    expect(body('mboxrd', mboxrd)).toBe(original);
    expect(body('mboxo', mboxo)).toBe(original.replace(/^>From there/m, 'From there'));
    expect(body('mboxcl2', mboxrd)).toBe(mboxrd);
  });

  it('a truncated last message is still read, and marked', () => {
    const data = Buffer.from(msg(1, 'one') + '\n' + 'From b@example.com Mon Jan  1 10:00:00 2024\nFrom: b@example.com\nSubject: cut off mid-hea');
    const msgs = messagesOf(split(data, 'mboxrd'));
    expect(msgs).toHaveLength(2);
    expect(msgs[0]!.truncated).toBe(false);
    expect(msgs[1]!.truncated).toBe(true);
    expect(msgs[1]!.raw.toString()).toBe('From: b@example.com\nSubject: cut off mid-hea');
  });

  it('a message over the limit is skipped without being held, and the next one is found', () => {
    const big = 'x'.repeat(100) + '\n';
    const data = Buffer.from(msg(1, 'small') + '\n' + msg(2, big.repeat(50)) + '\n' + msg(3, 'after'));
    const items = split(data, 'mboxrd', { max: 1000, chunks: [333] });
    expect(items.map((i) => i.kind)).toEqual(['message', 'too_large', 'message']);
    expect(items[1]).toMatchObject({ kind: 'too_large', index: 2 });
    expect((items[1] as { size: number }).size).toBeGreaterThan(5000);
    expect((items[2] as MboxMessage).raw.toString()).toMatch(/^From: a3@example.com[\s\S]*after\n$/);
  });

  it('a line longer than the reader holds at once (1 MB of base64 without a break) stays intact', () => {
    const long = 'QUJD'.repeat(256 * 1024);
    const data = Buffer.from(msg(1, long) + '\n' + msg(2, 'two'));
    const msgs = messagesOf(split(data, 'mboxrd', { chunks: [10_000] }));
    expect(msgs).toHaveLength(2);
    expect(bodyOf(msgs[0]!.raw).toString()).toBe(long + '\n');
  });

  it('a Content-Length that runs past a real separator falls back to it', () => {
    const first = 'From a@b.cd Mon Jan  1 10:00:00 2024\nSubject: one\nContent-Length: 500\n\nshort body\n\n';
    const second = 'From e@f.gh Mon Jan  1 11:00:00 2024\nSubject: two\nContent-Length: 9\n\nbody two\n';
    const msgs = messagesOf(split(Buffer.from(first + second), 'mboxcl2', { chunks: [17] }));
    expect(msgs.map((m) => m.raw.toString())).toEqual(['Subject: one\nContent-Length: 500\n\nshort body\n', 'Subject: two\nContent-Length: 9\n\nbody two\n']);
    expect(msgs[1]!.framing).toBe('content-length');
  });

  it('mboxcl2: a From_ line inside a body framed by Content-Length stays in the body', () => {
    const inner = 'From x@y.zz Mon Jan  1 09:00:00 2024\nSubject: forwarded\n\ninner\n';
    const first = `From a@b.cd Mon Jan  1 10:00:00 2024\nSubject: one\nContent-Length: ${inner.length}\n\n${inner}\n`;
    const second = 'From e@f.gh Mon Jan  1 11:00:00 2024\nSubject: two\nContent-Length: 4\n\ntwo\n';
    const msgs = messagesOf(split(Buffer.from(first + second), 'mboxcl2'));
    expect(msgs).toHaveLength(2);
    expect(bodyOf(msgs[0]!.raw).toString()).toBe(inner);
    // Without the lengths the same bytes hold three messages.
    expect(messagesOf(split(Buffer.from(first + second), 'mboxo'))).toHaveLength(3);
  });

  it('an unescaped body line shaped like a From_ line but followed by no header stays in the body', () => {
    const body = 'Quoting the log:\nFrom daemon@host Mon Jan  1 10:00:00 2024\nthe job failed\n\nFrom x@y.zz Mon Jan  1 10:00:00 2024\n\nblank after it\n';
    const msgs = messagesOf(split(Buffer.from(msg(1, body) + '\n' + msg(2, 'two')), 'mboxo'));
    expect(msgs).toHaveLength(2);
    expect(bodyOf(msgs[0]!.raw).toString()).toBe(`${body}\n`);
    // A whitespace-only first line (seen in real files) may start a message.
    const ws = messagesOf(split(Buffer.from(msg(1, 'one') + '\nFrom a@b.cd Mon Jan  1 10:00:00 2024\n   \nSubject: s\n\nb\n'), 'mboxo'));
    expect(ws).toHaveLength(2);
  });

  it('junk before the first From line is reported, not taken for mail', () => {
    const items = split(Buffer.from('\x00\x01garbage\nmore garbage\n' + msg(1, 'one')), 'mboxrd');
    expect(items.map((i) => i.kind)).toEqual(['junk', 'message']);
    expect(split(Buffer.from('\x00\x01\x02 no mail here at all'), 'mboxrd').map((i) => i.kind)).toEqual(['junk']);
    expect(split(Buffer.alloc(0), 'mboxrd')).toEqual([]);
  });
});
