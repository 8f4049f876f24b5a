import { describe, expect, it } from 'vitest';
import type { UpdateFields } from '../../src/mail/types.js';
import { findPostedUpdate } from '../../src/sirportly/find-update.js';
import type { SirportlyTicket, SirportlyUpdate } from '../../src/sirportly/types.js';

const sent: UpdateFields = {
  ticket: 'GJ-060309',
  subject: 'Re: help',
  message: 'Line one\r\nLine two\r\n',
  author_name: 'Ada',
  author_email: 'Ada@Example.org',
  posted_at: '2024-05-01T12:34:56Z',
};

function update(overrides: Partial<SirportlyUpdate>): SirportlyUpdate {
  return {
    id: 1,
    subject: 'Re: help',
    message: 'Line one\nLine two',
    posted_at: '2024-05-01T12:34:56+00:00',
    from_name: 'Ada',
    from_address: 'ada@example.org',
    ...overrides,
  };
}

function ticket(...updates: SirportlyUpdate[]): SirportlyTicket {
  return { reference: 'GJ-060309', subject: 'help', updates };
}

describe('findPostedUpdate', () => {
  it('matches on the same instant, address ignoring case, and message modulo CRLF and edges', () => {
    const mine = update({ id: 7 });
    expect(findPostedUpdate(ticket(update({ id: 3, message: 'other' }), mine), sent)).toBe(mine);
  });

  it('compares posted_at as instants, not strings', () => {
    expect(findPostedUpdate(ticket(update({ posted_at: '2024-05-01T14:34:56+02:00' })), sent)).not.toBeNull();
    expect(findPostedUpdate(ticket(update({ posted_at: '2024-05-01T12:34:56Z' })), sent)).not.toBeNull();
  });

  it('does not match another second', () => {
    expect(findPostedUpdate(ticket(update({ posted_at: '2024-05-01T12:34:57+00:00' })), sent)).toBeNull();
    expect(findPostedUpdate(ticket(update({ posted_at: '2024-05-01T13:34:56+00:00' })), sent)).toBeNull();
  });

  it('does not match another sender when we sent an author_email', () => {
    expect(findPostedUpdate(ticket(update({ from_address: 'eve@example.org' })), sent)).toBeNull();
  });

  it('ignores the address when we sent none, or when Sirportly recorded none', () => {
    const { author_email: _omit, ...anonymous } = sent;
    expect(findPostedUpdate(ticket(update({ from_address: 'someone@else.org' })), anonymous)).not.toBeNull();
    expect(findPostedUpdate(ticket(update({ from_address: null })), sent)).not.toBeNull();
  });

  it('does not match a different message', () => {
    expect(findPostedUpdate(ticket(update({ message: 'Line one\nLine 2' })), sent)).toBeNull();
    expect(findPostedUpdate(ticket(update({ message: null })), sent)).toBeNull();
  });

  it('finds nothing on an empty ticket or with an unparseable posted_at', () => {
    expect(findPostedUpdate(ticket(), sent)).toBeNull();
    expect(findPostedUpdate(ticket(update({})), { ...sent, posted_at: 'yesterday' })).toBeNull();
  });
});
