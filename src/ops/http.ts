// The HTTP endpoint for orchestrators and Prometheus: /healthz (the process is alive),
// /readyz (it can take mail now), /metrics.
import { createServer, type Server } from 'node:http';
import type { Config } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { ADMIN_PATH, type AdminHandler } from './admin-board.js';
import type { Metrics } from './metrics.js';

export interface ReadinessCheck {
  name: string;
  check(): Promise<boolean> | boolean;
  /**
   * Reported on /readyz, named under `failing` when false, but not a reason for 503: the door
   * still takes mail safely into Redis (a 503 would take the MX out of its balancer).
   */
  advisory?: boolean;
}

export interface HttpEndpoint {
  server: Server;
  port(): number;
  close(): Promise<void>;
}

export async function startHttp(
  config: Config,
  deps: {
    log: Logger;
    metrics: Metrics;
    readiness: ReadinessCheck[];
    beforeMetrics?: () => Promise<void>;
    /** The queue dashboard, when admin.enabled; it does its own login and method checks. */
    admin?: AdminHandler | null;
  },
): Promise<HttpEndpoint> {
  const { log, metrics, readiness } = deps;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (deps.admin && (path === ADMIN_PATH || path?.startsWith(`${ADMIN_PATH}/`))) return deps.admin(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(405, JSON.stringify({ error: 'method not allowed' }));
    if (path === '/healthz') return send(200, JSON.stringify({ status: 'ok' }));
    if (path === '/readyz') {
      void Promise.all(
        readiness.map(
          async (r) => [r.name, await Promise.resolve(r.check()).catch(() => false), r.advisory === true] as const,
        ),
      ).then((results) => {
        const checks = Object.fromEntries(results.map(([name, ok]) => [name, ok]));
        const ready = results.every(([, ok, advisory]) => ok || advisory);
        const failing = results.filter(([, ok]) => !ok).map(([name]) => name);
        send(
          ready ? 200 : 503,
          JSON.stringify({ status: ready ? 'ready' : 'not ready', checks, ...(failing.length > 0 ? { failing } : {}) }),
        );
      });
      return;
    }
    if (path === '/metrics') {
      void (async () => {
        try {
          await deps.beforeMetrics?.();
        } catch (err) {
          log.debug({ err: (err as Error).message }, 'queue gauges not refreshed');
        }
        send(200, await metrics.registry.metrics(), metrics.registry.contentType);
      })();
      return;
    }
    send(404, JSON.stringify({ error: 'not found' }));
  });
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new GatewayError('config', `http: cannot listen on ${config.http.host}:${config.http.port} (${err.message})`),
      ),
    );
    server.listen(config.http.port, config.http.host, () => resolve());
  });
  return {
    server,
    port() {
      const addr = server.address();
      return typeof addr === 'object' && addr ? addr.port : config.http.port;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
