// Run the built `mailgate` binary as an operator would, and collect what it prints.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { EXIT } from '../../src/exit-codes.js';

export const CLI = resolve(import.meta.dirname, '../../dist/src/cli.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolvePromise({ code, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr });
    });
  });
}

/** The `queue` command in this process (no start-up cost): same parsing, output and exit codes. */
export async function runQueue(args: string[], env: Record<string, string>): Promise<CliRun> {
  const { Writable } = await import('node:stream');
  const { Command, CommanderError } = await import('commander');
  const { adoptCommand, queueCommand } = await import('../../src/commands/queue.js');
  const out: Buffer[] = [];
  let stderr = '';
  let code: number | null = 0;
  const stdout = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      out.push(Buffer.from(chunk));
      cb();
    },
  });
  const program = new Command()
    .name('mailgate')
    .exitOverride()
    .configureOutput({ writeErr: (s) => (stderr += s), writeOut: (s) => out.push(Buffer.from(s)) });
  adoptCommand(
    program,
    queueCommand({
      stdout,
      env,
      exit(e) {
        code = e.exitCode;
        stderr += `mailgate: ${e.message}\n`;
      },
    }),
  );
  try {
    await program.parseAsync(['queue', ...args], { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    // As the real `mailgate` maps commander's usage errors.
    code = EXIT.USAGE;
  }
  const stdoutBytes = Buffer.concat(out);
  return { code, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr };
}
