// `mailgate check` as users run it (the built CLI in a child process) against the Sirportly double
// with an account's objects: every row, the table and --json, and the exit status.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckReport } from '../../src/commands/check.js';
import { startSirportlyDouble, type DoubleObjects, type SirportlyDouble } from '../support/sirportly-double.js';

const CLI = resolve(import.meta.dirname, '../../dist/src/cli.js');

const OBJECTS: DoubleObjects = {
  brands: [
    { id: 1, name: 'Help' },
    { id: 2, name: 'Shop' },
  ],
  departments: [
    { id: 11, name: 'Support', brand: 'Help', escalation_path: 'Front' },
    { id: 12, name: 'Sales', brand: 'Shop', escalation_path: 'Sales path' },
  ],
  statuses: [{ id: 21, name: 'New' }],
  priorities: [{ id: 31, name: 'Normal' }],
  teams: [
    { id: 41, name: 'First line' },
    { id: 42, name: 'Sales team' },
  ],
  escalation_paths: [
    { id: 51, name: 'Front', teams: ['First line'] },
    { id: 52, name: 'Sales path', teams: ['Sales team'] },
  ],
};

let double: SirportlyDouble;
let dir: string;
beforeAll(async () => {
  double = await startSirportlyDouble({ objects: OBJECTS });
  dir = mkdtempSync(join(tmpdir(), 'mailgate-check-'));
});
afterAll(async () => {
  await double.close();
});

function config(routes: string): string {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, `policy:\n  noReference: create\nroutes:\n${routes}`);
  return file;
}

const GOOD =
  '  - name: desk\n    ticket: { brand: Help, department: Support, status: new, priority: "31", team: First line }\n';

function check(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, 'check', ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        SIRPORTLY_URL: double.url,
        SIRPORTLY_TOKEN: double.token,
        SIRPORTLY_SECRET: double.secret,
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('mailgate check', () => {
  it('all there: every row ok, a table, exit 0', async () => {
    const r = await check(['-c', config(GOOD)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ACCOUNT\s+ROUTE\s+CHECK\s+VALUE\s+RESULT\s+DETAIL$/);
    expect(lines.at(-1)).toBe('all well: Sirportly has what the gateway needs');
    for (const check of [
      'credentials',
      'tickets/spql',
      'brand',
      'department',
      'status',
      'priority',
      'team',
      'team in escalation path',
    ]) {
      expect(
        lines.some((l) => new RegExp(`\\s${check.replace('/', '\\/')}\\s.*\\sok\\s`).test(l)),
        check,
      ).toBe(true);
    }
  });

  it('--json: names that do not exist and a team off the path are missing, exit 1', async () => {
    const routes = [
      '  - name: desk\n    match: [desk@example.com]\n    ticket: { brand: Help, department: Support, status: New, priority: Normal, team: First line }\n',
      '  - name: shop\n    match: [shop@example.com]\n    ticket: { brand: Shop, department: Support, status: Gone, priority: Normal, team: First line }\n',
      '  - name: rest\n    ticket: { brand: Shop, department: Sales, status: New, priority: Normal, team: First line }\n',
    ].join('');
    const r = await check(['-c', config(routes), '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as CheckReport;
    expect(report.ok).toBe(false);
    const of = (route: string, check: string) =>
      report.rows.find((x) => x.route === route && x.check === check)?.status;
    expect(of('desk', 'department')).toBe('ok');
    // "Support" exists, but in brand Help, not Shop.
    expect(of('shop', 'department')).toBe('missing');
    expect(of('shop', 'status')).toBe('missing');
    expect(of('rest', 'department')).toBe('ok');
    expect(of('rest', 'team in escalation path')).toBe('missing');
  });

  it('a token refused tickets/spql: that row is refused, exit 1; with markerTag off it is not asked', async () => {
    double.account.deny = ['spql'];
    try {
      const r = await check(['-c', config(GOOD), '--json']);
      expect(r.code).toBe(1);
      const report = JSON.parse(r.stdout) as CheckReport;
      expect(report.rows.find((x) => x.check === 'tickets/spql')).toMatchObject({
        status: 'refused',
        detail: expect.stringMatching(/may not use tickets\/spql/),
      });
      const off = join(dir, 'off.yaml');
      writeFileSync(off, `newTickets:\n  markerTag: false\npolicy:\n  noReference: create\nroutes:\n${GOOD}`);
      const again = await check(['-c', off, '--json']);
      expect(again.code).toBe(0);
      expect((JSON.parse(again.stdout) as CheckReport).rows.map((x) => x.check)).not.toContain('tickets/spql');
    } finally {
      double.account.deny = [];
    }
  });

  it('wrong credentials: one refused row, exit 1; Sirportly unreachable: exit 69', async () => {
    const bad = await check(['-c', config(GOOD), '--json'], { SIRPORTLY_SECRET: 'wrong-secret' });
    expect(bad.code).toBe(1);
    expect((JSON.parse(bad.stdout) as CheckReport).rows).toEqual([
      expect.objectContaining({ check: 'credentials', status: 'refused' }),
    ]);
    const away = await check(['-c', config(GOOD)], { SIRPORTLY_URL: 'http://127.0.0.1:9' });
    expect(away.code).toBe(69);
    expect(away.stdout).toMatch(/credentials\s.*unreachable/);
  });
});
