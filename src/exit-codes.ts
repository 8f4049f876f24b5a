// Exit statuses of every `mailgate` command: one table, so the same failure ends with the same
// status whichever command meets it. Numbers from 64 on are those of BSD's sysexits.h, which
// service managers and scripts already know.

export const EXIT = {
  /** Done: everything asked was done (replay: every message accepted, a duplicate, dropped by policy or outside --since/--until). */
  OK: 0,
  /** Ran to the end, but not everything was done: a message rejected (replay), a job unknown or in the wrong state, or some jobs not retried (queue). */
  FAILED: 1,
  /** Bad command line: unknown option, missing argument, a value that does not parse. */
  USAGE: 64,
  /** The input is there but holds no mail (replay: a PATH without any message), or (inspect) a message that hits a drafting limit. */
  DATA: 65,
  /** The input cannot be read: no such file, no permission. */
  NO_INPUT: 66,
  /** A service it needs is unreachable: Redis (queue, replay), Sirportly (check). */
  UNAVAILABLE: 69,
  /** An internal error: a bug, reported with its message. */
  SOFTWARE: 70,
  /** Stopped before the end, on purpose or by a passing fault; the same command run again goes on (replay: Ctrl-C, or Redis stopped taking messages). */
  TEMPFAIL: 75,
  /** A bad or missing setting (config file, environment, secret file). */
  CONFIG: 78,
  /** A second Ctrl-C or SIGTERM while stopping (serve, replay) quits at once, reported as a shell reports an end by SIGINT (128 + 2). */
  QUIT_AT_ONCE: 130,
  /** replay: its parent process was killed, so it stops at once, as if killed itself (128 + SIGKILL). */
  PARENT_KILLED: 137,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The table for `mailgate --help`. */
export const EXIT_CODES_HELP = `Exit codes (every command):
  0  done
  1  not everything was done: a message rejected (replay), a job unknown or in the wrong state (queue),
     something missing or refused (check)
  64 bad usage          66 input cannot be read
  65 no mail in the input, or (inspect) a message past a drafting limit (queue.parseTimeoutMs, draft.heapMb)
  69 Redis or Sirportly unreachable
  70 internal error     75 stopped before the end: run it again to go on
  78 bad or missing setting
  130 a second Ctrl-C or SIGTERM while stopping quit at once
  137 (replay) its parent process was killed`;
