// Replaying a real mailing-list month of the corpus into a helpdesk that opens tickets for mail
// without a reference: every reply lands on the ticket of the message it answers.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { doorKeys } from '../../src/door/keys.js';
import { createLogger } from '../../src/log.js';
import { parseHeaders } from '../../src/mail/headers.js';
import { normaliseMessageId } from '../../src/mail/idempotency.js';
import { runReplay, type ReplayOptions } from '../../src/replay/replay.js';
import { LogSink, startHarness, waitFor, type Double, type Harness } from '../support/harness.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { Capture, corpusFile, messagesOf, split } from '../replay/helpers.js';

const redisUrl = inject('redisUrl');
const TICKET = { brand: 'Help', department: 'Support', status: 'New', priority: 'Normal', team: 'First line' };

async function replay(paths: string[], config: Config, extra: Partial<ReplayOptions> = {}) {
  const stdout = new Capture();
  const stderr = new Capture();
  const opts: ReplayOptions = { paths, dryRun: false, format: 'auto', since: null, until: null, json: true, ...extra };
  const result = await runReplay(opts, config, createLogger('warn', new LogSink()), { stdout, stderr });
  return { ...result, stdout: stdout.text };
}

/** mboxrd: a From_ line per message, body lines starting with (>*)From quoted. */
function mbox(messages: Buffer[]): Buffer {
  const parts = messages.map((m) => {
    const text = m
      .toString('latin1')
      .replace(/\r\n/g, '\n')
      .replace(/^(>*From )/gm, '>$1');
    return `From sender@example.net Wed May  1 12:00:00 2024\n${text}${text.endsWith('\n') ? '' : '\n'}\n`;
  });
  return Buffer.from(parts.join(''), 'latin1');
}

describe('replay with noReference: create', () => {
  let double: Double;
  let workers: Harness;
  let redis: Redis;
  const dir = mkdtempSync(join(tmpdir(), 'replay-create-'));

  beforeAll(async () => {
    double = await startSirportlyDouble();
    workers = await startHarness(
      redisUrl,
      double,
      { policy: { noReference: 'create' }, routes: [{ name: 'desk', ticket: TICKET }] },
      'worker',
    );
    redis = new Redis(redisUrl);
  });
  afterAll(async () => {
    await workers.close();
    await double.close();
    redis.disconnect();
  });

  it('a real mailing-list month (maven-dev 2017-12): every reply lands on the ticket of the message it answers', async () => {
    const source = messagesOf(split(corpusFile('ponymail-unit-tests/maven-dev-2017-12-mboxvm.mbox'), 'mboxrd')).slice(
      0,
      80,
    );
    const path = join(dir, 'maven-dev.mbox');
    // A list archive carries "Precedence: bulk" on every message, and machine mail never opens a
    // ticket: take it out, as an export of a person's mailbox would look.
    const personal = (raw: Buffer) => {
      const end = parseHeaders(raw).bounds.bodyStart;
      const head = raw
        .subarray(0, end)
        .toString('latin1')
        .replace(/^Precedence:.*\r?\n/gim, '');
      return Buffer.concat([Buffer.from(head, 'latin1'), raw.subarray(end)]);
    };
    writeFileSync(path, mbox(source.map((m) => personal(m.raw))));
    const before = double.state.submissions().length;
    const r = await replay([path], workers.config);
    expect(r.exitCode).toBe(0);
    const summary = JSON.parse(r.stdout) as { accepted: number };
    expect(summary.accepted).toBeGreaterThan(60);

    const k = doorKeys(workers.config.redis.prefix);
    const ids = source.map((m) => normaliseMessageId(parseHeaders(m.raw).getRaw('message-id')));
    // The worker records each posted Message-ID against its ticket: read the outcome from there.
    const ticketOf = async (id: string | null) => (id === null ? null : redis.get(k.thread(id)));
    await waitFor(
      'every accepted message posted',
      async () => (await Promise.all(ids.map(ticketOf))).filter(Boolean).length >= summary.accepted,
      30_000,
    );

    let replies = 0;
    for (const m of source) {
      const h = parseHeaders(m.raw);
      const parent = normaliseMessageId(h.getRaw('in-reply-to'));
      const own = normaliseMessageId(h.getRaw('message-id'));
      if (!parent || !ids.includes(parent)) continue;
      const [mine, theirs] = [await ticketOf(own), await ticketOf(parent)];
      if (!mine || !theirs) continue;
      replies++;
      expect(mine, `${own} answers ${parent}`).toBe(theirs);
    }
    expect(replies).toBeGreaterThan(10);
    // Far fewer tickets than messages: threads, not messages, open tickets.
    const opened = double.state.submissions().length - before;
    expect(opened).toBeGreaterThan(0);
    expect(opened).toBeLessThan(summary.accepted - replies / 2);
  });
});
