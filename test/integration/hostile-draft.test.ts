// One message built to make drafting run for minutes (a million nested <div>s, with a valid
// reference) must not stop the gateway: while a drafting thread is stuck on it, SMTP accepts,
// /healthz answers and other mail is posted; the message itself ends as a failed job saying which
// limit it hit.
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { QUEUE_NAME } from '../../src/queue/keys.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, sendRaw, startHarness, waitFor, type Double, type Harness } from '../support/harness.js';
import { nestedDivBomb } from '../support/hostile-mail.js';

const FROM = 'customer@example.net';
const TO = ['support@help.example.com'];
const TICKET = 'GJ-060309';
// Short enough for a test, far shorter than what sanitising the bomb takes (minutes).
const DEADLINE_MS = 5000;

const bombMail = (tag: string, depth?: number): Buffer =>
  nestedDivBomb(tag, { from: FROM, to: TO[0]!, ticket: TICKET }, depth);

function queueIdOf(response: string): string {
  const m = /queued as ([0-9a-f]+)/.exec(response);
  if (!m) throw new Error(`no queue id in ${response}`);
  return m[1]!;
}

let double: Double;
let redis: Redis;

beforeAll(async () => {
  double = await startSirportlyDouble();
  redis = new Redis(inject('redisUrl'));
});
afterAll(async () => {
  redis?.disconnect();
  await double?.close();
});

const postsFor = (tag: string) => double.state.updates(TICKET).filter((u) => u.fields.subject?.includes(tag));

describe('a nested-<div> bomb past the HTML limits', () => {
  let h: Harness;
  let queue: Queue;
  beforeAll(async () => {
    // HTML limits raised past the bomb, so the sanitiser really runs and only the deadline stops it.
    h = await startHarness(inject('redisUrl'), double, {
      queue: { parseTimeoutMs: DEADLINE_MS },
      draft: { threads: 2, attempts: 2, heapMb: 1024 },
      html: { maxDepth: 10_000_000, maxBytes: 100_000_000 },
    });
    queue = new Queue(QUEUE_NAME, { connection: redis, prefix: h.config.redis.prefix });
  });
  afterAll(async () => {
    await h?.close();
    await queue?.close();
  });

  it('is stopped at the deadline and fails after draft.attempts tries while other mail is accepted and posted and /healthz answers', async () => {
    const tag = randomBytes(4).toString('hex');
    const bomb = await sendRaw(h.smtpPort, bombMail(tag), { from: FROM, to: TO });
    expect(bomb.code).toBe(250);
    const bombId = queueIdOf(bomb.response);
    await waitFor('the bomb being drafted', async () => (await queue.getJobState(bombId)) === 'active');

    // While a drafting thread is stuck in the sanitiser:
    const health = await fetch(`http://127.0.0.1:${h.httpPort}/healthz`);
    expect(health.status).toBe(200);
    const okTag = randomBytes(4).toString('hex');
    const ordinary = await compose({
      from: FROM,
      to: TO[0],
      subject: `[${TICKET}] ordinary ${okTag}`,
      messageId: `<${okTag}@example.net>`,
      html: `<p>fine ${okTag}</p>`,
    });
    const ok = await sendRaw(h.smtpPort, ordinary, { from: FROM, to: TO });
    expect(ok.code).toBe(250);
    await waitFor('the ordinary message posted', () => postsFor(okTag).length === 1, 30_000);
    // Posted before the bomb's job ended: drafting it held up nothing else.
    expect(await queue.getJobState(bombId)).not.toBe('failed');

    await waitFor(
      'the bomb failed',
      async () => (await queue.getJobState(bombId)) === 'failed',
      4 * DEADLINE_MS + 20_000,
    );
    const job = await queue.getJob(bombId);
    expect(job?.attemptsMade).toBe(2);
    expect(job?.failedReason).toMatch(
      /^draft_limit: drafting took longer than queue\.parseTimeoutMs \(5000 ms\); the drafting thread was stopped \(2 tries, draft\.attempts\)$/,
    );
    expect(postsFor(tag)).toHaveLength(0);
    const failedLog = h.logs.lines.find((l) => l.msg === 'job failed' && l.queueId === bombId);
    expect(failedLog?.reason).toMatch(/^draft_limit: /);

    // The threads were replaced: the next message is drafted and posted as usual.
    const afterTag = randomBytes(4).toString('hex');
    const after = await sendRaw(
      h.smtpPort,
      await compose({ from: FROM, to: TO[0], subject: `[${TICKET}] after ${afterTag}`, text: `after ${afterTag}` }),
      { from: FROM, to: TO },
    );
    expect(after.code).toBe(250);
    await waitFor('the message after the bomb posted', () => postsFor(afterTag).length === 1, 30_000);
  });
});

describe('a nested-<div> bomb with the default HTML limits', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(inject('redisUrl'), double, { draft: { threads: 1 } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('is posted with its text only, no html_body, and the depth warning', async () => {
    const tag = randomBytes(4).toString('hex');
    // Under html.maxBytes, so the depth pre-scan is what keeps it from the sanitiser.
    const r = await sendRaw(h.smtpPort, bombMail(tag, 200_000), { from: FROM, to: TO });
    expect(r.code).toBe(250);
    await waitFor('the bomb posted', () => postsFor(tag).length === 1, 30_000);
    const [post] = postsFor(tag);
    expect(post!.fields.message).toBe(`deep ${tag}`);
    expect(post!.fields.html_body).toBeUndefined();
    expect(post!.fields.html_safe).toBeUndefined();
    const drafted = h.logs.lines.find(
      (l) =>
        l.msg === 'drafted with warnings' &&
        Array.isArray(l.warnings) &&
        l.warnings.some((w) => String(w).includes('html.maxDepth')),
    );
    expect(drafted?.warnings).toContain(
      'HTML body nests elements deeper than html.maxDepth (500); the update carries the text only',
    );
  });
});
