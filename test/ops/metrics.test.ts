// /metrics as an operator's dashboard reads it: Sirportly calls by method and status, retries by
// kind, job durations by outcome, on top of the door and queue figures.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, sendRaw, startHarness, waitFor, type Double, type Harness } from '../support/harness.js';

let double: Double;
let h: Harness;
beforeAll(async () => {
  double = await startSirportlyDouble();
  h = await startHarness(inject('redisUrl'), double);
});
afterAll(async () => {
  await h?.close();
  await double?.close();
});

const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : undefined;
};

it('counts Sirportly calls by method and status, retries by kind and job time by outcome', async () => {
  const tag = randomBytes(4).toString('hex');
  double.faults.only = ['post_update'];
  double.faults.status429Next = 1;
  double.faults.retryAfter = 0;
  const raw = await compose({
    from: 'a@example.net',
    to: 'support@help.example.com',
    subject: `[GJ-060309] metrics ${tag}`,
    text: tag,
    attachments: [{ filename: 'a.txt', content: 'attached' }],
  });
  expect((await sendRaw(h.smtpPort, raw, { from: 'a@example.net', to: ['support@help.example.com'] })).code).toBe(250);
  await waitFor('posted', () => double.state.updates('GJ-060309').some((u) => u.fields.subject?.includes(tag)));
  await waitFor('counted', () => h.logs.lines.some((l) => l.msg === 'job posted'));

  const text = await (await fetch(`http://127.0.0.1:${h.httpPort}/metrics`)).text();
  expect(value(text, 'mailgate_sirportly_requests_total{method="add_attachment",status="2xx"}')).toBe(1);
  expect(value(text, 'mailgate_sirportly_requests_total{method="post_update",status="429"}')).toBe(1);
  expect(value(text, 'mailgate_sirportly_requests_total{method="post_update",status="2xx"}')).toBe(1);
  expect(value(text, 'mailgate_sirportly_request_seconds_count{method="post_update"}')).toBe(2);
  expect(value(text, 'mailgate_job_retries_total{kind="rate_limited"}')).toBe(1);
  expect(value(text, 'mailgate_jobs_total{outcome="posted"}')).toBe(1);
  expect(value(text, 'mailgate_job_seconds_count{outcome="retry"}')).toBe(1);
  expect(value(text, 'mailgate_job_seconds_count{outcome="posted"}')).toBe(1);
  expect(value(text, 'mailgate_door_verdicts_total{verdict="queued",reason="reference:subject"}')).toBe(1);
  expect(value(text, 'mailgate_raw_bytes_stored_total')).toBe(raw.length);
  expect(value(text, 'mailgate_accept_seconds_count')).toBe(1);
  expect(value(text, 'mailgate_queue_oldest_waiting_seconds')).toBe(0);
  expect(value(text, 'mailgate_queue_jobs{state="completed"}')).toBe(1);
  expect(value(text, 'mailgate_smtp_sessions_total{outcome="accepted"}')).toBe(1);
});
