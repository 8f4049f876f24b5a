// Builds a running gateway for integration tests: real Redis, the Sirportly double on a real
// port, SMTP and HTTP on free ports, a private key prefix per gateway.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { MailComposerOptions } from 'nodemailer/lib/mail-composer';
import { createTransport } from 'nodemailer';
import { startGateway, type Gateway, type Role } from '../../src/app.js';
import { loadConfig, mergeTrees } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { createLogger, type Logger } from '../../src/log.js';
import { startSirportlyDouble } from './sirportly-double.js';

export { failedJob, queueSettled, waitFor, waitForLog } from './wait.js';

export type Double = Awaited<ReturnType<typeof startSirportlyDouble>>;

/** Captures log lines as parsed objects (and keeps them off the test output). */
export class LogSink extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly text: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      this.text.push(line);
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* not JSON: kept in text only */
      }
    }
    cb();
  }
}

export function testConfig(
  redisUrl: string,
  sirportly: { url: string; token: string; secret: string },
  overrides: Record<string, unknown> = {},
): Config {
  const base = {
    // Tests send dozens of messages at once, all from 127.0.0.1: the cap on sessions open per
    // address would refuse them; test/intake/session-limits tests it.
    smtp: {
      host: '127.0.0.1',
      port: 0,
      closeTimeoutMs: 1000,
      acceptTimeoutMs: 2000,
      limits: { maxConnectionsPerAddress: 0 },
    },
    http: { host: '127.0.0.1', port: 0 },
    redis: { url: redisUrl, prefix: `t${randomBytes(5).toString('hex')}` },
    sirportly: { ...sirportly, requestTimeoutMs: 2000 },
    // workerNiceness 0: an in-process worker harness must not renice the test process.
    queue: { backoffInitialMs: 100, backoffMaxMs: 1000, closeTimeoutMs: 3000, workerNiceness: 0 },
    // Tests send many messages from one address to one ticket within seconds, which the loop
    // limit (policy.loopRateLimit) would rightly take for a mail loop; test/intake/door-checks.test.ts
    // tests it.
    policy: { loopRateLimitMax: 100_000 },
    log: { level: 'debug' },
  };
  return loadConfig({ env: {}, overrides: mergeTrees(base, overrides) });
}

export interface Harness {
  gateway: Gateway;
  config: Config;
  logs: LogSink;
  log: Logger;
  smtpPort: number;
  httpPort: number;
  close(): Promise<void>;
}

export async function startHarness(
  redisUrl: string,
  double: Double,
  overrides: Record<string, unknown> = {},
  role: Role = 'all',
): Promise<Harness> {
  const config = testConfig(redisUrl, { url: double.url, token: double.token, secret: double.secret }, overrides);
  const logs = new LogSink();
  const log = createLogger(config.log.level, logs);
  const gateway = await startGateway(config, log, { role, defaultMetrics: false });
  return {
    gateway,
    config,
    logs,
    log,
    smtpPort: gateway.smtp?.port() ?? 0,
    httpPort: gateway.http.port(),
    close: () => gateway.close(),
  };
}

export function compose(opts: MailComposerOptions): Promise<Buffer> {
  return new MailComposer(opts).compile().build();
}

export interface SendResult {
  code: number;
  response: string;
}

/** Deliver raw bytes with a real SMTP client; resolves with the final reply, accepted or not. */
export async function sendRaw(
  port: number,
  raw: Buffer,
  envelope: { from: string; to: string[] },
): Promise<SendResult> {
  const transport = createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    ignoreTLS: true,
    connectionTimeout: 5000,
    socketTimeout: 10000,
  });
  try {
    const info = await transport.sendMail({ envelope, raw });
    const response = String(info.response);
    return { code: Number(response.slice(0, 3)), response };
  } catch (err) {
    const e = err as { responseCode?: number; response?: string; message: string };
    return { code: e.responseCode ?? 0, response: e.response ?? e.message };
  } finally {
    transport.close();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
