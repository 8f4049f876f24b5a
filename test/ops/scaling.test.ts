// Scaling out: any number of SMTP doors and workers on one Redis post each message once, and two
// gateways with different prefixes share a Redis without seeing each other's mail.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import {
  compose,
  queueSettled,
  sendRaw,
  startHarness,
  waitFor,
  type Double,
  type Harness,
} from '../support/harness.js';

const FROM = 'customer@example.net';
const TO = ['support@help.example.com'];

let double: Double;
beforeAll(async () => {
  double = await startSirportlyDouble();
});
afterAll(async () => {
  await double?.close();
});

describe('two SMTP doors and two workers on one prefix', () => {
  let nodes: Harness[] = [];
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
  });

  it('the same messages sent to both doors at once: each posted exactly once', async () => {
    const prefix = `sc${randomBytes(4).toString('hex')}`;
    const o = { redis: { prefix } };
    nodes = [
      await startHarness(inject('redisUrl'), double, o, 'smtp'),
      await startHarness(inject('redisUrl'), double, o, 'smtp'),
      await startHarness(inject('redisUrl'), double, o, 'worker'),
      await startHarness(inject('redisUrl'), double, o, 'worker'),
    ];
    const [a, b, w1, w2] = nodes as [Harness, Harness, Harness, Harness];
    const run = randomBytes(3).toString('hex');
    const tags = Array.from({ length: 20 }, (_, i) => `${run}-${i}`);
    const replies = await Promise.all(
      tags.flatMap((tag) => {
        // One sender per message: the door's loop limit counts messages per sender and ticket.
        const from = `customer-${tag}@example.net`;
        const raw = compose({
          from,
          to: TO[0],
          subject: `[GJ-060309] scale ${tag}`,
          messageId: `<${tag}@example.net>`,
          text: tag,
        });
        return [a, b].map(async (door) => (await sendRaw(door.smtpPort, await raw, { from, to: TO })).code);
      }),
    );
    expect(replies.every((c) => c === 250)).toBe(true);
    const posted = (tag: string) =>
      double.state.updates('GJ-060309').filter((u) => u.fields.subject === `[GJ-060309] scale ${tag}`).length;
    await waitFor('all posted', () => tags.every((t) => posted(t) >= 1), 20_000);
    // Every job ended: nothing more is posted for these messages.
    await queueSettled(inject('redisUrl'), prefix);
    expect(tags.map(posted)).toEqual(tags.map(() => 1));
    // Both workers took part.
    const postedBy = (w: Harness) => w.logs.lines.filter((l) => l.msg === 'job posted').length;
    await waitFor('each job logged', () => postedBy(w1) + postedBy(w2) >= 20);
    const byWorker = [w1, w2].map(postedBy);
    expect(byWorker[0]! + byWorker[1]!).toBe(20);
    expect(Math.min(...byWorker)).toBeGreaterThan(0);
  });
});

describe('two gateways sharing a Redis', () => {
  it('with different prefixes, each posts only its own mail', async () => {
    const dA = await startSirportlyDouble();
    const dB = await startSirportlyDouble();
    const gA = await startHarness(inject('redisUrl'), dA, { redis: { prefix: `pa${randomBytes(3).toString('hex')}` } });
    const gB = await startHarness(inject('redisUrl'), dB, { redis: { prefix: `pb${randomBytes(3).toString('hex')}` } });
    try {
      const tag = randomBytes(4).toString('hex');
      // The same message (same Message-ID) to both: each gateway has its own duplicate index.
      const raw = await compose({
        from: FROM,
        to: TO[0],
        subject: `[GJ-060309] shared ${tag}`,
        messageId: `<${tag}@example.net>`,
        text: tag,
      });
      expect((await sendRaw(gA.smtpPort, raw, { from: FROM, to: TO })).response).toMatch(/queued as/);
      expect((await sendRaw(gB.smtpPort, raw, { from: FROM, to: TO })).response).toMatch(/queued as/);
      await waitFor('A', () => dA.state.updates('GJ-060309').length === 1);
      await waitFor('B', () => dB.state.updates('GJ-060309').length === 1);
      await queueSettled(inject('redisUrl'), gA.config.redis.prefix);
      await queueSettled(inject('redisUrl'), gB.config.redis.prefix);
      expect(dA.state.updates('GJ-060309')).toHaveLength(1);
      expect(dB.state.updates('GJ-060309')).toHaveLength(1);
    } finally {
      await gA.close();
      await gB.close();
      await dA.close();
      await dB.close();
    }
  });
});
