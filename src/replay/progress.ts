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
    const elapsed = (Date.now() - this.started) / 1000;
    const frac = this.totalBytes > 0 ? Math.min(1, this.bytes / this.totalBytes) : 0;
    const rate = elapsed > 0 ? this.messages / elapsed : 0;
    const byteRate = elapsed > 0 ? this.bytes / elapsed : 0;
    const eta = byteRate > 0 ? (this.totalBytes - this.bytes) / byteRate : Number.NaN;
    const mb = (b: number) => (b / 1e6).toFixed(1);
    const text =
      `${(frac * 100).toFixed(0).padStart(3)}% ${this.messages.toLocaleString('en-US')} msgs ` +
      `${mb(this.bytes)}/${mb(this.totalBytes)} MB ${Math.round(rate).toLocaleString('en-US')} msg/s ETA ${clock(eta)}` +
      (this.status ? ` ${this.status}` : '');
    const cols = this.stream.columns ?? 80;
    // The bar takes what the text leaves of the terminal's width, 10 to 30 characters.
    const width = Math.max(10, Math.min(30, cols - 1 - text.length - 3));
    const filled = Math.round(frac * width);
    const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${text}`;
    return line.length > cols - 1 ? line.slice(0, cols - 1) : line;
  }

  private draw(): void {
    this.stream.write(`\r\x1b[2K${this.line()}`);
    this.drawn = true;
  }
}
