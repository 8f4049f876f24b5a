// A one-line progress bar on a terminal (stderr): messages, bytes read of the total, rate, ETA,
// and what the run is waiting for. Nothing is drawn when the stream is not a terminal.
// Written here rather than taken from cli-progress: one line, no options, no dependency.

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): boolean;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export interface ProgressState {
  messages: number;
  bytes: number;
  totalBytes: number;
  elapsedSeconds: number;
  /** A note such as "paused", or ''. */
  status: string;
}

const MIN_BAR = 10;
const MAX_BAR = 30;

/**
 * The progress line for a terminal `columns` wide: never longer than columns - 1 (the last column
 * would wrap on some terminals), and never without its whole ETA. What does not fit goes, least
 * useful first: the bar, the megabytes, the rate, the status (shortened before it goes), the count.
 */
export function progressLine(s: ProgressState, columns: number): string {
  const room = Math.max(1, columns - 1);
  const frac = s.totalBytes > 0 ? Math.min(1, s.bytes / s.totalBytes) : 0;
  const rate = s.elapsedSeconds > 0 ? s.messages / s.elapsedSeconds : 0;
  const byteRate = s.elapsedSeconds > 0 ? s.bytes / s.elapsedSeconds : 0;
  const eta = byteRate > 0 ? (s.totalBytes - s.bytes) / byteRate : Number.NaN;
  const mb = (b: number) => (b / 1e6).toFixed(1);

  const pct = `${(frac * 100).toFixed(0).padStart(3)}%`;
  const etaText = `ETA ${clock(eta)}`;
  let count: string | null = `${s.messages.toLocaleString('en-US')} msgs`;
  let megabytes: string | null = `${mb(s.bytes)}/${mb(s.totalBytes)} MB`;
  let speed: string | null = `${Math.round(rate).toLocaleString('en-US')} msg/s`;
  let status: string | null = s.status || null;
  const text = () => [pct, count, megabytes, speed, etaText, status].filter((p) => p !== null).join(' ');

  // With the bar, if at least MIN_BAR of it fits beside the whole text.
  const barWidth = Math.min(MAX_BAR, room - text().length - 3);
  if (barWidth >= MIN_BAR) {
    const filled = Math.round(frac * barWidth);
    return `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${text()}`;
  }
  if (text().length > room) megabytes = null;
  if (text().length > room) speed = null;
  if (status !== null && text().length > room) {
    const left = status.length - (text().length - room);
    status = left >= 4 ? `${status.slice(0, left - 1)}…` : null;
  }
  if (text().length > room) count = null;
  if (text().length <= room) return text();
  // Narrower than " 25% ETA 1:00:00": the ETA alone, without its label if need be.
  if (etaText.length <= room) return etaText;
  const bare = clock(eta);
  return bare.length <= room ? bare : bare.slice(bare.length - room);
}

export class ProgressBar {
  private readonly started = Date.now();
  private last = 0;
  private drawn = false;
  private messages = 0;
  private bytes = 0;
  private status = '';

  constructor(
    private readonly stream: ProgressStream,
    private readonly totalBytes: number,
    private readonly intervalMs = 100,
  ) {}

  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  update(messages: number, bytes: number, force = false): void {
    this.messages = messages;
    this.bytes = bytes;
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < this.intervalMs) return;
    this.last = now;
    this.draw();
  }

  /** A note shown at the end of the line until cleared ('' clears it). */
  setStatus(status: string): void {
    this.status = status;
    if (this.enabled) this.draw();
  }

  /** Print a line above the bar. */
  log(line: string): void {
    if (this.enabled && this.drawn) this.stream.write('\r\x1b[2K');
    this.stream.write(`${line}\n`);
    if (this.enabled && this.drawn) this.draw();
  }

  /** Remove the bar. */
  done(): void {
    if (this.enabled && this.drawn) this.stream.write('\r\x1b[2K');
    this.drawn = false;
  }

  line(): string {
    const state = {
      messages: this.messages,
      bytes: this.bytes,
      totalBytes: this.totalBytes,
      elapsedSeconds: (Date.now() - this.started) / 1000,
      status: this.status,
    };
    return progressLine(state, this.stream.columns ?? 80);
  }

  private draw(): void {
    this.stream.write(`\r\x1b[2K${this.line()}`);
    this.drawn = true;
  }
}
