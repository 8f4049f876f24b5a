#!/usr/bin/env node
// The `mailgate` command's entry point. `replay` runs in a child process started with a small
// young generation: V8 sizes it for throughput (16 MB semi-spaces on Node 20, 64 MB on Node 24),
// which in a replay's drafting thread is RAM held for garbage; a smaller one lowers replay's peak
// RSS at no measurable CPU cost (bench/README.md, "Memory"). The flag can only be given when a
// process starts, hence the child. Everything else runs in this process.
import { spawn } from 'node:child_process';
import { EXIT } from './exit-codes.js';

const YOUNG_GENERATION = '--max-semi-space-size=4';

function replayWantsChild(argv: string[]): boolean {
  if (argv.find((a) => !a.startsWith('-')) !== 'replay') return false;
  // The user's own setting (on the command line or in NODE_OPTIONS) stands.
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return !given.some((f) => f.startsWith('--max-semi-space-size'));
}

function runReplayChild(): void {
  const child = spawn(
    process.execPath,
    [...process.execArgv, YOUNG_GENERATION, process.argv[1] ?? '', ...process.argv.slice(2)],
    {
      // The IPC channel only tells the child when this process is gone (see replay/command.ts).
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
      // glibc's per-thread malloc arenas keep freed message buffers of each drafting thread apart.
      env: { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2', MAILGATE_REPLAY_CHILD: '1' },
    },
  );
  // Forwarded: Ctrl-C at a terminal reaches both processes, the child counts the pair as one.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  child.on('error', (err) => {
    process.stderr.write(`mailgate: replay: cannot start: ${err.message}\n`);
    process.exit(EXIT.SOFTWARE);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? EXIT.SOFTWARE);
  });
}

if (replayWantsChild(process.argv.slice(2))) runReplayChild();
else await import('./cli-main.js');
