import { describe, expect, it } from 'vitest';
import { classify, machineClasses } from '../../src/mail/classify.js';
import { parseHeaders } from '../../src/mail/headers.js';
import { corpusFile, mail } from './helpers.js';

const cls = (...headerLines: string[]): string | null => classify(parseHeaders(mail(...headerLines, '', 'body')));

describe('classify', () => {
  it.each([
    ['Auto-Submitted: auto-replied', 'auto_submitted'],
    ['Auto-Submitted: auto-generated (failure)', 'auto_submitted'],
    ['auto-submitted: Auto-Notified; owner-email="x@example.com"', 'auto_submitted'],
    ['Auto-Submitted: no', null],
    ['Auto-Submitted: NO (a person wrote this)', null],
    ['Auto-Submitted:  no ; x=y', null],
    ['Content-Type: multipart/report; report-type=delivery-status; boundary="x"', 'delivery_report'],
    ['Content-Type: Multipart/Report (dsn); boundary=x', 'delivery_report'],
    ['Content-Type: multipart/mixed; boundary=x', null],
    ['Subject: Out of office', null],
  ])('%s → %s', (line, expected) => {
    expect(cls('From: a@example.com', line)).toBe(expected);
  });

  it('lists both classes of a bounce that is also auto-submitted, the report first', () => {
    const h = parseHeaders(mail('Auto-Submitted: auto-replied', 'Content-Type: multipart/report; boundary=x', '', ''));
    expect(machineClasses(h)).toEqual(['delivery_report', 'auto_submitted']);
  });

  it('looks only at the top-level Content-Type', () => {
    expect(cls('Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: multipart/report; boundary=c')).toBeNull();
  });

  it('recognises real DSNs and auto-replies', () => {
    expect(classify(parseHeaders(corpusFile('cpython-test_email/msg_16.txt')))).toBe('delivery_report');
    expect(classify(parseHeaders(corpusFile('mimekit/messages/delivery-status.txt')))).toBe('delivery_report');
    expect(classify(parseHeaders(corpusFile('mailgun-flanker/bounce/office365.eml')))).not.toBeNull();
    expect(classify(parseHeaders(corpusFile('mikel-mail/emails/plain_emails/basic_email.eml')))).toBeNull();
  });
});
