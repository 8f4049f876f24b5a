// A worker killed with SIGKILL while it is opening tickets (submits in flight, some committed and
// unanswered): the surviving worker takes the jobs over and every message opens exactly one ticket
// and is posted exactly once to it. Counted per message at the Sirportly double.
import { randomBytes } from 'node:crypto';
import { afterEach, expect, inject, it } from 'vitest';
import { startSirportlyDouble, type DoubleAccount } from '../support/sirportly-double.js';
import { queueSettled, startHarness, waitFor, type Double, type Harness } from '../support/harness.js';
import { sendEach, startGatewayProcess, type GatewayProcess } from './support.js';

const N = 30;
let double: Double;
let door: Harness | undefined;
const workers: GatewayProcess[] = [];

afterEach(async () => {
  for (const w of workers.splice(0)) w.kill('SIGKILL');
  await door?.close();
  door = undefined;
  await double?.close();
});

// Under the documented reading and the unfavourable one (see test/support/sirportly-double.ts).
it.each<DoubleAccount['reading']>(['documented', 'unfavourable'])(
  '%s reading: SIGKILL one of two workers while they open tickets: one ticket and one update per message',
  async (reading) => {
    double = await startSirportlyDouble({ account: { reading } });
    const prefix = `cn${randomBytes(4).toString('hex')}`;
    const routes = {
      policy: { noReference: 'create' },
      routes: [
        {
          name: 'desk',
          ticket: { brand: 'Help', department: 'Support', status: 'New', priority: 'Normal', team: 'First line' },
        },
      ],
    };
    const yaml = [
      `redis:\n  prefix: ${prefix}`,
      'queue:\n  concurrency: 4\n  lockDurationMs: 2000\n  backoffInitialMs: 100',
      // A lost submit answer is looked up 2 × this after the submit (a late commit may still come).
      'sirportly:\n  requestTimeoutMs: 1000',
      'policy:\n  noReference: create',
      'routes:\n  - name: desk\n    ticket: { brand: Help, department: Support, status: New, priority: Normal, team: First line }',
    ].join('\n');
    const sirportly = { url: double.url, token: double.token, secret: double.secret };
    // Submits and posts take a while, so the victim dies with some of each in flight.
    double.faults.only = ['submit', 'post_update'];
    // commitThenHang counts submits and posts alike; the first calls are all submits.
    double.faults.delayMs = 150;
    // And the first submits commit, then never answer: whoever retries them must find them by tag.
    double.faults.commitThenHangNext = 4;
    double.faults.hangMs = 3000;
    door = await startHarness(
      inject('redisUrl'),
      double,
      { redis: { prefix }, newTickets: { perSenderMax: 0 }, ...routes },
      'smtp',
    );
    const [victim, survivor] = await Promise.all([
      startGatewayProcess({ role: 'worker', redisUrl: inject('redisUrl'), sirportly, yaml }),
      startGatewayProcess({ role: 'worker', redisUrl: inject('redisUrl'), sirportly, yaml }),
    ]);
    workers.push(victim, survivor);

    const run = randomBytes(3).toString('hex');
    const subjects = Array.from({ length: N }, (_, i) => `New request ${run}-${i}`);
    const replies = await sendEach(door.smtpPort, run, subjects);
    expect(replies.every((c) => c === 250)).toBe(true);

    const submitted = () => double.state.submissions().filter((s) => s.fields.subject?.includes(run));
    await waitFor('some tickets opened', () => submitted().length >= 5, 15_000);
    victim.kill('SIGKILL');
    expect(await victim.exited).toBeNull();

    const postedTo = (ref: string) => double.state.updates(ref).length;
    await waitFor(
      'every message posted',
      () =>
        new Set(
          submitted()
            .filter((s) => postedTo(s.reference) > 0)
            .map((s) => s.fields.subject),
        ).size === N,
      30_000,
    );
    // Every job ended (the victim's, taken over once their lock lapsed, included): nothing more is posted.
    await queueSettled(inject('redisUrl'), prefix);
    const perSubject = new Map<string, number>();
    for (const s of submitted()) perSubject.set(s.fields.subject!, (perSubject.get(s.fields.subject!) ?? 0) + 1);
    const secondTickets = [...perSubject.values()].filter((n) => n > 1).length;
    const doublePosts = submitted().filter((s) => postedTo(s.reference) > 1).length;
    const found =
      survivor.lines('ticket found already opened; not submitting again').length +
      victim.lines('ticket found already opened; not submitting again').length;
    console.log(
      `${reading} reading, worker SIGKILL while opening tickets: ${N} sent, ${perSubject.size} tickets, ${secondTickets} second tickets, ${doublePosts} double posts; ${found} unanswered submits found by tag`,
    );
    expect(perSubject.size).toBe(N);
    expect(secondTickets).toBe(0);
    expect(doublePosts).toBe(0);
    expect(found).toBeGreaterThanOrEqual(1);
    expect(survivor.lines('job failed')).toEqual([]);
  },
  60_000,
);
