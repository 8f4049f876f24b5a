// The dashboard in a real browser: Debian's chromium, headless, driven by playwright-core (no
// browser download). A screenshot is kept in test/artifacts/ for people (and CI) to look at.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { compose, sendRaw, startHarness, waitFor, type Double, type Harness } from '../support/harness.js';

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
// Without a browser this one test cannot run: it is skipped, and says so in the run's output.
const NO_CHROMIUM = `skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_BIN to a Chromium binary)`;
if (!HAS_CHROMIUM) console.warn(`admin-browser.test.ts: ${NO_CHROMIUM}`);
const ARTIFACTS = resolve(import.meta.dirname, '../artifacts');

let double: Double;
let h: Harness;

beforeAll(async () => {
  if (!HAS_CHROMIUM) return;
  double = await startSirportlyDouble();
  h = await startHarness(inject('redisUrl'), double, {
    admin: { enabled: true, username: 'ops', password: 'board-pw' },
  });
});
afterAll(async () => {
  await h?.close();
  await double?.close();
});

const TITLE = 'lists a failed job on the failed tab, behind a basic-auth login';
it.skipIf(!HAS_CHROMIUM)(
  HAS_CHROMIUM ? TITLE : `${TITLE} (${NO_CHROMIUM})`,
  async () => {
    const tag = randomBytes(3).toString('hex');
    const raw = await compose({
      from: 'customer@example.net',
      to: 'support@help.example.com',
      subject: `[ZZ-999999] browser ${tag}`,
      text: 'x',
    });
    const r = await sendRaw(h.smtpPort, raw, { from: 'customer@example.net', to: ['support@help.example.com'] });
    const id = /queued as ([0-9a-f]+)/.exec(r.response)![1]!;
    await waitFor('failed', () => h.logs.lines.some((l) => l.msg === 'job failed' && l.queueId === id));

    const profile = mkdtempSync(join(tmpdir(), 'mailgate-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      httpCredentials: { username: 'ops', password: 'board-pw' },
      viewport: { width: 1280, height: 800 },
    });
    const outside: string[] = [];
    try {
      // Only the gateway on loopback may be reached; anything else is recorded and refused.
      await context.route('**/*', (route) => {
        const url = new URL(route.request().url());
        if (url.hostname === '127.0.0.1') return route.continue();
        outside.push(url.href);
        return route.abort();
      });
      const page = context.pages()[0] ?? (await context.newPage());
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      const res = await page.goto(`http://127.0.0.1:${h.httpPort}/admin/queue/updates?status=failed`);
      expect(res?.status()).toBe(200);
      await page.getByText(id).first().waitFor({ timeout: 15_000 });
      // The failure reason, as the worker recorded it, is on the page.
      await page
        .getByText(/not_found: Sirportly tickets\/post_update: 404/)
        .first()
        .waitFor({ state: 'visible', timeout: 15_000 });
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'admin-failed-job.png'), fullPage: true });
      expect(outside).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  },
  60_000,
);
