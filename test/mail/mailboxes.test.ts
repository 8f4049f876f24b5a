import { parseAddressHeader } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { mailboxes } from '../../src/mail/mailboxes.js';

describe('mailboxes', () => {
  it('reads a value as mailparser does: groups flattened, encoded words decoded, punycode kept', () => {
    const value = '=?utf-8?q?J=C3=B6rg?= <jorg@xn--bcher-kva.example>, Team: a@example.com, "B" <b@example.com>;';
    expect(mailboxes(value)).toEqual(parseAddressHeader(value, { flatten: true, decodePunycode: false }).value);
    expect(mailboxes(value).map((m) => m.address)).toEqual([
      'jorg@xn--bcher-kva.example',
      'a@example.com',
      'b@example.com',
    ]);
    expect(mailboxes(value)[0]?.name).toBe('Jörg');
  });

  it('reads a value asked for again once (the same result), and a long one each time', () => {
    const value = 'Ann <ann@example.com>';
    expect(mailboxes(value)).toBe(mailboxes(value));
    const long = Array.from({ length: 300 }, (_, i) => `member${i}@lists.example.org`).join(', ');
    expect(long.length).toBeGreaterThan(4096);
    expect(mailboxes(long)).not.toBe(mailboxes(long));
    expect(mailboxes(long)).toHaveLength(300);
  });

  it('forgets the oldest values beyond the few it keeps', () => {
    const first = mailboxes('first <first@example.com>');
    for (let i = 0; i < 8; i++) mailboxes(`other${i}@example.com`);
    expect(mailboxes('first <first@example.com>')).not.toBe(first);
    expect(mailboxes('first <first@example.com>')).toEqual(first);
  });
});
