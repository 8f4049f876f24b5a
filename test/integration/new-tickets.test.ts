// Mail without a reference opens a ticket (routes with noReference: create), end to end over SMTP
// with a real Redis and two Sirportly doubles (two accounts): submit, then post with attachments;
// replies go to the new ticket; faults between submit and post never open a second ticket.
import { createHash, randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { openAdmin } from '../../src/admin/context.js';
import { retryJob } from '../../src/admin/retry.js';
import { QUEUE_NAME, keys } from '../../src/queue/keys.js';
import { processUpdateJob } from '../../src/worker/process-job.js';
import type { JobData } from '../../src/queue/job.js';
import { SirportlyClient } from '../../src/sirportly/client.js';
import { createLogger } from '../../src/log.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import {
  compose,
  failedJob,
  LogSink,
  sendRaw,
  startHarness,
  waitFor,
  type Double,
  type Harness,
} from '../support/harness.js';

const SUPPORT = 'support@help.example.com';
const SALES = 'sales@help.example.com';

let main: Double;
let sales: Double;
let h: Harness;
let redis: Redis;
let queue: Queue<JobData>;

const SUPPORT_TICKET = {
  brand: 'Help',
  department: 'Support',
  status: 'New',
  priority: 'Normal',
  team: 'First line',
  tag_list: 'email',
};
const SALES_TICKET = {
  brand: 'Shop',
  department: 'Sales',
  status: 'Open',
  priority: 'High',
  team: 'Sales team',
  sla: 'Gold',
};

beforeAll(async () => {
  main = await startSirportlyDouble();
  sales = await startSirportlyDouble({ token: 'sales-token', secret: 'sales-secret' });
  h = await startHarness(inject('redisUrl'), main, {
    sirportly: { requestTimeoutMs: 400 },
    newTickets: { perSenderMax: 3 },
    routes: [
      {
        name: 'sales',
        match: [SALES],
        noReference: 'create',
        ticket: SALES_TICKET,
        sirportly: { url: sales.url, token: sales.token, secret: sales.secret },
      },
      { name: 'support', match: ['help.example.com'], noReference: 'create', ticket: SUPPORT_TICKET },
      { name: 'elsewhere', noReference: 'reject' },
    ],
  });
  redis = new Redis(inject('redisUrl'));
  queue = new Queue<JobData>(QUEUE_NAME, { connection: redis, prefix: h.config.redis.prefix });
});
afterAll(async () => {
  await h?.close();
  await queue?.close();
  redis?.disconnect();
  await main?.close();
  await sales?.close();
});
beforeEach(() => {
  main.resetFaults();
  sales.resetFaults();
});

/** A sender of its own per test: the per-sender limit (3 an hour) must not leak between tests. */
const sender = () => `cust-${randomBytes(4).toString('hex')}@example.net`;
const tag = () => randomBytes(4).toString('hex');
const submissionsAbout = (d: Double, t: string) => d.state.submissions().filter((s) => s.fields.subject?.includes(t));
const queueIdOf = (response: string) => /queued as ([0-9a-f]+)/.exec(response)?.[1] ?? '';

async function newMail(from: string, to: string, t: string, extra: Record<string, unknown> = {}) {
  return compose({
    from: `Casey Customer <${from}>`,
    to,
    subject: `Printer ${t} is on fire`,
    messageId: `<${t}@example.net>`,
    date: new Date('2024-05-01T12:34:56Z'),
    text: `Hello, printer ${t} is on fire.`,
    ...extra,
  });
}

async function completed(queueId: string): Promise<void> {
  await waitFor(
    `job ${queueId} completed`,
    async () => (await queue.getJob(queueId).then((j) => j?.getState())) === 'completed',
  );
}

describe('a new message opens one ticket and posts one update', () => {
  it('submits with the route fields and the contact, then posts the mail with its attachment to the new reference', async () => {
    const from = sender();
    const t = tag();
    const file = randomBytes(3000);
    const r = await sendRaw(
      h.smtpPort,
      await newMail(from, SUPPORT, t, { attachments: [{ filename: 'photo.bin', content: file }] }),
      { from, to: [SUPPORT] },
    );
    expect(r.code).toBe(250);
    await completed(queueIdOf(r.response));

    const subs = submissionsAbout(main, t);
    expect(subs).toHaveLength(1);
    const s = subs[0]!;
    expect(s.reference).toMatch(/^[A-Z]{2}-\d{6}$/);
    expect(s.fields).toMatchObject({
      subject: `Printer ${t} is on fire`,
      brand: 'Help',
      department: 'Support',
      status: 'New',
      priority: 'Normal',
      team: 'First line',
      contact_method_type: 'email',
      contact_method_data: from,
      contact_name: 'Casey Customer',
      submitted_at: '2024-05-01T12:34:56Z',
    });
    // The route's tags plus the marker the gateway finds the ticket by after a lost answer.
    expect(s.tags).toContain('email');
    expect(s.tags.some((x) => /^mailgate-[0-9a-f]{16}$/.test(x))).toBe(true);
    expect(s.fields).not.toHaveProperty('message');

    const updates = main.state.updates(s.reference);
    expect(updates).toHaveLength(1);
    expect(updates[0]!.fields).toMatchObject({
      ticket: s.reference,
      author_email: from,
      posted_at: '2024-05-01T12:34:56Z',
    });
    expect(updates[0]!.fields.message).toContain(`printer ${t} is on fire`);
    expect(updates[0]!.attachments.map((a) => a.sha256)).toEqual([createHash('sha256').update(file).digest('hex')]);
    // The other account saw nothing.
    expect(submissionsAbout(sales, t)).toHaveLength(0);
    expect(
      h.logs.lines.some((l) => l.msg === 'ticket opened' && l.ticket === s.reference && l.route === 'support'),
    ).toBe(true);
  });

  it('the reply carrying the new reference is posted to that ticket; one without it but with In-Reply-To too', async () => {
    const from = sender();
    const t = tag();
    const first = await sendRaw(h.smtpPort, await newMail(from, SUPPORT, t), { from, to: [SUPPORT] });
    await completed(queueIdOf(first.response));
    const ref = submissionsAbout(main, t)[0]!.reference;

    const reply = await compose({
      from,
      to: SUPPORT,
      subject: `Re: [${ref}] Printer ${t} is on fire`,
      messageId: `<${t}-r1@example.net>`,
      text: 'still burning',
    });
    const r1 = await sendRaw(h.smtpPort, reply, { from, to: [SUPPORT] });
    expect(r1.code).toBe(250);
    await completed(queueIdOf(r1.response));

    // A reply whose subject lost the reference: found by In-Reply-To (the gateway recorded the
    // first message's Message-ID against the ticket it opened).
    const lost = await compose({
      from,
      to: SUPPORT,
      subject: `Re: Printer ${t}`,
      messageId: `<${t}-r2@example.net>`,
      inReplyTo: `<${t}@example.net>`,
      text: 'and smoking',
    });
    const r2 = await sendRaw(h.smtpPort, lost, { from, to: [SUPPORT] });
    expect(r2.code).toBe(250);
    await completed(queueIdOf(r2.response));

    expect(submissionsAbout(main, t)).toHaveLength(1);
    expect(main.state.updates(ref).map((u) => u.fields.message?.trim())).toEqual([
      `Hello, printer ${t} is on fire.`,
      'still burning',
      'and smoking',
    ]);
  });

  it('a reply that arrives while the first message is still opening its ticket joins that ticket', async () => {
    const from = sender();
    const t = tag();
    // Sirportly slow to open the ticket (but answering within sirportly.requestTimeoutMs, 400 ms
    // here): the reply is at the door before the first message is posted.
    main.faults.only = ['submit'];
    main.faults.delayMs = 300;
    const first = await sendRaw(h.smtpPort, await newMail(from, SUPPORT, t), { from, to: [SUPPORT] });
    const reply = await compose({
      from,
      to: SUPPORT,
      subject: `Re: Printer ${t} is on fire`,
      messageId: `<${t}-quick@example.net>`,
      inReplyTo: `<${t}@example.net>`,
      text: 'forgot to say: it smells',
    });
    const second = await sendRaw(h.smtpPort, reply, { from, to: [SUPPORT] });
    expect([first.code, second.code]).toEqual([250, 250]);
    expect(submissionsAbout(main, t)).toHaveLength(0);
    expect(
      h.logs.lines.some(
        (l) => l.msg === 'door verdict' && l.reason === 'thread_pending' && l.queueId === queueIdOf(second.response),
      ),
    ).toBe(true);
    await completed(queueIdOf(first.response));
    await completed(queueIdOf(second.response));
    const subs = submissionsAbout(main, t);
    expect(subs).toHaveLength(1);
    expect(
      main.state
        .updates(subs[0]!.reference)
        .map((u) => u.fields.message?.trim())
        .sort(),
    ).toEqual([`Hello, printer ${t} is on fire.`, 'forgot to say: it smells'].sort());
    expect(
      h.logs.lines.some(
        (l) =>
          l.queueId === queueIdOf(second.response) &&
          String(l.msg).startsWith('waiting for the ticket of the first message'),
      ),
    ).toBe(true);
  });

  it('the same message delivered twice opens one ticket', async () => {
    const from = sender();
    const t = tag();
    const raw = await newMail(from, SUPPORT, t);
    const a = await sendRaw(h.smtpPort, raw, { from, to: [SUPPORT] });
    const b = await sendRaw(h.smtpPort, raw, { from, to: [SUPPORT] });
    expect([a.code, b.code]).toEqual([250, 250]);
    expect(b.response).toContain('already queued');
    await completed(queueIdOf(a.response));
    expect(submissionsAbout(main, t)).toHaveLength(1);
  });
});

describe('failures between submit and post never open a second ticket', () => {
  /** Sends a new message, waits for its job to complete, and checks: one ticket, one update on it. */
  async function oneTicketOneUpdate(): Promise<{ queueId: string; reference: string }> {
    const from = sender();
    const t = tag();
    const r = await sendRaw(h.smtpPort, await newMail(from, SUPPORT, t), { from, to: [SUPPORT] });
    const queueId = queueIdOf(r.response);
    await completed(queueId);
    const subs = submissionsAbout(main, t);
    expect(subs).toHaveLength(1);
    expect(main.state.updates(subs[0]!.reference)).toHaveLength(1);
    return { queueId, reference: subs[0]!.reference };
  }

  it('post_update answers 500 twice: one ticket, one update', async () => {
    main.faults.only = ['post_update'];
    main.faults.failNext = 2;
    const { queueId } = await oneTicketOneUpdate();
    expect((await queue.getJob(queueId))!.attemptsMade).toBeGreaterThanOrEqual(2);
  });

  it('submit answers 500 first (nothing made): the retry opens the one ticket', async () => {
    main.faults.only = ['submit'];
    main.faults.failNext = 1;
    await oneTicketOneUpdate();
  });

  it('submit commits, then its answer never comes: the retry finds the ticket by its tag and posts there', async () => {
    main.faults.only = ['submit'];
    main.faults.commitThenHangNext = 1;
    main.faults.hangMs = 1500;
    const spqlBefore = main.state.requests['/api/v2/tickets/spql'] ?? 0;
    const { reference } = await oneTicketOneUpdate();
    expect(main.state.requests['/api/v2/tickets/spql'] ?? 0).toBeGreaterThan(spqlBefore);
    expect(
      h.logs.lines.some((l) => l.msg === 'ticket found already opened; not submitting again' && l.ticket === reference),
    ).toBe(true);
  });

  it('submit unanswered and the token refused tickets/spql: failed at once naming the permission; after the fix, queue retry posts to the one ticket', async () => {
    main.faults.only = ['submit'];
    main.faults.commitThenHangNext = 1;
    main.faults.hangMs = 1500;
    main.account.deny = ['spql'];
    const from = sender();
    const t = tag();
    const r = await sendRaw(h.smtpPort, await newMail(from, SUPPORT, t), { from, to: [SUPPORT] });
    const queueId = queueIdOf(r.response);
    try {
      const job = await failedJob(queue, queueId);
      expect(job.failedReason).toMatch(
        /^auth: .*refused tickets\/spql.*allow the token tickets\/spql, then re-drive the job with `mailgate queue retry`/,
      );
      expect(submissionsAbout(main, t)).toHaveLength(1);
    } finally {
      main.account.deny = [];
    }
    const ctx = await openAdmin(h.config);
    try {
      await retryJob(ctx, queueId);
    } finally {
      await ctx.close();
    }
    await completed(queueId);
    const subs = submissionsAbout(main, t);
    expect(subs).toHaveLength(1);
    expect(main.state.updates(subs[0]!.reference)).toHaveLength(1);
  });

  it('submit commits late, after the client gave up: the retry waits before looking, finds it, opens no second ticket', async () => {
    // The double works on the request 600 ms after it came; the client gave up at 400 ms.
    main.faults.only = ['submit'];
    main.faults.delayMs = 600;
    const { queueId } = await oneTicketOneUpdate();
    expect(
      h.logs.lines.some(
        (l) => l.queueId === queueId && String(l.msg).startsWith('an earlier submit may still be in progress'),
      ),
    ).toBe(true);
  });

  it('a crash after submit, before the reference was checkpointed: the next run looks the ticket up instead of submitting', async () => {
    const from = sender();
    const t = tag();
    const raw = await newMail(from, SUPPORT, t);
    const key = createHash('sha256').update(t).digest('hex').slice(0, 32);
    await redis.set(keys(h.config.redis.prefix).raw(key), raw);
    const data: JobData = {
      key,
      ticket: null,
      route: 'support',
      messageId: `${t}@example.net`,
      subject: `Printer ${t} is on fire`,
      reason: 'no_reference',
      envelope: {
        mailFrom: from,
        rcptTo: [SUPPORT],
        receivedAt: new Date().toISOString(),
        source: 'smtp',
        remoteAddress: '127.0.0.1',
      },
      size: raw.length,
      checkpoint: { uploads: {}, postStarted: false, submitStarted: false, submitStartedAt: null, created: null },
    };
    const client = new SirportlyClient({
      url: main.url,
      token: main.token,
      secret: main.secret,
      requestTimeoutMs: 2000,
      connections: 2,
    });
    const log = createLogger('silent', new LogSink());
    const deps = { config: { ...h.config, auth: { ...h.config.auth, enabled: false } }, redis, client, log };
    // What Redis holds is what survives a crash: every updateData, nothing after the last one.
    let saved: JobData = structuredClone(data);
    let crashAfterSubmit = true;
    const job = (d: JobData) => ({
      id: key,
      data: d,
      timestamp: Date.now(),
      attemptsMade: 0,
      updateData: async (next: JobData) => {
        // The write that would record the new reference is lost with the process.
        if (crashAfterSubmit && next.checkpoint.created !== null) throw new Error('process killed');
        saved = structuredClone(next);
      },
    });
    try {
      await expect(processUpdateJob(job(structuredClone(saved)), deps)).rejects.toThrow('process killed');
      expect(submissionsAbout(main, t)).toHaveLength(1);
      expect(saved.checkpoint).toMatchObject({ submitStarted: true, created: null });

      crashAfterSubmit = false;
      // Right after the crash the worker waits before it looks (a late commit may still come)...
      await expect(processUpdateJob(job(structuredClone(saved)), deps)).rejects.toThrow(
        /an earlier submit may still be in progress/,
      );
      expect(submissionsAbout(main, t)).toHaveLength(1);
      // ...and once twice the request timeout has passed, it looks the ticket up instead of submitting.
      const result = await processUpdateJob(job(structuredClone(saved)), { ...deps, now: () => Date.now() + 60_000 });
      const subs = submissionsAbout(main, t);
      expect(subs).toHaveLength(1);
      expect(result).toMatchObject({ ticket: subs[0]!.reference, created: true, recovered: false });
      expect(main.state.updates(subs[0]!.reference)).toHaveLength(1);
      expect(saved.checkpoint.created).toBe(subs[0]!.reference);
    } finally {
      await client.close();
    }
  });
});

describe('what never opens a ticket', () => {
  it('an auto-reply without a reference is dropped at the door: 250, no ticket', async () => {
    const from = sender();
    const t = tag();
    const raw = await compose({
      from,
      to: SUPPORT,
      subject: `Out of office ${t}`,
      messageId: `<${t}@example.net>`,
      text: 'I am away',
      headers: { 'Auto-Submitted': 'auto-replied' },
    });
    const r = await sendRaw(h.smtpPort, raw, { from, to: [SUPPORT] });
    expect(r.code).toBe(250);
    expect(r.response).toContain('not posted (auto_submitted)');
    // Dropped at the door: no job was queued that could open a ticket later.
    expect(r.response).not.toMatch(/queued as/);
    expect(submissionsAbout(main, t)).toHaveLength(0);
  });

  it('more new tickets than newTickets.perSenderMax from one sender: the rest are refused 550 5.7.1', async () => {
    const from = sender();
    const codes: number[] = [];
    const queued: string[] = [];
    const t = tag();
    for (let i = 0; i < 4; i++) {
      const r = await sendRaw(h.smtpPort, await newMail(from, SUPPORT, `${t}-${i}`), { from, to: [SUPPORT] });
      codes.push(r.code);
      if (r.code === 250) queued.push(queueIdOf(r.response));
      if (i === 3) expect(r.response).toContain('5.7.1 You have opened several new tickets');
    }
    expect(codes).toEqual([250, 250, 250, 550]);
    for (const id of queued) await completed(id);
    expect(submissionsAbout(main, t)).toHaveLength(3);
  });

  it('a recipient on a reject route still gets 550 5.7.1 for mail without a reference', async () => {
    const from = sender();
    const t = tag();
    const r = await sendRaw(h.smtpPort, await newMail(from, 'someone@other.example', t), {
      from,
      to: ['someone@other.example'],
    });
    expect(r.code).toBe(550);
    expect(r.response).toContain('5.7.1');
  });
});

describe('two routes, two Sirportly accounts', () => {
  it('mail to sales@ opens its ticket in the sales account with the sales fields; its reply goes there too', async () => {
    const from = sender();
    const t = tag();
    const r = await sendRaw(h.smtpPort, await newMail(from, SALES, t), { from, to: [SALES] });
    expect(r.code).toBe(250);
    await completed(queueIdOf(r.response));
    const subs = submissionsAbout(sales, t);
    expect(subs).toHaveLength(1);
    expect(subs[0]!.fields).toMatchObject({
      brand: 'Shop',
      department: 'Sales',
      status: 'Open',
      priority: 'High',
      team: 'Sales team',
      sla: 'Gold',
    });
    expect(submissionsAbout(main, t)).toHaveLength(0);
    const ref = subs[0]!.reference;
    expect(sales.state.updates(ref)).toHaveLength(1);

    const reply = await compose({
      from,
      to: SALES,
      subject: `Re: [${ref}] Printer ${t}`,
      messageId: `<${t}-r@example.net>`,
      text: 'sales reply',
    });
    const r2 = await sendRaw(h.smtpPort, reply, { from, to: [SALES] });
    await completed(queueIdOf(r2.response));
    expect(sales.state.updates(ref).map((u) => u.fields.message?.trim())).toEqual([
      `Hello, printer ${t} is on fire.`,
      'sales reply',
    ]);
    // The main account never heard of this ticket (the sales double refuses the main token, too).
    expect(main.state.tickets().some((x) => x.reference === ref && x.subject.includes(t))).toBe(false);
  });
});
