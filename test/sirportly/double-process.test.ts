// The benchmarks run the same double as a process of their own with plain node (no build), with
// every ticket reference open, seeded faults and figures kept per subject. Pinned here so a change
// to the double that plain node cannot run fails a test rather than a benchmark.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ENTRY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/support/sirportly-double.mjs');

interface Started {
  url: string;
  token: string;
  secret: string;
  control: string;
}

interface Stats {
  posts: number;
  distinct: number;
  duplicates: number;
  perSubject?: Record<string, number>;
  calls: Record<string, number>;
  retryGapsMs: { n: number };
}

let child: ChildProcess;
let started: Started;

beforeAll(async () => {
  child = spawn(process.execPath, [ENTRY], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await once(lines, 'line')) as [string];
  started = JSON.parse(line) as Started;
});
afterAll(async () => {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
});

function post(ticket: string, subject: string): Promise<Response> {
  return fetch(`${started.url}/api/v2/tickets/post_update`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-auth-token': started.token,
      'x-auth-secret': started.secret,
    },
    body: new URLSearchParams({ ticket, subject, message: 'hello' }).toString(),
  });
}

async function control(what: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${started.control}/${what}`, {
    method: body === undefined ? 'GET' : 'POST',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.json();
}

describe('sirportly double as a bench process', () => {
  it('opens any ticket, counts posts per subject, and applies faults set over its control port', async () => {
    expect((await post('ZZ-000001', 'first')).status).toBe(201);
    expect((await post('zz-000001', 'first')).status).toBe(201);
    await control('faults', { status429Rate: 1, retryAfter: 7, only: ['post_update'], seed: 5 });
    const limited = await post('ZZ-000002', 'second');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    await control('faults', { status429Rate: 0 });
    expect((await post('ZZ-000002', 'second')).status).toBe(201);

    const stats = (await control('stats?subjects')) as Stats;
    expect(stats).toMatchObject({ posts: 3, distinct: 2, duplicates: 1, perSubject: { first: 2, second: 1 } });
    expect(stats.calls).toEqual({ 'post_update 201': 3, 'post_update 429': 1 });
    expect(stats.retryGapsMs.n).toBe(1);

    await control('reset', {});
    expect(((await control('stats')) as Stats).posts).toBe(0);
  });
});
