// What a replay did, counted as it goes and printed at the end: accepted, duplicates, dropped and
// rejected by reason (with the first few examples of each), skipped, and the formats picked.
import { EXIT, type ExitCode } from '../exit-codes.js';
// File names and values from mail are printed escaped (control characters, bidi controls): a
// name holding a newline or an escape sequence cannot forge or hide a line of the summary.
import { printable as p, shorten } from '../mail/clean.js';

export type Outcome = 'accepted' | 'duplicate' | 'dropped' | 'rejected' | 'skipped';

export interface Example {
  path: string;
  /** 1-based position of the message in its file (mbox), 1 for single messages. */
  index: number;
  message_id: string | null;
  subject: string | null;
  ticket: string | null;
  detail?: string;
}

export interface ReasonCount {
  count: number;
  examples: Example[];
}

export interface FileFormat {
  path: string;
  format: string;
  why: string;
}

export interface ReplaySummaryJson {
  dry_run: boolean;
  files: number;
  messages: number;
  bytes: number;
  seconds: number;
  messages_per_second: number;
  accepted: number;
  duplicates: number;
  dropped: { total: number; reasons: Record<string, ReasonCount> };
  rejected: { total: number; reasons: Record<string, ReasonCount> };
  skipped: { total: number; reasons: Record<string, ReasonCount> };
  formats: FileFormat[];
  skipped_files: Array<{ path: string; why: string }>;
  /** Set when the run stopped before the end (interrupted, or Redis stopped taking messages): why, and how to go on. */
  stopped: string | null;
  peak_rss_mb: number;
  /** CPU time of the process (all threads), user + system. */
  cpu_seconds: number;
  exit_code: number;
}

export const EXAMPLES_PER_REASON = 3;

export class Summary {
  private readonly started = process.hrtime.bigint();
  private accepted = 0;
  private duplicates = 0;
  private readonly groups: Record<'dropped' | 'rejected' | 'skipped', Map<string, ReasonCount>> = {
    dropped: new Map(),
    rejected: new Map(),
    skipped: new Map(),
  };
  readonly formats: FileFormat[] = [];
  readonly skippedFiles: Array<{ path: string; why: string }> = [];
  files = 0;
  messages = 0;
  bytes = 0;
  stopped: string | null = null;

  constructor(readonly dryRun: boolean) {}

  /** @param message false for what is not a message (bytes that are not mail, an unreadable file) */
  record(outcome: Outcome, reason: string, example: Example, message = true): void {
    if (message) this.messages++;
    if (outcome === 'accepted') {
      this.accepted++;
      return;
    }
    if (outcome === 'duplicate') {
      this.duplicates++;
      return;
    }
    const group = this.groups[outcome];
    let entry = group.get(reason);
    if (!entry) {
      entry = { count: 0, examples: [] };
      group.set(reason, entry);
    }
    entry.count++;
    // The message's own values are bounded: one hostile header must not flood the summary.
    if (entry.examples.length < EXAMPLES_PER_REASON)
      entry.examples.push({
        ...example,
        message_id: example.message_id === null ? null : shorten(example.message_id),
        subject: example.subject === null ? null : shorten(example.subject),
      });
  }

  total(outcome: 'dropped' | 'rejected' | 'skipped'): number {
    let n = 0;
    for (const r of this.groups[outcome].values()) n += r.count;
    return n;
  }

  /** OK: everything accepted, duplicate, dropped or skipped by policy; TEMPFAIL: stopped before
   * the end (run it again to go on), whatever was rejected before; FAILED: anything rejected. */
  exitCode(): ExitCode {
    if (this.stopped !== null) return EXIT.TEMPFAIL;
    return this.total('rejected') > 0 ? EXIT.FAILED : EXIT.OK;
  }

  seconds(): number {
    return Number(process.hrtime.bigint() - this.started) / 1e9;
  }

  toJSON(): ReplaySummaryJson {
    const seconds = this.seconds();
    const group = (g: 'dropped' | 'rejected' | 'skipped') => ({
      total: this.total(g),
      reasons: Object.fromEntries([...this.groups[g].entries()].sort((a, b) => b[1].count - a[1].count)),
    });
    return {
      dry_run: this.dryRun,
      files: this.files,
      messages: this.messages,
      bytes: this.bytes,
      seconds: Math.round(seconds * 1000) / 1000,
      messages_per_second: seconds > 0 ? Math.round(this.messages / seconds) : 0,
      accepted: this.accepted,
      duplicates: this.duplicates,
      dropped: group('dropped'),
      rejected: group('rejected'),
      skipped: group('skipped'),
      formats: this.formats,
      skipped_files: this.skippedFiles,
      stopped: this.stopped,
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      cpu_seconds:
        Math.round((process.resourceUsage().userCPUTime + process.resourceUsage().systemCPUTime) / 1000) / 1000,
      exit_code: this.exitCode(),
    };
  }

  /** The summary for people. */
  render(): string {
    const j = this.toJSON();
    const n = (x: number) => x.toLocaleString('en-US');
    const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
    const lines: string[] = [];
    lines.push(
      `replay${j.dry_run ? ' --dry-run' : ''}: ${n(j.messages)} messages from ${n(j.files)} file(s), ${mb(j.bytes)} in ${j.seconds.toFixed(1)} s (${n(j.messages_per_second)} msg/s)`,
    );
    const width = Math.max(
      ...[j.accepted, j.duplicates, j.dropped.total, j.rejected.total, j.skipped.total].map((x) => n(x).length),
    );
    const row = (label: string, count: number, reasons?: Record<string, ReasonCount>) => {
      const detail =
        reasons && Object.keys(reasons).length > 0
          ? `   ${Object.entries(reasons)
              .map(([r, c]) => `${r} ${n(c.count)}`)
              .join(', ')}`
          : '';
      lines.push(`  ${label.padEnd(11)} ${n(count).padStart(width)}${detail}`);
    };
    row(j.dry_run ? 'would post' : 'accepted', j.accepted);
    if (!j.dry_run) row('duplicates', j.duplicates);
    row('dropped', j.dropped.total, j.dropped.reasons);
    row('rejected', j.rejected.total, j.rejected.reasons);
    if (j.skipped.total > 0) row('skipped', j.skipped.total, j.skipped.reasons);
    const examples: string[] = [];
    for (const g of ['rejected', 'dropped', 'skipped'] as const) {
      for (const [reason, c] of Object.entries(j[g].reasons)) {
        for (const e of c.examples) {
          const what = [
            e.message_id ? `<${p(e.message_id)}>` : null,
            e.subject !== null ? JSON.stringify(e.subject) : null,
            e.detail !== undefined ? p(e.detail) : null,
          ]
            .filter((x) => x !== null)
            .join(' ');
          examples.push(`  ${g} ${reason}: ${p(e.path)}${e.index > 0 ? ` #${e.index}` : ''} ${what}`.trimEnd());
        }
      }
    }
    if (examples.length > 0) lines.push(`first examples:`, ...examples);
    const guessed = j.formats.filter((f) => f.why !== '');
    if (guessed.length > 0) {
      lines.push('formats:');
      for (const f of guessed.slice(0, 10)) lines.push(`  ${p(f.path)}: ${f.format} (${p(f.why)})`);
      if (guessed.length > 10) lines.push(`  … and ${guessed.length - 10} more files`);
    }
    if (j.skipped_files.length > 0) {
      lines.push(`skipped ${j.skipped_files.length} file(s) that are not mail or not inside the given paths:`);
      for (const f of j.skipped_files.slice(0, EXAMPLES_PER_REASON)) lines.push(`  ${p(f.path)}: ${p(f.why)}`);
    }
    if (j.stopped) lines.push(`stopped: ${j.stopped}`);
    return `${lines.join('\n')}\n`;
  }
}
