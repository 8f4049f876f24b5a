// The door's checks wired into the running gateway, over SMTP: replies found by thread, machine
// mail dropped and counted, the loop limit, and the HELO name kept for the worker's SPF check.
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { JobData } from '../../src/queue/job.js';
import { QUEUE_NAME } from '../../src/queue/keys.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { sendRaw, startHarness, waitFor, type Double, type Harness } from '../support/harness.js';
import { mail } from '../mail/helpers.js';

const TO = ['support@help.example.com'];
let double: Double;
let h: Harness;
let queue: Queue<JobData>;
let redis: Redis;

beforeAll(async () => {
  double = await startSirportlyDouble();
  h = await startHarness(inject('redisUrl'), double, {
    recipients: { domains: ['help.example.com'] },
    policy: { loopRateLimitMax: 2 },
  });
  redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
  queue = new Queue<JobData>(QUEUE_NAME, { connection: redis, prefix: h.config.redis.prefix });
});
afterAll(async () => {
  await queue?.close();
  redis?.disconnect();
  await h?.close();
  await double?.close();
});

const send = (raw: Buffer, from = 'ann@example.com') => sendRaw(h.smtpPort, raw, { from, to: TO });
const postedWith = (ticket: string, tag: string) =>
  double.state.updates(ticket).find((u) => u.fields.message?.includes(tag));

describe('the door over SMTP', () => {
  it('posts a reply whose subject lost the reference to the ticket of the message it answers', async () => {
    const a = randomBytes(4).toString('hex');
    const first = await send(
      mail(
        'From: Ann <ann@example.com>',
        `Subject: [GJ-060309] printer ${a}`,
        `Message-ID: <${a}@example.com>`,
        '',
        `first ${a}`,
      ),
    );
    expect(first.code).toBe(250);
    await waitFor('the first update', () => postedWith('GJ-060309', a));
    // The thread entry is written after the post; give the worker its moment.
    await waitFor('thread recorded', async () => (await redis.keys(`${h.config.redis.prefix}:thread:*`)).length >= 2);

    const b = randomBytes(4).toString('hex');
    const reply = await send(
      mail(
        'From: Ann <ann@example.com>',
        'Subject: Re: printer',
        `Message-ID: <${b}@example.com>`,
        `In-Reply-To: <${a}@example.com>`,
        '',
        `reply ${b}`,
      ),
    );
    expect(reply.code).toBe(250);
    expect(reply.response).toMatch(/queued as/);
    await waitFor('the reply posted to the same ticket', () => postedWith('GJ-060309', b));
    const line = h.logs.lines.find((l) => l.msg === 'door verdict' && l.messageId === `${b}@example.com`);
    expect(line).toMatchObject({ verdict: 'queued', reason: 'reference:thread', ticket: 'GJ-060309' });
  });

  it("matches a reply to Sirportly's own notification by the ticket Message-ID it learned", async () => {
    const ticket = await waitFor('ticket learned', async () => {
      const t =
        double.state.updates('GJ-060309').length > 0
          ? ((await (
              await fetch(`${double.url}/api/v2/tickets/ticket`, {
                method: 'POST',
                headers: {
                  'x-auth-token': double.token,
                  'x-auth-secret': double.secret,
                  'content-type': 'application/x-www-form-urlencoded',
                },
                body: 'ticket=GJ-060309',
              })
            ).json()) as { message_id: string })
          : null;
      return t && (await redis.exists(`${h.config.redis.prefix}:learned:GJ-060309`)) ? t : null;
    });
    const c = randomBytes(4).toString('hex');
    const r = await send(
      mail(
        'From: Bob <bob@example.org>',
        'Subject: Re: Your ticket',
        `References: <${ticket.message_id}> <notification-${c}@sirportly.example>`,
        '',
        `notification reply ${c}`,
      ),
      'bob@example.org',
    );
    expect(r.code).toBe(250);
    await waitFor('posted', () => postedWith('GJ-060309', c));
  });

  it('still rejects a reply that matches nothing', async () => {
    const r = await send(
      mail('From: Ann <ann@example.com>', 'Subject: Re: something', 'In-Reply-To: <nobody@nowhere.example>', '', 'x'),
    );
    expect(r.code).toBe(550);
  });

  it('drops machine mail with 250, logs the reason and what gave it away, counts it', async () => {
    const t = randomBytes(4).toString('hex');
    const r = await send(
      mail(
        'From: Ann <ann@example.com>',
        `Subject: [GJ-060309] Out of office ${t}`,
        'Precedence: bulk',
        `Message-ID: <${t}@example.com>`,
        '',
        'away',
      ),
    );
    expect(r.code).toBe(250);
    expect(r.response).toMatch(/not posted \(precedence\)/);
    const line = h.logs.lines.find((l) => l.msg === 'door verdict' && l.messageId === `${t}@example.com`);
    expect(line).toMatchObject({ verdict: 'dropped', reason: 'precedence', detail: 'Precedence: bulk' });
    const metrics = await (await fetch(`http://127.0.0.1:${h.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/mailgate_door_verdicts_total\{verdict="dropped",reason="precedence"\} [1-9]/);
  });

  it("drops a sender's mail to one ticket past the loop limit", async () => {
    const replies: string[] = [];
    for (let n = 0; n < 3; n++) {
      const r = await send(
        mail(
          'From: bot@loop.example',
          'Subject: [OC-820409] Auto: thanks',
          `Message-ID: <loop${n}-${randomBytes(3).toString('hex')}@loop.example>`,
          '',
          'auto',
        ),
        'bot@loop.example',
      );
      replies.push(r.response);
    }
    expect(replies[0]).toMatch(/queued as/);
    expect(replies[1]).toMatch(/queued as/);
    expect(replies[2]).toMatch(/not posted \(loop_rate_limit\)/);
  });

  it('stores the HELO name with the job, for SPF at posting time', async () => {
    const t = randomBytes(4).toString('hex');
    const r = await send(mail('From: Ann <ann@example.com>', `Subject: [AB-123456] helo ${t}`, '', 'x'));
    const id = /queued as ([0-9a-f]+)/.exec(r.response)?.[1];
    expect(id).toBeDefined();
    const job = await queue.getJob(id!);
    expect(job?.data.envelope).toMatchObject({
      source: 'smtp',
      remoteAddress: expect.any(String),
      helo: expect.any(String),
    });
    expect(job!.data.envelope.helo!.length).toBeGreaterThan(0);
  });
});
