// The one table of SMTP replies: every entry as it goes on the wire, codes that agree with their
// enhanced class, one line each, no two entries saying the same, and no reply spelled elsewhere.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SmtpReply } from '../../src/mail/types.js';
import { formatReply, REPLY } from '../../src/smtp-replies.js';

const ARG = 'ARG';
const entries: [string, SmtpReply][] = Object.entries(REPLY).map(([name, e]) => [
  name,
  typeof e === 'function' ? e(ARG) : e,
]);

describe('REPLY', () => {
  it('holds each reply exactly as sent', () => {
    expect(Object.fromEntries(entries.map(([name, r]) => [name, formatReply(r)]))).toEqual({
      queued: '250 2.0.0 Queued',
      queuedAs: '250 2.0.0 Ok: queued as ARG',
      alreadyQueued: '250 2.0.0 Ok: already queued as ARG',
      accepted: '250 2.0.0 Accepted',
      acceptedNotPosted: '250 2.0.0 Accepted, not posted (ARG)',
      policyRefused: '550 5.7.1 ARG',
      recipientRefused: '550 5.1.1 Recipient not accepted here: <ARG>',
      tlsRequired: '530 5.7.0 Must issue a STARTTLS command first',
      tooLarge: '552 5.3.4 Message exceeds the size limit',
      notProcessed: '554 5.6.0 Message could not be processed',
      tooComplex: '554 5.3.4 Message too complex to process',
      ticketNotFound: '550 5.1.1 Ticket not found',
      helpdeskRejected: '550 5.6.0 Helpdesk rejected the message',
      deliveryExpired: '554 5.4.7 Delivery period expired',
      storeUnavailable: '451 4.3.0 Temporary storage problem, please try again later',
      readFailed: '451 4.3.0 Error reading message: ARG',
      misconfigured: '451 4.3.5 Gateway misconfigured, try again later',
      helpdeskCredentials: '451 4.3.0 Helpdesk rejected our credentials',
      helpdeskBusy: '451 4.7.0 Helpdesk busy, try again later',
      helpdeskUnavailable: '451 4.3.0 Helpdesk unavailable, try again later',
      helpdeskTimeout: '451 4.4.1 Helpdesk did not answer in time',
      helpdeskUnreachable: '451 4.4.1 Helpdesk unreachable',
      failedParked: '451 4.7.1 Too much undeliverable mail from you is waiting here, try again later',
      shuttingDown: '421 4.3.2 Server shutting down, try again later',
      connectionRate: '421 4.7.0 Too many connections from your address, try again later',
      concurrentSessions: '421 4.7.0 Too many open connections from your address, try again later',
      refusedCommands: '421 4.7.0 Too many refused commands, closing connection',
      transactionTimeout: '421 4.4.2 Transaction took too long, closing connection',
      dataTimeout: '421 4.4.2 Message data took too long, closing connection',
    });
  });

  it.each(entries)('%s: the basic code and the enhanced class agree', (_name, r) => {
    expect(String(r.code)).toMatch(/^[245][0-5][0-9]$/);
    expect(r.enhanced).toMatch(/^[245]\.\d{1,3}\.\d{1,3}$/);
    expect(r.enhanced[0]).toBe(String(r.code)[0]);
  });

  it.each(entries)('%s: one line of text', (_name, r) => {
    expect(r.text).not.toMatch(/[\r\n]/);
    expect(r.text).toBe(r.text.trim());
    expect(r.text).not.toBe('');
  });

  it('folds a configured text onto one line', () => {
    expect(REPLY.policyRefused('  No ticket\r\n reference\there. ')).toEqual({
      code: 550,
      enhanced: '5.7.1',
      text: 'No ticket reference here.',
    });
  });

  it('has no two entries saying the same thing', () => {
    const texts = entries.map(([, r]) => r.text);
    expect(new Set(texts).size).toBe(texts.length);
  });

  it('is shared, not changed in place by whoever sends an entry', () => {
    expect(Object.isFrozen(REPLY.accepted)).toBe(true);
    expect(Object.isFrozen(REPLY.queuedAs(ARG))).toBe(true);
  });
});

describe('the sources', () => {
  it('spell no SMTP reply outside the table', () => {
    const src = join(import.meta.dirname, '../../src');
    const spelled: string[] = [];
    for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts') || file === 'smtp-replies.ts') continue;
      readFileSync(join(src, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          // A reply object ({ code: 550, ... }), an enhanced code in quotes, or a code sent by hand.
          if (/\bcode: *[245]\d\d\b|['"`][245]\.\d{1,3}\.\d{1,3}\b|\.send\( *[245]\d\d\b/.test(line))
            spelled.push(`${file}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(spelled).toEqual([]);
  });
});
