// The envelope replay rebuilds from an archive, and what it changes in the door verdict and the
// draft: the plus-tag rule sees Delivered-To/To, posted_at falls back to the From_ line date and
// then to the newest Received date.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { inspectMessage } from '../../../src/mail/inspect.js';
import { doorVerdict } from '../../../src/mail/door/verdict.js';
import { parseHeaders } from '../../../src/mail/headers.js';
import { isFromLine, parseFromLine } from '../../../src/replay/archive/from-line.js';
import { messageTime, newestReceived, replayEnvelope } from '../../../src/replay/archive/envelope.js';
import { fixture } from '../../support/fixtures.js';
import { messagesOf, split } from '../helpers.js';

const config = loadConfig({ env: {} });
const NOW = new Date('2030-01-01T00:00:00Z');

const mail = (headers: string[], body = 'Hello.\n') => Buffer.from(`${headers.join('\n')}\n\n${body}`);

describe('From_ lines', () => {
  it('tells separators from body lines', () => {
    expect(isFromLine('From dev-return-1@maven.apache.org  Wed Nov  1 06:04:52 2017\n')).toBe(true);
    expect(isFromLine('From - Mon Jun  3 12:50:27 1996')).toBe(true);
    expect(isFromLine('From -')).toBe(true);
    expect(isFromLine('From ')).toBe(true);
    expect(isFromLine('From 1844347792267117879@xxx')).toBe(true);
    expect(isFromLine('From MAILER-DAEMON Tue Oct 14 03:34:15 2014')).toBe(true);
    expect(isFromLine('From Russia with love')).toBe(false);
    expect(isFromLine('From my perspective the build time is NOT significantly faster')).toBe(false);
    expect(isFromLine('From: someone@example.com')).toBe(false);
  });

  it('reads the sender and the date', () => {
    expect(parseFromLine('From dev@maven.apache.org  Wed Nov  1 06:04:52 2017')).toEqual({
      sender: 'dev@maven.apache.org',
      date: new Date('2017-11-01T06:04:52Z'),
    });
    expect(parseFromLine('From mrc@CAC.Washington.EDU Mon Feb  8 02:53:47 PST 1993').date).toEqual(
      new Date('1993-02-08T10:53:47Z'),
    );
    expect(parseFromLine('From MAILER-DAEMON  Tue Jul  7 22:47:39 2009').sender).toBe('');
    // Netscape's "From -" and Gmail's thread ids name no sender.
    expect(parseFromLine('From - Mon Jun  3 12:50:27 1996').sender).toBeNull();
    expect(parseFromLine('From 1844347792267117879@xxx').sender).toBeNull();
    expect(parseFromLine('From ').date).toBeNull();
  });
});

describe('replayEnvelope', () => {
  it('sender from the From_ line, else Return-Path; recipients from Delivered-To and To', () => {
    const raw = mail([
      'Return-Path: <bounce@lists.example.org>',
      'Delivered-To: support+GJ-060309@example.com',
      'To: "Help" <help@example.com>, other@example.net (Other)',
      'Subject: no reference here',
    ]);
    const fromLine = 'From ann@example.net Mon Jan  1 10:00:00 2024';
    expect(replayEnvelope(raw, { fromLine }, NOW)).toEqual({
      source: 'replay',
      mailFrom: 'ann@example.net',
      rcptTo: ['support+GJ-060309@example.com', 'help@example.com', 'other@example.net'],
      receivedAt: '2024-01-01T10:00:00.000Z',
    });
    expect(replayEnvelope(raw, { fromLine: 'From - ' }, NOW).mailFrom).toBe('bounce@lists.example.org');
    expect(replayEnvelope(mail(['Return-Path: <>']), { fromLine: null }, NOW).mailFrom).toBe('');
  });

  it('the plus-tag of Delivered-To finds the ticket at the door, as it would live', () => {
    const raw = mail(['Delivered-To: support+oc-820409@example.com', 'Subject: Thanks', 'Message-ID: <p@x>']);
    const v = doorVerdict(raw, replayEnvelope(raw, { fromLine: null }, NOW), config);
    expect(v).toMatchObject({ verdict: 'post', ticket: 'OC-820409', reason: 'reference:plus_tag' });
    const none = doorVerdict(
      raw,
      { source: 'replay', mailFrom: '', rcptTo: [], receivedAt: NOW.toISOString() },
      config,
    );
    expect(none.verdict).toBe('reject');
  });

  it('receivedAt: From_ line date, then the newest Received date, then the maildir time, then now', () => {
    const received = [
      'Received: from a by b; Tue, 2 Jan 2024 09:00:00 +0000',
      'Received: from c by d; Tue, 2 Jan 2024 11:30:00 +0100',
      'Received: from e by f; Mon, 1 Jan 2024 08:00:00 +0000',
    ];
    const raw = mail([...received, 'Subject: x']);
    expect(newestReceived(parseHeaders(raw))).toEqual(new Date('2024-01-02T10:30:00Z'));
    expect(replayEnvelope(raw, { fromLine: 'From x@y.zz Wed Jan  3 00:00:00 2024' }, NOW).receivedAt).toBe(
      '2024-01-03T00:00:00.000Z',
    );
    expect(replayEnvelope(raw, { fromLine: 'From -' }, NOW).receivedAt).toBe('2024-01-02T10:30:00.000Z');
    const bare = mail(['Subject: x']);
    const maildir = new Date('2023-06-01T00:00:00Z');
    expect(replayEnvelope(bare, { fromLine: null, deliveredAt: maildir }, NOW).receivedAt).toBe(maildir.toISOString());
    expect(replayEnvelope(bare, { fromLine: null }, NOW).receivedAt).toBe(NOW.toISOString());
  });

  it('posted_at: Date:, else the From_ line date, else the newest Received date, else the time of the run', async () => {
    // no-date.mbox: a From_ line without a date, no Date: header, no Received.
    const noDate = messagesOf(split(fixture('mbox/no-date.mbox'), 'mboxrd'))[0]!;
    expect(noDate.fromLine).toBe('From someone@example.org');
    const withRef = Buffer.concat([Buffer.from('Subject: [AB-123456] no date\n'), noDate.raw]);
    const r1 = await inspectMessage(withRef, replayEnvelope(withRef, { fromLine: noDate.fromLine }, NOW), config);
    expect(r1.update?.posted_at).toBe('2030-01-01T00:00:00Z');

    const dated = Buffer.from(
      'Subject: [AB-123456] x\nReceived: from a by b; Tue, 2 Jan 2024 09:00:00 +0000\n\nbody\n',
    );
    const r2 = await inspectMessage(
      dated,
      replayEnvelope(dated, { fromLine: 'From a@b.cd Fri Dec 29 08:00:00 2023' }, NOW),
      config,
    );
    expect(r2.update?.posted_at).toBe('2023-12-29T08:00:00Z');
    const r3 = await inspectMessage(dated, replayEnvelope(dated, { fromLine: 'From -' }, NOW), config);
    expect(r3.update?.posted_at).toBe('2024-01-02T09:00:00Z');
    const withDate = Buffer.concat([Buffer.from('Date: Sun, 31 Dec 2023 23:00:00 -0100\n'), dated]);
    const r4 = await inspectMessage(
      withDate,
      replayEnvelope(withDate, { fromLine: 'From a@b.cd Fri Dec 29 08:00:00 2023' }, NOW),
      config,
    );
    expect(r4.update?.posted_at).toBe('2024-01-01T00:00:00Z');
    expect(messageTime(parseHeaders(withDate), replayEnvelope(withDate, { fromLine: null }, NOW))).toEqual(
      new Date('2024-01-01T00:00:00Z'),
    );
  });
});
