// Real processes for chaos tests: the built `mailgate serve` with a role (a redis-server with AOF
// on disk that can be killed and restarted on the same data is RedisServer.start('aof')), senders
// that retry like MTAs, a burst of one message per subject, and the count of what was posted.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';
import { freePort } from '../support/redis-server.js';
import { compose, queueSettled, sendRaw, sleep, waitFor, type Double, type SendResult } from '../support/harness.js';

export const CLI = resolve(import.meta.dirname, '../../dist/src/cli.js');

export interface GatewayProcess {
  child: ChildProcess;
  smtpPort: number;
  httpPort: number;
  logs(): string;
  /** Log lines whose msg is `msg`, parsed. */
  lines(msg: string): Array<Record<string, unknown>>;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

export async function startGatewayProcess(opts: {
  role: 'all' | 'smtp' | 'worker';
  redisUrl: string;
  sirportly: { url: string; token: string; secret: string };
  /** YAML overlay (merged over config/default.yaml). */
  yaml: string;
  waitReady?: boolean;
}): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'mailgate-chaos-'));
  const cfg = join(dir, 'c.yaml');
  writeFileSync(cfg, opts.yaml);
  const smtpPort = await freePort();
  const httpPort = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve', '--role', opts.role], {
    env: {
      PATH: process.env.PATH ?? '',
      MAILGATE_CONFIG: cfg,
      REDIS_URL: opts.redisUrl,
      SIRPORTLY_URL: opts.sirportly.url,
      SIRPORTLY_TOKEN: opts.sirportly.token,
      SIRPORTLY_SECRET: opts.sirportly.secret,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtpPort),
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const gw: GatewayProcess = {
    child,
    smtpPort,
    httpPort,
    logs: () => text,
    lines: (msg) =>
      text
        .split('\n')
        .filter((l) => l.includes(`"msg":"${msg}"`))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    exited,
    kill: (signal) => child.kill(signal),
  };
  if (opts.waitReady !== false) {
    await waitFor(
      `${opts.role} process ready`,
      async () => {
        if (child.exitCode !== null) throw new Error(`mailgate exited ${child.exitCode}: ${text}`);
        return (await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => null))?.status === 200;
      },
      20_000,
    );
  }
  return gw;
}

export interface MtaSenders {
  /** Subjects answered 250. */
  accepted: Set<string>;
  /** Messages made so far (each one sent until accepted). */
  sent(): number;
  /** Resolves when every sender has stopped. */
  done: Promise<void>;
}

/**
 * Senders that behave like MTAs, each message unique ("[GJ-060309] <label> <run>-<sender>-<i>"):
 * a 4xx is tried again after `retryMs` until accepted, and any reply but 250 or 4xx fails the
 * test. Each sender starts a new message while `more()` says so; `onReply` sees every reply.
 */
export function mtaSenders(opts: {
  port: () => number;
  senders: number;
  label: string;
  /** First letter of each sender address, so the tests' senders differ. */
  fromPrefix: string;
  run: string;
  retryMs: number;
  maxAttempts: number;
  more: () => boolean;
  onReply?: (reply: SendResult, attempt: number) => void;
}): MtaSenders {
  const accepted = new Set<string>();
  let sent = 0;
  const sender = async (s: number) => {
    for (let i = 0; opts.more(); i++) {
      const subject = `[GJ-060309] ${opts.label} ${opts.run}-${s}-${i}`;
      const from = `${opts.fromPrefix}${s}-${i}-${opts.run}@example.net`;
      const raw = await compose({
        from,
        to: 'support@help.example.com',
        subject,
        messageId: `<${opts.run}-${s}-${i}@example.net>`,
        text: subject,
      });
      sent++;
      for (let attempt = 0; ; attempt++) {
        const r = await sendRaw(opts.port(), raw, { from, to: ['support@help.example.com'] });
        opts.onReply?.(r, attempt);
        if (r.code === 250) {
          accepted.add(subject);
          break;
        }
        expect(r.code, r.response).toBeGreaterThanOrEqual(400);
        expect(r.code, r.response).toBeLessThan(500);
        if (attempt > opts.maxAttempts) throw new Error(`never accepted: ${subject}`);
        await sleep(opts.retryMs);
      }
    }
  };
  const done = Promise.all(Array.from({ length: opts.senders }, (_, s) => sender(s))).then(() => undefined);
  return { accepted, sent: () => sent, done };
}

/**
 * One message per subject, all sent at once to support@help.example.com, each from its own sender
 * (c<i>-<run>@example.net) with Message-ID <run-i@example.net>: the SMTP reply codes, in order.
 */
export async function sendEach(port: number, run: string, subjects: string[]): Promise<number[]> {
  return Promise.all(
    subjects.map(async (subject, i) => {
      const from = `c${i}-${run}@example.net`;
      const raw = await compose({
        from,
        to: 'support@help.example.com',
        subject,
        messageId: `<${run}-${i}@example.net>`,
        text: subject,
      });
      return (await sendRaw(port, raw, { from, to: ['support@help.example.com'] })).code;
    }),
  );
}

export interface PostedTally {
  /** Updates posted per accepted subject. */
  perMessage: Map<string, number>;
  /** Accepted subjects never posted. */
  lost: string[];
  /** Subjects posted more than once. */
  duplicates: number;
}

/**
 * Waits until every accepted subject of the run is posted to GJ-060309, then `settleMs` more for
 * late duplicates, and counts.
 */
export async function tallyPosted(
  double: Double,
  run: string,
  accepted: Set<string>,
  timeoutMs: number,
  queue: { redisUrl: string; prefix: string },
): Promise<PostedTally> {
  const posted = () => double.state.updates('GJ-060309').filter((u) => u.fields.subject?.includes(run));
  await waitFor(
    'all accepted mail posted',
    () => new Set(posted().map((u) => u.fields.subject)).size >= accepted.size,
    timeoutMs,
  );
  // Every job ended: nothing more is posted.
  await queueSettled(queue.redisUrl, queue.prefix);
  const perMessage = new Map<string, number>();
  for (const u of posted()) perMessage.set(u.fields.subject!, (perMessage.get(u.fields.subject!) ?? 0) + 1);
  return {
    perMessage,
    lost: [...accepted].filter((s) => !perMessage.has(s)),
    duplicates: [...perMessage.values()].filter((n) => n > 1).length,
  };
}
