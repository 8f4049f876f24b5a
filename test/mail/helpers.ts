// Shared by the mail tests: a default config and envelopes, test mail, and (for the corpus suite)
// access to the shared corpus.
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { Envelope } from '../../src/mail/types.js';

export { corpusFile, corpusRoot, hasCorpus, repoRoot } from '../support/corpus.js';
export { fixture, fixtureFiles } from '../support/fixtures.js';

export function testConfig(overrides: Record<string, unknown> = {}): Config {
  return loadConfig({ env: {}, overrides });
}

/** The fields a route needs to open a ticket. */
export const TICKET = { brand: 'Help', department: 'Support', status: 'New', priority: 'Normal', team: 'Helpdesk' };

/** Routes by recipient: create for sales@ and the rest, drop for legal@, reject for press@. */
export const CREATE_ROUTES = [
  { name: 'sales', match: ['sales@example.com'], noReference: 'create', ticket: TICKET },
  { name: 'legal', match: ['legal@example.com'], noReference: 'drop' },
  { name: 'press', match: ['press@example.com'], noReference: 'reject' },
  { name: 'rest', noReference: 'create', ticket: TICKET },
];

/** A policy that posts every class of machine mail. */
export const POLICY_ALL_POST = {
  autoSubmitted: 'post',
  deliveryReports: 'post',
  precedence: 'post',
  mailerDaemon: 'post',
  nullSender: 'post',
  autoReplyHeaders: 'post',
};

export function envelope(over: Partial<Envelope> = {}): Envelope {
  return {
    mailFrom: 'sender@example.org',
    rcptTo: ['support@example.com'],
    receivedAt: '2024-05-01T12:00:00.000Z',
    source: 'replay',
    ...over,
  };
}

/** A message from lines joined with CRLF, as it arrives over SMTP. */
export function mail(...lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

/** Naive mbox split: messages start at a file-start "From " line or one after a blank line. */
export function splitMbox(bytes: Buffer): Buffer[] {
  let text = bytes.toString('latin1'); // one char per byte, so slices keep the bytes exact
  if (text.startsWith('\xef\xbb\xbf')) text = text.slice(3);
  if (!text.startsWith('From ')) return [Buffer.from(text, 'latin1')];
  return text
    .split(/(?<=\n)\r?\n(?=From )/)
    .map((chunk) => chunk.slice(chunk.indexOf('\n') + 1))
    .filter((chunk) => chunk.trim() !== '')
    .map((chunk) => Buffer.from(chunk, 'latin1'));
}

/**
 * The bytes of a base64 part, decoded here without any MIME library: the body lines after the
 * first empty line that follows `marker`, up to the next boundary line. An independent check on
 * what mailparser hands us.
 */
export function base64PartAfter(raw: Buffer, marker: string): Buffer {
  const text = raw.toString('latin1');
  const at = text.indexOf(marker);
  if (at === -1) throw new Error(`marker not found: ${marker}`);
  const lines = text.slice(at).split(/\r?\n/);
  const blank = lines.indexOf('');
  const body: string[] = [];
  for (const line of lines.slice(blank + 1)) {
    if (line.startsWith('--')) break;
    body.push(line.trim());
  }
  return Buffer.from(body.join(''), 'base64');
}

const b64 = (b: Buffer): string => b.toString('base64').replace(/.{76}/g, '$&\r\n');

/** A multipart mail from Outlook that carries `tnef` as winmail.dat (and a text part when given). */
export function withWinmail(tnef: Buffer, opts: { text?: string; type?: string } = {}): Buffer {
  const lines = [
    'From: Outlook User <o@example.com>',
    'Date: Wed, 1 May 2024 12:00:00 +0000',
    'Subject: [AB-123456] files',
    'Content-Type: multipart/mixed; boundary=b',
    '',
    '--b',
  ];
  if (opts.text !== undefined) lines.push('Content-Type: text/plain; charset=utf-8', '', opts.text, '--b');
  lines.push(
    `Content-Type: ${opts.type ?? 'application/ms-tnef'}; name="winmail.dat"`,
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="winmail.dat"',
    '',
    b64(tnef),
    '--b--',
    '',
  );
  return mail(...lines);
}
