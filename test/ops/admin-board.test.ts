// The queue dashboard on /admin over HTTP: on when a login is set, never without one, read-only
// unless configured, and refusing cross-site changes.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { authorized } from '../../src/ops/admin-board.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, sendRaw, startHarness, waitFor, type Double, type Harness } from '../support/harness.js';

const FROM = 'customer@example.net';
const TO = ['support@help.example.com'];
const TOKEN = `adm-${randomBytes(8).toString('hex')}`;
const bearer = { authorization: `Bearer ${TOKEN}` };
const basic = (user: string, pw: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`,
});

let double: Double;
beforeAll(async () => {
  double = await startSirportlyDouble();
});
afterAll(async () => {
  await double?.close();
});

async function failedJob(h: Harness): Promise<string> {
  const raw = await compose({
    from: FROM,
    to: TO[0],
    subject: `[ZZ-999999] board ${randomBytes(3).toString('hex')}`,
    text: 'x',
  });
  const r = await sendRaw(h.smtpPort, raw, { from: FROM, to: TO });
  const id = /queued as ([0-9a-f]+)/.exec(r.response)![1]!;
  await waitFor('failed', () => h.logs.lines.some((l) => l.msg === 'job failed' && l.queueId === id));
  return id;
}

describe('login check', () => {
  const admin = { enabled: true, readOnly: true, token: 'tok', username: 'ops', password: 'board-pw-1' };
  it('accepts the token as bearer or as a basic-auth password, and the configured user', () => {
    expect(authorized(admin, 'Bearer tok')).toBe(true);
    expect(authorized(admin, basic('anyone', 'tok').authorization)).toBe(true);
    expect(authorized(admin, basic('ops', 'board-pw-1').authorization)).toBe(true);
    expect(authorized(admin, basic('ops', 'tok2').authorization)).toBe(false);
    expect(authorized(admin, basic('root', 'board-pw-1').authorization)).toBe(false);
    expect(authorized(admin, 'Bearer nope')).toBe(false);
    expect(authorized(admin, undefined)).toBe(false);
    expect(authorized({ ...admin, token: '' }, 'Bearer ')).toBe(false);
    expect(authorized({ ...admin, username: '', password: '' }, basic('', '').authorization)).toBe(false);
  });
});

describe('/admin', () => {
  const started = (h: Harness) => h.logs.lines.find((l) => l.msg === 'mailgate started')!;

  it('is not there without a login, nor with enabled: false; the start-up line says why', async () => {
    const h = await startHarness(inject('redisUrl'), double);
    try {
      expect((await fetch(`http://127.0.0.1:${h.httpPort}/admin`, { headers: bearer })).status).toBe(404);
      expect(started(h)).toMatchObject({ admin: 'off', adminWhy: expect.stringMatching(/^no login: set ADMIN_TOKEN/) });
    } finally {
      await h.close();
    }
    const off = await startHarness(inject('redisUrl'), double, { admin: { enabled: false, token: TOKEN } });
    try {
      expect((await fetch(`http://127.0.0.1:${off.httpPort}/admin`, { headers: bearer })).status).toBe(404);
      expect(started(off)).toMatchObject({
        admin: 'off',
        adminWhy: expect.stringMatching(
          /^admin\.enabled is false \(admin\.token \(ADMIN_TOKEN\) is set but not used\)/,
        ),
      });
    } finally {
      await off.close();
    }
  });

  it('read-only, turned on by the token alone: needs a login, shows the failed job through its API, refuses changes', async () => {
    const h = await startHarness(inject('redisUrl'), double, { admin: { token: TOKEN } });
    expect(started(h)).toMatchObject({
      admin: 'read-only',
      adminWhy: 'admin.token (ADMIN_TOKEN) is set (admin.enabled: auto)',
    });
    const base = `http://127.0.0.1:${h.httpPort}/admin`;
    try {
      const id = await failedJob(h);
      const anon = await fetch(`${base}/`);
      expect(anon.status).toBe(401);
      expect(anon.headers.get('www-authenticate')).toMatch(/^Basic realm="mailgate admin"/);
      expect((await fetch(`${base}/`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);

      const page = await fetch(`${base}/`, { headers: bearer });
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('<base href="/admin/" />');
      expect(html).not.toMatch(/<%|fonts\.googleapis/);
      expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
      expect(page.headers.get('x-frame-options')).toBe('DENY');
      const asset = /"(static\/js\/[^"]+\.js)"/.exec(html)![1]!;
      const js = await fetch(`${base}/${asset}`, { headers: bearer });
      expect(js.status).toBe(200);
      expect(js.headers.get('content-type')).toMatch(/javascript/);
      expect((await fetch(`${base}/static/..%2f..%2fpackage.json`, { headers: bearer })).status).toBe(404);

      const api = await fetch(`${base}/api/queues?activeQueue=updates&status=failed&page=1&jobsPerPage=10`, {
        headers: bearer,
      });
      expect(api.status).toBe(200);
      const body = (await api.json()) as {
        queues: Array<{ name: string; readOnlyMode: boolean; jobs: Array<{ id: string; failedReason: string }> }>;
      };
      const q = body.queues.find((x) => x.name === 'updates')!;
      expect(q.readOnlyMode).toBe(true);
      expect(q.jobs.map((j) => j.id)).toContain(id);

      const retry = await fetch(`${base}/api/queues/updates/${id}/retry`, { method: 'PUT', headers: bearer });
      expect(retry.status).toBe(405);
    } finally {
      await h.close();
    }
  });

  it('read-write with basic auth: a retry works from the page origin, not from another site', async () => {
    const h = await startHarness(inject('redisUrl'), double, {
      admin: { enabled: true, readOnly: false, username: 'ops', password: 'board-pw-1' },
    });
    const base = `http://127.0.0.1:${h.httpPort}/admin`;
    const auth = basic('ops', 'board-pw-1');
    try {
      const id = await failedJob(h);
      const crossSite = await fetch(`${base}/api/queues/updates/${id}/retry`, {
        method: 'PUT',
        headers: { ...auth, origin: 'https://evil.example' },
      });
      expect(crossSite.status).toBe(403);
      const ok = await fetch(`${base}/api/queues/updates/${id}/retry`, {
        method: 'PUT',
        headers: { ...auth, origin: `http://127.0.0.1:${h.httpPort}` },
      });
      expect(ok.status).toBe(204);
      expect(h.logs.lines.some((l) => l.msg === 'admin action' && String(l.path).endsWith('/retry'))).toBe(true);
      // No login data in the log line.
      expect(h.logs.text.join('\n')).not.toContain(auth.authorization.slice(6));
    } finally {
      await h.close();
    }
  });
});
