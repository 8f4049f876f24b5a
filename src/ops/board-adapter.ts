// A bull-board server adapter for plain node:http, so the dashboard needs no web framework: the
// adapters bull-board ships are for Express, Fastify, Koa, Hapi and Hono, each a dependency of
// its own for three kinds of route (the page, its static files, a JSON API).
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import type {
  AppControllerRoute,
  AppViewRoute,
  BullBoardQueues,
  ControllerHandlerReturnType,
  HTTPMethod,
  IServerAdapter,
  UIConfig,
} from '@bull-board/api/typings/app';
import { escapeRegExp } from '../escape-regexp.js';

interface ApiRoute {
  methods: HTTPMethod[];
  pattern: RegExp;
  names: string[];
  handler: AppControllerRoute['handler'];
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.map': 'application/json',
};

const MAX_BODY_BYTES = 1_000_000;

/** Express-style "/api/queues/:queueName/:jobId" as a regular expression with named parts. */
function compile(route: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const source = route
    .split('/')
    .map((part) => {
      if (part.startsWith(':')) {
        names.push(part.slice(1));
        return '([^/]+)';
      }
      return escapeRegExp(part);
    })
    .join('/');
  return { pattern: new RegExp(`^${source}/?$`), names };
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function queryObject(params: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(params.keys())) {
    const all = params.getAll(key);
    out[key] = all.length > 1 ? all : all[0]!;
  }
  return out;
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') return resolve({});
      try {
        const parsed: unknown = JSON.parse(text);
        resolve(typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {});
      } catch {
        reject(new Error('request body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

export class NodeHttpBoardAdapter implements IServerAdapter {
  private queues: BullBoardQueues = new Map();
  private uiConfig: UIConfig = {};
  private viewsPath = '';
  private statics: { route: string; dir: string } | null = null;
  private entry: { patterns: RegExp[]; handler: AppViewRoute['handler'] } | null = null;
  private errorHandler: (error: Error) => ControllerHandlerReturnType = (e) => ({
    status: 500,
    body: { error: e.message },
  });
  private readonly api: ApiRoute[] = [];
  private template: Promise<string> | null = null;

  /** basePath: where the board is mounted, e.g. "/admin" (no trailing slash). */
  constructor(private readonly basePath: string) {}

  setQueues(queues: BullBoardQueues): IServerAdapter {
    this.queues = queues;
    return this;
  }
  setViewsPath(viewPath: string): IServerAdapter {
    this.viewsPath = viewPath;
    return this;
  }
  setStaticPath(staticsRoute: string, staticsPath: string): IServerAdapter {
    this.statics = { route: staticsRoute, dir: normalize(staticsPath) };
    return this;
  }
  setEntryRoute(route: AppViewRoute): IServerAdapter {
    const routes = Array.isArray(route.route) ? route.route : [route.route];
    // eslint-disable-next-line @typescript-eslint/unbound-method -- bull-board's handlers are plain functions that use no `this`
    this.entry = { patterns: routes.map((r) => compile(r).pattern), handler: route.handler };
    return this;
  }
  setErrorHandler(handler: (error: Error) => ControllerHandlerReturnType): IServerAdapter {
    this.errorHandler = handler;
    return this;
  }
  setApiRoutes(routes: AppControllerRoute[]): IServerAdapter {
    for (const r of routes) {
      const methods = Array.isArray(r.method) ? r.method : [r.method];
      for (const path of Array.isArray(r.route) ? r.route : [r.route]) {
        const { pattern, names } = compile(path);
        // eslint-disable-next-line @typescript-eslint/unbound-method -- bull-board's handlers are plain functions that use no `this`
        this.api.push({ methods, pattern, names, handler: r.handler });
      }
    }
    return this;
  }
  setUIConfig(config: UIConfig = {}): IServerAdapter {
    this.uiConfig = config;
    return this;
  }

  /** Serve one request whose path is under basePath; `path` is the part after it ("/" at least). */
  async handle(req: IncomingMessage, res: ServerResponse, path: string, search: URLSearchParams): Promise<void> {
    const method = (req.method ?? 'GET').toLowerCase();
    if (this.statics && path.startsWith(`${this.statics.route}/`))
      return this.serveStatic(res, path.slice(this.statics.route.length + 1));
    if (path.startsWith('/api/')) return this.serveApi(req, res, method, path, search);
    if ((method === 'get' || method === 'head') && this.entry?.patterns.some((p) => p.test(path)))
      return this.servePage(res);
    json(res, 404, { error: 'not found' });
  }

  private async serveStatic(res: ServerResponse, relative: string): Promise<void> {
    const dir = this.statics!.dir;
    const file = normalize(join(dir, decodeURIComponent(relative)));
    if (!file.startsWith(dir + sep)) return json(res, 404, { error: 'not found' });
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
        'cache-control': 'public, max-age=3600',
      });
      res.end(body);
    } catch {
      json(res, 404, { error: 'not found' });
    }
  }

  private async servePage(res: ServerResponse): Promise<void> {
    const { name, params } = this.entry!.handler({ basePath: this.basePath, uiConfig: this.uiConfig });
    this.template ??= readFile(join(this.viewsPath, name), 'utf8');
    // The page template only interpolates values (`<%= x %>` escaped, `<%- x %>` raw: the UI
    // config, already JSON with < and > escaped by bull-board); a templating engine is not needed.
    const html = (await this.template)
      .replace(/<%([=-])\s*(\w+)\s*%>/g, (_, kind: string, key: string) => {
        const param = (params as Record<string, unknown>)[key];
        const value =
          typeof param === 'string' ? param : param === undefined || param === null ? '' : JSON.stringify(param);
        return kind === '=' ? escapeHtml(value) : value;
      })
      // The page would fetch its fonts from Google: an operator's browser tells no third party
      // that it looks at the queue (the CSP below would block it anyway).
      .replace(/<link[^>]+href="https?:\/\/[^"]*"[^>]*>/g, '');
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy':
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'",
    });
    res.end(html);
  }

  private async serveApi(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    path: string,
    search: URLSearchParams,
  ): Promise<void> {
    for (const route of this.api) {
      const m = route.pattern.exec(path);
      if (!m || !route.methods.includes(method as HTTPMethod)) continue;
      const params = Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
      try {
        const body = method === 'get' ? {} : await readJson(req);
        const headers = Object.fromEntries(
          Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]),
        );
        const response = await route.handler({
          queues: this.queues,
          uiConfig: this.uiConfig,
          query: queryObject(search),
          params,
          body,
          headers,
        });
        return json(res, response.status ?? 200, response.body);
      } catch (err) {
        const response = this.errorHandler(err instanceof Error ? err : new Error(String(err)));
        return json(res, response.status ?? 500, response.body);
      }
    }
    json(res, 404, { error: 'not found' });
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
