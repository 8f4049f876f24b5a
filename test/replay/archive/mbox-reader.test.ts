// The streaming mbox splitter on the project's own archives (test/fixtures/mail/mbox, and a
// made-up list month written as mboxo and as mboxrd) and on hand-made edge cases. Every test
// states counts and bytes that a wrong splitter gets wrong. The corpus suite does the same on
// real archives.
import { describe, expect, it } from 'vitest';
import { detectFormat } from '../../../src/replay/archive/detect.js';
import type { MboxFormat, MboxMessage } from '../../../src/replay/archive/mbox-reader.js';
import { fixture } from '../../support/fixtures.js';
import { fromLineOf, listMonth } from '../../support/list-month.js';
import { bodyOf, messageIdOf, messagesOf, split } from '../helpers.js';

const month = listMonth(30);
const writeMbox = (quote: (text: string) => string): Buffer =>
  Buffer.from(month.map((m, i) => `${fromLineOf(i)}\n${quote(m.raw.toString('latin1'))}\n`).join(''), 'latin1');
/** mboxrd quotes every (>*)From line, so it can be undone; mboxo quotes only "From " lines. */
const mboxrd = writeMbox((t) => t.replace(/^(>*From )/gm, '>$1'));
const mboxo = writeMbox((t) => t.replace(/^From /gm, '>From '));

function bodiesById(data: Buffer, format: MboxFormat): Map<string, Buffer> {
  return new Map(messagesOf(split(data, format)).map((m) => [messageIdOf(m.raw)!, bodyOf(m.raw)]));
}
const original = new Map(month.map((m) => [m.messageId, bodyOf(m.raw)]));
const differing = (a: Map<string, Buffer>) =>
  [...original.keys()].filter((id) => !a.get(id)?.equals(original.get(id)!));
/** The messages with a body line ">From …": the ones an mboxo round trip cannot keep. */
const quotedInOriginal = month.filter((m) => /^>From /m.test(bodyOf(m.raw).toString())).map((m) => m.messageId);

describe('a list month written as mboxo and as mboxrd', () => {
  it('mboxrd read as mboxrd gives every message back byte for byte', () => {
    const read = bodiesById(mboxrd, 'mboxrd');
    expect(read.size).toBe(30);
    expect(differing(read)).toEqual([]);
    expect([...read.values()].some((b) => /^From what I can tell/m.test(b.toString()))).toBe(true);
  });

  it('mboxo read as mboxo loses only what mboxo cannot carry: a body line that was ">From"', () => {
    expect(quotedInOriginal.length).toBeGreaterThan(3);
    expect(differing(bodiesById(mboxo, 'mboxo')).sort()).toEqual([...quotedInOriginal].sort());
  });

  it('the quoting really differs: the mboxrd archive read as mboxo keeps one ">" too many', () => {
    const wrong = bodiesById(mboxrd, 'mboxo');
    expect(differing(wrong).sort()).toEqual([...quotedInOriginal].sort());
    expect(wrong.get(quotedInOriginal[0]!)!.toString()).toMatch(/^>>From the first run/m);
  });

  it('auto: an archive with ">>From" lines is told apart from nothing, and says it guessed', () => {
    const rd = detectFormat(mboxrd, true);
    expect(rd.ambiguous).toBe(true);
    expect(rd.why).toMatch(/--format mboxrd/);
    const o = detectFormat(mboxo, true);
    expect(o).toMatchObject({ format: 'mboxrd', ambiguous: false });
    expect(o.why).toMatch(/read the same/);
  });
});

describe('mbox files', () => {
  it('content-length.mbox (Content-Length, the first two wrong): 6 messages, bodies intact', () => {
    const data = fixture('mbox/content-length.mbox');
    expect(detectFormat(data, true).format).toBe('mboxcl2');
    const items = split(data, 'mboxcl2');
    const msgs = messagesOf(items);
    expect(items).toHaveLength(6);
    // Each message's bytes are exactly the file's bytes from after its From_ line up to the next
    // From_ line, less the one blank separator line.
    const text = data.toString('latin1');
    const starts = [...text.matchAll(/^From person.*\n/gm)].map((m) => ({ at: m.index, len: m[0].length }));
    expect(starts).toHaveLength(6);
    starts.forEach((s, i) => {
      const end = starts[i + 1]?.at ?? data.length;
      let expected = data.subarray(s.at + s.len, end);
      if (i + 1 < starts.length && expected.subarray(-2).toString() === '\n\n') expected = expected.subarray(0, -1);
      expect(msgs[i]!.raw.equals(expected), `message ${i + 1}`).toBe(true);
      expect(msgs[i]!.offset).toBe(s.at);
    });
    // The lengths that were right framed their message; the first two are wrong in the file.
    expect(msgs.map((m) => m.framing)).toEqual([
      'separator',
      'separator',
      'content-length',
      'content-length',
      'content-length',
      'content-length',
    ]);
    // The unquoted From_ lines of the forward inside message 3 stay in its body.
    expect(bodyOf(msgs[2]!.raw).toString()).toBe(
      'third body\nFrom the quoted forward below:\nFrom - Fri Dec 13 15:01:21 1996\nforwarded text\n',
    );
    // Read as mboxo (no lengths) the same 6 messages come out, the quoted ">From" of message 4 unquoted.
    const asMboxo = messagesOf(split(data, 'mboxo'));
    expect(asMboxo.map((m) => m.offset)).toEqual(msgs.map((m) => m.offset));
    expect(asMboxo[3]!.raw.length).toBe(msgs[3]!.raw.length - 1);
    expect(asMboxo[3]!.raw.toString()).toMatch(/^From - Sat Dec 14 09:00:00 1996$/m);
  });

  it('bom-unescaped.mbox (BOM, unescaped "From here on" lines): 2 messages, the lines stay in the body', () => {
    const data = fixture('mbox/bom-unescaped.mbox');
    expect(data.subarray(0, 3).toString('hex')).toBe('efbbbf');
    for (const format of ['mboxo', 'mboxrd', 'mboxcl2'] as const) {
      const msgs = messagesOf(split(data, format));
      expect(msgs).toHaveLength(2);
      expect(msgs[0]!.raw.toString().startsWith('From: Ann <ann@example.net>')).toBe(true);
      expect(msgs[0]!.fromLine).toBe('From -');
      expect(msgs[0]!.raw.toString()).toMatch(/\n\nFrom here on it gets better\n\nWhat does the reader do\?\n$/);
      expect(msgs[1]!.raw.toString()).toMatch(/\n\nFrom here on, again\nYear: 2024\n\nAnd this time\?\n$/);
    }
  });

  it('simple.mbox and gmail-takeout.mbox: 3 and 4 messages', () => {
    expect(messagesOf(split(fixture('mbox/simple.mbox'), 'mboxrd')).map((m) => messageIdOf(m.raw))).toEqual([
      '<m1@mbox.example>',
      '<m2@mbox.example>',
      '<m3@mbox.example>',
    ]);
    const gmail = messagesOf(split(fixture('mbox/gmail-takeout.mbox'), 'mboxrd'));
    expect(gmail.map((m) => m.fromLine)).toEqual([
      'From 17100000000000000001@xxx Wed May 01 10:00:00 +0000 2024',
      'From 17200000000000000002@xxx Wed May 02 10:00:00 +0000 2024',
      'From 17300000000000000003@xxx Wed May 03 10:00:00 +0000 2024',
      'From 17400000000000000004@xxx Wed May 04 10:00:00 +0000 2024',
    ]);
  });
});

describe('chunking does not change the result', () => {
  const files: Array<[string, Buffer, MboxFormat]> = [
    ['content-length.mbox', fixture('mbox/content-length.mbox'), 'mboxcl2'],
    ['bom-unescaped.mbox', fixture('mbox/bom-unescaped.mbox'), 'mboxrd'],
    ['list month, mboxrd', mboxrd, 'mboxrd'],
    ['list month, mboxo', mboxo, 'mboxo'],
  ];
  for (const [name, data, format] of files) {
    it(`${name} in odd-sized chunks`, () => {
      const whole = split(data, format);
      expect(whole.length).toBeGreaterThan(1);
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
  [
    `From sender${n}@example.com Mon Jan  1 10:0${n}:00 2024`,
    `From: a${n}@example.com`,
    `Subject: m${n}`,
    `Message-ID: <m${n}@x>`,
    '',
    body,
    '',
  ].join(eol);

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
      bodyOf(
        messagesOf(split(Buffer.from(`From x@y.z Mon Jan  1 10:00:00 2024\nSubject: q\n\n${b}\n`), format))[0]!.raw,
      ).toString();
    expect(body('mboxrd', mboxrd)).toBe(original);
    expect(body('mboxo', mboxo)).toBe(original.replace(/^>From there/m, 'From there'));
    expect(body('mboxcl2', mboxrd)).toBe(mboxrd);
  });

  it('a truncated last message is still read, and marked', () => {
    const data = Buffer.from(
      msg(1, 'one') +
        '\n' +
        'From b@example.com Mon Jan  1 10:00:00 2024\nFrom: b@example.com\nSubject: cut off mid-hea',
    );
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
    expect(msgs.map((m) => m.raw.toString())).toEqual([
      'Subject: one\nContent-Length: 500\n\nshort body\n',
      'Subject: two\nContent-Length: 9\n\nbody two\n',
    ]);
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
    const body =
      'Quoting the log:\nFrom daemon@host Mon Jan  1 10:00:00 2024\nthe job failed\n\nFrom x@y.zz Mon Jan  1 10:00:00 2024\n\nblank after it\n';
    const msgs = messagesOf(split(Buffer.from(msg(1, body) + '\n' + msg(2, 'two')), 'mboxo'));
    expect(msgs).toHaveLength(2);
    expect(bodyOf(msgs[0]!.raw).toString()).toBe(`${body}\n`);
    // A whitespace-only first line (seen in real files) may start a message.
    const ws = messagesOf(
      split(Buffer.from(msg(1, 'one') + '\nFrom a@b.cd Mon Jan  1 10:00:00 2024\n   \nSubject: s\n\nb\n'), 'mboxo'),
    );
    expect(ws).toHaveLength(2);
  });

  it('junk before the first From line is reported, not taken for mail', () => {
    const items = split(Buffer.from('\x00\x01garbage\nmore garbage\n' + msg(1, 'one')), 'mboxrd');
    expect(items.map((i) => i.kind)).toEqual(['junk', 'message']);
    expect(split(Buffer.from('\x00\x01\x02 no mail here at all'), 'mboxrd').map((i) => i.kind)).toEqual(['junk']);
    expect(split(Buffer.alloc(0), 'mboxrd')).toEqual([]);
  });
});
