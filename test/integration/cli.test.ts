// The `mailgate` binary as users run it: built dist/, real processes, real signals.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { EXIT, EXIT_CODES_HELP } from '../../src/exit-codes.js';
import { QUEUE_NAME } from '../../src/queue/keys.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { freePort } from '../support/redis-server.js';
import { waitFor, type Double } from '../support/harness.js';
import { nestedDivBomb } from '../support/hostile-mail.js';
import { SmtpSession } from '../support/smtp-session.js';

const CLI = resolve(import.meta.dirname, '../../dist/src/cli.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string> = {}, input?: Buffer): Promise<Run> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe('configuration errors', () => {
  it('a bad setting stops start-up with one line naming it and exit 78', async () => {
    const r = await run(['serve'], {
      SMTP_PORT: 'twenty-five',
      SIRPORTLY_TOKEN: 'token-long-enough',
      SIRPORTLY_SECRET: 'secret-long-enough',
    });
    expect(r.code).toBe(78);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/SMTP_PORT/);
  });

  it('a missing token stops serve with exit 78', async () => {
    const r = await run(['serve'], {});
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/SIRPORTLY_TOKEN/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('an invalid value in the overlay file is named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailgate-cfg-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'policy:\n  noReference: bounce\n');
    const r = await run(['serve'], {
      MAILGATE_CONFIG: file,
      SIRPORTLY_TOKEN: 'token-long-enough',
      SIRPORTLY_SECRET: 'secret-long-enough',
    });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/policy\.noReference/);
  });

  it('--help lists the commands and the environment', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/serve/);
    expect(r.stdout).toMatch(/inspect/);
    expect(r.stdout).toMatch(/SIRPORTLY_TOKEN/);
  });

  it('every --help that gives exit codes gives those of the one table', async () => {
    const codes = new Set<number>(Object.values(EXIT));
    const top = await run(['--help']);
    expect(top.stdout).toContain(EXIT_CODES_HELP);
    for (const code of codes) expect(top.stdout).toMatch(new RegExp(`\\b${code}\\b`));
    for (const args of [
      ['replay', '--help'],
      ['queue', '--help'],
    ]) {
      const r = await run(args);
      expect(r.code).toBe(0);
      const section = r.stdout.slice(r.stdout.indexOf('Exit codes:'));
      expect(section.length, args.join(' ')).toBeGreaterThan(20);
      // Every number said to be an exit code is one of the table's, for the same failure.
      const said = [...section.matchAll(/(?:^|[:;,] |\n)(\d+) /g)].map((m) => Number(m[1]));
      expect(said.length).toBeGreaterThan(2);
      for (const n of said) expect(codes.has(n), `${args.join(' ')}: ${n}`).toBe(true);
      expect(section).toMatch(/64 bad usage/);
      expect(section).toMatch(/69 Redis unreachable/);
      expect(section).toMatch(/78 a bad setting/);
    }
  });

  it('bad usage is exit 64 for every command', async () => {
    for (const args of [
      ['--bogus'],
      ['serve', '--role', 'nope'],
      ['inspect'],
      ['queue', 'show'],
      ['replay', '--format', 'x', 'a.mbox'],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(64);
    }
  });
});

describe('mailgate inspect', () => {
  const raw = Buffer.from(
    'From: "Ann Example" <ann@example.net>\r\nTo: support@example.com\r\nSubject: Re: [gj-060309] Printer on fire\r\n' +
      'Date: Wed, 01 May 2024 14:34:56 +0200\r\nMessage-ID: <abc@example.net>\r\nContent-Type: text/plain\r\n\r\nStill burning.\r\n',
  );

  it('prints the verdict and the update from stdin, without Redis or Sirportly', async () => {
    const r = await run(['inspect', '-'], { REDIS_URL: 'redis://127.0.0.1:1' }, raw);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown> & { update: Record<string, string> };
    expect(out.verdict).toBe('post');
    expect(out.message_id).toBe('abc@example.net');
    expect(out.update.ticket).toBe('GJ-060309');
    expect(out.update.author_email).toBe('ann@example.net');
    expect(out.update.author_name).toBe('Ann Example');
    expect(out.update.posted_at).toBe('2024-05-01T12:34:56Z');
    expect(out.update.message).toMatch(/Still burning\./);
  });

  it('reads a file; a missing file is one clear line and exit 66', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailgate-eml-'));
    writeFileSync(join(dir, 'm.eml'), raw);
    const ok = await run(['inspect', join(dir, 'm.eml')]);
    expect(ok.code).toBe(0);
    const missing = await run(['inspect', join(dir, 'nope.eml')]);
    expect(missing.code).toBe(66);
    expect(missing.stderr).toMatch(/nope\.eml.*ENOENT/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
  });

  it('an empty or non-mail input still gets its answer, with a warning in the JSON and on stderr', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailgate-notmail-'));
    writeFileSync(join(dir, 'empty.eml'), '');
    writeFileSync(join(dir, 'notes.txt'), 'just some notes\nnothing else\n');
    for (const [input, why] of [
      ['empty.eml', /empty file, no mail in it/],
      ['notes.txt', /not mail: neither an mbox .* nor a message \(no header block\)/],
    ] as const) {
      const r = await run(['inspect', join(dir, input)]);
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout) as { warnings: string[] };
      expect(out.warnings[0]).toMatch(why);
      expect(out.warnings[0]).toMatch(/^input: /);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^mailgate: inspect: .*${input.replace('.', '\\.')}: `));
    }
    const stdin = await run(['inspect', '-'], {}, Buffer.alloc(0));
    expect(stdin.stderr).toMatch(/^mailgate: inspect: standard input: empty file/);
    // A real message: no such warning.
    const ok = await run(['inspect', '-'], {}, raw);
    expect(ok.stderr).toBe('');
    expect((JSON.parse(ok.stdout) as { warnings: string[] }).warnings.some((w) => w.startsWith('input:'))).toBe(false);
  });

  it('mail without a reference on a create route: verdict create, the route and the new ticket fields', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailgate-routes-'));
    const cfg = join(dir, 'routes.yaml');
    writeFileSync(
      cfg,
      'routes:\n  - name: support\n    match: [example.com]\n    noReference: create\n' +
        '    ticket: { brand: Help, department: Support, status: New, priority: Normal, team: First line, tag_list: email }\n',
    );
    const fresh = Buffer.from(
      raw.toString('latin1').replace('Re: [gj-060309] Printer on fire', 'Printer on fire'),
      'latin1',
    );
    const r = await run(['inspect', '-c', cfg, '-'], {}, fresh);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown> & { update: Record<string, string | null> };
    expect(out).toMatchObject({
      verdict: 'create',
      reason: 'no_reference',
      smtp_reply: '250 2.0.0 Queued',
      route: 'support',
      same_ticket_as: null,
    });
    expect(out.new_ticket).toEqual({
      subject: 'Printer on fire',
      brand: 'Help',
      department: 'Support',
      status: 'New',
      priority: 'Normal',
      team: 'First line',
      tag_list: `email, mailgate-${String(out.idempotency_key).slice(0, 16)}`,
      contact_method_type: 'email',
      contact_method_data: 'ann@example.net',
      contact_name: 'Ann Example',
      submitted_at: '2024-05-01T12:34:56Z',
    });
    expect(out.update.ticket).toBeNull();
    expect(out.update.message).toMatch(/Still burning\./);
    // --rcpt stands for the SMTP envelope: another recipient, another route (here the default: reject).
    const other = JSON.parse(
      (await run(['inspect', '-c', cfg, '--rcpt', 'help@elsewhere.example', '-'], {}, fresh)).stdout,
    ) as Record<string, unknown>;
    expect(other).toMatchObject({ verdict: 'reject', route: 'default', new_ticket: null });

    // A route that would open tickets without the fields Sirportly needs stops the command.
    writeFileSync(cfg, 'routes:\n  - name: support\n    noReference: create\n    ticket: { status: New }\n');
    const bad = await run(['inspect', '-c', cfg, '-'], {}, fresh);
    expect(bad.code).toBe(78);
    expect(bad.stderr.trim()).toBe(
      'mailgate: config: routes[0].ticket.department: is required: route "support" opens new tickets (noReference: create)',
    );
    // A department name without its brand: refused at start, exit 78, one line.
    writeFileSync(
      cfg,
      'routes:\n  - name: support\n    noReference: create\n    ticket: { department: Support, status: New, priority: Normal, team: First line }\n',
    );
    const nameOnly = await run(['inspect', '-c', cfg, '-'], {}, fresh);
    expect(nameOnly.code).toBe(78);
    expect(nameOnly.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^mailgate: config: routes\[0\]\.ticket\.department: "Support" is a department name, .*brand/,
      ),
    ]);
  });

  it('a message that hits a drafting limit ends with one line naming the limit and exit 65, not a hang', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailgate-bomb-'));
    const bomb = join(dir, 'bomb.eml');
    writeFileSync(
      bomb,
      nestedDivBomb('inspect', { from: 'mallory@example.net', to: 'support@example.com', ticket: 'GJ-060309' }),
    );
    // HTML limits raised past the bomb, so the sanitiser really runs (for minutes in-process) and
    // only a drafting limit can end it.
    const html = 'html:\n  maxDepth: 100000000\n  maxBytes: 100000000\n';

    const deadline = join(dir, 'deadline.yaml');
    writeFileSync(deadline, `${html}queue:\n  parseTimeoutMs: 2000\ndraft:\n  heapMb: 1024\n`);
    const late = await run(['inspect', '-c', deadline, bomb]);
    expect(late.code).toBe(EXIT.DATA);
    expect(late.stdout).toBe('');
    expect(late.stderr).toBe(
      `mailgate: inspect: ${bomb}: drafting took longer than queue.parseTimeoutMs (2000 ms); the drafting thread was stopped\n`,
    );

    const heap = join(dir, 'heap.yaml');
    writeFileSync(heap, `${html}queue:\n  parseTimeoutMs: 600000\ndraft:\n  heapMb: 48\n`);
    const big = await run(['inspect', '-c', heap, '-'], {}, readFileSync(bomb));
    expect(big.code).toBe(EXIT.DATA);
    expect(big.stdout).toBe('');
    expect(big.stderr).toBe(
      'mailgate: inspect: standard input: drafting ran out of memory (draft.heapMb 48 MB); the drafting thread was stopped\n',
    );
  }, 60_000);
});

describe('serve: signals', () => {
  let double: Double;
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    double = await startSirportlyDouble();
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await double.close();
  });

  it('SIGTERM: a message in the middle of DATA still gets its 250 and its job is in Redis; exit 0', async () => {
    const smtpPort = await freePort();
    const httpPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'mailgate-sig-'));
    const cfg = join(dir, 'c.yaml');
    const prefix = `sig${randomBytes(4).toString('hex')}`;
    writeFileSync(cfg, `redis:\n  prefix: ${prefix}\nsmtp:\n  closeTimeoutMs: 5000\nqueue:\n  backoffInitialMs: 100\n`);
    const proc = spawn(process.execPath, [CLI, 'serve'], {
      env: {
        PATH: process.env.PATH ?? '',
        REDIS_URL: inject('redisUrl'),
        SIRPORTLY_URL: double.url,
        SIRPORTLY_TOKEN: double.token,
        SIRPORTLY_SECRET: double.secret,
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(smtpPort),
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(httpPort),
        MAILGATE_CONFIG: cfg,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let logs = '';
    proc.stdout.on('data', (d: Buffer) => (logs += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (logs += d.toString()));
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));

    await waitFor('readyz', async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
        return res.status === 200;
      } catch {
        return false;
      }
    });
    const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
    expect(health.status).toBe(200);

    const tag = randomBytes(4).toString('hex');
    const smtp = await SmtpSession.open(smtpPort);
    expect(await smtp.reply()).toMatch(/^220/);
    expect(await smtp.command('EHLO test.example')).toMatch(/^250/);
    expect(await smtp.command('MAIL FROM:<ann@example.net>')).toMatch(/^250/);
    expect(await smtp.command('RCPT TO:<support@example.com>')).toMatch(/^250/);
    expect(await smtp.command('DATA')).toMatch(/^354/);
    smtp.write(
      `From: ann@example.net\r\nTo: support@example.com\r\nSubject: [GJ-060309] sigterm ${tag}\r\nMessage-ID: <${tag}@x>\r\n\r\nfirst half\r\n`,
    );

    proc.kill('SIGTERM');
    await waitFor('shutdown to begin', () => logs.includes('signal received'));
    const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => null);
    if (ready) expect(ready.status).toBe(503);
    smtp.write('second half\r\n.\r\n');
    const final = await smtp.reply();
    expect(final).toMatch(/^250 2\.0\.0 Ok: queued as/);
    smtp.close();

    expect(await exited).toBe(0);
    expect(logs).toMatch(/shut down cleanly/);
    const queueId = /queued as ([0-9a-f]+)/.exec(final ?? '')![1]!;
    const redis = new Redis(inject('redisUrl'));
    const queue = new Queue(QUEUE_NAME, { connection: redis, prefix });
    const job = await queue.getJob(queueId);
    expect(job?.data.ticket).toBe('GJ-060309');
    expect(await redis.exists(`${prefix}:raw:${queueId}`)).toBe(1);
    await queue.close();
    redis.disconnect();
    // Token and secret never appear in any log line.
    expect(logs).not.toContain(double.secret);
    expect(logs).not.toContain(double.token);
  }, 30_000);
});
