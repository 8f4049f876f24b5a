// The Grafana dashboard and the README's metric table name only metrics the gateway exports.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';
import { createMetrics } from '../../src/ops/metrics.js';

const ROOT = resolve(import.meta.dirname, '../..');

async function exported(): Promise<Set<string>> {
  const { registry } = createMetrics({ defaults: true });
  const names = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${m.name}${s}`);
  }
  return names;
}

it('every metric the dashboard queries exists', async () => {
  const names = await exported();
  const dashboard = readFileSync(resolve(ROOT, 'ops/grafana-dashboard.json'), 'utf8');
  const used = new Set(dashboard.match(/mailgate_[a-z0-9_]+/g));
  expect(used.size).toBeGreaterThan(10);
  expect([...used].filter((n) => !names.has(n))).toEqual([]);
});

it('the README explains every metric of our own', async () => {
  const names = await exported();
  const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8');
  const ours = [...names].filter((n) => !/^mailgate_(process|nodejs)_/.test(n) && !/_(bucket|sum|count)$/.test(n));
  expect(ours.filter((n) => !readme.includes(`\`${n}`))).toEqual([]);
});
