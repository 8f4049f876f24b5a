// What PATH arguments hold: mbox (and gzip), .eml, maildirs, folders of these; and the usage
// errors for paths that hold no mail.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { readMessages, type ReplayItem } from '../../../src/replay/archive/messages.js';
import { classifyHead, discover, maildirTime } from '../../../src/replay/archive/sources.js';
import { fixture, fixturesRoot } from '../../support/fixtures.js';

const config = loadConfig({ env: {} });

async function all(paths: string[], format: 'auto' | 'mboxrd' = 'auto', max = config.smtp.maxMessageBytes) {
  const found = await discover(paths);
  const formats: string[] = [];
  const errors: string[] = [];
  const items: ReplayItem[] = [];
  const events = {
    format: (p: string, f: string) => formats.push(`${p}:${f}`),
    bytes: () => undefined,
    junk: () => undefined,
    fileError: (p: string, m: string) => errors.push(`${p}: ${m}`),
  };
  for await (const item of readMessages(found.sources, { format, maxMessageBytes: max }, events)) items.push(item);
  return { found, items, formats, errors };
}

const eml = (n: number) => `From: a${n}@example.com\nSubject: [GJ-060309] m${n}\nMessage-ID: <m${n}@x>\n\nbody ${n}\n`;

describe('discover and read', () => {
  it('follows links that stay inside the given paths; skips, with a warning, those that point outside', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'replay-outside-'));
    writeFileSync(join(outside, 'secret.eml'), eml(99));
    mkdirSync(join(outside, 'other/cur'), { recursive: true });
    writeFileSync(join(outside, 'other/cur/1700000000.M1P1.host:2,S'), eml(98));
    const root = mkdtempSync(join(tmpdir(), 'replay-links-'));
    mkdirSync(join(root, 'box/cur'), { recursive: true });
    mkdirSync(join(root, 'box/new'));
    writeFileSync(join(root, 'inside.eml'), eml(1));
    symlinkSync(join(root, 'inside.eml'), join(root, 'again.eml'));
    symlinkSync(join(outside, 'secret.eml'), join(root, 'secret.eml'));
    symlinkSync(join(outside, 'other'), join(root, 'elsewhere'));
    symlinkSync('../../../../../../../../../../../../etc/passwd', join(root, 'passwd.eml'));
    symlinkSync(join(outside, 'secret.eml'), join(root, 'box/cur/1700000001.M2P2.host:2,S'));
    symlinkSync(root, join(root, 'loop'));

    const { found, items } = await all([root]);
    expect(found.sources.map((s) => s.path.slice(root.length + 1)).sort()).toEqual(['again.eml', 'inside.eml']);
    const read = items.map((i) => i.raw?.toString() ?? '').join('');
    expect(read).toContain('Message-ID: <m1@x>');
    expect(read).not.toMatch(/m9[89]/);
    const outsideWhy = /^symbolic link pointing outside the given paths \(to .+\): not read$/;
    const skipped = Object.fromEntries(found.skipped.map((s) => [s.path.slice(root.length + 1), s.why]));
    for (const name of ['secret.eml', 'elsewhere', 'passwd.eml', 'box/cur/1700000001.M2P2.host:2,S'])
      expect(skipped[name]).toMatch(outsideWhy);
    expect(found.warnings).toHaveLength(4);

    // The same link given as the PATH itself is the user's own choice: read.
    const direct = await all([join(root, 'secret.eml')]);
    expect(direct.found.sources).toHaveLength(1);
  });

  it('finds mbox, gzip mbox, .eml and maildir mail in a folder tree, in a stable order', async () => {
    const root = mkdtempSync(join(tmpdir(), 'replay-src-'));
    const mbox = fixture('mbox/simple.mbox');
    mkdirSync(join(root, 'a/deeper'), { recursive: true });
    writeFileSync(join(root, 'a/one.mbox'), mbox);
    writeFileSync(join(root, 'a/deeper/two.mbox.gz'), gzipSync(mbox));
    writeFileSync(join(root, 'a/single.eml'), eml(1));
    writeFileSync(join(root, 'a/notes.txt'), 'just some notes\n');
    writeFileSync(join(root, 'a/empty'), '');
    const md = join(root, 'b/Maildir');
    for (const d of ['cur', 'new', 'tmp', '.Sent/cur', '.Sent/new', '.Sent/tmp'])
      mkdirSync(join(md, d), { recursive: true });
    writeFileSync(join(md, 'cur/1700000000.M1P1.host:2,S'), eml(2));
    writeFileSync(join(md, 'new/1700000100.M2P1.host'), eml(3));
    writeFileSync(join(md, 'tmp/1700000200.M3P1.host'), eml(99));
    writeFileSync(join(md, 'dovecot-uidlist'), '3 V1 N4\n');
    writeFileSync(join(md, '.Sent/cur/1700000300.M4P1.host:2,S'), eml(4));

    const { found, items, formats, errors } = await all([root]);
    expect(found.problems).toEqual([]);
    expect(errors).toEqual([]);
    expect(found.sources.map((s) => [s.path.slice(root.length + 1), s.kind, s.gzip])).toEqual([
      ['a/deeper/two.mbox.gz', 'mbox', true],
      ['a/one.mbox', 'mbox', false],
      ['a/single.eml', 'message', false],
      ['b/Maildir/cur/1700000000.M1P1.host:2,S', 'message', false],
      ['b/Maildir/new/1700000100.M2P1.host', 'message', false],
      ['b/Maildir/.Sent/cur/1700000300.M4P1.host:2,S', 'message', false],
    ]);
    expect(found.skipped.map((s) => s.path.slice(root.length + 1)).sort()).toEqual(['a/empty', 'a/notes.txt']);
    expect(items).toHaveLength(3 + 3 + 1 + 3);
    expect(items.map((i) => i.seq)).toEqual([...Array(10).keys()]);
    expect(formats).toHaveLength(2);
    expect(items[0]!.raw!.equals(items[3]!.raw!)).toBe(true);
    const maildirItem = items.find((i) => i.path.endsWith('1700000000.M1P1.host:2,S'))!;
    expect(maildirItem.deliveredAt).toEqual(new Date(1_700_000_000_000));
    expect(maildirItem.raw!.toString()).toBe(eml(2));
  });

  it('an .eml that starts with a From_ line: one message, the line kept for the envelope', async () => {
    const { items } = await all([join(fixturesRoot, 'mbox/from-line.eml')]);
    expect(items).toHaveLength(1);
    expect(items[0]!.fromLine).toBe('From ann@example.net Mon Feb  8 02:53:47 1993');
    expect(items[0]!.raw!.subarray(0, 5).toString()).toBe('Date:');
  });

  it('a message over the size limit is not read, only counted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'replay-big-'));
    writeFileSync(join(dir, 'big.eml'), eml(1) + 'x'.repeat(5000));
    const { items } = await all([dir], 'auto', 1000);
    expect(items).toEqual([expect.objectContaining({ raw: null, size: 5000 + eml(1).length })]);
  });

  it('PATH problems are usage errors, each one line naming the path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'replay-bad-'));
    writeFileSync(join(dir, 'empty.mbox'), '');
    writeFileSync(
      join(dir, 'garbage.bin'),
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0xff, 0xfe]),
    );
    writeFileSync(join(dir, 'empty.gz'), gzipSync(Buffer.alloc(0)));
    mkdirSync(join(dir, 'nomail/sub'), { recursive: true });
    writeFileSync(join(dir, 'nomail/sub/readme.txt'), 'Hello there\n');
    const found = await discover(
      ['empty.mbox', 'garbage.bin', 'empty.gz', 'nomail', 'missing.mbox'].map((p) => join(dir, p)),
    );
    expect(found.sources).toEqual([]);
    expect(found.problems).toEqual([
      `${join(dir, 'empty.mbox')}: empty file, no mail in it`,
      `${join(dir, 'garbage.bin')}: not mail: neither an mbox (no "From " line at the start) nor a message (no header block)`,
      `${join(dir, 'empty.gz')}: empty file, no mail in it`,
      `${join(dir, 'nomail')}: no mail found in this directory (no mbox, .eml or maildir)`,
      `${join(dir, 'missing.mbox')}: no such file or directory`,
    ]);
  });

  it('classifies by content: a BOM, leading blank lines, header blocks and binary', () => {
    expect(classifyHead(Buffer.from('\ufeffFrom -\nFrom: a@b\n'), 'x.txt')).toBe('mbox');
    expect(classifyHead(Buffer.from('From x@y.zz Mon Jan  1 00:00:00 2024\nSubject: s\n'), 'x.eml')).toBe('message');
    expect(classifyHead(Buffer.from('   \n\nReceived: from a\nSubject: s\n\nbody'), 'm0011')).toBe('message');
    expect(classifyHead(Buffer.from('Title: my notes\n\ntext'), 'notes.md')).toBe('not_mail');
    expect(classifyHead(Buffer.from(' \n \n'), 'blank')).toBe('empty');
    expect(maildirTime('1700000000.M1P1.host:2,S')).toEqual(new Date(1_700_000_000_000));
    expect(maildirTime('notatime')).toBeNull();
  });
});
