// Redis Sentinel: the primary SIGKILLed under steady SMTP load, durability replica. The door
// answers 451 while there is no primary (or no replica to confirm), then 250 again without a
// restart; every message answered 250 is posted exactly once. Prints how long the door answered
// 4xx and how many messages were delayed.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { waitFor, type Double } from '../support/harness.js';
import { SentinelLayout } from '../support/redis-server.js';
import { mtaSenders, startGatewayProcess, tallyPosted, type GatewayProcess } from './support.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runQueue } from '../ops/cli.js';

const SENDERS = 4;
let double: Double;
let layout: SentinelLayout;
let gateway: GatewayProcess | undefined;

beforeAll(async () => {
  double = await startSirportlyDouble();
  layout = await SentinelLayout.start();
}, 60_000);
afterAll(async () => {
  gateway?.kill('SIGKILL');
  await layout?.destroy();
  await double?.close();
});

it('primary SIGKILLed under load (durability replica): 451 during the failover, then 250; each 250 posted exactly once', async () => {
  const sirportly = { url: double.url, token: double.token, secret: double.secret };
  const yaml = [
    'redis:',
    '  prefix: fo',
    '  durability: replica',
    '  replicaTimeoutMs: 500',
    `  sentinels: [${layout.sentinelAddresses.map((a) => `"${a}"`).join(', ')}]`,
    `  sentinelName: ${layout.name}`,
    'smtp:\n  acceptTimeoutMs: 2000',
    'queue:\n  concurrency: 4\n  lockDurationMs: 3000\n  backoffInitialMs: 100\n  backoffMaxMs: 500\n  workerNiceness: 0',
    '',
  ].join('\n');
  // The URL's host is not used with Sentinel (the sentinels name the primary).
  gateway = await startGatewayProcess({ role: 'all', redisUrl: 'redis://unused.invalid:6379', sirportly, yaml });
  expect(gateway.lines('redis durability')[0]).toMatchObject({
    durability: 'replica',
    fsync: 'appendfsync-always',
    replicas: 1,
  });

  const run = randomBytes(3).toString('hex');
  const tempfailTimes: number[] = [];
  let delayed = 0;
  let stop = false;
  const { accepted, sent, done } = mtaSenders({
    port: () => gateway!.smtpPort,
    senders: SENDERS,
    label: 'failover',
    fromPrefix: 'f',
    run,
    retryMs: 100,
    maxAttempts: 300,
    more: () => !stop,
    onReply: (r, attempt) => {
      if (r.code !== 250) tempfailTimes.push(Date.now());
      else if (attempt > 0) delayed++;
    },
  });

  const oldPort = await layout.primaryPort();
  await waitFor('some mail accepted before the kill', () => accepted.size >= 20, 20_000);
  const killedAt = Date.now();
  await layout.server(oldPort).stop(); // SIGKILL
  await waitFor('sentinels to elect a new primary', async () => (await layout.primaryPort()) !== oldPort, 30_000);
  const electedAt = Date.now();
  // The old primary comes back (as a supervisor restarts it) and the sentinels make it a replica:
  // until then the new primary has no replica to confirm writes, and the door answers 451.
  await layout.server(oldPort).start();
  await layout.waitSettled(1, 30_000);
  const acceptedAtSettle = accepted.size;
  await waitFor('mail accepted again after the failover', () => accepted.size >= acceptedAtSettle + 20, 30_000);
  stop = true;
  await done;

  const { perMessage, lost, duplicates } = await tallyPosted(double, run, accepted, 60_000, {
    redisUrl: `redis://127.0.0.1:${await layout.primaryPort()}`,
    prefix: 'fo',
  });
  const first = tempfailTimes.find((t) => t >= killedAt);
  const last = tempfailTimes.at(-1);
  console.log(
    `sentinel failover: ${sent()} messages, ${accepted.size} answered 250, ${perMessage.size} posted, ${duplicates} duplicated, ${lost.length} lost; ` +
      `new primary elected ${electedAt - killedAt} ms after the kill; door answered 4xx from +${first !== undefined ? first - killedAt : '-'} ms to +${last !== undefined ? last - killedAt : '-'} ms ` +
      `(${tempfailTimes.length} 4xx replies); ${delayed} messages delayed`,
  );
  expect(tempfailTimes.length).toBeGreaterThan(0); // the failover was seen at the door
  expect(accepted.size).toBe(sent());
  expect(lost).toEqual([]);
  expect(duplicates).toBe(0);
  expect(gateway.lines('job failed')).toEqual([]);

  // The queue CLI follows the sentinels to the new primary too.
  const cfg = join(mkdtempSync(join(tmpdir(), 'mailgate-fo-')), 'c.yaml');
  writeFileSync(cfg, 'redis:\n  prefix: fo\n');
  const stats = await runQueue(['stats', '--json'], {
    REDIS_URL: 'redis://unused.invalid:6379',
    REDIS_SENTINELS: layout.sentinelAddresses.join(','),
    REDIS_SENTINEL_NAME: layout.name,
    MAILGATE_CONFIG: cfg,
    LOG_LEVEL: 'error',
  });
  expect(stats.code, stats.stderr).toBe(0);
  expect((JSON.parse(stats.stdout) as { counts: { completed: number } }).counts.completed).toBe(accepted.size);
}, 180_000);
