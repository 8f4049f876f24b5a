// A line-level SMTP client over a raw socket, for tests that must control exactly what is sent and
// when (DATA left open, bare CRs, command floods, a source address of their own). Each reply is
// read whole; a multi-line reply is returned as its last line.
import { connect, type Socket } from 'node:net';

export class SmtpSession {
  private buffer = '';
  private readonly replies: string[] = [];
  private waiter: (() => void) | null = null;
  closed = false;
  private readonly closedPromise: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buffer += d.toString('latin1');
      for (;;) {
        const m = /^(\d{3}) [^\r\n]*\r\n/m.exec(this.buffer);
        if (!m) break;
        const end = m.index + m[0].length;
        this.replies.push(this.buffer.slice(m.index, end - 2));
        this.buffer = this.buffer.slice(end);
      }
      this.waiter?.();
    });
    socket.on('error', () => undefined);
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        this.waiter?.();
        resolve();
      }),
    );
  }

  static open(port: number, localAddress = '127.0.0.1'): Promise<SmtpSession> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1', localAddress });
      s.once('connect', () => resolve(new SmtpSession(s)));
      s.once('error', reject);
    });
  }

  /** The next reply, or null when the server closed the connection without one. */
  async reply(): Promise<string | null> {
    for (;;) {
      const r = this.replies.shift();
      if (r !== undefined) return r;
      if (this.closed) return null;
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = null;
    }
  }

  /** One command line (CRLF added), then its reply. */
  async command(line: string): Promise<string | null> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** Bytes exactly as given, then the reply they bring. */
  async send(data: string | Buffer): Promise<string | null> {
    this.write(data);
    return this.reply();
  }

  write(data: string | Buffer): void {
    if (!this.closed) this.socket.write(data);
  }

  waitClosed(): Promise<void> {
    return this.closedPromise;
  }

  close(): void {
    this.socket.destroy();
  }

  end(): Promise<void> {
    this.socket.destroy();
    return this.closedPromise;
  }
}
