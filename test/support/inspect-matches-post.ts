// `inspect` promises to show exactly what would be posted. Each message goes in over SMTP; what
// the Sirportly double received must equal what `inspectMessage` says for the bytes the gateway
// stored, whether it drafts in-process or in the drafting pool (as `mailgate inspect` does). Shared by the test over test/fixtures/mail and the one over the third-party corpus.
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DraftPool } from '../../src/drafting/pool.js';
import type { DnsResolver } from '../../src/mail/auth/resolver.js';
import { inspectMessage } from '../../src/mail/inspect.js';
import { QUEUE_NAME } from '../../src/queue/keys.js';
import type { JobData } from '../../src/queue/job.js';
import { startSirportlyDouble } from './sirportly-double.js';
import { sendRaw, startHarness, waitFor, type Double, type Harness } from './harness.js';

/**
 * Replace the Subject (so the message carries a reference and a tag to find it by) and the
 * Message-ID (several corpus files share one, and a message posted once is never posted again).
 */
function retag(raw: Buffer, tag: string): Buffer {
  const text = raw.toString('latin1');
  const sep = /\r?\n\r?\n/.exec(text);
  const headEnd = sep ? sep.index : text.length;
  const head = text
    .slice(0, headEnd)
    .replace(/^Subject:.*(?:\r?\n[ \t].*)*(?:\r?\n|$)/im, '')
    .replace(/^Message-ID:.*(?:\r?\n[ \t].*)*(?:\r?\n|$)/im, '');
  const nl = head.includes('\r\n') ? '\r\n' : '\n';
  const out = `Subject: [GJ-060309] ${tag}${nl}Message-ID: <${tag}@inspect.test>${nl}${head}${text.slice(headEnd)}`;
  return Buffer.from(out, 'latin1');
}

/** Both answers get the same SPF/DKIM verdict: no DNS, rather than whatever the network says at the time. */
const noDns: DnsResolver = (name) =>
  Promise.reject(Object.assign(new Error(`no DNS in this test (${name})`), { code: 'ENOTFOUND' }));

/** One test per file: `read` gives its bytes. */
export function describeInspectMatchesPost(files: string[], read: (file: string) => Buffer): void {
  let double: Double;
  let h: Harness;
  let pool: DraftPool;
  let redis: Redis;
  let queue: Queue<JobData>;

  beforeAll(async () => {
    double = await startSirportlyDouble();
    h = await startHarness(inject('redisUrl'), double);
    pool = DraftPool.withLimits(h.config, 1);
    redis = new Redis(inject('redisUrl'));
    queue = new Queue<JobData>(QUEUE_NAME, { connection: redis, prefix: h.config.redis.prefix });
  });
  afterAll(async () => {
    await h?.close();
    await pool?.close();
    await queue?.close();
    redis?.disconnect();
    await double?.close();
  });

  describe('inspect equals what is posted', () => {
    for (const rel of files) {
      it(rel, async () => {
        const tag = randomBytes(4).toString('hex');
        const raw = retag(read(rel), tag);
        const reply = await sendRaw(h.smtpPort, raw, { from: 'sender@example.org', to: ['support@example.com'] });
        expect(reply.response).toMatch(/^250 2\.0\.0 Ok: queued as/);
        const queueId = /queued as ([0-9a-f]+)/.exec(reply.response)![1]!;
        const posted = await waitFor(
          'update',
          () => double.state.updates('GJ-060309').find((u) => u.fields.subject?.includes(tag)),
          15_000,
        );

        const stored = await redis.getBuffer(`${h.config.redis.prefix}:raw:${queueId}`);
        const job = await queue.getJob(queueId);
        expect(stored).not.toBeNull();
        const shown = await inspectMessage(stored!, job!.data.envelope, h.config);

        expect(shown.verdict).toBe('post');
        const u = shown.update!;
        const f = posted.fields;
        expect(f.ticket).toBe(u.ticket);
        expect(f.subject).toBe(u.subject);
        expect(f.message).toBe(u.message);
        expect(f.html_body ?? null).toBe(u.html_body);
        expect(f.html_safe ?? null).toBe(u.html_safe);
        expect(f.author_name ?? null).toBe(u.author_name);
        expect(f.author_email ?? null).toBe(u.author_email);
        expect(f.posted_at).toBe(u.posted_at);
        expect(
          posted.attachments.map((a) => ({ filename: a.filename, sha256: a.sha256, size: a.content.length })),
        ).toEqual(shown.attachments.map((a) => ({ filename: a.filename, sha256: a.sha256, size: a.size })));

        // `mailgate inspect` drafts in the drafting pool: the same answer as drafting in-process.
        const offline = { resolver: noDns };
        expect(
          await inspectMessage(stored!, job!.data.envelope, h.config, {
            ...offline,
            draft: (r, envelope, ticket) => pool.draft(r, envelope, ticket),
          }),
        ).toEqual(await inspectMessage(stored!, job!.data.envelope, h.config, offline));
      });
    }
  });
}
