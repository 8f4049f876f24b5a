#!/usr/bin/env node
// Runs `node CLI inspect FILE` for every .eml/.msg/.txt file under the corpus and writes what the
// gateway would post (author, subject, posted_at, attachments, warnings) as one JSON object, so two
// builds can be compared: node scripts/inspect-corpus.mjs dist/src/cli.js out.json
// Corpus root: MAILGATE_CORPUS, default ../shared/corpus beside the repository.
import { execFile } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const [cli, out] = process.argv.slice(2);
if (!cli || !out) {
  process.stderr.write('usage: inspect-corpus.mjs CLI_JS OUT_JSON\n');
  process.exit(64);
}
const root = process.env.MAILGATE_CORPUS ?? path.join(here, '../../shared/corpus');
const config = path.join(here, 'inspect-corpus.yaml');

function walk(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) return walk(p);
      return /\.(eml|msg|txt)$/i.test(name) ? [p] : [];
    });
}

function inspect(file) {
  return new Promise((resolve) => {
    // A plus-tag reference, so machine mail (which never opens a ticket) is drafted too.
    execFile(
      process.execPath,
      [cli, 'inspect', '-c', config, '--rcpt', 'support+AB-123456@example.com', file],
      { maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && !stdout) return resolve({ error: (stderr || err.message).trim().split('\n')[0] });
        try {
          const r = JSON.parse(stdout);
          const u = r.update;
          const fallbackDate = (r.warnings ?? []).some((w) => /posted_at is the fallback time/.test(w));
          resolve({
            verdict: `${r.verdict} ${r.reason}`,
            author: u ? `${u.author_name ?? ''} <${u.author_email ?? ''}>` : null,
            subject: u ? u.subject : null,
            // The fallback is the time of the run: recorded as such so two runs compare.
            posted_at: u ? (fallbackDate ? 'fallback' : u.posted_at) : null,
            attachments: (r.attachments ?? []).map(
              (a) => `${a.filename} ${a.content_type} ${a.size} ${a.sha256.slice(0, 12)}`,
            ),
            warnings: r.warnings ?? [],
          });
        } catch (e) {
          resolve({ error: `bad JSON: ${e.message}` });
        }
      },
    );
  });
}

const files = walk(root);
const results = {};
let next = 0;
async function worker() {
  while (next < files.length) {
    const file = files[next++];
    results[path.relative(root, file)] = await inspect(file);
  }
}
await Promise.all([worker(), worker()]);
const sorted = Object.fromEntries(
  Object.keys(results)
    .sort()
    .map((k) => [k, results[k]]),
);
writeFileSync(out, `${JSON.stringify(sorted, null, 1)}\n`);
process.stderr.write(`${files.length} messages → ${out}\n`);
