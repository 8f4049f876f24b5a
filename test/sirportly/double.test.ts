// The double is what every Sirportly-facing test trusts, so its own contract is pinned here,
// spoken to with plain fetch rather than through the client under test.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSirportlyDouble, type SirportlyDouble } from '../support/sirportly-double.js';

let double: SirportlyDouble;

beforeEach(async () => {
  double = await startSirportlyDouble({ tickets: [{ reference: 'AB-123456', subject: 'Invoice' }] });
});
afterEach(async () => {
  await double.close();
});

function call(path: string, form: Record<string, string> = {}, auth = true): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth) Object.assign(headers, { 'x-auth-token': double.token, 'x-auth-secret': double.secret });
  return fetch(`${double.url}/api/v2/tickets/${path}`, {
    method: 'POST',
    headers,
    body: new URLSearchParams(form).toString(),
  });
}

async function json(res: Response): Promise<unknown> {
  return res.json() as Promise<unknown>;
}

describe('sirportly double', () => {
  it('rejects missing credentials with 403 and counts the request anyway', async () => {
    const res = await call('ticket', { ticket: 'AB-123456' }, false);
    expect(res.status).toBe(403);
    expect(await json(res)).toEqual({ error: 'Authentication failed' });
    expect(double.state.requests['/api/v2/tickets/ticket']).toBe(1);
  });

  it('reads a ticket by ticket= or reference=, in the body or the query string', async () => {
    expect((await call('ticket', { reference: 'AB-123456' })).status).toBe(200);
    const viaQuery = await fetch(`${double.url}/api/v2/tickets/ticket?ticket=AB-123456`, {
      headers: { 'x-auth-token': double.token, 'x-auth-secret': double.secret },
    });
    expect(await json(viaQuery)).toMatchObject({ reference: 'AB-123456', subject: 'Invoice', updates: [] });
    expect(double.state.log.at(-1)?.query).toBe('?ticket=AB-123456');
    expect((await call('ticket', { ticket: 'GJ-060309' })).status).toBe(404);
  });

  it('posts as System without author fields and defaults subject and posted_at', async () => {
    const res = await call('post_update', { ticket: 'AB-123456', message: 'hello' });
    expect(res.status).toBe(201);
    const body = (await json(res)) as Record<string, unknown>;
    expect(body).toMatchObject({ subject: 'Invoice', author: null, from_address: null, attachments: [] });
    expect(String(body.posted_at)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
  });

  it('rejects an unknown attachment token with 422 on attachments', async () => {
    const res = await call('post_update', { ticket: 'AB-123456', message: 'x', attachments: 'nope' });
    expect(res.status).toBe(422);
    expect(await json(res)).toEqual({ errors: { attachments: ['Attachment token nope is not valid'] } });
  });

  it('applies faults only to the targeted endpoint, and failRate uses the given random source', async () => {
    double.faults.only = ['post_update'];
    double.faults.failRate = 0.5;
    double.faults.random = () => 0.4;
    expect((await call('ticket', { ticket: 'AB-123456' })).status).toBe(200);
    expect((await call('post_update', { ticket: 'AB-123456', message: 'x' })).status).toBe(500);
    double.faults.random = () => 0.6;
    expect((await call('post_update', { ticket: 'AB-123456', message: 'x' })).status).toBe(201);
    double.resetFaults();
    expect(double.faults.failRate).toBe(0);
  });

  it('fails exactly the next N calls, then recovers', async () => {
    double.faults.failNext = 2;
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call('ticket', { ticket: 'AB-123456' })).status);
    expect(statuses).toEqual([500, 500, 200]);
  });

  it('sends Retry-After as given with 429', async () => {
    double.faults.status429Next = 1;
    double.faults.retryAfter = 'Wed, 01 May 2030 12:00:30 GMT';
    const res = await call('ticket', { ticket: 'AB-123456' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('Wed, 01 May 2030 12:00:30 GMT');
    await res.body?.cancel();
  });

  it('delays answers by delayMs', async () => {
    double.faults.delayMs = 120;
    const started = Date.now();
    await (await call('ticket', { ticket: 'AB-123456' })).body?.cancel();
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it('close() ends a hanging answer promptly', async () => {
    double.faults.commitThenHangNext = 1;
    double.faults.hangMs = 30_000;
    const pending = call('post_update', { ticket: 'AB-123456', message: 'x' }).then(
      (r) => r.status,
      () => 'closed',
    );
    while (double.state.updates('AB-123456').length === 0) await new Promise((r) => setTimeout(r, 5));
    const started = Date.now();
    await double.close();
    expect(await pending).toBe('closed');
    expect(Date.now() - started).toBeLessThan(500);
  });
});
