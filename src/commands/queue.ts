// `mailgate queue …`: see and re-drive what waits or failed, from a shell. Tables for people,
// --json for scripts. Exit codes (src/exit-codes.ts): FAILED when the job is unknown or not in a
// state for the action, or some jobs could not be retried.
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import type { AdminContext } from '../admin/context.js';
import { AdminError } from '../admin/errors.js';
import { discardJob } from '../admin/discard.js';
import { listFailed } from '../admin/failed.js';
import { retryAll, retryJob } from '../admin/retry.js';
import { rawMessage, showJob } from '../admin/show.js';
import { parseSince, SINCE_FORMS } from '../admin/since.js';
import { queueStats, STATES } from '../admin/stats.js';
import { humanAge, table } from '../admin/table.js';

interface Common {
  json?: boolean;
  config?: string;
}

/** Where a command writes and which environment it reads: the process's, or a test's. */
export interface QueueIo {
  stdout: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** A command ended with a status other than 0: report it (the process exits; a test records it). */
  exit(e: QueueExit): void;
}

/** The end of a command with an exit status and one line for stderr. */
export class QueueExit extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'QueueExit';
  }
}

function exitWith(message: string, code: number): never {
  throw new QueueExit(code, message);
}

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a whole number of 1 or more');
  return Number(value);
}

const iso = (s: string | null) => (s ? s.replace(/\.\d{3}Z$/, 'Z') : '-');

/** The `queue` command and its subcommands, writing to `io`; failures end in QueueExit. */
export function queueCommand(io: QueueIo): Command {
  let lastSkipped = 0;
  const out = (text: string): void => {
    io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  };

  const configOf = (path: string | undefined): Config => {
    try {
      return loadConfig({ env: path ? { ...io.env, MAILGATE_CONFIG: path } : io.env });
    } catch (err) {
      if (err instanceof GatewayError && err.kind === 'config') exitWith(`config: ${err.message}`, EXIT.CONFIG);
      throw err;
    }
  };

  /** Open the queue, run one command, close, and turn admin errors into exit codes. */
  const withAdmin = async (opts: Common, work: (ctx: AdminContext) => Promise<void>): Promise<void> => {
    const config = configOf(opts.config);
    let ctx;
    try {
      // Loaded here: ioredis and BullMQ are for the queue commands only, not every CLI start.
      const { openAdmin } = await import('../admin/context.js');
      ctx = await openAdmin(config);
    } catch (err) {
      exitWith((err as Error).message, EXIT.UNAVAILABLE);
    }
    try {
      await work(ctx);
    } catch (err) {
      if (err instanceof AdminError) exitWith(err.message, err.code === 'unavailable' ? EXIT.UNAVAILABLE : EXIT.FAILED);
      throw err;
    } finally {
      await ctx.close();
    }
  };

  const run = (work: () => Promise<void>): Promise<void> =>
    work().catch((err: unknown) => {
      if (err instanceof QueueExit) return io.exit(err);
      throw err;
    });

  const queue = new Command('queue')
    .description('see and re-drive the update queue: stats, failed, show, retry, discard (--json for scripts)')
    .addHelpText(
      'after',
      `
Exit codes: 0 done; 1 the job is unknown or not in a state for the action, or (retry --all) some
jobs could not be retried; 64 bad usage; 69 Redis unreachable; 78 a bad setting.`,
    );

  const common = (cmd: Command) =>
    cmd
      .option('--json', 'print JSON instead of a table')
      .option('-c, --config <file>', 'YAML file merged over config/default.yaml (same as MAILGATE_CONFIG)');

  common(queue.command('stats').description('jobs by state and the age of the oldest waiting one')).action(
    (opts: Common) =>
      run(() =>
        withAdmin(opts, async (ctx) => {
          const stats = await queueStats(ctx);
          if (opts.json) return out(JSON.stringify(stats));
          const rows = STATES.map((s) => [s, String(stats.counts[s])]);
          out(table(['state', 'jobs'], rows));
          const w = stats.oldestWaiting;
          out(
            w
              ? `oldest waiting: ${humanAge(w.ageSeconds)} (job ${w.id}, since ${iso(w.since)})`
              : 'oldest waiting: none',
          );
          const f = stats.oldestFailed;
          if (f) out(`oldest failed:  queued ${humanAge(f.ageSeconds)} ago (job ${f.id})`);
        }),
      ),
  );

  common(
    queue
      .command('failed')
      .description(
        'failed jobs, newest failure first: id, ticket, attempts, first seen, failed at, when the raw bytes go (queue.failedRetentionDays), reason',
      )
      .option('--limit <n>', 'show at most this many', positiveInt, 20),
  ).action((opts: Common & { limit: number }) =>
    run(() =>
      withAdmin(opts, async (ctx) => {
        const jobs = await listFailed(ctx, { limit: opts.limit });
        if (opts.json) return out(JSON.stringify(jobs));
        if (jobs.length === 0) return out('no failed jobs');
        out(
          table(
            ['id', 'ticket', 'attempts', 'first seen', 'failed at', 'raw bytes until', 'reason'],
            jobs.map((j) => [
              j.id,
              j.ticket,
              String(j.attempts),
              iso(j.firstSeen),
              iso(j.failedAt),
              j.raw.state === 'expires' ? iso(j.raw.at) : j.raw.state,
              j.reason,
            ]),
            { maxWidth: 70 },
          ),
        );
      }),
    ),
  );

  common(
    queue
      .command('show')
      .description('one job and its door verdict; never the message body unless --raw')
      .argument('<id>', 'job id (the "queued as" id of the SMTP reply)')
      .option('--raw', 'write the raw message as received to stdout, nothing else'),
  ).action((id: string, opts: Common & { raw?: boolean }) =>
    run(() =>
      withAdmin(opts, async (ctx) => {
        if (opts.raw) {
          const raw = await rawMessage(ctx, id);
          if (!raw) throw new AdminError('not_found', `no raw message for job ${id} (unknown, expired or deleted)`);
          io.stdout.write(raw);
          return;
        }
        const view = await showJob(ctx, id);
        if (!view) throw new AdminError('not_found', `no job ${id}`);
        if (opts.json) return out(JSON.stringify(view));
        const lines: Array<[string, string]> = [
          ['id', view.id],
          ['state', view.state],
          ['door verdict', `${view.door.verdict} (${view.door.reason})`],
          ['ticket', view.door.ticket ?? '(new ticket, not opened yet)'],
          ['route', view.door.route],
          ['message-id', view.door.messageId ?? '(none)'],
          ['subject', view.subject],
          ['from (envelope)', view.envelope.mailFrom || '<>'],
          ['to (envelope)', view.envelope.rcptTo.join(', ')],
          [
            'received',
            `${iso(view.envelope.receivedAt)} via ${view.envelope.source}${view.envelope.remoteAddress ? ` from ${view.envelope.remoteAddress}` : ''}`,
          ],
          ['size', `${view.size} bytes`],
          ['attempts', String(view.attempts)],
          ['queued', iso(view.queuedAt)],
          ['last attempt', iso(view.processedAt)],
          ['finished', iso(view.finishedAt)],
          ['failed reason', view.failedReason ?? '-'],
          [
            'progress',
            `${view.progress.attachmentsUploaded} attachment(s) uploaded, post ${view.progress.postStarted ? 'started' : 'not started'}`,
          ],
          [
            'raw message',
            view.raw.stored
              ? `${view.raw.bytes} bytes kept${view.raw.expiresInSeconds ? `, expires in ${humanAge(view.raw.expiresInSeconds)}` : ''}`
              : 'gone',
          ],
        ];
        const width = Math.max(...lines.map(([k]) => k.length));
        out(lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n'));
      }),
    ),
  );

  common(
    queue
      .command('retry')
      .description('re-drive a failed job (or all of them) with a fresh retry period')
      .argument('[id]', 'job id')
      .option('--all', 'every failed job')
      .option(
        '--since <when>',
        'with --all: only jobs that failed since WHEN: 90m, 6h, 2d (back from now), 2024-05-01 or a date and time',
      ),
  ).action((id: string | undefined, opts: Common & { all?: boolean; since?: string }) =>
    run(async () => {
      if ((id === undefined) === !opts.all) exitWith('queue retry: give a job id or --all (not both)', EXIT.USAGE);
      if (opts.since !== undefined && !opts.all) exitWith('queue retry: --since goes with --all', EXIT.USAGE);
      const since = opts.since === undefined ? undefined : parseSince(opts.since, Date.now());
      if (since === null) exitWith(`queue retry: --since ${opts.since}: use ${SINCE_FORMS}`, EXIT.USAGE);
      await withAdmin(opts, async (ctx) => {
        if (id !== undefined) {
          await retryJob(ctx, id);
          return out(opts.json ? JSON.stringify({ retried: [id], skipped: [] }) : `retried ${id}`);
        }
        const result = await retryAll(ctx, { since });
        lastSkipped = result.skipped.length;
        if (opts.json) return out(JSON.stringify(result));
        out(`retried ${result.retried.length} job(s)`);
        for (const s of result.skipped) out(`skipped ${s.id}: ${s.why}`);
      });
      // Some jobs could not be re-driven: say so to scripts too.
      if (lastSkipped > 0) throw new QueueExit(EXIT.FAILED, `queue retry: ${lastSkipped} job(s) could not be retried`);
    }),
  );

  common(
    queue
      .command('discard')
      .description('remove a job and its raw message for good (the same message sent again is still not posted)')
      .argument('<id>', 'job id'),
  ).action((id: string, opts: Common) =>
    run(() =>
      withAdmin(opts, async (ctx) => {
        const result = await discardJob(ctx, id);
        out(
          opts.json
            ? JSON.stringify(result)
            : `discarded ${id} (was ${result.state}${result.rawDeleted ? ', raw message deleted' : ''})`,
        );
      }),
    ),
  );
  return queue;
}

/** `mailgate queue …` on the real process: its streams, its environment, its exit status. */
export function registerQueueCommand(program: Command): void {
  adoptCommand(
    program,
    queueCommand({
      stdout: process.stdout,
      env: process.env,
      exit(e) {
        process.stderr.write(`mailgate: ${e.message}\n`);
        process.exit(e.exitCode);
      },
    }),
  );
}

/** Add a prebuilt command so that it behaves like one made with program.command(): addCommand()
 * does not pass on the parent's exit and output handling (usage errors would exit 1, not EXIT.USAGE). */
export function adoptCommand(program: Command, cmd: Command): void {
  const adopt = (c: Command, parent: Command) => {
    c.copyInheritedSettings(parent);
    for (const sub of c.commands) adopt(sub, c);
  };
  program.addCommand(cmd);
  adopt(cmd, program);
}
