// The retry policy in isolation: which failures retry, when retrying stops, how long to wait.
import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { GatewayError } from '../../src/errors.js';
import { backoffDelay, classifyFailure } from '../../src/worker/retry-or-fail.js';
import type { UpdateJob } from '../../src/worker/update-job.js';

const config = loadConfig({
  env: {},
  overrides: { queue: { retryPeriodHours: 72, backoffInitialMs: 10_000, backoffMaxMs: 3_600_000 } },
});
const job = (ageMs: number): UpdateJob => ({
  id: 'x',
  timestamp: 1_000_000_000_000 - ageMs,
  attemptsMade: 1,
  data: {} as UpdateJob['data'],
  updateData: async () => undefined,
});
const NOW = 1_000_000_000_000;

describe('classifyFailure', () => {
  it('permanent Sirportly errors fail at once, with the kind in the reason', () => {
    for (const kind of ['auth', 'not_found', 'validation', 'bad_input'] as const) {
      const out = classifyFailure(new GatewayError(kind, 'nope'), job(0), config, NOW);
      expect(out).toBeInstanceOf(UnrecoverableError);
      expect(out.message).toBe(`${kind}: nope`);
    }
  });

  it('temporary errors are retried within the retry period', () => {
    for (const kind of ['rate_limited', 'server', 'timeout', 'network'] as const) {
      const err = new GatewayError(kind, 'later');
      expect(classifyFailure(err, job(71 * 3_600_000), config, NOW)).toBe(err);
    }
  });

  it('temporary errors past the retry period fail for good, saying why', () => {
    const out = classifyFailure(new GatewayError('server', '503'), job(72 * 3_600_000), config, NOW);
    expect(out).toBeInstanceOf(UnrecoverableError);
    expect(out.message).toMatch(/^expired: still failing after 72 h: server: 503/);
  });

  it('unknown errors are retried, not failed (a Redis hiccup must not lose mail)', () => {
    const err = new Error('Connection is closed.');
    expect(classifyFailure(err, job(0), config, NOW)).toBe(err);
  });
});

describe('backoffDelay', () => {
  it('doubles from the initial delay and stops at the cap', () => {
    expect(backoffDelay(1, undefined, config)).toBe(10_000);
    expect(backoffDelay(2, undefined, config)).toBe(20_000);
    expect(backoffDelay(5, undefined, config)).toBe(160_000);
    expect(backoffDelay(30, undefined, config)).toBe(3_600_000);
  });

  it('waits at least what Retry-After asked for, but never past the cap', () => {
    const err = new GatewayError('rate_limited', '429', { retryAfterMs: 120_000 });
    expect(backoffDelay(1, err, config)).toBe(120_000);
    expect(backoffDelay(6, err, config)).toBe(320_000);
    const huge = new GatewayError('rate_limited', '429', { retryAfterMs: 86_400_000 });
    expect(backoffDelay(1, huge, config)).toBe(3_600_000);
  });
});
