// Credentials Sirportly refuses: serve says so once, in the log, a metric and /readyz (which stays
// 200: mail is still taken safely into Redis); jobs wait instead of failing, and are posted once
// the credentials work again.
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { QUEUE_NAME } from '../../src/queue/keys.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, sendRaw, startHarness, waitFor, type Double, type Harness } from '../support/harness.js';

let double: Double;
let h: Harness;
let redis: Redis;
let queue: Queue;

beforeAll(async () => {
  double = await startSirportlyDouble({ account: { revoked: true } });
  h = await startHarness(inject('redisUrl'), double, { sirportly: { credentialsRecheckSeconds: 1 } });
  redis = new Redis(inject('redisUrl'));
  queue = new Queue(QUEUE_NAME, { connection: redis, prefix: h.config.redis.prefix });
});
afterAll(async () => {
  await h?.close();
  await queue?.close();
  redis?.disconnect();
  await double?.close();
});

const REFUSED = /^Sirportly refuses the credentials of account main/;

it('refused credentials: one log line, metric 0, /readyz 200 naming the check; the job waits, then posts once they work', async () => {
  await waitFor('the refusal logged', () => h.logs.lines.some((l) => l.level === 50 && REFUSED.test(String(l.msg))));
  const ready = await fetch(`http://127.0.0.1:${h.httpPort}/readyz`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toMatchObject({
    status: 'ready',
    checks: { sirportly_credentials: false },
    failing: ['sirportly_credentials'],
  });
  const metrics = await (await fetch(`http://127.0.0.1:${h.httpPort}/metrics`)).text();
  expect(metrics).toMatch(/^mailgate_sirportly_credentials_ok\{account="main"\} 0$/m);

  const tag = randomBytes(4).toString('hex');
  const raw = await compose({
    from: 'ann@example.net',
    to: 'support@help.example.com',
    subject: `[GJ-060309] ${tag}`,
    text: `still burning ${tag}`,
  });
  const r = await sendRaw(h.smtpPort, raw, { from: 'ann@example.net', to: ['support@help.example.com'] });
  expect(r.code).toBe(250);
  const id = /queued as ([0-9a-f]+)/.exec(r.response)![1]!;
  await waitFor('the job to wait', async () => (await (await queue.getJob(id))?.getState()) === 'delayed');
  // Rechecked every second while refused; still one line in the log.
  const checksBefore = double.state.requests['/api/v2/tickets/ticket'] ?? 0;
  await waitFor('a recheck', () => (double.state.requests['/api/v2/tickets/ticket'] ?? 0) > checksBefore);
  expect(h.logs.lines.filter((l) => l.level === 50 && REFUSED.test(String(l.msg)))).toHaveLength(1);
  const job = await queue.getJob(id);
  expect(await job?.getState()).not.toBe('failed');
  expect(job?.attemptsMade).toBe(0);

  double.account.revoked = false;
  await waitFor('posted', async () => (await (await queue.getJob(id))?.getState()) === 'completed', 15_000);
  expect(double.state.updates('GJ-060309').filter((u) => u.fields.subject?.includes(tag))).toHaveLength(1);
  expect(h.logs.lines.some((l) => l.msg === 'Sirportly accepts the credentials again; waiting jobs resume')).toBe(true);
  const after = await (await fetch(`http://127.0.0.1:${h.httpPort}/readyz`)).json();
  expect(after).toMatchObject({ status: 'ready', checks: { sirportly_credentials: true } });
  expect(after).not.toHaveProperty('failing');
});
