import { describe, expect, it } from 'vitest';
import { findReference, referenceMatchers } from '../../../src/mail/door/reference.js';
import { testConfig } from '../helpers.js';

const config = testConfig();
const m = referenceMatchers(config);
const subject = (s: string): string | null => findReference(s, [], m)?.ticket ?? null;

describe('subject references', () => {
  it.each([
    ['Re: [GJ-060309] Printer on fire', 'GJ-060309'],
    ['Re: GJ-060309 printer', 'GJ-060309'],
    ['re: [gj-060309]', 'GJ-060309'],
    ['Fwd:GJ-060309', 'GJ-060309'],
    ['Ticket GJ-060309.', 'GJ-060309'],
    ['(GJ-060309)', 'GJ-060309'],
    ['first AB-111111 then CD-222222', 'AB-111111'],
  ])('%s → %s', (s, expected) => {
    expect(subject(s)).toBe(expected);
  });

  it.each(['XGJ-060309', 'GJ-0603091', 'GJ-06030', 'GJ060309', 'G-060309', '1GJ-060309', ''])(
    'no reference in %j',
    (s) => {
      expect(subject(s)).toBeNull();
    },
  );

  it('reports how it was found', () => {
    expect(findReference('[AB-123456]', ['support+CD-654321@example.com'], m)).toEqual({
      ticket: 'AB-123456',
      via: 'subject',
    });
  });

  it('tries the configured patterns in order', () => {
    const c = testConfig({ reference: { subjectPatterns: ['T#\\d{4}', '[A-Z]{2}-\\d{6}'] } });
    const mm = referenceMatchers(c);
    expect(findReference('AB-123456 and t#1234', [], mm)?.ticket).toBe('T#1234');
    expect(findReference('AB-123456 only', [], mm)?.ticket).toBe('AB-123456');
  });

  it('compiles once per config object', () => {
    expect(referenceMatchers(config)).toBe(m);
    expect(referenceMatchers(testConfig())).not.toBe(m);
  });
});

describe('plus-tag references', () => {
  it('takes the tag of a recipient, upper-cased', () => {
    expect(findReference('no ref', ['other@example.com', 'support+gj-060309@example.com'], m)).toEqual({
      ticket: 'GJ-060309',
      via: 'plus_tag',
    });
    expect(findReference('', ['<support+GJ-060309@example.com>'], m)?.ticket).toBe('GJ-060309');
  });

  it('ignores tags that are not a whole reference', () => {
    expect(
      findReference(
        '',
        ['support+urgent@example.com', 'support+GJ-0603091@example.com', 'support+xGJ-060309@example.com'],
        m,
      ),
    ).toBeNull();
  });

  it('is off when reference.plusTag is false', () => {
    const off = referenceMatchers(testConfig({ reference: { plusTag: false } }));
    expect(findReference('', ['support+GJ-060309@example.com'], off)).toBeNull();
  });
});
