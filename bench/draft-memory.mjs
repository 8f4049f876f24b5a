#!/usr/bin/env node
// bench/draft-memory: what drafting one large message costs in memory, as a multiple of its size,
// in the gateway's drafting code and, for comparison, in mailparser's simpleParser alone (which
// also decodes every header and checksums each attachment), each in a fresh process of its own.
//
//   npm run build && node bench/draft-memory.mjs [--kinds html,text,attachment,qp-soft,nested-html] [--mb 19]
//
// For each kind of message and each way of drafting it, a child process starts a thread with the
// limits of a drafting thread of `serve` (draft.heapMb old generation, 8 MB young generation), which
// builds the message, drafts a small one to load its modules, collects garbage, takes the RSS,
// drafts the message once, and reports the process's peak RSS (VmHWM) over that baseline. Ways:
//   mailparser   simpleParser(raw) with the text conversions the gateway turns off turned off too;
//   draft        the gateway's draft() (mail/draft/draft.ts): what a drafting thread does for a job.
// The message is kept alive throughout, as the worker keeps its job's raw bytes.
import { spawn } from 'node:child_process';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KINDS = ['html', 'text', 'attachment', 'qp-soft', 'nested-html'];
const WAYS = ['mailparser', 'draft'];
const USAGE = `usage: node bench/draft-memory.mjs [--kinds ${KINDS.join(',')}] [--mb MB]
  --kinds  which messages (default: all)
  --mb     size of the large messages in MB (default 19; html is capped at html.maxBytes, 5 MiB,
           so that it is sanitised and posted as html_body; nested-html is 1,000,000 nested <div>)`;

const CRLF = '\r\n';
const mib = (b) => b / 1048576;

function head(extra) {
  return [
    'From: Ann Example <ann@example.com>',
    'To: support@help.example.com',
    'Subject: Re: [GJ-200001] large message',
    'Date: Thu, 03 Dec 2026 12:00:00 +0000',
    'Message-ID: <large@example.com>',
    'MIME-Version: 1.0',
    ...extra,
    '',
    '',
  ].join(CRLF);
}

/** The message of this kind, about mb MB. */
function message(kind, mb) {
  const bytes = Math.round(mb * 1e6);
  switch (kind) {
    case 'html': {
      // Under html.maxBytes: sanitised and posted as html_body. Accented text, links, tables.
      const block =
        '<p>Bonjour, voici la facture réglée — merci. <a href="https://example.com/x">lien</a> ' +
        '<b>gras</b> <i>italique</i></p><table><tr><td>a</td><td>b</td></tr></table>\r\n';
      const n = Math.floor((5 * 1048576 - 200) / Buffer.byteLength(block));
      return Buffer.from(
        head(['Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: 8bit']) +
          `<html><body>${block.repeat(n)}</body></html>${CRLF}`,
      );
    }
    case 'text': {
      const line = 'The printer on the second floor is on fire again; ticket attached. 0123456789\r\n';
      return Buffer.from(
        head(['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit']) +
          line.repeat(Math.floor(bytes / line.length)),
      );
    }
    case 'attachment': {
      const b = 'b-large';
      const content = Buffer.alloc(Math.floor((bytes * 3) / 4));
      for (let i = 0; i < content.length; i += 4096) content[i] = i & 0xff;
      const b64 = content.toString('base64').replace(/.{76}/g, `$&${CRLF}`);
      return Buffer.from(
        head([`Content-Type: multipart/mixed; boundary="${b}"`]) +
          `--${b}${CRLF}Content-Type: text/plain; charset=utf-8${CRLF}${CRLF}See the scan.${CRLF}` +
          `--${b}${CRLF}Content-Type: application/pdf; name="scan.pdf"${CRLF}` +
          `Content-Disposition: attachment; filename="scan.pdf"${CRLF}Content-Transfer-Encoding: base64${CRLF}${CRLF}` +
          `${b64}${CRLF}--${b}--${CRLF}`,
      );
    }
    case 'qp-soft': {
      const lines = Math.round(bytes / 3);
      const body = Buffer.alloc(lines * 3);
      for (let i = 0; i < lines; i++) body.write('=\r\n', i * 3, 'latin1');
      return Buffer.concat([
        Buffer.from(
          head(['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable']) + 'start ',
        ),
        body,
        Buffer.from(`end${CRLF}`),
      ]);
    }
    case 'nested-html':
      return Buffer.from(
        head(['Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: 8bit']) +
          `<html><body>${'<div>'.repeat(1e6)}deep${'</div>'.repeat(1e6)}</body></html>`,
      );
    default:
      throw new Error(`no message kind ${kind}`);
  }
}

const kib = (field) =>
  Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) * 1024;

async function child(kind, way, mb) {
  const dist = (p) => import(path.join(ROOT, 'dist/src', p));
  const raw = message(kind, mb);
  const { loadConfig } = await dist('config/load.js');
  const config = loadConfig({ env: {} });
  let run;
  if (way === 'mailparser') {
    const { simpleParser } = await import('mailparser');
    run = (r) => simpleParser(r, { skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true });
  } else {
    const { draft } = await dist('mail/draft/draft.js');
    const envelope = {
      mailFrom: 'ann@example.com',
      rcptTo: ['support@help.example.com'],
      receivedAt: new Date().toISOString(),
      source: 'smtp',
    };
    run = (r) => draft(r, envelope, config, 'GJ-200001');
  }
  // Warm: modules loaded and compiled on a small message, so the peak is the large message's.
  await run(message('text', 0.01));
  globalThis.gc();
  const before = kib('VmRSS');
  // VmHWM is reset by writing 5 to clear_refs: the peak from here on.
  const { writeFileSync } = await import('node:fs');
  writeFileSync('/proc/self/clear_refs', '5');
  const t = performance.now();
  const out = await run(raw);
  const ms = performance.now() - t;
  const peak = kib('VmHWM');
  const summary =
    way === 'draft'
      ? `html_body ${out.update.html_body ? `${mib(out.update.html_body.length).toFixed(1)} Mi chars` : 'none'}, message ${mib(out.update.message.length).toFixed(1)} Mi chars, ${out.attachments.length} attachment(s), warnings ${out.warnings.length}`
      : `html ${typeof out.html === 'string' ? mib(out.html.length).toFixed(1) : 0} Mi chars, text ${mib(out.text?.length ?? 0).toFixed(1)} Mi chars, ${out.attachments.length} attachment(s)`;
  parentPort.postMessage({ kind, way, size: raw.length, before, peak, ms, summary });
  if (raw.length === 0) console.log(out); // keeps raw and the result alive to here
}

function runChild(kind, way, mb) {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      ['--expose-gc', fileURLToPath(import.meta.url), '--child', kind, way, String(mb)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        cwd: ROOT,
      },
    );
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').pop()))
        : reject(new Error(`${kind}/${way}: exit ${code}`)),
    );
  });
}

const argv = process.argv.slice(2);
if (!isMainThread) {
  await child(workerData.kind, workerData.way, workerData.mb);
} else if (argv[0] === '--child') {
  const [kind, way, mb] = [argv[1], argv[2], Number(argv[3])];
  const { loadConfig } = await import(path.join(ROOT, 'dist/src/config/load.js'));
  // The limits DraftPool gives its threads (drafting/pool.ts).
  const heapMb = loadConfig({ env: {} }).draft.heapMb;
  const thread = new Worker(fileURLToPath(import.meta.url), {
    workerData: { kind, way, mb },
    resourceLimits: {
      maxOldGenerationSizeMb: heapMb,
      maxYoungGenerationSizeMb: Math.min(8, Math.max(4, Math.round(heapMb / 8))),
    },
  });
  thread.on('message', (r) => process.stdout.write(JSON.stringify(r) + '\n'));
  thread.on('error', (err) => {
    process.stdout.write(JSON.stringify({ kind, way, error: err.message }) + '\n');
  });
} else {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(USAGE);
    process.exit(0);
  }
  const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
  const kinds = opt('--kinds', KINDS.join(',')).split(',');
  const mb = Number(opt('--mb', '19'));
  console.log(`bench/draft-memory ${new Date().toISOString()}  node ${process.version}`);
  console.log('kind          way         size      peak RSS over baseline   × size   time     result');
  for (const kind of kinds)
    for (const way of WAYS) {
      const r = await runChild(kind, way, mb);
      if (r.error) {
        console.log(`${kind.padEnd(13)} ${way.padEnd(11)} failed: ${r.error}`);
        continue;
      }
      const grow = r.peak - r.before;
      console.log(
        `${kind.padEnd(13)} ${way.padEnd(11)} ${mib(r.size).toFixed(1).padStart(5)} MiB  ${mib(grow).toFixed(0).padStart(5)} MiB                ${(grow / r.size).toFixed(1).padStart(5)}  ${(r.ms / 1000).toFixed(1).padStart(5)} s  ${r.summary}`,
      );
    }
}
