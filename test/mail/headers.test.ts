import { describe, expect, it } from 'vitest';
import { decodeHeaderValue, headerBounds, parseHeaders, stripComments } from '../../src/mail/headers.js';
import { fixture, mail } from './helpers.js';

describe('headerBounds', () => {
  it('ends the header block at the first empty line (CRLF)', () => {
    const raw = mail('Subject: a', 'From: b@example.com', '', 'body', '', 'X-Not: header');
    const b = headerBounds(raw);
    expect(raw.subarray(b.start, b.end).toString()).toBe('Subject: a\r\nFrom: b@example.com\r\n');
    expect(raw.subarray(b.bodyStart).toString()).toBe('body\r\n\r\nX-Not: header');
  });

  it('works with bare LF line ends', () => {
    const raw = Buffer.from('Subject: a\nFrom: b@example.com\n\nbody\n');
    const b = headerBounds(raw);
    expect(raw.subarray(b.bodyStart).toString()).toBe('body\n');
  });

  it('treats a message without an empty line as headers only', () => {
    const raw = Buffer.from('Subject: only headers\r\nFrom: a@example.com\r\n');
    expect(headerBounds(raw)).toEqual({ start: 0, end: raw.length, bodyStart: raw.length, badFolds: [] });
    expect(parseHeaders(raw).get('from')).toBe('a@example.com');
  });

  it('sees no headers when the message starts with an empty line', () => {
    const h = parseHeaders(Buffer.from('\r\nSubject: in the body\r\n'));
    expect(h.fields).toEqual([]);
  });

  it('skips a leading whitespace-only line', () => {
    const h = parseHeaders(Buffer.from('      \nSubject: after blanks\r\nFrom: a@example.com\r\n\r\nbody'));
    expect(h.get('subject')).toBe('after blanks');
  });

  it('skips a UTF-8 byte order mark', () => {
    const h = parseHeaders(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Subject: bom\r\n\r\n')]));
    expect(h.fields).toEqual([{ name: 'Subject', value: 'bom' }]);
  });

  it('reads a message that starts with a whitespace-only line', () => {
    const h = parseHeaders(fixture('broken/leading-blank-line.eml'));
    expect(h.get('subject')).toBe('leading blank');
    expect(h.getRaw('delivered-to')).toBe('bob@example.com');
  });
});

describe('parseHeaders', () => {
  it('unfolds continuation lines', () => {
    const h = parseHeaders(mail('Subject: a long', '\tsubject line', '  continued', 'To: x@example.com', '', ''));
    expect(h.get('Subject')).toBe('a long\tsubject line  continued');
  });

  it('is case-insensitive, get() is the first occurrence and getAll() all of them', () => {
    const h = parseHeaders(
      mail('received: one', 'Received: two', 'RECEIVED: three', 'subject: first', 'Subject: second', '', ''),
    );
    expect(h.get('RECEIVED')).toBe('one');
    expect(h.getAll('received')).toEqual(['one', 'two', 'three']);
    expect(h.get('SUBJECT')).toBe('first');
    expect(h.has('x-missing')).toBe(false);
    expect(h.get('x-missing')).toBeUndefined();
    expect(h.getAll('x-missing')).toEqual([]);
  });

  it('decodes RFC 2047 encoded words, joining adjacent ones', () => {
    const h = parseHeaders(mail('Subject: =?UTF-8?Q?Caf=C3=A9?= =?UTF-8?B?IG9wZW4=?= [AB-123456]', '', ''));
    expect(h.get('subject')).toBe('Café open [AB-123456]');
    expect(h.getRaw('subject')).toBe('=?UTF-8?Q?Caf=C3=A9?= =?UTF-8?B?IG9wZW4=?= [AB-123456]');
    // The decoded value is kept for later reads, under any spelling of the name; the raw one stays raw.
    expect(h.get('SUBJECT')).toBe('Café open [AB-123456]');
    expect(h.getRaw('Subject')).toBe('=?UTF-8?Q?Caf=C3=A9?= =?UTF-8?B?IG9wZW4=?= [AB-123456]');
    expect(h.get('x-missing')).toBeUndefined();
    expect(h.get('x-missing')).toBeUndefined();
  });

  it('decodes ISO-8859-1 Q words', () => {
    expect(decodeHeaderValue('Re: =?ISO-8859-1?Q?Andr=E9?= Pirard')).toBe('Re: André Pirard');
  });

  it('keeps raw 8-bit UTF-8 and falls back to Latin-1 for non-UTF-8 bytes', () => {
    const utf8 = Buffer.concat([Buffer.from('Subject: '), Buffer.from('Grüße 日本', 'utf8'), Buffer.from('\r\n\r\n')]);
    expect(parseHeaders(utf8).get('subject')).toBe('Grüße 日本');
    const latin1 = Buffer.concat([
      Buffer.from('From: a@example.com\r\nSubject: '),
      Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65]), // "Grüße" in ISO-8859-1
      Buffer.from('\r\nX-Ok: ü\r\n\r\n'.replace('ü', '\u00fc'), 'utf8'),
    ]);
    const h = parseHeaders(latin1);
    expect(h.get('subject')).toBe('Grüße');
    expect(h.get('x-ok')).toBe('ü');
  });

  it('ignores an mbox From_ line and lines whose field name is malformed', () => {
    const h = parseHeaders(
      Buffer.from('From someone@example.com Fri Jul  8 12:08:34 2011\nSubject: x\nBad Name: y\nSubject : spaced\n\n'),
    );
    expect(h.fields.map((f) => f.name)).toEqual(['Subject', 'Subject']);
    expect(h.getAll('subject')).toEqual(['x', 'spaced']);
  });

  it('ends the header block at a line without a colon, as CPython does (no empty line needed)', () => {
    const raw = Buffer.from(
      'Subject: here\nFrom: a@example.com\ncounter to RFC 2822, no separating newline\nSubject: not a header\n',
    );
    const h = parseHeaders(raw);
    expect(h.getAll('subject')).toEqual(['here']);
    expect(h.bounds).toMatchObject({ end: h.bounds.bodyStart });
    expect(raw.subarray(h.bounds.bodyStart).toString()).toMatch(/^counter to RFC 2822/);
    // A message that is all body: no headers at all.
    const body = parseHeaders(Buffer.from('Send Ppp mailing list submissions to\n\tppp@zzz.org\n\nmore'));
    expect(body.fields).toEqual([]);
    expect(body.bounds.bodyStart).toBe(0);
  });

  it('never reads past the header block', () => {
    const h = parseHeaders(mail('Subject: real', '', 'Subject: fake', 'Auto-Submitted: auto-replied'));
    expect(h.getAll('subject')).toEqual(['real']);
    expect(h.has('auto-submitted')).toBe(false);
  });

  it('parses a 210 KB header block', () => {
    const big = Buffer.from(
      `Subject: big\r\n${'X-Filler: ' + 'a'.repeat(70) + '\r\n'}`.repeat(1) +
        `X-Long: ${'b '.repeat(100_000)}\r\n\r\nbody`,
    );
    const h = parseHeaders(big);
    expect(h.get('subject')).toBe('big');
    expect(h.get('x-long')?.trim()).toBe('b '.repeat(100_000).trim());
  });
});

describe('stripComments', () => {
  it('removes nested comments and keeps quoted strings', () => {
    expect(stripComments('auto-replied (vacation (nested)) ; x="(not a comment)"')).toBe(
      'auto-replied   ; x="(not a comment)"',
    );
  });
});
