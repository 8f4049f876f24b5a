// Summarise a V8 .cpuprofile (from `node --cpu-prof`): top functions by self time, and the
// share of time per package/area. Usable on its own:
//   node bench/support/cpuprofile-top.mjs FILE.cpuprofile [N]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Which area a script URL belongs to: a node_modules package, our dist code, or node internals. */
function area(url) {
  if (!url) return 'native';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const dist = url.indexOf('/dist/src/');
  if (dist >= 0) return `mailgate ${url.slice(dist + '/dist/'.length)}`;
  if (url.startsWith('node:')) return 'node internals';
  return url.replace(/^file:\/\//, '');
}

function frameKey(cf) {
  const name = cf.functionName || '(anonymous)';
  const where = cf.url
    ? `${cf.url.replace(/^.*\/(node_modules|dist)\//, '$1/').replace(/^file:\/\//, '')}:${cf.lineNumber + 1}`
    : '';
  return where ? `${name} ${where}` : name;
}

/**
 * @param {string} file  a .cpuprofile
 * @param {number} top   how many functions to list
 * @param {{fromUs: number, toUs: number} | null} window  only samples in this span of the
 *   monotonic clock (µs, as process.hrtime), e.g. the measured load window; null: all samples
 * @returns {string} a printable report
 */
export function summarise(file, top = 25, window = null) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const { nodes, samples, timeDeltas } = profile;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Self time per node from the samples and their time deltas (more exact than hitCount);
  // total (inclusive) time per function, counted once per sample however deep the recursion.
  const self = new Map();
  const inclusive = new Map();
  let t = profile.startTime;
  let sampled = 0;
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i] ?? 0;
    if (window && (t < window.fromUs || t >= window.toUs)) continue;
    const dt = timeDeltas[i + 1] ?? 0;
    sampled += dt;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + dt);
    const seen = new Set();
    for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
      const cf = byId.get(id).callFrame;
      if (!/\/(node_modules|dist\/src)\//.test(cf.url)) continue;
      const key = frameKey(cf);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + dt);
    }
  }
  const total = sampled || 1;
  const fns = new Map();
  const areas = new Map();
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame;
    const key = frameKey(cf);
    fns.set(key, (fns.get(key) ?? 0) + us);
    const a = ['(idle)', '(program)', '(garbage collector)'].includes(cf.functionName) ? cf.functionName : area(cf.url);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
  const lines = [];
  const span = window ? 'the measured window' : 'the whole process lifetime';
  lines.push(`profile ${file}`);
  lines.push(`  ${(total / 1e6).toFixed(1)} s sampled over ${span}; % of that time (idle included)`);
  lines.push(
    '  self time by area ("native" = V8/C++ builtins without a script, incl. the write() syscalls on sockets):',
  );
  for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, 15)) lines.push(`    ${pct(us)}  ${a}`);
  lines.push(`  top ${top} functions by self time:`);
  for (const [k, us] of [...fns].sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`    ${pct(us)}  ${k}`);
  lines.push(`  top ${top} functions by total time (mailgate and dependencies only):`);
  for (const [k, us] of [...inclusive].sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`    ${pct(us)}  ${k}`);
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file, n] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node bench/support/cpuprofile-top.mjs FILE.cpuprofile [N]\n');
    process.exit(2);
  }
  process.stdout.write(`${summarise(file, Number(n ?? 25))}\n`);
}
