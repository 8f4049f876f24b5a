// What the PATH arguments of `replay` hold: mbox files (gzip too), single messages (.eml, maildir
// files) and folders of these, found recursively. Files are told apart by their first bytes, not
// their names, except that a `.eml` file is always one message. A symbolic link found inside is
// followed only when it points inside the PATH arguments: an archive from elsewhere must not be
// able to make replay read (and post) /etc/shadow or another customer's mail.
import { createReadStream, type Stats } from 'node:fs';
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import { basename, join, sep } from 'node:path';
import { createGunzip } from 'node:zlib';
import { printable } from '../../mail/clean.js';
import { parseHeaders } from '../../mail/headers.js';
import { lineEnd } from './line-scanner.js';
import { isHeaderLine } from './mbox-reader.js';

export type SourceKind = 'mbox' | 'message';

export interface Source {
  path: string;
  kind: SourceKind;
  gzip: boolean;
  /** Bytes on disk (compressed size for .gz). */
  size: number;
  /** Delivery time from a maildir file name ("1700000000.M1P2.host:2,S"), when there is one. */
  deliveredAt: Date | null;
}

export interface Skipped {
  path: string;
  why: string;
}

export interface Discovery {
  sources: Source[];
  /** Problems with the PATH arguments themselves: bad usage, nothing is replayed. */
  problems: string[];
  /** Some PATH does not exist, cannot be read or is neither a file nor a directory (the other
   * problems are paths that hold no mail). */
  unreadable: boolean;
  /** Files inside folders that are not mail, or links that point outside the PATH arguments. */
  skipped: Skipped[];
  /** Worth a line on stderr: links skipped because they point outside the PATH arguments. */
  warnings: string[];
}

const HEAD_BYTES = 64 * 1024;
const GZIP_MAGIC = [0x1f, 0x8b];

/** Header names of which at least one marks a header block as mail. */
const MAIL_HEADERS = [
  'from',
  'date',
  'message-id',
  'subject',
  'received',
  'return-path',
  'delivered-to',
  'to',
  'mime-version',
];

export type HeadKind = 'mbox' | 'message' | 'empty' | 'not_mail';

/** What a file is, from its first bytes (decompressed). */
export function classifyHead(head: Buffer, name: string): HeadKind {
  let pos = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  // Skip blank lines (LF, CRLF or bare CR line ends).
  for (;;) {
    let i = pos;
    while (i < head.length && (head[i] === 0x20 || head[i] === 0x09)) i++;
    if (i >= head.length) return 'empty';
    if (head[i] === 0x0a || head[i] === 0x0d) {
      pos = lineEnd(head, i);
      continue;
    }
    break;
  }
  if (head.subarray(pos, pos + 5).toString('latin1') === 'From ') {
    return /\.eml(\.gz)?$/i.test(name) ? 'message' : 'mbox';
  }
  const end = lineEnd(head, pos);
  if (!isHeaderLine(head, pos, end === -1 ? head.length : end)) return 'not_mail';
  if (head.subarray(pos, Math.min(head.length, pos + 4096)).includes(0)) return 'not_mail';
  const headers = parseHeaders(head.subarray(pos));
  return MAIL_HEADERS.some((h) => headers.has(h)) ? 'message' : 'not_mail';
}

function isGzip(head: Buffer): boolean {
  return head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
}

async function readHead(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await fh.read(buf, 0, HEAD_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The first bytes of a gzip file, decompressed (a broken file yields what could be read). */
async function gunzipHead(path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  const input = createReadStream(path);
  const gunzip = createGunzip();
  input.pipe(gunzip);
  try {
    for await (const chunk of gunzip) {
      chunks.push(chunk as Buffer);
      n += (chunk as Buffer).length;
      if (n >= HEAD_BYTES) break;
    }
  } catch {
    /* a corrupt archive: what was read so far decides */
  } finally {
    input.destroy();
    gunzip.destroy();
  }
  return Buffer.concat(chunks).subarray(0, HEAD_BYTES);
}

interface Sniffed {
  kind: HeadKind;
  gzip: boolean;
}

async function sniff(path: string): Promise<Sniffed> {
  const head = await readHead(path);
  if (head.length === 0) return { kind: 'empty', gzip: false };
  if (isGzip(head)) {
    const inner = await gunzipHead(path);
    return {
      kind: inner.length === 0 ? 'empty' : classifyHead(inner, basename(path).replace(/\.gz$/i, '')),
      gzip: true,
    };
  }
  return { kind: classifyHead(head, basename(path)), gzip: false };
}

const WHY: Record<Exclude<HeadKind, 'mbox' | 'message'>, string> = {
  empty: 'empty file, no mail in it',
  not_mail: 'not mail: neither an mbox (no "From " line at the start) nor a message (no header block)',
};

/** Why the bytes are no mail (empty, or neither an mbox nor a message), or null when they may be. */
export function notMailReason(head: Buffer, name: string): string | null {
  const kind = classifyHead(head.subarray(0, HEAD_BYTES), name);
  return kind === 'empty' || kind === 'not_mail' ? WHY[kind] : null;
}

/** Delivery time from a maildir file name: it starts with the Unix time of delivery. */
export function maildirTime(name: string): Date | null {
  const m = /^(\d{9,11})\./.exec(name);
  return m ? new Date(Number(m[1]) * 1000) : null;
}

function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

class Walker {
  readonly sources: Source[] = [];
  readonly skipped: Skipped[] = [];
  readonly warnings: string[] = [];
  /** Real paths of the PATH arguments: a folder holds what is under it, a file only itself. */
  private readonly roots: Array<{ path: string; dir: boolean }> = [];
  /** Real paths of folders walked, so a link back up cannot walk one twice. */
  private readonly walked = new Set<string>();

  async root(path: string, dir: boolean): Promise<void> {
    this.roots.push({ path: await realpath(path), dir });
  }

  private inside(real: string): boolean {
    return this.roots.some(
      (r) => real === r.path || (r.dir && real.startsWith(r.path.endsWith(sep) ? r.path : r.path + sep)),
    );
  }

  /**
   * What an entry found in a folder is, following a link only when its target is inside the
   * PATH arguments; null (and a skipped entry with a warning) otherwise.
   */
  private async resolve(path: string): Promise<{ st: Stats; real: string } | null> {
    const own = await lstat(path);
    if (!own.isSymbolicLink()) return { st: own, real: path };
    let real: string;
    try {
      real = await realpath(path);
    } catch (err) {
      this.skipped.push({ path, why: `symbolic link that cannot be followed (${errCode(err)})` });
      return null;
    }
    if (!this.inside(real)) {
      const why = `symbolic link pointing outside the given paths (to ${real}): not read`;
      this.skipped.push({ path, why });
      this.warnings.push(`${printable(path)}: ${printable(why)}`);
      return null;
    }
    return { st: await stat(real), real };
  }

  async file(path: string, size: number, inFolder: boolean): Promise<string | null> {
    let sniffed: Sniffed;
    try {
      sniffed = await sniff(path);
    } catch (err) {
      const why = `cannot be read (${errCode(err)})`;
      if (!inFolder) return why;
      this.skipped.push({ path, why });
      return null;
    }
    if (sniffed.kind === 'mbox' || sniffed.kind === 'message') {
      this.sources.push({ path, kind: sniffed.kind, gzip: sniffed.gzip, size, deliveredAt: null });
      return null;
    }
    if (!inFolder) return WHY[sniffed.kind];
    this.skipped.push({ path, why: WHY[sniffed.kind] });
    return null;
  }

  async maildirFolder(dir: string): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
    } catch (err) {
      this.skipped.push({ path: dir, why: `cannot be read (${errCode(err)})` });
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      try {
        const found = await this.resolve(path);
        if (!found) continue;
        const { st } = found;
        if (!st.isFile()) continue;
        this.sources.push({ path, kind: 'message', gzip: false, size: st.size, deliveredAt: maildirTime(name) });
      } catch (err) {
        this.skipped.push({ path, why: `cannot be read (${errCode(err)})` });
      }
    }
  }

  async dir(dir: string, depth: number): Promise<void> {
    if (depth > 64) return;
    try {
      const real = await realpath(dir);
      if (this.walked.has(real)) return;
      this.walked.add(real);
    } catch {
      /* readdir will say */
    }
    let entries;
    try {
      entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
        a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
      );
    } catch (err) {
      this.skipped.push({ path: dir, why: `cannot be read (${errCode(err)})` });
      return;
    }
    const names = new Set(entries.filter((e) => e.isDirectory()).map((e) => e.name));
    const maildir = names.has('cur') || names.has('new');
    if (maildir) {
      // cur/ then new/; tmp/ holds deliveries in progress and is left alone.
      if (names.has('cur')) await this.maildirFolder(join(dir, 'cur'));
      if (names.has('new')) await this.maildirFolder(join(dir, 'new'));
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isSymbolicLink()) {
        if (entry.name.startsWith('.')) continue;
        let found;
        try {
          found = await this.resolve(path);
        } catch (err) {
          this.skipped.push({ path, why: `cannot be read (${errCode(err)})` });
          continue;
        }
        if (!found) continue;
        if (found.st.isDirectory()) {
          await this.dir(path, depth + 1);
        } else if (found.st.isFile() && !maildir) {
          await this.file(path, found.st.size, true);
        }
        continue;
      }
      if (entry.isDirectory()) {
        if (maildir && (entry.name === 'cur' || entry.name === 'new' || entry.name === 'tmp')) continue;
        await this.dir(path, depth + 1);
      } else if (entry.isFile()) {
        if (entry.name.startsWith('.')) continue;
        // Files beside cur/ new/ tmp/ in a maildir are the server's (dovecot-uidlist, …).
        if (maildir) continue;
        let size = 0;
        try {
          size = (await stat(path)).size;
        } catch {
          /* sniffing will say */
        }
        await this.file(path, size, true);
      }
    }
  }
}

/** Find the mail under every PATH. Problems with a PATH itself are usage errors. */
export async function discover(paths: readonly string[]): Promise<Discovery> {
  const walker = new Walker();
  const problems: string[] = [];
  let unreadable = false;
  for (const path of paths) {
    let st;
    try {
      st = await stat(path);
    } catch (err) {
      const code = errCode(err);
      problems.push(code === 'ENOENT' ? `${path}: no such file or directory` : `${path}: cannot be read (${code})`);
      unreadable = true;
      continue;
    }
    await walker.root(path, st.isDirectory());
    if (st.isDirectory()) {
      const before = walker.sources.length;
      await walker.dir(path, 0);
      if (walker.sources.length === before)
        problems.push(`${path}: no mail found in this directory (no mbox, .eml or maildir)`);
    } else if (st.isFile()) {
      const why = await walker.file(path, st.size, false);
      if (why) problems.push(`${path}: ${why}`);
    } else {
      problems.push(`${path}: not a file or directory`);
      unreadable = true;
    }
  }
  return { sources: walker.sources, problems, unreadable, skipped: walker.skipped, warnings: walker.warnings };
}
