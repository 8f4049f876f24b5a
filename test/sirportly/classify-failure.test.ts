import { describe, expect, it } from 'vitest';
import { classifySirportlyFailure, errorText, parseRetryAfter } from '../../src/sirportly/classify-failure.js';

const ctx = { operation: 'tickets/post_update', secrets: ['tok-123', 'sec-456'] };
const status = (code: number, body = '', headers: Record<string, string> = {}) =>
  classifySirportlyFailure({ type: 'status', status: code, headers, body }, ctx);
const thrown = (code: string, name = 'Error') => {
  const error = Object.assign(new Error(`boom ${code}`), { code });
  error.name = name;
  return classifySirportlyFailure({ type: 'error', error }, ctx);
};

describe('classifySirportlyFailure: statuses', () => {
  it.each([
    [401, 'auth', false],
    [403, 'auth', false],
    [404, 'not_found', false],
    [409, 'validation', false],
    [422, 'validation', false],
    [400, 'validation', false],
    [429, 'rate_limited', false],
    [500, 'server', true],
    [503, 'server', true],
    [302, 'server', true],
    [204, 'server', true],
  ] as const)('%i → %s (ambiguous %s)', (code, kind, ambiguous) => {
    const err = status(code);
    expect(err.kind).toBe(kind);
    expect(err.status).toBe(code);
    expect(err.ambiguous).toBe(ambiguous);
  });

  it('joins every 422 message with its field', () => {
    const body = JSON.stringify({ errors: { base: ['You must enter a message'], attachments: ['a bad', 'b bad'] } });
    expect(status(422, body).message).toBe(
      'Sirportly tickets/post_update: 422 base: You must enter a message; attachments: a bad; attachments: b bad',
    );
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(status(429, '', { 'retry-after': '7' }).retryAfterMs).toBe(7000);
    expect(status(429).retryAfterMs).toBeUndefined();
    const now = () => Date.parse('2024-05-01T12:00:00Z');
    expect(parseRetryAfter('Wed, 01 May 2024 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 01 May 2024 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });

  it('never lets the credentials into the message', () => {
    const err = status(403, JSON.stringify({ error: 'bad token tok-123 / sec-456' }));
    expect(err.message).not.toContain('tok-123');
    expect(err.message).not.toContain('sec-456');
    expect(err.message).toContain('[redacted]');
  });

  it('falls back to clipped raw text for non-JSON error bodies', () => {
    expect(errorText('<h1>Bad Gateway</h1>')).toBe('<h1>Bad Gateway</h1>');
    expect(errorText('x'.repeat(1000)).length).toBeLessThan(400);
    expect(errorText('{"error":"Ticket not found"}')).toBe('Ticket not found');
  });
});

describe('classifySirportlyFailure: transport errors', () => {
  it.each([
    ['UND_ERR_HEADERS_TIMEOUT', 'timeout', true],
    ['UND_ERR_BODY_TIMEOUT', 'timeout', true],
    ['UND_ERR_ABORTED', 'timeout', true],
    ['ECONNREFUSED', 'network', false],
    ['ENOTFOUND', 'network', false],
    ['UND_ERR_CONNECT_TIMEOUT', 'network', false],
    ['UND_ERR_SOCKET', 'network', true],
    ['ECONNRESET', 'network', true],
    ['EPIPE', 'network', true],
  ] as const)('%s → %s (ambiguous %s)', (code, kind, ambiguous) => {
    const err = thrown(code);
    expect(err.kind).toBe(kind);
    expect(err.ambiguous).toBe(ambiguous);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('treats the deadline signal (TimeoutError) as a timeout', () => {
    const error = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    const err = classifySirportlyFailure({ type: 'error', error }, ctx);
    expect(err.kind).toBe('timeout');
    expect(err.ambiguous).toBe(true);
  });

  it('finds the code inside an AggregateError (happy-eyeballs connect failures)', () => {
    const inner = Object.assign(new Error('connect ECONNREFUSED ::1:443'), { code: 'ECONNREFUSED' });
    const err = classifySirportlyFailure({ type: 'error', error: new AggregateError([inner]) }, ctx);
    expect(err.kind).toBe('network');
    expect(err.ambiguous).toBe(false);
  });

  it('a bad 2xx body is server and ambiguous', () => {
    const err = classifySirportlyFailure({ type: 'bad_body', status: 201, reason: 'not JSON' }, ctx);
    expect(err.kind).toBe('server');
    expect(err.ambiguous).toBe(true);
  });
});
