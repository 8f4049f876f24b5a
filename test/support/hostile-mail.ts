// Mail built to make drafting run for minutes: deeply nested HTML, which the sanitiser's work
// grows with far faster than the message's size.

export interface BombOptions {
  from: string;
  to: string;
  /** The reference in the Subject, so the door takes the message and the worker drafts it. */
  ticket: string;
}

/** 1,000,000 nested <div>s (11 MB) around one word, as text/html, by default. */
export function nestedDivBomb(tag: string, opts: BombOptions, depth = 1_000_000): Buffer {
  const head = [
    `From: Mallory <${opts.from}>`,
    `To: ${opts.to}`,
    `Subject: [${opts.ticket}] bomb ${tag}`,
    `Message-ID: <bomb-${tag}@example.net>`,
    'Date: Tue, 01 Dec 2026 10:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/html; charset=utf-8',
    '',
    '',
  ].join('\r\n');
  return Buffer.concat([
    Buffer.from(head),
    Buffer.from('<div>'.repeat(depth)),
    Buffer.from(`deep ${tag}`),
    Buffer.from('</div>'.repeat(depth)),
    Buffer.from('\r\n'),
  ]);
}
