// Redis killed (SIGKILL) and started again on its data while mail keeps coming: every message
// is answered either 250 (and then posted exactly once) or 4xx (and then, retried by the
// sender as an MTA would, accepted later). Nothing else: no 5xx, no 250 that is lost.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, queueSettled, sendRaw, sleep, waitFor, type Double } from '../support/harness.js';
import { RedisServer } from '../support/redis-server.js';
import { startGatewayProcess, type GatewayProcess } from './support.js';

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
  const accepted = new Set<string>();
  let sent = 0;
  let stop = false;

  const sender = async (s: number) => {
    for (let i = 0; !stop; i++) {
      const subject = `[GJ-060309] redis ${run}-${s}-${i}`;
      const from = `c${s}-${i}-${run}@example.net`;
      const raw = await compose({
        from,
        to: 'support@help.example.com',
        subject,
        messageId: `<${run}-${s}-${i}@example.net>`,
        text: subject,
      });
      sent++;
      // Like an MTA: a 4xx is tried again later, until accepted.
      for (let attempt = 0; ; attempt++) {
        const r = await sendRaw(gateway!.smtpPort, raw, { from, to: ['support@help.example.com'] });
        codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
        if (r.code === 250) {
          accepted.add(subject);
          break;
        }
        expect(r.code, r.response).toBeGreaterThanOrEqual(400);
        expect(r.code, r.response).toBeLessThan(500);
        if (attempt > 100) throw new Error(`never accepted: ${subject}`);
        await sleep(200);
      }
    }
  };
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
  await Promise.all([chaos, ...Array.from({ length: SENDERS }, (_, s) => sender(s))]);

  const posted = () => double.state.updates('GJ-060309').filter((u) => u.fields.subject?.includes(run));
  await waitFor(
    'all accepted mail posted',
    () => new Set(posted().map((u) => u.fields.subject)).size >= accepted.size,
    30_000,
  );
  // Every job ended: nothing more is posted.
  await queueSettled(redis.url, 'rr');
  const perMessage = new Map<string, number>();
  for (const u of posted()) perMessage.set(u.fields.subject!, (perMessage.get(u.fields.subject!) ?? 0) + 1);
  const duplicates = [...perMessage.values()].filter((n) => n > 1).length;
  const tempfails = tempfailCount();
  console.log(
    `redis restart: ${sent} messages, replies ${JSON.stringify(Object.fromEntries(codes))}, ${accepted.size} accepted, ${perMessage.size} posted, ${duplicates} duplicated, ${[...accepted].filter((s) => !perMessage.has(s)).length} lost`,
  );
  expect(tempfails).toBeGreaterThan(0); // the outage was seen at the door
  expect(accepted.size).toBe(sent);
  expect([...accepted].filter((s) => !perMessage.has(s))).toEqual([]);
  expect(duplicates).toBe(0);
  expect(gateway.lines('job failed')).toEqual([]);
}, 60_000);
