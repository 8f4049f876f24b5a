// The `mailgate` program (commands, options, help), loaded by cli.ts. Start-up problems end in one
// line on stderr and a distinct exit code (src/exit-codes.ts), never a stack trace.
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig, requireSirportlyCredentials } from './config/load.js';
import type { Config } from './config/schema.js';
import { GatewayError } from './errors.js';
import { EXIT, EXIT_CODES_HELP } from './exit-codes.js';
import { createLogger } from './log.js';
import type { Role } from './app.js';
import { inspectMessage } from './mail/inspect.js';
import { replayEnvelope } from './replay/archive/envelope.js';
import { notMailReason } from './replay/archive/sources.js';
import { isFromLine } from './replay/archive/from-line.js';
import { lineEnd } from './replay/archive/line-scanner.js';
import { registerReplayCommand } from './replay/command.js';
import { registerQueueCommand } from './commands/queue.js';

function fail(message: string, code: number): never {
  process.stderr.write(`mailgate: ${message}\n`);
  process.exit(code);
}

function configOrExit(configPath: string | undefined): Config {
  if (configPath) process.env.MAILGATE_CONFIG = configPath;
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof GatewayError && err.kind === 'config') fail(`config: ${err.message}`, EXIT.CONFIG);
    throw err;
  }
}

async function readInput(file: string): Promise<Buffer> {
  if (file !== '-') return readFileSync(file);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The mbox From_ line a single saved message may start with, or null. */
function leadingFromLine(raw: Buffer): string | null {
  if (!raw.subarray(0, 5).equals(Buffer.from('From '))) return null;
  const end = lineEnd(raw, 0);
  const line = raw
    .subarray(0, Math.min(end === -1 ? raw.length : end, 1000))
    .toString('latin1')
    .replace(/\r?\n?$/, '');
  return isFromLine(line) ? line : null;
}

async function serve(opts: { role: Role; config?: string }): Promise<void> {
  const config = configOrExit(opts.config);
  const log = createLogger(config.log.level);
  if (opts.role !== 'smtp') {
    try {
      requireSirportlyCredentials(config);
    } catch (err) {
      fail(`config: ${(err as Error).message}`, EXIT.CONFIG);
    }
  }
  let gateway;
  try {
    // Loaded only to serve: inspect and replay --dry-run need none of the SMTP/queue/HTTP stack.
    const { startGateway } = await import('./app.js');
    gateway = await startGateway(config, log, { role: opts.role });
  } catch (err) {
    if (err instanceof GatewayError && err.kind === 'config') fail(err.message, EXIT.CONFIG);
    throw err;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(EXIT.QUIT_AT_ONCE);
    }
    stopping = true;
    log.info({ signal }, 'signal received');
    gateway.close().then(
      () => process.exit(0),
      (err: Error) => {
        log.error({ err: err.message }, 'shutdown failed');
        process.exit(EXIT.SOFTWARE);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function inspect(file: string, opts: { config?: string; rcpt?: string[] }): Promise<void> {
  const config = configOrExit(opts.config);
  let raw: Buffer;
  try {
    raw = await readInput(file);
  } catch (err) {
    fail(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.NO_INPUT);
  }
  // The recipients choose the route (and a plus-tag may carry the reference): --rcpt as the SMTP
  // envelope would, else what the message says (Delivered-To, To), as replay reads archives.
  // The envelope sender (the author when From: has none) as replay reads it: a leading mbox From_
  // line's sender, else Return-Path.
  const archived = replayEnvelope(raw, { fromLine: leadingFromLine(raw) });
  const rcptTo = opts.rcpt && opts.rcpt.length > 0 ? opts.rcpt : archived.rcptTo;
  const input = file === '-' ? 'standard input' : file;
  // Drafted in a thread of the drafting pool, as the worker drafts: a message built to run for
  // minutes or to exhaust memory ends at queue.parseTimeoutMs or draft.heapMb, not in a hang.
  const { DraftPool } = await import('./drafting/pool.js');
  const pool = DraftPool.withLimits(config, 1);
  let result;
  try {
    result = await inspectMessage(
      raw,
      { mailFrom: archived.mailFrom, rcptTo, receivedAt: new Date().toISOString(), source: 'inspect' },
      config,
      { draft: (r, envelope, ticket) => pool.draft(r, envelope, ticket) },
    );
  } catch (err) {
    if (err instanceof GatewayError && err.kind === 'draft_limit') fail(`inspect: ${input}: ${err.message}`, EXIT.DATA);
    throw err;
  } finally {
    await pool.close();
  }
  // The answer still says what the gateway would do with these bytes, but an empty or non-mail
  // input is most likely the wrong file: said in the JSON and on stderr.
  const notMail = notMailReason(raw, file === '-' ? 'stdin' : file);
  if (notMail) {
    result.warnings.unshift(`input: ${notMail}`);
    process.stderr.write(`mailgate: inspect: ${input}: ${notMail}\n`);
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

async function check(opts: { config?: string; json?: boolean }): Promise<void> {
  const config = configOrExit(opts.config);
  try {
    requireSirportlyCredentials(config);
  } catch (err) {
    fail(`config: ${(err as Error).message}`, EXIT.CONFIG);
  }
  const { runChecks } = await import('./commands/check.js');
  const report = await runChecks(config);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    const { table } = await import('./admin/table.js');
    const rows = report.rows.map((r) => [r.account, r.route || '-', r.check, r.value, r.status, r.detail]);
    process.stdout.write(
      `${table(['ACCOUNT', 'ROUTE', 'CHECK', 'VALUE', 'RESULT', 'DETAIL'], rows, { maxWidth: 100 })}\n`,
    );
    process.stdout.write(
      report.ok ? 'all well: Sirportly has what the gateway needs\n' : 'NOT all well: see the rows not ok above\n',
    );
  }
  if (report.ok) process.exit(0);
  process.exit(report.rows.some((r) => r.status === 'unreachable') ? EXIT.UNAVAILABLE : EXIT.FAILED);
}

function parseRole(value: string): Role {
  if (value === 'all' || value === 'smtp' || value === 'worker') return value;
  throw new InvalidArgumentError('must be all, smtp or worker');
}

const program = new Command()
  .name('mailgate')
  .description('Inbound email to Sirportly ticket updates: SMTP in, durable Redis queue, updates out.')
  .version(
    (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version,
  )
  .showHelpAfterError()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) })
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT.USAGE));

program
  .command('serve')
  .description('run the SMTP listener, the workers and the HTTP endpoint (/healthz, /readyz, /metrics)')
  .addOption(new Option('--role <role>', 'which parts to run: all, smtp or worker').default('all').argParser(parseRole))
  .option('-c, --config <file>', 'YAML file merged over config/default.yaml (same as MAILGATE_CONFIG)')
  .action(serve);

program
  .command('inspect')
  .description(
    'print as JSON what the gateway would do with one message (FILE, or - for stdin): verdict post, create, reject or drop, ' +
      'the route, the update and, for create, the new ticket; needs neither Redis nor Sirportly; drafting has the ' +
      'limits of serve (queue.parseTimeoutMs, draft.heapMb): past one, exit 65',
  )
  .argument('<file>', 'a message file (RFC 5322), or - to read standard input')
  .option(
    '--rcpt <address>',
    'envelope recipient, which chooses the route (repeat for several); default: Delivered-To and To of the message',
    (v: string, all: string[] = []) => [...all, v],
  )
  .option('-c, --config <file>', 'YAML file merged over config/default.yaml (same as MAILGATE_CONFIG)')
  .action(inspect);

program
  .command('check')
  .description(
    'check Sirportly before mail arrives: the credentials of each account, tickets/spql when newTickets.markerTag is on, ' +
      "and every brand, department, status, priority, team and sla the routes name (the team in the department's escalation path); " +
      'exit 0 only when all is well, 1 when something is missing or refused, 69 when Sirportly cannot be reached',
  )
  .option('-c, --config <file>', 'YAML file merged over config/default.yaml (same as MAILGATE_CONFIG)')
  .option('--json', 'print the report as one JSON object instead of a table')
  .action(check);

registerReplayCommand(program);
registerQueueCommand(program);

program.addHelpText(
  'after',
  `
Environment (wins over the config files):
  REDIS_URL, REDIS_DURABILITY (auto, none, fsync, replica), REDIS_SENTINELS (host:port,...),
  REDIS_SENTINEL_NAME, SIRPORTLY_URL, SIRPORTLY_TOKEN, SIRPORTLY_SECRET, SMTP_HOST, SMTP_PORT,
  HTTP_HOST, HTTP_PORT, MAILGATE_CONFIG, LOG_LEVEL, ADMIN_TOKEN, ADMIN_USERNAME, ADMIN_PASSWORD
  REDIS_URL, SIRPORTLY_TOKEN, SIRPORTLY_SECRET, ADMIN_TOKEN and ADMIN_PASSWORD may instead be
  read from a file named by NAME_FILE (e.g. SIRPORTLY_TOKEN_FILE=/run/secrets/sirportly_token).
  Tokens, secrets and passwords must be at least 8 characters.
  The dashboard on /admin is served when ADMIN_TOKEN, or ADMIN_USERNAME and ADMIN_PASSWORD,
  are set (admin.enabled: auto; false keeps it off).

${EXIT_CODES_HELP}`,
);

program.parseAsync(process.argv).catch((err: unknown) => {
  fail(err instanceof Error ? err.message : String(err), EXIT.SOFTWARE);
});
