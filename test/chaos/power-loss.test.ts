// The Redis host "losing power" under durability fsync: Redis is SIGKILLed mid-load (with
// appendfsync always nothing acknowledged is only in the page cache, so a kill is what a power
// loss leaves on disk) and started again on its data. Nothing answered 250 is missing afterwards.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { waitFor, type Double } from '../support/harness.js';
import { RedisServer } from '../support/redis-server.js';
import { mtaSenders, startGatewayProcess, tallyPosted, type GatewayProcess } from './support.js';

const SENDERS = 4;
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

it('durability fsync: Redis SIGKILLed under load and restarted; every message answered 250 is there and posted once', async () => {
  const sirportly = { url: double.url, token: double.token, secret: double.secret };
  const yaml = `redis:\n  prefix: pl\n  durability: fsync\nsmtp:\n  acceptTimeoutMs: 1000\nqueue:\n  concurrency: 4\n  lockDurationMs: 2000\n  backoffInitialMs: 100\n  backoffMaxMs: 500\n  workerNiceness: 0\n`;
  gateway = await startGatewayProcess({ role: 'all', redisUrl: redis.url, sirportly, yaml });
  expect(gateway.lines('redis durability')[0]).toMatchObject({ durability: 'fsync', fsync: 'appendfsync-always' });
  const run = randomBytes(3).toString('hex');
  let tempfails = 0;
  let stop = false;
  const { accepted, sent, done } = mtaSenders({
    port: () => gateway!.smtpPort,
    senders: SENDERS,
    label: 'power',
    fromPrefix: 'p',
    run,
    retryMs: 100,
    maxAttempts: 200,
    more: () => !stop,
    onReply: (r) => {
      if (r.code !== 250) tempfails++;
    },
  });
  await waitFor('some mail accepted', () => accepted.size >= 20, 20_000);
  const tempfailsBeforeKill = tempfails;
  await redis.stop(); // SIGKILL
  const acceptedBeforeKill = accepted.size;
  // Started again once the door has answered 4xx for want of it.
  await waitFor('a 4xx at the door', () => tempfails > tempfailsBeforeKill, 20_000);
  await redis.start();
  await waitFor('mail accepted again', () => accepted.size >= acceptedBeforeKill + 20, 30_000);
  stop = true;
  await done;

  const { perMessage, lost, duplicates } = await tallyPosted(double, run, accepted, 60_000, {
    redisUrl: redis.url,
    prefix: 'pl',
  });
  console.log(
    `power loss (fsync): ${sent()} messages, ${accepted.size} answered 250 (${acceptedBeforeKill} before the kill), ${tempfails} 4xx replies, ${perMessage.size} posted, ${duplicates} duplicated, ${lost.length} lost`,
  );
  expect(tempfails).toBeGreaterThan(0);
  expect(accepted.size).toBe(sent());
  expect(lost).toEqual([]);
  expect(duplicates).toBe(0);
}, 120_000);
