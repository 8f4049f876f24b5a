import { describe, expect, it } from 'vitest';
import type { UpdateFields } from '../../src/mail/types.js';
import { accountOffset, findPostedUpdate, readBack } from '../../src/sirportly/find-update.js';
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

describe('readBack at the account offset', () => {
  const HOUR = 3600;
  // The unfavourable reading: Sirportly took 12:34:56 for local time at UTC+1 and stored 11:34:56.
  const shifted = (id: number, posted_at = '2024-05-01T11:34:56+00:00') =>
    update({ id, posted_at, from_address: null, from_name: null });

  it('accountOffset: sent minus stored, only whole quarter hours within 14 h', () => {
    expect(accountOffset('2024-05-01T12:34:56Z', '2024-05-01T11:34:56+00:00')).toBe(HOUR);
    expect(accountOffset('2024-05-01T12:34:56Z', '2024-05-01T12:34:56+00:00')).toBe(0);
    expect(accountOffset('2024-05-01T12:34:56Z', '2024-05-01T18:19:56+00:00')).toBe(-5.75 * HOUR);
    expect(accountOffset('2024-05-01T12:34:56Z', '2024-05-01T12:34:57+00:00')).toBeNull();
    expect(accountOffset('2024-05-01T12:34:56Z', '2024-04-30T22:19:56+00:00')).toBeNull();
  });

  it('nothing with our author and text at any plausible offset: absent', () => {
    expect(readBack(ticket(update({ message: 'other' })), sent)).toEqual({ kind: 'absent' });
    expect(
      readBack(ticket(update({ posted_at: '2024-05-01T11:34:57+00:00' })), sent, { expected: null, confirmed: false }),
    ).toEqual({ kind: 'absent' });
  });

  it('finds our update at exactly the learned offset, not at another', () => {
    const mine = shifted(7);
    expect(
      readBack(ticket(shifted(3, '2024-05-01T12:34:56+00:00'), mine), sent, { expected: HOUR, confirmed: false }),
    ).toMatchObject({ kind: 'found', update: mine, offsetSeconds: HOUR });
  });

  it('with nothing learned yet, the documented reading (offset 0) counts; another offset is unsure, never taken', () => {
    expect(readBack(ticket(update({ id: 4 })), sent)).toMatchObject({ kind: 'found', offsetSeconds: 0 });
    expect(readBack(ticket(shifted(5)), sent)).toMatchObject({ kind: 'unsure', candidates: [{ offsetSeconds: HOUR }] });
  });

  it('two identical "Thanks" from one author an hour apart are two mails once the offset is confirmed', () => {
    const thanks = { ...sent, message: 'Thanks' };
    // The 13:34:56 Thanks, posted and stored at 12:34:56 under offset 1 h; ours (12:34:56) never arrived.
    const other = shifted(9, '2024-05-01T12:34:56+00:00');
    other.message = 'Thanks';
    expect(readBack(ticket(other), thanks, { expected: HOUR, confirmed: true })).toEqual({ kind: 'absent' });
    // Learned on one side only (a summer-time change could lie between): not decided.
    expect(readBack(ticket(other), thanks, { expected: HOUR, confirmed: false })).toMatchObject({ kind: 'unsure' });
    // And with offset 0 confirmed, the Thanks stored an hour later is another mail too.
    const later = update({ id: 10, message: 'Thanks', posted_at: '2024-05-01T13:34:56+00:00' });
    expect(readBack(ticket(later), thanks, { expected: 0, confirmed: true })).toEqual({ kind: 'absent' });
  });

  it('tolerates updates without posted_at or with nulls in fields it does not need', () => {
    const bare = update({
      id: 11,
      posted_at: null,
      author: { type: null, id: null },
      attachments: [{ id: null, name: null, content_type: null, file_size: null }],
    });
    expect(readBack(ticket(bare, shifted(12)), sent, { expected: HOUR, confirmed: true })).toMatchObject({
      kind: 'found',
      update: { id: 12 },
    });
  });
});
