// replies.stripQuoted: the new part of a reply as `message`, the whole mail in html_body. Off by
// default (Sirportly keeps its own stripped copy), and never leaving a message empty.
import { describe, expect, it } from 'vitest';
import { stripQuotedReply } from '../../../src/mail/draft/body.js';
import { draft } from '../../../src/mail/draft/draft.js';
import { envelope, mail, testConfig } from '../helpers.js';

const REPLY = [
  'Thanks, that fixed it.',
  '',
  'Jane',
  '',
  'On Wed, May 1, 2024 at 12:00 PM Support <support@example.com> wrote:',
  '> Please restart the printer.',
  '>',
  '> Regards, Support',
].join('\n');

const multipart = (text: string, html: string): Buffer =>
  mail(
    'From: Jane <jane@example.com>',
    'Subject: Re: [AB-123456] printer',
    'Date: Wed, 1 May 2024 13:00:00 +0000',
    'Content-Type: multipart/alternative; boundary=b',
    '',
    '--b',
    'Content-Type: text/plain; charset=utf-8',
    '',
    text,
    '--b',
    'Content-Type: text/html; charset=utf-8',
    '',
    html,
    '--b--',
    '',
  );

describe('stripQuotedReply', () => {
  it('cuts "On … wrote:" quotes and "-- " signatures', () => {
    expect(stripQuotedReply(REPLY).trim()).toBe('Thanks, that fixed it.\n\nJane');
    expect(stripQuotedReply('Yes please.\n\n-- \nJane Doe\nACME Ltd').trim()).toBe('Yes please.');
    expect(stripQuotedReply('Ok\r\n\r\n> earlier text\r\n> more').trim()).toBe('Ok');
  });

  it('keeps the whole text when stripping would leave nothing', () => {
    const allQuote = '> only a quote\n> nothing new';
    expect(stripQuotedReply(allQuote)).toBe(allQuote);
  });
});

describe('draft with replies.stripQuoted', () => {
  const html = '<p>Thanks, that fixed it.</p><blockquote>Please restart the printer.</blockquote>';

  it('is off by default: message is the full text', async () => {
    const d = await draft(multipart(REPLY, html), envelope(), testConfig(), 'AB-123456');
    expect(d.update.message).toContain('Please restart the printer.');
  });

  it('on: message is the new part, html_body still the full mail', async () => {
    const d = await draft(
      multipart(REPLY, html),
      envelope(),
      testConfig({ replies: { stripQuoted: true } }),
      'AB-123456',
    );
    expect(d.update.message).toBe('Thanks, that fixed it.\n\nJane');
    expect(d.update.html_body).toContain('Please restart the printer.');
  });
});
