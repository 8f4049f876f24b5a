// mbox files whose lines end in bare CR (old Mac archives) or in a mix of CR, CRLF and LF: the
// splitter, format detection, the file sniffing and `replay --dry-run` read them as lines, and a
// CR LF cut in two by a chunk edge is still one line break. Each archive is written here.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { parseHeaders } from '../../src/mail/headers.js';
import { detectFormat } from '../../src/replay/archive/detect.js';
import type { DryRunLine } from '../../src/replay/dry-run/dry-run-task.js';
import { MboxSplitter, type MboxFormat, type MboxItem } from '../../src/replay/archive/mbox-reader.js';
import { readMessages, type ReplayItem } from '../../src/replay/archive/messages.js';
import { runReplay } from '../../src/replay/replay.js';
import { classifyHead, discover } from '../../src/replay/archive/sources.js';
import { LogSink, startHarness, waitFor, type Double, type Harness } from '../support/harness.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { Capture, REPO_ROOT, messagesOf, split } from './helpers.js';

interface Letter {
  fromLine: string;
  author: string;
  subject: string;
  /** Header lines after From and Subject. */
  more: string[];
  body: string[];
}

const LETTERS: Letter[] = [
  {
    fromLine: 'From ann@example.net Tue Oct 12 16:21:05 2010',
    author: 'Ann Able <ann@example.net>',
    subject: '[AB-123456] first, from a Mac',
    more: ['Date: Tue, 12 Oct 2010 16:21:05 +0000', 'Message-ID: <cr1@example.net>'],
    // mboxrd-quoted body line, then an empty line inside the body.
    body: ['Hello.', '>From the archive, quoted.', '', 'Bye.'],
  },
  {
    fromLine: 'From bob@example.org Wed Oct 13 09:00:00 2010',
    author: 'Bob Baker <bob@example.org>',
    subject: '[AB-123456] second, no Date: dated by its From_ line',
    more: ['Message-ID: <cr2@example.org>'],
    body: ['Only line.'],
  },
  {
    fromLine: 'From cat@example.com Thu Oct 14 10:30:00 2010',
    author: 'Cat Cole <cat@example.com>',
    subject: '[AB-123456] third',
    more: ['Date: Thu, 14 Oct 2010 10:30:00 +0000', 'Message-ID: <cr3@example.com>'],
    body: ['One.', 'Two.'],
  },
];

/** The message as stored in the mbox, each line ended by the next of `eols` (cycled). */
function messageLines(l: Letter): string[] {
  return [`From: ${l.author}`, `Subject: ${l.subject}`, ...l.more, '', ...l.body];
}

/**
 * An mboxrd file of the letters and what the splitter must give back for each (the message
 * without its From_ line, unquoted, without the blank separator line). Line ends are taken from
 * `eols` in turn, one per line of the file.
 */
function mbox(eols: string[], letters = LETTERS): { data: Buffer; raws: string[] } {
  let k = 0;
  const eol = () => eols[k++ % eols.length]!;
  let file = '';
  const raws: string[] = [];
  for (const l of letters) {
    file += l.fromLine + eol();
    let raw = '';
    for (const line of messageLines(l)) {
      const e = eol();
      file += line + e;
      raw += line.replace(/^>(>*From )/, '$1') + e;
    }
    raws.push(raw);
    file += eol(); // the blank line before the next From_ line
  }
  return { data: Buffer.from(file, 'latin1'), raws };
}

const summary = (items: MboxItem[]) =>
  messagesOf(items).map((m) => {
    const h = parseHeaders(m.raw);
    return { from: h.get('from'), subject: h.get('subject'), fromLine: m.fromLine, truncated: m.truncated };
  });
const expected = LETTERS.map((l) => ({ from: l.author, subject: l.subject, fromLine: l.fromLine, truncated: false }));

/** The whole split, as comparable values. */
const shape = (items: MboxItem[]) =>
  items.map((i) => (i.kind === 'message' ? { ...i, raw: i.raw.toString('latin1') } : i));

describe('bare CR line ends', () => {
  const { data, raws } = mbox(['\r']);

  it('a bare-CR mbox of 3 messages splits into 3, with their authors, subjects and From_ lines', () => {
    expect(data.includes('\n')).toBe(false);
    const items = split(data, 'mboxrd');
    expect(items.map((i) => i.kind)).toEqual(['message', 'message', 'message']);
    expect(summary(items)).toEqual(expected);
    // Bytes as written, CR kept; the quoting '>' and the blank separator line removed.
    expect(messagesOf(items).map((m) => m.raw.toString('latin1'))).toEqual(raws);
    expect(messagesOf(items).map((m) => m.offset)).toEqual(LETTERS.map((l) => data.indexOf(l.fromLine, 0, 'latin1')));
  });

  it('a body line shaped like a From_ line without a header after it stays in the body', () => {
    const letters = [{ ...LETTERS[0]!, body: ['Log:', 'From daemon@host Mon Jan  1 10:00:00 2024', 'failed'] }];
    const one = mbox(['\r'], [...letters, LETTERS[1]!]);
    const msgs = messagesOf(split(one.data, 'mboxo'));
    expect(msgs).toHaveLength(2);
    expect(msgs[0]!.raw.toString('latin1')).toContain('\rFrom daemon@host Mon Jan  1 10:00:00 2024\rfailed\r');
  });

  it('a file that ends on its last CR is not truncated; one that ends mid-line is', () => {
    const items = split(data.subarray(0, data.length - 1), 'mboxrd');
    expect(messagesOf(items).map((m) => m.truncated)).toEqual([false, false, false]);
    const cut = split(data.subarray(0, data.length - 3), 'mboxrd');
    expect(messagesOf(cut).map((m) => m.truncated)).toEqual([false, false, true]);
  });

  it('detection reads the lines: quoted >From lines and Content-Length framing are seen', () => {
    expect(detectFormat(data, true)).toMatchObject({ format: 'mboxrd', ambiguous: false });
    expect(detectFormat(data, true).why).toMatch(/^1 quoted >From line/);
    const twice = mbox(['\r'], [{ ...LETTERS[0]!, body: ['>>From here, quoted twice'] }]);
    expect(detectFormat(twice.data, true)).toMatchObject({ format: 'mboxo', ambiguous: true });
  });

  it('mboxcl2 with bare CR: the Content-Length frames the body, a From_ line inside it stays there', () => {
    const inner = 'From x@y.zz Mon Jan  1 09:00:00 2024\rSubject: forwarded\r\rinner\r';
    const first = `From a@b.cd Mon Jan  1 10:00:00 2024\rSubject: one\rContent-Length: ${inner.length}\r\r${inner}\r`;
    const second = 'From e@f.gh Mon Jan  1 11:00:00 2024\rSubject: two\rContent-Length: 4\r\rtwo\r';
    const file = Buffer.from(first + second);
    const plain = Buffer.from(first.replace(inner, `${'x'.repeat(inner.length - 1)}\r`) + second);
    expect(detectFormat(plain, true)).toMatchObject({ format: 'mboxcl2' });
    expect(detectFormat(plain, true).why).toMatch(/2 of 2 checked end at a From line/);
    const msgs = messagesOf(split(file, 'mboxcl2', { chunks: [3] }));
    expect(msgs.map((m) => [m.raw.toString('latin1'), m.framing])).toEqual([
      [`Subject: one\rContent-Length: ${inner.length}\r\r${inner}`, 'content-length'],
      ['Subject: two\rContent-Length: 4\r\rtwo\r', 'content-length'],
    ]);
  });
});

/** One message per line-end style: LF first, so the reader starts on its LF-only path. */
const oneStyleEach = Buffer.concat([
  mbox(['\n'], [LETTERS[2]!]).data,
  mbox(['\r'], [LETTERS[0]!]).data,
  mbox(['\r\n'], [LETTERS[1]!]).data,
]);

describe('mixed line ends', () => {
  // LF, CRLF and bare CR from line to line, CR LF among them.
  const { data, raws } = mbox(['\n', '\r\n', '\r', '\r', '\r\n', '\n']);

  it('every message is found, its bytes kept as written', () => {
    const items = split(data, 'mboxrd');
    expect(summary(items)).toEqual(expected);
    expect(messagesOf(items).map((m) => m.raw.toString('latin1'))).toEqual(raws);
  });

  it('one message per line-end style in one file', () => {
    const subjects = summary(split(oneStyleEach, 'mboxrd')).map((m) => m.subject);
    expect(subjects).toEqual([LETTERS[2]!.subject, LETTERS[0]!.subject, LETTERS[1]!.subject]);
  });
});

describe('chunk edges', () => {
  const files: Array<[string, Buffer, MboxFormat, number]> = [
    ['bare CR', mbox(['\r']).data, 'mboxrd', 3],
    ['mixed', mbox(['\n', '\r\n', '\r', '\r', '\r\n', '\n']).data, 'mboxrd', 3],
    // CR LF From_ line after the first bare CR.
    ['one style each', oneStyleEach, 'mboxrd', 3],
    // No bare CR at all: a chunk that ends between CR and LF must not make one.
    ['CRLF', mbox(['\r\n']).data, 'mboxrd', 3],
    [
      'bare CR, mboxcl2',
      Buffer.from(
        'From a@b.cd Mon Jan  1 10:00:00 2024\rContent-Length: 4\r\rone\r\r' +
          'From e@f.gh Mon Jan  1 11:00:00 2024\rContent-Length: 4\r\rtwo\r',
      ),
      'mboxcl2',
      2,
    ],
  ];

  /** Feed the chunks given by the cut offsets. */
  function cutAt(data: Buffer, format: MboxFormat, cuts: number[]): MboxItem[] {
    const splitter = new MboxSplitter({ format, maxMessageBytes: 1 << 20 });
    const items: MboxItem[] = [];
    let from = 0;
    for (const c of [...cuts, data.length]) {
      items.push(...splitter.push(data.subarray(from, c)));
      from = c;
    }
    items.push(...splitter.end());
    return items;
  }

  for (const [name, data, format, count] of files) {
    it(`${name}: a cut at every offset, and a one-byte chunk at every offset, change nothing`, () => {
      const whole = shape(split(data, format));
      expect(messagesOf(split(data, format))).toHaveLength(count);
      for (let k = 0; k <= data.length; k++) {
        expect(shape(cutAt(data, format, [k])), `cut at ${k}`).toEqual(whole);
        if (k < data.length) expect(shape(cutAt(data, format, [k, k + 1])), `byte ${k} alone`).toEqual(whole);
      }
      for (const chunks of [[1], [2], [3, 1]]) expect(shape(split(data, format, { chunks }))).toEqual(whole);
    });
  }

  it('the CR that ends a chunk is decided by the next byte: CR | LF is one line break', () => {
    // A CRLF archive cut right after each CR: read as lines of CR LF, the From_ lines stay
    // separators (with CR and LF as two breaks, an empty line would follow each From_ line).
    const data = mbox(['\r\n']).data;
    const cuts: number[] = [];
    for (let i = data.indexOf('\r'); i !== -1; i = data.indexOf('\r', i + 1)) cuts.push(i + 1);
    expect(summary(cutAt(data, 'mboxrd', cuts))).toEqual(expected);
  });

  it('a long header line whose CR LF is cut in two by a chunk edge ends there: the next header is read', () => {
    // The first message's bare CR puts the reader on CR line ends before the long line.
    const first = 'From a@b.cd Mon Jan  1 10:00:00 2024\rContent-Length: 4\r\rone\r\r';
    const second = `From e@f.gh Mon Jan  1 11:00:00 2024\r\nX-Long: ${'a'.repeat(70 * 1024)}\r\nContent-Length: 5\r\n\r\ntwo\r\n`;
    const data = Buffer.from(first + second);
    const at = data.indexOf('\r\nContent-Length: 5') + 1;
    for (const cuts of [[at], [at - 1, at], [at, at + 1]]) {
      const msgs = messagesOf(cutAt(data, 'mboxcl2', cuts));
      expect(
        msgs.map((m) => m.framing),
        cuts.join(','),
      ).toEqual(['content-length', 'content-length']);
      expect(msgs[1]!.raw.toString('latin1')).toBe(second.slice(second.indexOf('\r\n') + 2));
    }
  });

  it('a long line (over the 64 KiB the reader holds) ended by a CR across chunks stays intact', () => {
    const long = 'QUJD'.repeat(40 * 1024);
    const letters = [{ ...LETTERS[0]!, body: [long, 'after'] }, LETTERS[1]!];
    for (const eol of ['\r', '\r\n']) {
      const { data, raws } = mbox([eol], letters);
      const at = data.indexOf(long) + long.length + 1; // just after the CR
      for (const chunks of [[10_000], [at], [at, 1]]) {
        const cuts: number[] = [];
        for (let pos = 0, k = 0; pos + chunks[k % chunks.length]! < data.length; k++)
          cuts.push((pos += chunks[k % chunks.length]!));
        expect(
          messagesOf(cutAt(data, 'mboxrd', cuts)).map((m) => m.raw.toString('latin1')),
          `${JSON.stringify(eol)} ${chunks.join(',')}`,
        ).toEqual(raws);
      }
    }
  });
});

describe('files and single messages', () => {
  const config = loadConfig({ env: {} });

  it('a bare-CR message file (with a leading From_ line) is one message, its From_ line read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'replay-cr-'));
    const raw = messageLines(LETTERS[1]!).join('\r') + '\r';
    writeFileSync(join(dir, 'one.eml'), `${LETTERS[1]!.fromLine}\r${raw}`);
    // Blank bare-CR lines before the headers, as some saved files have.
    writeFileSync(join(dir, 'two'), `\r \r${messageLines(LETTERS[2]!).join('\r')}\r`);
    expect(classifyHead(Buffer.from(`\r \r${raw}`), 'x')).toBe('message');
    writeFileSync(join(dir, 'box.mbox'), mbox(['\r']).data);
    const found = await discover([dir]);
    expect(found.sources.map((s) => [s.path.slice(dir.length + 1), s.kind])).toEqual([
      ['box.mbox', 'mbox'],
      ['one.eml', 'message'],
      ['two', 'message'],
    ]);
    const items: ReplayItem[] = [];
    const events = {
      format: () => undefined,
      bytes: () => undefined,
      junk: () => undefined,
      fileError: () => undefined,
    };
    const opts = { format: 'auto' as const, maxMessageBytes: config.smtp.maxMessageBytes };
    for await (const item of readMessages(found.sources, opts, events)) items.push(item);
    expect(items.map((i) => [i.index, i.fromLine, parseHeaders(i.raw!).get('subject')])).toEqual([
      [1, LETTERS[0]!.fromLine, LETTERS[0]!.subject],
      [2, LETTERS[1]!.fromLine, LETTERS[1]!.subject],
      [3, LETTERS[2]!.fromLine, LETTERS[2]!.subject],
      [1, LETTERS[1]!.fromLine, LETTERS[1]!.subject],
      [1, null, LETTERS[2]!.subject],
    ]);
    expect(items[3]!.raw!.toString('latin1')).toBe(raw);
  });
});

describe('replay --dry-run of a bare-CR mbox', () => {
  it('one line per message with its author, subject and date; the From_ line dates the one without Date:', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'replay-cr-dry-'));
    const path = join(dir, 'mac.mbox');
    writeFileSync(path, mbox(['\r']).data);
    const cli = resolve(REPO_ROOT, 'dist/src/cli.js');
    const child = spawn(process.execPath, [cli, 'replay', '--dry-run', path], {
      env: { PATH: process.env.PATH ?? '', REDIS_URL: 'redis://127.0.0.1:1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(stderr).toMatch(/would post +3/);
    expect(code).toBe(0);
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as DryRunLine);
    expect(
      lines.map((l) => [l.source.index, l.verdict, l.update?.author_email, l.update?.subject, l.update?.posted_at]),
    ).toEqual([
      [1, 'post', 'ann@example.net', LETTERS[0]!.subject, '2010-10-12T16:21:05Z'],
      [2, 'post', 'bob@example.org', LETTERS[1]!.subject, '2010-10-13T09:00:00Z'],
      [3, 'post', 'cat@example.com', LETTERS[2]!.subject, '2010-10-14T10:30:00Z'],
    ]);
    expect(lines[0]!.update!.message).toMatch(/Hello\.\r?\nFrom the archive, quoted\.\r?\n/);
  });
});

describe('replay of a bare-CR mbox into Redis, posted by the workers', () => {
  let double: Double;
  let workers: Harness;
  beforeAll(async () => {
    double = await startSirportlyDouble();
    workers = await startHarness(inject('redisUrl'), double, {}, 'worker');
  });
  afterAll(async () => {
    await workers?.close();
    await double?.close();
  });

  it('three messages, three updates with their authors, subjects and dates', async () => {
    const tag = randomBytes(4).toString('hex');
    const letters = LETTERS.map((l) => ({
      ...l,
      subject: `${l.subject} (${tag})`,
      more: l.more.map((h) => h.replace(/^Message-ID: <(\w+)@/, `Message-ID: <$1-${tag}@`)),
    }));
    const path = join(mkdtempSync(join(tmpdir(), 'replay-cr-redis-')), 'mac.mbox');
    writeFileSync(path, mbox(['\r'], letters).data);
    const stdout = new Capture();
    const result = await runReplay(
      { paths: [path], dryRun: false, format: 'auto', since: null, until: null, json: true },
      workers.config,
      createLogger('warn', new LogSink()),
      { stdout, stderr: new Capture() },
    );
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(stdout.text)).toMatchObject({ messages: 3, accepted: 3 });
    const updates = await waitFor('three updates', () => {
      const u = double.state.allUpdates().filter((x) => x.fields.subject?.includes(tag));
      return u.length === 3 ? u : null;
    });
    expect(
      updates
        .map((u) => [u.fields.author_email, u.fields.subject, u.fields.posted_at])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    ).toEqual([
      ['ann@example.net', letters[0]!.subject, '2010-10-12T16:21:05Z'],
      ['bob@example.org', letters[1]!.subject, '2010-10-13T09:00:00Z'],
      ['cat@example.com', letters[2]!.subject, '2010-10-14T10:30:00Z'],
    ]);
  });
});
