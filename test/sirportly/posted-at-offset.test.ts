// The offset ledger in a real Redis: what successful posts teach, and what a read-back is told.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { accountKey, PostedAtOffsets } from '../../src/sirportly/posted-at-offset.js';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(inject('redisUrl'));
});
afterAll(() => redis.disconnect());

const ledger = () => new PostedAtOffsets(redis, `t${randomBytes(5).toString('hex')}:sirportly:offsets:x`);

it('knows nothing before any post; records only plausible offsets', async () => {
  const l = ledger();
  expect(await l.at('2024-05-01T12:00:00Z')).toEqual({ expected: null, confirmed: false });
  expect(await l.record('2024-05-01T12:00:00Z', '2024-05-01T12:00:07+00:00')).toBeNull();
  expect(await l.record('2024-05-01T12:00:00Z', null)).toBeNull();
  expect(await l.at('2024-05-01T12:00:00Z')).toEqual({ expected: null, confirmed: false });
});

it('one observation gives the expected offset unconfirmed; agreeing ones on both sides confirm it', async () => {
  const l = ledger();
  expect(await l.record('2024-05-01T10:00:00Z', '2024-05-01T09:00:00+00:00')).toBe(3600);
  expect(await l.at('2024-05-01T12:00:00Z')).toEqual({ expected: 3600, confirmed: false });
  await l.record('2024-05-01T14:00:00Z', '2024-05-01T13:00:00+00:00');
  expect(await l.at('2024-05-01T12:00:00Z')).toEqual({ expected: 3600, confirmed: true });
});

it('a change between the observations (summer time) is never confirmed; the nearest one is expected', async () => {
  const l = ledger();
  await l.record('2024-03-30T12:00:00Z', '2024-03-30T12:00:00+00:00');
  await l.record('2024-04-01T12:00:00Z', '2024-04-01T11:00:00+00:00');
  expect(await l.at('2024-03-31T18:00:00Z')).toEqual({ expected: 3600, confirmed: false });
  expect(await l.at('2024-03-31T06:00:00Z')).toEqual({ expected: 0, confirmed: false });
});

it('account keys differ by token on a shared URL and never contain it', () => {
  const a = accountKey({ url: 'https://api.sirportly.com', token: 'tok-a' });
  expect(a).not.toBe(accountKey({ url: 'https://api.sirportly.com', token: 'tok-b' }));
  expect(a).not.toContain('tok-a');
});
