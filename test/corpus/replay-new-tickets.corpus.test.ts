// Replaying a real mailing-list month of the corpus into a helpdesk that opens tickets for mail
// without a reference: every reply lands on the ticket of the message it answers.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { startHarness, type Double, type Harness } from '../support/harness.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { corpusFile, expectRepliesOnTheirThreadsTicket, messagesOf, split } from '../replay/helpers.js';

const redisUrl = inject('redisUrl');
const TICKET = { brand: 'Help', department: 'Support', status: 'New', priority: 'Normal', team: 'First line' };

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
    await expectRepliesOnTheirThreadsTicket(source, path, { double, workers, redis });
  });
});
