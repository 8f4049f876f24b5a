// Replaying an archive into a helpdesk that opens tickets for mail without a reference: one
// ticket per thread (In-Reply-To/References, or the same subject between the same people), later
// messages posted to it; the dry run says the same; a second run opens nothing.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { compose, queueSettled, startHarness, waitFor, type Double, type Harness } from '../support/harness.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { listMonth } from '../support/list-month.js';
import { expectRepliesOnTheirThreadsTicket, mbox, replay } from './helpers.js';

const redisUrl = inject('redisUrl');
const TICKET = { brand: 'Help', department: 'Support', status: 'New', priority: 'Normal', team: 'First line' };

const ann = 'Ann <ann@example.net>';
const desk = 'support@help.example.com';

/** Thread A: a new request, a reply by In-Reply-To, a follow-up by subject only (From/To swapped).
 *  Thread B: a request and a reply found only by References. Thread C: a reply to a ticket
 *  (reference in the subject), then a reply to that without the reference. */
async function threadedArchive(dir: string, tag: string) {
  const at = (min: number) => new Date(Date.UTC(2024, 4, 1, 12, min));
  const m = (o: Record<string, unknown>) => compose({ text: 'x', ...o });
  const msgs = [
    await m({
      from: ann,
      to: desk,
      subject: `Printer ${tag}`,
      messageId: `<a1.${tag}@example.net>`,
      date: at(0),
      text: 'A1',
    }),
    await m({
      from: 'Bob <bob@example.net>',
      to: desk,
      subject: `Login ${tag}`,
      messageId: `<b1.${tag}@example.net>`,
      date: at(1),
      text: 'B1',
    }),
    await m({
      from: desk,
      to: ann,
      subject: `Re: Printer ${tag}`,
      messageId: `<a2.${tag}@help.example.com>`,
      inReplyTo: `<a1.${tag}@example.net>`,
      date: at(2),
      text: 'A2',
    }),
    await m({
      from: 'Bob <bob@example.net>',
      to: desk,
      subject: `Also ${tag}`,
      messageId: `<b2.${tag}@example.net>`,
      references: [`<b1.${tag}@example.net>`],
      date: at(3),
      text: 'B2',
    }),
    await m({
      from: ann,
      to: desk,
      subject: `RE: AW: Printer ${tag}`,
      messageId: `<a3.${tag}@example.net>`,
      date: at(4),
      text: 'A3',
    }),
    await m({
      from: 'Cy <cy@example.net>',
      to: desk,
      subject: `[GJ-060309] Toner ${tag}`,
      messageId: `<c1.${tag}@example.net>`,
      date: at(5),
      text: 'C1',
    }),
    await m({
      from: 'Cy <cy@example.net>',
      to: desk,
      subject: `Re: Toner ${tag}`,
      messageId: `<c2.${tag}@example.net>`,
      inReplyTo: `<c1.${tag}@example.net>`,
      date: at(6),
      text: 'C2',
    }),
  ];
  const path = join(dir, `threads-${tag}.mbox`);
  writeFileSync(path, mbox(msgs));
  return path;
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

  const messagesOn = (ref: string) => double.state.updates(ref).map((u) => u.fields.message?.trim());

  it('opens one ticket per thread and posts the rest of each thread to it; a second run opens nothing', async () => {
    const tag = `t${Date.now().toString(36)}`;
    const path = await threadedArchive(dir, tag);
    const first = await replay([path], workers.config);
    expect(first.exitCode).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ messages: 7, accepted: 7 });

    await waitFor(
      '7 updates',
      () =>
        double.state
          .allUpdates()
          .filter((u) => /^[ABC]\d$/.test(u.fields.message?.trim() ?? '') && u.fields.subject?.includes(tag)).length ===
        7,
      20_000,
    );
    const subs = double.state.submissions().filter((s) => s.fields.subject?.includes(tag));
    // The two threads are independent jobs, drafted side by side: which opens its ticket first is not promised.
    expect(subs.map((s) => s.fields.subject).sort()).toEqual([`Login ${tag}`, `Printer ${tag}`]);
    const a = subs.find((s) => s.fields.subject === `Printer ${tag}`)?.reference;
    const b = subs.find((s) => s.fields.subject === `Login ${tag}`)?.reference;
    expect(messagesOn(a!).sort()).toEqual(['A1', 'A2', 'A3']);
    expect(messagesOn(b!).sort()).toEqual(['B1', 'B2']);
    // The first message of a thread is posted first: the others wait for its ticket.
    expect(messagesOn(a!)[0]).toBe('A1');
    // Posts to a ticket that already exists are independent jobs, drafted and posted side by side:
    // their order at Sirportly is not promised; posted_at (from Date:) orders them there.
    const onC = double.state.updates('GJ-060309').filter((u) => u.fields.subject?.includes(tag));
    expect(onC.map((u) => [u.fields.message?.trim(), u.fields.posted_at]).sort()).toEqual([
      ['C1', '2024-05-01T12:05:00Z'],
      ['C2', '2024-05-01T12:06:00Z'],
    ]);

    const again = await replay([path], workers.config);
    expect(JSON.parse(again.stdout)).toMatchObject({ messages: 7, accepted: 0, duplicates: 7 });
    await queueSettled(inject('redisUrl'), workers.config.redis.prefix);
    expect(double.state.submissions().filter((s) => s.fields.subject?.includes(tag))).toHaveLength(2);
  });

  it('--dry-run says the same: create with the ticket fields for each first message, same_ticket_as for the rest', async () => {
    const tag = `d${Date.now().toString(36)}`;
    const path = await threadedArchive(dir, tag);
    const r = await replay([path], workers.config, { dryRun: true, json: false });
    const lines = r.stdout
      .trim()
      .split('\n')
      .map(
        (l) => JSON.parse(l) as Record<string, unknown> & { update: { ticket: string | null; message: string } | null },
      );
    expect(lines.map((l) => [l.update?.message.trim(), l.verdict, l.reason])).toEqual([
      ['A1', 'create', 'no_reference'],
      ['B1', 'create', 'no_reference'],
      ['A2', 'create', 'thread_in_archive'],
      ['B2', 'create', 'thread_in_archive'],
      ['A3', 'create', 'thread_in_archive'],
      ['C1', 'post', 'reference:subject'],
      ['C2', 'post', 'reference:archive_thread'],
    ]);
    expect(lines[0]).toMatchObject({
      route: 'desk',
      same_ticket_as: null,
      new_ticket: {
        subject: `Printer ${tag}`,
        contact_method_type: 'email',
        contact_method_data: 'ann@example.net',
        contact_name: 'Ann',
        department: 'Support',
        status: 'New',
        priority: 'Normal',
        team: 'First line',
        submitted_at: '2024-05-01T12:00:00Z',
      },
    });
    expect(lines[2]).toMatchObject({ new_ticket: null, same_ticket_as: `a1.${tag}@example.net` });
    expect(lines[4]).toMatchObject({ new_ticket: null, same_ticket_as: `a1.${tag}@example.net` });
    expect(lines[3]).toMatchObject({ new_ticket: null, same_ticket_as: `b1.${tag}@example.net` });
    expect(lines[6]).toMatchObject({ update: { ticket: 'GJ-060309' }, same_ticket_as: 'GJ-060309' });
    // Nothing was touched.
    expect(double.state.submissions().filter((s) => s.fields.subject?.includes(tag))).toHaveLength(0);
  });

  it('a mailing-list month (80 messages, 27 threads): every reply lands on the ticket of the message it answers', async () => {
    const source = listMonth(80);
    const path = join(dir, 'list-month.mbox');
    await expectRepliesOnTheirThreadsTicket(source, path, { double, workers, redis });
  });
});
