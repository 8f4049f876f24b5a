// The `mailgate replay` command: arguments, configuration and exit codes (src/exit-codes.ts)
// around runReplay().
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseSince, SINCE_FORMS } from '../admin/since.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { createLogger } from '../log.js';
import { MBOX_FORMATS, type MboxFormat } from './archive/mbox-reader.js';
import { runReplay } from './replay.js';

interface CommandOptions {
  dryRun?: boolean;
  format: 'auto' | MboxFormat;
  since?: Date;
  until?: Date;
  json?: boolean;
  config?: string;
}

/** A moment for --since/--until, read as `queue retry --since` reads it. */
export function parseDateOption(value: string): Date {
  const ms = parseSince(value, Date.now());
  if (ms === null) throw new InvalidArgumentError(`use ${SINCE_FORMS}`);
  return new Date(ms);
}

function configOrExit(path: string | undefined): Config {
  if (path) process.env.MAILGATE_CONFIG = path;
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof GatewayError && err.kind === 'config') {
      process.stderr.write(`mailgate: config: ${err.message}\n`);
      process.exit(EXIT.CONFIG);
    }
    throw err;
  }
}

/** Replay's own log lines go to stderr (stdout holds the summary or the dry-run lines); the
 * per-message "door verdict" lines only when LOG_LEVEL asks for info or more. */
function replayLogLevel(config: Config): string {
  return process.env.LOG_LEVEL ? config.log.level : 'warn';
}

/** Signals closer together than this are one (see onSignal). */
const SAME_SIGNAL_MS = 250;

async function action(paths: string[], opts: CommandOptions): Promise<void> {
  const config = configOrExit(opts.config);
  if (opts.since && opts.until && opts.since.getTime() >= opts.until.getTime()) {
    process.stderr.write('mailgate: replay: --since must be before --until\n');
    process.exit(EXIT.USAGE);
  }
  const log = createLogger(replayLogLevel(config), process.stderr);
  // Ctrl-C: stop reading, let the messages in flight finish, print the summary (exit 1); a second
  // Ctrl-C quits at once. Either way a new run goes on where this one stopped.
  const abort = new AbortController();
  let lastSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    // Run as cli.ts's child, a Ctrl-C comes twice: from the terminal and forwarded by the parent.
    const now = Date.now();
    if (now - lastSignalAt < SAME_SIGNAL_MS) return;
    lastSignalAt = now;
    if (abort.signal.aborted) process.exit(EXIT.QUIT_AT_ONCE);
    process.stderr.write(`\nmailgate: replay: ${signal}: finishing the messages in flight (again to quit at once)\n`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (process.env.MAILGATE_REPLAY_CHILD === '1' && process.channel) {
    // The parent (cli.ts) is gone, killed without a chance to forward anything: stop at once,
    // as it was; a new run goes on where this one stopped.
    process.channel.unref();
    process.on('disconnect', () => process.exit(EXIT.PARENT_KILLED));
  }
  const result = await runReplay(
    {
      paths,
      dryRun: opts.dryRun === true,
      format: opts.format,
      since: opts.since ?? null,
      until: opts.until ?? null,
      json: opts.json === true,
      signal: abort.signal,
    },
    config,
    log,
    { stdout: process.stdout, stderr: process.stderr },
  );
  process.exit(result.exitCode);
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description(
      'feed mail archives through the same door, queue and workers as SMTP: mbox files (also .gz), .eml files, ' +
        'maildirs and folders of these; safe to run twice',
    )
    .argument(
      '<path...>',
      'mbox file (mboxo, mboxrd, mboxcl2; gzip too), .eml file, maildir, or a folder holding these',
    )
    .option(
      '--dry-run',
      'print one JSON line per message (the inspect object) instead; needs neither Redis nor Sirportly',
    )
    .addOption(
      new Option('--format <format>', 'how mbox files quote "From " lines; auto picks from the file and says which')
        .choices(['auto', ...MBOX_FORMATS])
        .default('auto'),
    )
    .option(
      '--since <when>',
      'only mail dated at or after WHEN: 6h, 2d (back from now), 2024-05-01 or a date and time',
      parseDateOption,
    )
    .option('--until <when>', 'only mail dated before WHEN (same forms)', parseDateOption)
    .option('--json', 'print the summary as JSON')
    .option('-c, --config <file>', 'YAML file merged over config/default.yaml (same as MAILGATE_CONFIG)')
    .addHelpText(
      'after',
      `
Mail without a reference on a route with noReference: create opens one ticket per thread of the
archive: the first message of a thread opens it, the later ones are posted to it.

Exit codes: 0 every message accepted, duplicate, dropped by policy or outside --since/--until;
1 any rejected (no reference, too large, …); 64 bad usage; 65 a PATH without mail; 66 a PATH that
cannot be read; 69 Redis unreachable; 75 stopped before the end (Ctrl-C, or Redis stopped taking
messages): run the same command again to go on; 78 a bad setting.`,
    )
    .action(action);
}
