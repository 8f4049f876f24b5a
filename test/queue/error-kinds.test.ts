// Every error kind, one row each: whether it is retried, what an SMTP client is told, and what
// the worker's classifier makes of it in BullMQ's terms (retry, fail now, or fail after a limit).
import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { GatewayError, hasTryLimit, isRetryable, replyFor, type ErrorKind } from '../../src/errors.js';
import { classifyFailure } from '../../src/worker/retry-or-fail.js';
import type { UpdateJob } from '../../src/worker/update-job.js';
import { formatReply } from '../../src/smtp-replies.js';

/** fail: fails at once; period: retried until queue.retryPeriodHours; tries: retried until draft.attempts. */
type Mapping = 'fail' | 'period' | 'tries';

const KINDS: Record<ErrorKind, { retryable: boolean; reply: string; mapping: Mapping }> = {
  config: { retryable: false, reply: '451 4.3.5 Gateway misconfigured, try again later', mapping: 'fail' },
  store_unavailable: {
    retryable: true,
    reply: '451 4.3.0 Temporary storage problem, please try again later',
    mapping: 'period',
  },
  too_large: { retryable: false, reply: '552 5.3.4 Message exceeds the size limit', mapping: 'fail' },
  bad_input: { retryable: false, reply: '554 5.6.0 Message could not be processed', mapping: 'fail' },
  bad_job: { retryable: false, reply: '554 5.6.0 Message could not be processed', mapping: 'fail' },
  draft_limit: { retryable: true, reply: '554 5.3.4 Message too complex to process', mapping: 'tries' },
  auth: { retryable: false, reply: '451 4.3.0 Helpdesk rejected our credentials', mapping: 'fail' },
  not_found: { retryable: false, reply: '550 5.1.1 Ticket not found', mapping: 'fail' },
  validation: { retryable: false, reply: '550 5.6.0 Helpdesk rejected the message', mapping: 'fail' },
  rate_limited: { retryable: true, reply: '451 4.7.0 Helpdesk busy, try again later', mapping: 'period' },
  server: { retryable: true, reply: '451 4.3.0 Helpdesk unavailable, try again later', mapping: 'period' },
  timeout: { retryable: true, reply: '451 4.4.1 Helpdesk did not answer in time', mapping: 'period' },
  network: { retryable: true, reply: '451 4.4.1 Helpdesk unreachable', mapping: 'period' },
  unsure: { retryable: false, reply: '554 5.6.0 Message could not be processed', mapping: 'fail' },
  expired: { retryable: false, reply: '554 5.4.7 Delivery period expired', mapping: 'fail' },
};

const HOUR = 3_600_000;
const NOW = 1_000_000_000_000;
const config = loadConfig({ env: {}, overrides: { queue: { retryPeriodHours: 72 }, draft: { attempts: 3 } } });
const job = (ageMs: number, attemptsMade: number): UpdateJob => ({
  id: 'x',
  timestamp: NOW - ageMs,
  attemptsMade,
  data: {} as UpdateJob['data'],
  updateData: async () => undefined,
});

describe.each(Object.entries(KINDS) as [ErrorKind, (typeof KINDS)[ErrorKind]][])('kind %s', (kind, want) => {
  const err = new GatewayError(kind, 'what happened');

  it(`is ${want.retryable ? '' : 'not '}retryable`, () => {
    expect(err.retryable).toBe(want.retryable);
    expect(isRetryable(err)).toBe(want.retryable);
    expect(hasTryLimit(err)).toBe(want.mapping === 'tries');
  });

  it(`answers SMTP with ${want.reply}`, () => {
    expect(formatReply(err.smtpReply)).toBe(want.reply);
    expect(replyFor(kind)).toBe(err.smtpReply);
  });

  if (want.mapping === 'fail') {
    it('fails the job at once, its kind leading the reason', () => {
      const out = classifyFailure(err, job(0, 0), config, NOW);
      expect(out).toBeInstanceOf(UnrecoverableError);
      expect(out.message).toBe(`${kind}: what happened`);
    });
  }

  if (want.mapping === 'period') {
    it('is retried within the retry period, then fails as expired', () => {
      // Far more tries than draft.attempts: only the period bounds this kind.
      expect(classifyFailure(err, job(72 * HOUR - 1, 50), config, NOW)).toBe(err);
      const out = classifyFailure(err, job(72 * HOUR, 50), config, NOW);
      expect(out).toBeInstanceOf(UnrecoverableError);
      expect(out.message).toBe(`expired: still failing after 72 h: ${kind}: what happened`);
    });
  }

  if (want.mapping === 'tries') {
    it('is retried until draft.attempts tries in all, then fails saying so', () => {
      expect(classifyFailure(err, job(0, 0), config, NOW)).toBe(err);
      expect(classifyFailure(err, job(0, 1), config, NOW)).toBe(err);
      const out = classifyFailure(err, job(0, 2), config, NOW);
      expect(out).toBeInstanceOf(UnrecoverableError);
      expect(out.message).toBe(`${kind}: what happened (3 tries, draft.attempts)`);
    });
  }
});

describe('failed-job reasons', () => {
  it('an error whose message says what to do is the reason on its own', () => {
    const err = new GatewayError('bad_job', 'raw message missing from Redis (expired or deleted)', {
      plainReason: true,
    });
    const out = classifyFailure(err, job(0, 0), config, NOW);
    expect(out).toBeInstanceOf(UnrecoverableError);
    expect(out.message).toBe('raw message missing from Redis (expired or deleted)');
  });

  it('an error that is not a GatewayError is retried (a Redis hiccup must not lose mail)', () => {
    const err = new Error('Connection is closed.');
    expect(classifyFailure(err, job(0, 0), config, NOW)).toBe(err);
    expect(classifyFailure('thrown string', job(0, 0), config, NOW)).toBeInstanceOf(Error);
  });
});
