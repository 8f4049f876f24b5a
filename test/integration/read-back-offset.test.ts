// The read-back after an ambiguous failure against a Sirportly that stores posted_at an hour off
// (the unfavourable reading): our update is found at the learned offset, and an identical mail
// from the same author an hour apart is still a mail of its own.
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, expect, inject, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import type { JobData } from '../../src/queue/job.js';
import { QUEUE_NAME, keys } from '../../src/queue/keys.js';
import { processUpdateJob } from '../../src/worker/process-job.js';
import { WaitError } from '../../src/worker/update-job.js';
import { SirportlyClient } from '../../src/sirportly/client.js';
import { startSirportlyDouble as startAnother } from '../support/sirportly-double.js';
import { LogSink } from '../support/harness.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, sendRaw, startHarness, waitFor, type Double, type Harness } from '../support/harness.js';

const FROM = 'ada@example.net';
const TO = ['support@help.example.com'];
const REF = 'GJ-060309';

let double: Double;
let h: Harness;
let redis: Redis;
let queue: Queue;

beforeAll(async () => {
  double = await startSirportlyDouble({ account: { reading: 'unfavourable', offsetMinutes: 60 } });
  h = await startHarness(inject('redisUrl'), double, { sirportly: { requestTimeoutMs: 400 } });
  redis = new Redis(inject('redisUrl'));
  queue = new Queue(QUEUE_NAME, { connection: redis, prefix: h.config.redis.prefix });
});
afterAll(async () => {
  await h?.close();
  await queue?.close();
  redis?.disconnect();
  await double?.close();
});
beforeEach(() => double.resetFaults());

async function deliver(date: string, text: string, id: string): Promise<string> {
  const raw = await compose({
    from: FROM,
    to: TO[0],
    subject: `Re: [${REF}] printer`,
    date: new Date(date),
    messageId: `<${id}@example.net>`,
    text,
  });
  const r = await sendRaw(h.smtpPort, raw, { from: FROM, to: TO });
  expect(r.code).toBe(250);
  const m = /queued as ([0-9a-f]+)/.exec(r.response);
  return m![1]!;
}

async function completed(queueId: string): Promise<void> {
  await waitFor(
    `job ${queueId} completed`,
    async () => (await (await queue.getJob(queueId))?.getState()) === 'completed',
    15_000,
  );
}

const withText = (text: string) => double.state.updates(REF).filter((u) => u.json.message === text);

it('a post committed but unanswered is found at the learned offset: one update', async () => {
  const run = randomBytes(3).toString('hex');
  await completed(await deliver('2024-05-01T09:00:00Z', `first ${run}`, `a${run}`));
  double.faults.only = ['post_update'];
  double.faults.commitThenHangNext = 1;
  double.faults.hangMs = 1000;
  const id = await deliver('2024-05-01T09:30:00Z', `second ${run}`, `b${run}`);
  await completed(id);
  expect(withText(`second ${run}`)).toHaveLength(1);
  expect(withText(`second ${run}`)[0]!.json.posted_at).toBe('2024-05-01T08:30:00+00:00');
  expect(
    h.logs.lines.some(
      (l) => l.msg === 'update found already posted; not posting again' && l.queueId === id && l.offsetSeconds === 3600,
    ),
  ).toBe(true);
});

it('two identical "Thanks" from one author an hour apart are two updates, though one post failed ambiguously', async () => {
  const run = randomBytes(3).toString('hex');
  const thanks = `Thanks ${run}`;
  // Offsets learned on both sides of 10:00 from the gateway's own posts.
  await completed(await deliver('2024-06-01T08:00:00Z', `before ${run}`, `p${run}`));
  await completed(await deliver('2024-06-01T11:00:00Z', thanks, `t2${run}`));
  // The 10:00 Thanks: its post answered 500 (nothing done, outcome unknown to the gateway). The
  // read-back sees the 11:00 Thanks stored at 10:00 and must not take it for this one.
  double.faults.only = ['post_update'];
  double.faults.failNext = 1;
  const id = await deliver('2024-06-01T10:00:00Z', thanks, `t1${run}`);
  await completed(id);
  expect(
    withText(thanks)
      .map((u) => u.json.posted_at)
      .sort(),
  ).toEqual(['2024-06-01T09:00:00+00:00', '2024-06-01T10:00:00+00:00']);
  expect((await queue.getJob(id))?.returnvalue).toMatchObject({ recovered: false });
});

it('nothing learned yet and an identical update only at another offset: the job waits, then fails for a person; never posts', async () => {
  // A fresh account (no offsets learned) whose ticket holds, an hour off, an update with this
  // mail's author and text: it may be ours (offset 1 h) or another mail (offset 0).
  const other = await startAnother({ account: { reading: 'documented' } });
  const client = new SirportlyClient({
    url: other.url,
    token: other.token,
    secret: other.secret,
    requestTimeoutMs: 2000,
    connections: 2,
  });
  const prefix = `t${randomBytes(5).toString('hex')}`;
  const config = {
    ...h.config,
    redis: { ...h.config.redis, prefix },
    sirportly: { ...h.config.sirportly, url: other.url, token: other.token, secret: other.secret },
    auth: { ...h.config.auth, enabled: false },
  };
  try {
    const run = randomBytes(3).toString('hex');
    const raw = await compose({
      from: FROM,
      to: TO[0],
      subject: `Re: [${REF}] printer`,
      date: new Date('2024-07-01T10:00:00Z'),
      messageId: `<u${run}@example.net>`,
      text: `Thanks ${run}`,
    });
    await client.postUpdate({
      ticket: REF,
      subject: 'Re: printer',
      message: `Thanks ${run}`,
      author_email: FROM,
      author_name: FROM,
      posted_at: '2024-07-01T09:00:00Z',
    });
    const key = randomBytes(16).toString('hex');
    await redis.set(keys(prefix).raw(key), raw);
    const data: JobData = {
      key,
      ticket: REF,
      messageId: `u${run}@example.net`,
      subject: 'Re: printer',
      reason: 'reference:subject',
      envelope: {
        mailFrom: FROM,
        rcptTo: TO,
        receivedAt: new Date().toISOString(),
        source: 'smtp',
        remoteAddress: '127.0.0.1',
      },
      size: raw.length,
      // An earlier attempt sent the post and got no answer.
      checkpoint: { uploads: {}, postStarted: true, submitStarted: false, submitStartedAt: null, created: null },
    };
    const deps = { config, redis, client, log: createLogger('silent', new LogSink()) };
    let saved = structuredClone(data);
    const job = (timestamp: number) => ({
      id: key,
      data: structuredClone(saved),
      timestamp,
      attemptsMade: 1,
      updateData: async (d: JobData) => void (saved = structuredClone(d)),
    });
    await expect(processUpdateJob(job(Date.now()), deps)).rejects.toBeInstanceOf(WaitError);
    expect(saved.checkpoint.unsureSince).toEqual(expect.any(String));
    // An hour later, still unsure: failed with a reason for a person.
    const later = { ...deps, now: () => Date.now() + 3_700_000 };
    await expect(processUpdateJob(job(Date.now()), later)).rejects.toThrow(
      /cannot tell whether an earlier post of this message took effect: GJ-060309 has update \d+ at 60 min/,
    );
    // Once posts dated on both sides of the mail's date have taught offset 0 (as the worker records
    // them), the update an hour off is another mail: this one is posted.
    const { PostedAtOffsets, accountKey } = await import('../../src/sirportly/posted-at-offset.js');
    const offsets = new PostedAtOffsets(redis, keys(prefix).postedAtOffsets(accountKey(config.sirportly)));
    await offsets.record('2024-06-30T10:00:00Z', '2024-06-30T10:00:00+00:00');
    await offsets.record('2024-07-02T10:00:00Z', '2024-07-02T10:00:00+00:00');
    const result = await processUpdateJob(job(Date.now()), deps);
    expect(result).toMatchObject({ recovered: false });
    expect(
      other.state
        .updates(REF)
        .filter((u) => u.json.message === `Thanks ${run}`)
        .map((u) => u.json.posted_at),
    ).toEqual(['2024-07-01T09:00:00+00:00', '2024-07-01T10:00:00+00:00']);
  } finally {
    await client.close();
    await other.close();
  }
});
