// Exactly once under both readings of what the Sirportly docs leave open (the documented one, and
// the unfavourable one: posted_at stored an hour off, from_address not kept, messages normalised,
// nulls): 14 threads, each opened by a new message (half from bare addresses, half from named
// senders) and answered twice without a reference, while 15 % of all calls are done by Sirportly
// but never answered. Every thread gets one ticket, every message one update: none lost, none twice.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startSirportlyDouble, type DoubleAccount } from '../support/sirportly-double.js';
import {
  compose,
  queueSettled,
  sendRaw,
  startHarness,
  waitFor,
  type Double,
  type Harness,
} from '../support/harness.js';

const THREADS = 14;
const SUPPORT = 'support@help.example.com';

describe.each<DoubleAccount['reading']>(['documented', 'unfavourable'])('%s reading', (reading) => {
  let double: Double;
  let h: Harness;
  beforeAll(async () => {
    double = await startSirportlyDouble({ account: { reading, offsetMinutes: 60 } });
    h = await startHarness(inject('redisUrl'), double, {
      sirportly: { requestTimeoutMs: 300 },
      queue: { concurrency: 4 },
      newTickets: { perSenderMax: 0 },
      policy: { noReference: 'create' },
      routes: [
        {
          name: 'desk',
          ticket: { brand: 'Help', department: 'Support', status: 'New', priority: 'Normal', team: 'First line' },
        },
      ],
    });
  });
  afterAll(async () => {
    await h?.close();
    await double?.close();
  });

  it('15 % of calls committed but unanswered: one ticket per thread, every message posted once', async () => {
    const run = randomBytes(3).toString('hex');
    const sender = (i: number) => `c${i}-${run}@example.net`;
    const from = (i: number) => (i % 2 === 0 ? sender(i) : `Customer ${i} <${sender(i)}>`);
    const text = (i: number, k: number) => `message ${k} of thread ${i} (${run})`;
    const send = async (i: number, k: number) => {
      const raw = await compose({
        from: from(i),
        to: SUPPORT,
        subject: `Printer ${i} ${run}`,
        messageId: `<${run}-${i}-${k}@example.net>`,
        ...(k > 0 ? { inReplyTo: `<${run}-${i}-0@example.net>`, references: [`<${run}-${i}-0@example.net>`] } : {}),
        text: text(i, k),
      });
      const r = await sendRaw(h.smtpPort, raw, { from: sender(i), to: [SUPPORT] });
      expect(r.code).toBe(250);
    };
    double.faults.only = ['submit', 'post_update', 'spql', 'ticket'];
    double.faults.commitThenHangRate = 0.15;
    double.faults.hangMs = 600;

    const ours = () => double.state.allUpdates().filter((u) => u.fields.message?.includes(`(${run})`));
    const posted = (i: number, k: number) => ours().filter((u) => u.fields.message === text(i, k));
    await Promise.all(Array.from({ length: THREADS }, (_, i) => send(i, 0)));
    // Replies find their thread through the first message's Message-ID once it is posted.
    await waitFor(
      'every thread opened',
      () => Array.from({ length: THREADS }, (_, i) => i).every((i) => posted(i, 0).length > 0),
      60_000,
    );
    await Promise.all(Array.from({ length: THREADS }, (_, i) => [send(i, 1), send(i, 2)]).flat());
    await waitFor(
      'every message posted',
      () =>
        ours()
          .map((u) => u.fields.message)
          .filter((m, n, all) => all.indexOf(m) === n).length ===
        THREADS * 3,
      60_000,
    );
    double.resetFaults();
    // Every job ended (a retry after an unanswered call included): nothing more is posted.
    await queueSettled(inject('redisUrl'), h.config.redis.prefix, 60_000);

    const submitted = double.state.submissions().filter((s) => s.fields.subject?.includes(run));
    const ticketOf = new Map(submitted.map((s) => [s.fields.subject!, s.reference]));
    let duplicates = 0;
    let lost = 0;
    let misplaced = 0;
    for (let i = 0; i < THREADS; i++) {
      for (let k = 0; k < 3; k++) {
        const p = posted(i, k);
        if (p.length === 0) lost += 1;
        if (p.length > 1) duplicates += p.length - 1;
        if (p.some((u) => u.ticket !== ticketOf.get(`Printer ${i} ${run}`))) misplaced += 1;
      }
    }
    const hung = Object.values(double.state.hung).reduce((a, b) => a + b, 0);
    console.log(
      `${reading} reading: ${THREADS * 3} messages in ${THREADS} threads, ${hung} calls committed but unanswered; ${submitted.length} tickets, ${duplicates} duplicates, ${lost} lost, ${misplaced} misplaced`,
    );
    expect(hung).toBeGreaterThan(0);
    expect(submitted).toHaveLength(THREADS);
    expect(new Set(submitted.map((s) => s.fields.subject)).size).toBe(THREADS);
    expect({ duplicates, lost, misplaced }).toEqual({ duplicates: 0, lost: 0, misplaced: 0 });
    // Bare addresses got a contact name too: the address.
    expect(submitted.find((s) => s.fields.subject === `Printer 0 ${run}`)?.fields.contact_name).toBe(sender(0));
    expect(h.logs.lines.filter((l) => l.msg === 'job failed')).toEqual([]);
  }, 150_000);
});
