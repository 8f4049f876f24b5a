import { describe, expect, it } from 'vitest';
import { isoSeconds, parseMailDate, postedAt, readMailDate } from '../../src/mail/date.js';
import { parseHeaders } from '../../src/mail/headers.js';
import { fixture } from './helpers.js';

const iso = (s: string): string | null => {
  const d = parseMailDate(s);
  return d ? isoSeconds(d) : null;
};

describe('parseMailDate', () => {
  it.each([
    // RFC 5322 and its obsolete forms
    ['Fri, 21 Nov 1997 09:55:06 -0600', '1997-11-21T15:55:06Z'],
    ['21 Nov 1997 09:55:06 -0600', '1997-11-21T15:55:06Z'],
    ['Thu, 13 Feb 1969 23:32:54 -0330', '1969-02-14T03:02:54Z'],
    ['Tue, 1 Jul 2003 10:52:37 +0200', '2003-07-01T08:52:37Z'],
    ['Wed,  6 Dec 2017 17:34:26 +0000 (UTC)', '2017-12-06T17:34:26Z'],
    ['Fri, 21 Nov 1997 09:55 -0600', '1997-11-21T15:55:00Z'],
    ['01 Jan 2001 00:01+0000', '2001-01-01T00:01:00Z'],
    ['Fri, 23 Aug 2002 2:32:53 -0400', '2002-08-23T06:32:53Z'],
    [
      'Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      23:32\r\n               -0330 (Newfoundland Time)',
      '1969-02-14T03:02:00Z',
    ],
    ['Fri, 21 Nov 1997 09(comment):   55  :  06 -0600', '1997-11-21T15:55:06Z'],
    ['Wed, 20 Sep 1995 00:19:00 (EDT) -0400', '1995-09-20T04:19:00Z'],
    ['Sat, 20 Sep 2008 20:04:30 +0300 (ùòåï ÷éõ éøåùìéí)', '2008-09-20T17:04:30Z'],
    // 2- and 3-digit years
    ['21 Nov 97 09:55:06 GMT', '1997-11-21T09:55:06Z'],
    ['Tue, 8 Oct 91 10:25:36 EDT', '1991-10-08T14:25:36Z'],
    ['Sun, 7 May 05 16:21:03 GMT', '2005-05-07T16:21:03Z'],
    ['Sun, 7 May 49 16:21:03 GMT', '2049-05-07T16:21:03Z'],
    ['Sun, 7 May 50 16:21:03 GMT', '1950-05-07T16:21:03Z'],
    ['7 May 105 16:21:03 GMT', '2005-05-07T16:21:03Z'],
    // obsolete zones
    ['Wed, 16 Aug 2006 10:01:17 UT', '2006-08-16T10:01:17Z'],
    ['Sat, 27 Nov 2004 03:35:30 UTC', '2004-11-27T03:35:30Z'],
    ['Wed, 9 Jan 2002 19:47:50 MST', '2002-01-10T02:47:50Z'],
    ['Mon, 23 Sep 96 09:20:00 PDT', '1996-09-23T16:20:00Z'],
    ['Tue, 28 May 1996 12:24:23 cst', '1996-05-28T18:24:23Z'],
    ['Tue, 28 May 1996 12:24:23 CDT', '1996-05-28T17:24:23Z'],
    ['Tue, 28 May 1996 12:24:23 PST', '1996-05-28T20:24:23Z'],
    ['Tue, 28 May 1996 12:24:23 MDT', '1996-05-28T18:24:23Z'],
    ['Tue, 28 May 1996 12:24:23 Q', '1996-05-28T12:24:23Z'],
    ['Tue, 28 May 1996 12:24:23 CET', '1996-05-28T12:24:23Z'],
    ['Tue, 28 May 1996 12:24:23', '1996-05-28T12:24:23Z'],
    ['Tue, 28 May 1996 12:24:23 -0400 EDT', '1996-05-28T16:24:23Z'],
    ['Wed, 16 Aug 2006 20:52:12 +0360', '2006-08-16T16:52:12Z'],
    // ISO 8601 and junk seen in archives
    ['2017-11-23T11:01:56Z', '2017-11-23T11:01:56Z'],
    ['2017-11-23T11:01:56.123+01:00', '2017-11-23T10:01:56Z'],
    ['2017-11-23 11:01:56', '2017-11-23T11:01:56Z'],
    ['Sat Jun  4 08:12:13 2016', '2016-06-04T08:12:13Z'],
    ['Fri May 24 10:35:57 EDT 1991', '1991-05-24T14:35:57Z'],
    ['May 8, 2005 1:17 PM', '2005-05-08T13:17:00Z'],
    ['Wed, Feb 9, 2011 at 11:55 AM', '2011-02-09T11:55:00Z'],
    ['Feb 9, 2011 12:05 AM', '2011-02-09T00:05:00Z'],
    ['Thursday, 1 September 2011 10:00:00 +0000', '2011-09-01T10:00:00Z'],
    ['Sat, 31 Dec 2016 23:59:60 +0000', '2016-12-31T23:59:59Z'],
  ])('%j → %s', (input, expected) => {
    expect(iso(input)).toBe(expected);
  });

  it.each([
    '',
    '   ',
    '<HR>',
    'yesterday',
    'Wed, 15 Dec 2010    59:10 -0500',
    'Pn, 29 paX 2007 21:13:00 +0100',
    'Thu, 31 Apr 2008 10:00:00 +0000',
    'Fri, 29 Feb 2019 10:00:00 +0000',
    'Fri, 0 Feb 2019 10:00:00 +0000',
    'Fri, 10 Feb 2019 24:00:00 +0000',
    'Fri, 10 Feb 2019 10:60:00 +0000',
    '2019-13-01T00:00:00Z',
    '2019-02-29T00:00:00Z',
    'Fri, 10 Feb 1899 10:00:00 +0000',
  ])('rejects %j', (input) => {
    expect(parseMailDate(input)).toBeNull();
  });

  it.each([
    // The date and time are what was written; the zone cannot be read, so UTC, with a note.
    [
      'Tue, 12 Oct 2010 16:21:05 H0500',
      '2010-10-12T16:21:05Z',
      /unreadable time zone "H0500"; date and time taken as UTC/,
    ],
    ['Fri, 10 Feb 2019 10:00:00 +2500', '2019-02-10T10:00:00Z', /unreadable time zone "\+2500"/],
    // The next header run into the Date: the zone is readable, the rest is not part of the date.
    [
      'Tue, 12 Oct 2010 16:21:05 +0200Received: from mx.example.com by mx2.example.com',
      '2010-10-12T14:21:05Z',
      /text after the time zone ignored \("Received:from mx/,
    ],
  ])('%j → %s, noted', (input, expected, note) => {
    const r = readMailDate(input);
    expect(r?.date.toISOString().replace('.000', '')).toBe(expected);
    expect(r?.note).toMatch(note);
    const p = postedAt(input, '2024-05-01T12:00:00Z', { live: false });
    expect(p).toMatchObject({ iso: expected, source: 'date' });
    expect(p.warning).toMatch(note);
  });

  it('accepts 29 February in a leap year', () => {
    expect(iso('Thu, 29 Feb 2024 10:00:00 +0000')).toBe('2024-02-29T10:00:00Z');
  });

  it('parses a Date folded over several lines with a comment, and rejects junk', () => {
    const folded = parseHeaders(fixture('broken/folded-date.eml')).getRaw('date');
    expect(iso(folded!)).toBe('1969-02-14T03:02:00Z');
    const junk = parseHeaders(fixture('broken/bad-date.eml')).getRaw('date');
    expect(junk).toBe('sometime next week, probably');
    expect(parseMailDate(junk)).toBeNull();
  });
});

describe('postedAt', () => {
  const received = '2024-05-01T12:00:00.123Z';

  it('uses the Date header, in UTC at second precision', () => {
    expect(postedAt('Wed, 1 May 2024 13:54:56 +0200', received, { live: true })).toEqual({
      iso: '2024-05-01T11:54:56Z',
      source: 'date',
    });
  });

  it('falls back, with a warning, when Date is missing or garbage', () => {
    const missing = postedAt(undefined, received, { live: true });
    expect(missing).toMatchObject({ iso: '2024-05-01T12:00:00Z', source: 'fallback' });
    expect(missing.warning).toMatch(/no Date/);
    const garbage = postedAt('<HR>', received, { live: false });
    expect(garbage).toMatchObject({ iso: '2024-05-01T12:00:00Z', source: 'fallback' });
    expect(garbage.warning).toMatch(/unparseable/);
  });

  it('on live mail, replaces a Date more than 15 minutes after receipt', () => {
    expect(postedAt('Wed, 1 May 2024 12:14:59 +0000', received, { live: true }).source).toBe('date');
    const future = postedAt('Wed, 1 May 2024 12:16:00 +0000', received, { live: true });
    expect(future).toMatchObject({ iso: '2024-05-01T12:00:00Z', source: 'fallback' });
    expect(future.warning).toMatch(/15 minutes/);
  });

  it('keeps an old Date on live mail and a later-than-fallback Date on replayed mail', () => {
    expect(postedAt('Mon, 1 Jan 2024 00:00:00 +0000', received, { live: true }).iso).toBe('2024-01-01T00:00:00Z');
    expect(
      postedAt('Wed, 1 May 2024 18:00:00 +0000', received, { live: false, now: Date.parse('2025-01-01') }).source,
    ).toBe('date');
  });

  it('never posts a date that is still in the future', () => {
    const r = postedAt('Mon, 30 Jun 3609 15:33:50 +0600', received, { live: false });
    expect(r).toMatchObject({ iso: '2024-05-01T12:00:00Z', source: 'fallback' });
  });
});
