// The queue dashboard (bull-board) at /admin: behind a token or a username and password, and
// read-only unless configured otherwise. It shows job data (subjects, addresses), so it is
// never served without a login.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { Queue } from 'bullmq';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { NodeHttpBoardAdapter } from './board-adapter.js';

export const ADMIN_PATH = '/admin';

export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Compare secrets in constant time (hashing first makes the lengths equal). */
function same(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

function basicCredentials(header: string): { user: string; password: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? null : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Whether the request carries the configured login. A token also works as a basic-auth
 * password (any user name), so a browser's own login prompt can be used with it. */
export function authorized(
  admin: Pick<Config['admin'], 'token' | 'username' | 'password'>,
  header: string | undefined,
): boolean {
  if (!header) return false;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return admin.token !== '' && same(bearer[1]!, admin.token);
  const basic = basicCredentials(header);
  if (!basic) return false;
  if (admin.token !== '' && same(basic.password, admin.token)) return true;
  return (
    admin.username !== '' &&
    admin.password !== '' &&
    same(basic.user, admin.username) &&
    same(basic.password, admin.password)
  );
}

/** No Origin header (curl, scripts) counts as same-origin; a browser always sends one on writes. */
function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false; // "null" (sandboxed frames, file://) and garbage
  }
}

function refuse(res: ServerResponse, status: number, error: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify({ error }));
}

export function createAdminBoard(config: Config, queue: Queue, log: Logger): AdminHandler {
  const admin = config.admin;
  const adapter = new NodeHttpBoardAdapter(ADMIN_PATH);
  createBullBoard({
    queues: [new BullMQAdapter(queue, { readOnlyMode: admin.readOnly, description: `prefix ${config.redis.prefix}` })],
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'mailgate queue' } },
  });

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://mailgate.invalid');
    const method = req.method ?? 'GET';
    // Framing and referrers would leak job data to other sites.
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-content-type-options', 'nosniff');
    if (!authorized(admin, req.headers.authorization)) {
      return refuse(res, 401, 'login required', {
        'www-authenticate': 'Basic realm="mailgate admin", charset="UTF-8"',
      });
    }
    const reading = method === 'GET' || method === 'HEAD';
    if (!reading && admin.readOnly) return refuse(res, 405, 'the dashboard is read-only (admin.readOnly)');
    // A browser that holds the login sends it with cross-site requests too: only the board's own
    // page may change things.
    if (!reading && !sameOrigin(req.headers.origin, req.headers.host))
      return refuse(res, 403, 'cross-site request refused');
    const sub = url.pathname.slice(ADMIN_PATH.length) || '/';
    if (!reading) log.info({ method, path: url.pathname }, 'admin action');
    adapter.handle(req, res, sub, url.searchParams).catch((err: Error) => {
      log.warn({ err: err.message, path: url.pathname }, 'admin request failed');
      if (!res.headersSent) refuse(res, 500, 'internal error');
      else res.destroy();
    });
  };
}
