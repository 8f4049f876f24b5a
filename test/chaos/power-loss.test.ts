// The Redis host "losing power" under durability fsync: Redis is SIGKILLed mid-load (with
// appendfsync always nothing acknowledged is only in the page cache, so a kill is what a power
// loss leaves on disk) and started again on its data. Nothing answered 250 is missing afterwards.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, queueSettled, sendRaw, sleep, waitFor, type Double } from '../support/harness.js';
import { RedisServer } from '../support/redis-server.js';
import { startGatewayProcess, type GatewayProcess } from './support.js';

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
  const accepted = new Set<string>();
  let tempfails = 0;
  let sent = 0;
  let stop = false;

  const sender = async (s: number) => {
    for (let i = 0; !stop; i++) {
      const subject = `[GJ-060309] power ${run}-${s}-${i}`;
      const from = `p${s}-${i}-${run}@example.net`;
      const raw = await compose({
        from,
        to: 'support@help.example.com',
        subject,
        messageId: `<${run}-${s}-${i}@example.net>`,
        text: subject,
      });
      sent++;
      for (let attempt = 0; ; attempt++) {
        const r = await sendRaw(gateway!.smtpPort, raw, { from, to: ['support@help.example.com'] });
        if (r.code === 250) {
          accepted.add(subject);
          break;
        }
        tempfails++;
        expect(r.code, r.response).toBeGreaterThanOrEqual(400);
        expect(r.code, r.response).toBeLessThan(500);
        if (attempt > 200) throw new Error(`never accepted: ${subject}`);
        await sleep(100);
      }
    }
  };
  const senders = Array.from({ length: SENDERS }, (_, s) => sender(s));
  await waitFor('some mail accepted', () => accepted.size >= 20, 20_000);
  const tempfailsBeforeKill = tempfails;
  await redis.stop(); // SIGKILL
  const acceptedBeforeKill = accepted.size;
  // Started again once the door has answered 4xx for want of it.
  await waitFor('a 4xx at the door', () => tempfails > tempfailsBeforeKill, 20_000);
  await redis.start();
  await waitFor('mail accepted again', () => accepted.size >= acceptedBeforeKill + 20, 30_000);
  stop = true;
  await Promise.all(senders);

  const posted = () => double.state.updates('GJ-060309').filter((u) => u.fields.subject?.includes(run));
  await waitFor(
    'all accepted mail posted',
    () => new Set(posted().map((u) => u.fields.subject)).size >= accepted.size,
    60_000,
  );
  // Every job ended: nothing more is posted.
  await queueSettled(redis.url, 'pl');
  const perMessage = new Map<string, number>();
  for (const u of posted()) perMessage.set(u.fields.subject!, (perMessage.get(u.fields.subject!) ?? 0) + 1);
  const lost = [...accepted].filter((s) => !perMessage.has(s));
  const duplicates = [...perMessage.values()].filter((n) => n > 1).length;
  console.log(
    `power loss (fsync): ${sent} messages, ${accepted.size} answered 250 (${acceptedBeforeKill} before the kill), ${tempfails} 4xx replies, ${perMessage.size} posted, ${duplicates} duplicated, ${lost.length} lost`,
  );
  expect(tempfails).toBeGreaterThan(0);
  expect(accepted.size).toBe(sent);
  expect(lost).toEqual([]);
  expect(duplicates).toBe(0);
}, 120_000);
