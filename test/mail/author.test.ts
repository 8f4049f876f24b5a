import { describe, expect, it } from 'vitest';
import { authorOf, firstMailbox } from '../../src/mail/author.js';
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

  it.each(['', 'John Doe', 'MAILER DAEMON <>', '<>', 'develop!a@b@c'])('%j has no usable mailbox', (from) => {
    expect(firstMailbox(from)).toBeNull();
  });
});

describe('authorOf', () => {
  it('uses From: when it has an address', () => {
    expect(author('Mary <mary@example.net>')).toEqual({ name: 'Mary', email: 'mary@example.net' });
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

  it('sends no author, with a warning, when there is neither', () => {
    const none = author('MAILER-DAEMON', '');
    expect(none.email).toBeUndefined();
    expect(none.name).toBeUndefined();
    expect(none.warning).toMatch(/no author/);
  });

  it('decodes raw 8-bit Latin-1 display names', () => {
    const raw = Buffer.concat([Buffer.from('From: "Ingo L'), Buffer.from([0xfc]), Buffer.from('tkebohle" <ingo@blank.pages.de>\r\n\r\n')]);
    expect(authorOf(parseHeaders(raw), '')).toEqual({ name: 'Ingo Lütkebohle', email: 'ingo@blank.pages.de' });
  });

  it('reads encoded, raw 8-bit and odd From: headers of whole messages', () => {
    expect(authorOf(parseHeaders(fixture('charsets/windows-1251-name.eml')), '')).toEqual({ name: 'Сибирь', email: 'sib@example.ru' });
    expect(authorOf(parseHeaders(fixture('charsets/utf-8-raw-headers.eml')), '')).toEqual({ name: 'Jürgen Groß', email: 'juergen@example.de' });
    expect(authorOf(parseHeaders(fixture('broken/at-in-display-name.eml')), '')).toEqual({ name: 'ann@home', email: 'ann@example.net' });
  });
});
