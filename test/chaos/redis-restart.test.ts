// Redis killed (SIGKILL) and started again on its data while mail keeps coming: every message
// is answered either 250 (and then posted exactly once) or 4xx (and then, retried by the
// sender as an MTA would, accepted later). Nothing else: no 5xx, no 250 that is lost.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { waitFor, type Double } from '../support/harness.js';
import { RedisServer } from '../support/redis-server.js';
import { mtaSenders, startGatewayProcess, tallyPosted, type GatewayProcess } from './support.js';

const SENDERS = 6;
let double: Double;
let redis: RedisServer;
let gateway: GatewayProcess | undefined;

beforeAll(async () => {
  double = await startSirportlyDouble();
  redis = await RedisServer.start('aof');
});
afterAll(async () => {
  gateway?.kill('SIGKILL');
  await redis?.destroy();
  await double?.close();
});

it('Redis SIGKILLed and restarted under load: each message 250 and posted once, or 4xx', async () => {
  const sirportly = { url: double.url, token: double.token, secret: double.secret };
  const yaml = `redis:\n  prefix: rr\nsmtp:\n  acceptTimeoutMs: 1000\nqueue:\n  concurrency: 4\n  lockDurationMs: 2000\n  backoffInitialMs: 100\n  backoffMaxMs: 500\n`;
  gateway = await startGatewayProcess({ role: 'all', redisUrl: redis.url, sirportly, yaml });
  const run = randomBytes(3).toString('hex');
  const codes = new Map<number, number>();
  let stop = false;
  const { accepted, sent, done } = mtaSenders({
    port: () => gateway!.smtpPort,
    senders: SENDERS,
    label: 'redis',
    fromPrefix: 'c',
    run,
    retryMs: 200,
    maxAttempts: 100,
    more: () => !stop,
    onReply: (r) => codes.set(r.code, (codes.get(r.code) ?? 0) + 1),
  });
  const tempfailCount = () => [...codes].filter(([c]) => c >= 400).reduce((n, [, k]) => n + k, 0);
  const chaos = (async () => {
    try {
      await waitFor('some mail accepted', () => accepted.size >= 20, 20_000);
      const tempfailsBefore = tempfailCount();
      await redis.stop();
      // Started again once the door has answered 4xx for want of it.
      await waitFor('a 4xx at the door', () => tempfailCount() > tempfailsBefore, 20_000);
      await redis.start();
      const acceptedAtRestart = accepted.size;
      await waitFor('mail accepted again', () => accepted.size >= acceptedAtRestart + 20, 30_000);
    } finally {
      stop = true;
    }
  })();
  await Promise.all([chaos, done]);

  const { perMessage, lost, duplicates } = await tallyPosted(double, run, accepted, 30_000, {
    redisUrl: redis.url,
    prefix: 'rr',
  });
  const tempfails = tempfailCount();
  console.log(
    `redis restart: ${sent()} messages, replies ${JSON.stringify(Object.fromEntries(codes))}, ${accepted.size} accepted, ${perMessage.size} posted, ${duplicates} duplicated, ${lost.length} lost`,
  );
  expect(tempfails).toBeGreaterThan(0); // the outage was seen at the door
  expect(accepted.size).toBe(sent());
  expect(lost).toEqual([]);
  expect(duplicates).toBe(0);
  expect(gateway.lines('job failed')).toEqual([]);
}, 60_000);
