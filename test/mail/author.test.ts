import { describe, expect, it } from 'vitest';
import { authorOf, firstMailbox, readMailboxes } from '../../src/mail/author.js';
import { parseHeaders } from '../../src/mail/headers.js';
import { fixture, mail } from './helpers.js';

const author = (from: string | null, mailFrom = 'bounce@example.org') =>
  authorOf(parseHeaders(mail(...(from === null ? [] : [`From: ${from}`]), 'Subject: x', '', '')), mailFrom);

describe('firstMailbox', () => {
  it.each([
    ['John Doe <jdoe@machine.example>', { name: 'John Doe', email: 'jdoe@machine.example' }],
    ['"Joe Q. Public" <john.q.public@example.com>', { name: 'Joe Q. Public', email: 'john.q.public@example.com' }],
    ['"Doe, John" <john@example.com>, other@example.com', { name: 'Doe, John', email: 'john@example.com' }],
    ['jdoe@one.test (John Doe)', { name: 'John Doe', email: 'jdoe@one.test' }],
    ['Pete(A wonderful \\) chap) <pete(his account)@silly.test(his host)>', { name: 'Pete', email: 'pete@silly.test' }],
    ['=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>', { name: 'André Pirard', email: 'PIRARD@vm1.ulg.ac.be' }],
    ['"=?UTF-8?B?SsO2cmc=?=" <jorg@example.de>', { name: 'Jörg', email: 'jorg@example.de' }],
    ['A Group: Ed Jones <c@a.test>, joe@where.test;', { name: 'Ed Jones', email: 'c@a.test' }],
    ['undisclosed-recipients:;, Real <real@example.com>', { name: 'Real', email: 'real@example.com' }],
    ['  plain@Example.COM  ', { email: 'plain@Example.COM' }],
    ['x@xn--bcher-kva.example', { email: 'x@xn--bcher-kva.example' }],
  ])('%s', (from, expected) => {
    expect(firstMailbox(from)).toEqual(expected);
  });

  it.each([
    // Never shortened to the last word inside the brackets: system@example.com is another mailbox.
    [
      '"your secret past" <power quadrant system@example.com>',
      { problem: 'whitespace inside <power quadrant system@example.com>', name: 'your secret past' },
    ],
    ['<a b@example.com>', { problem: 'whitespace inside <a b@example.com>' }],
  ])('%j is unusable as written', (from, expected) => {
    const r = readMailboxes(from);
    expect(r.mailbox).toBeNull();
    expect(r).toMatchObject(expected);
  });

  it.each([
    // A quoted local part keeps its quotes; the stray ">" is not part of the address.
    ['"Some Name"@example.com>', { email: '"Some Name"@example.com' }],
    ['"Some Name"@example.com', { email: '"Some Name"@example.com' }],
    ['Test test@example.com', { name: 'Test', email: 'test@example.com' }],
    ['John Smith <"john smith"@example.com>', { name: 'John Smith', email: '"john smith"@example.com' }],
    // Obsolete syntax: folding whitespace around the dots of the domain (RFC 5322 A.6.3).
    ['John Doe <jdoe@machine(comment).  example>', { name: 'John Doe', email: 'jdoe@machine.example' }],
    // A display name that is the address again is no name.
    ['"a@example.com" <a@example.com>', { email: 'a@example.com' }],
  ])('%j keeps the address as written', (from, expected) => {
    expect(firstMailbox(from)).toEqual(expected);
  });

  it.each(['', 'John Doe', 'MAILER DAEMON <>', '<>', 'develop!a@b@c'])('%j has no usable mailbox', (from) => {
    expect(firstMailbox(from)).toBeNull();
  });
});

describe('authorOf', () => {
  it('uses From: when it has an address', () => {
    expect(author('Mary <mary@example.net>')).toEqual({ name: 'Mary', email: 'mary@example.net', source: 'from' });
  });

  it('uses the first From: header, as the door does', () => {
    const h = parseHeaders(mail('From: first@example.com', 'From: second@example.com', '', ''));
    expect(authorOf(h, '').email).toBe('first@example.com');
  });

  it('falls back to the envelope sender, without a name, when From: is unusable or missing', () => {
    const missing = author(null);
    expect(missing).toMatchObject({ email: 'bounce@example.org' });
    expect(missing.name).toBeUndefined();
    expect(missing.warning).toMatch(/no From header/);
    expect(author('Postmaster', '<bounce@example.org>')).toMatchObject({ email: 'bounce@example.org' });
  });

  it('falls back to Sender, then Reply-To, then the envelope sender, naming the source', () => {
    const h = (...lines: string[]) => parseHeaders(mail(...lines, 'Subject: x', '', ''));
    const spaced = 'From: "your secret past" <power quadrant system@example.com>';
    const sender = authorOf(h(spaced, 'Sender: Desk <desk@example.org>', 'Reply-To: r@example.org'), 'env@example.org');
    expect(sender).toMatchObject({ name: 'Desk', email: 'desk@example.org', source: 'sender' });
    expect(sender.warning).toMatch(
      /whitespace inside <power quadrant system@example.com>.*author is the Sender header/,
    );
    const replyTo = authorOf(h(spaced, 'Reply-To: r@example.org'), 'env@example.org');
    expect(replyTo).toMatchObject({ name: 'your secret past', email: 'r@example.org', source: 'reply-to' });
    expect(replyTo.warning).toMatch(/author is the Reply-To header/);
    const envelope = authorOf(h(spaced), '<env@example.org>');
    expect(envelope).toMatchObject({ name: 'your secret past', email: 'env@example.org', source: 'envelope' });
    expect(envelope.warning).toMatch(/author is the envelope sender/);
    // Two From fields, the first without an address: the first is the one read, so fall back.
    expect(authorOf(h('From: Nobody', 'From: second@example.com', 'Sender: s@example.org'), '')).toMatchObject({
      email: 's@example.org',
      source: 'sender',
    });
    expect(authorOf(h('From:', 'Sender: s@example.org'), '')).toMatchObject({
      email: 's@example.org',
      source: 'sender',
    });
  });

  it('sends no author, with a warning, when there is neither', () => {
    const none = author('MAILER-DAEMON', '');
    expect(none.email).toBeUndefined();
    expect(none.name).toBeUndefined();
    expect(none.warning).toMatch(/no author/);
  });

  it('decodes raw 8-bit Latin-1 display names', () => {
    const raw = Buffer.concat([
      Buffer.from('From: "Ingo L'),
      Buffer.from([0xfc]),
      Buffer.from('tkebohle" <ingo@blank.pages.de>\r\n\r\n'),
    ]);
    expect(authorOf(parseHeaders(raw), '')).toEqual({
      name: 'Ingo Lütkebohle',
      email: 'ingo@blank.pages.de',
      source: 'from',
    });
  });

  it('reads encoded, raw 8-bit and odd From: headers of whole messages', () => {
    expect(authorOf(parseHeaders(fixture('charsets/windows-1251-name.eml')), '')).toEqual({
      name: 'Сибирь',
      email: 'sib@example.ru',
      source: 'from',
    });
    expect(authorOf(parseHeaders(fixture('charsets/utf-8-raw-headers.eml')), '')).toEqual({
      name: 'Jürgen Groß',
      email: 'juergen@example.de',
      source: 'from',
    });
    expect(authorOf(parseHeaders(fixture('broken/at-in-display-name.eml')), '')).toEqual({
      name: 'ann@home',
      email: 'ann@example.net',
      source: 'from',
    });
  });
});
