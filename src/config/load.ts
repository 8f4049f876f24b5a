// src/config: this file loads the settings; routes.ts and values.ts hold their schemas.
//
// Configuration: config/default.yaml, merged with the file named by MAILGATE_CONFIG, then the
// environment variables (README, "Configuration"); validated once at start-up so a bad value stops the
// process with one line that names it, instead of failing later mid-mail.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { GatewayError } from '../errors.js';
import {
  hostPort,
  httpUrl,
  machinePolicy,
  nonNegativeInt,
  port,
  positiveInt,
  readSecretFile,
  redisUrl,
  regexSource,
  secret,
} from './values.js';
import { checkRoutes, readRouteSecrets, routeSchema } from './routes.js';

export type { RouteConfig, TicketFieldsConfig } from './routes.js';

export const configSchema = z
  .object({
    smtp: z
      .object({
        host: z.string().min(1),
        port,
        hostname: z.string().min(1),
        maxMessageBytes: positiveInt,
        maxRecipients: positiveInt,
        maxClients: positiveInt,
        socketTimeoutMs: positiveInt,
        closeTimeoutMs: nonNegativeInt,
        acceptTimeoutMs: positiveInt,
        doorThread: z.boolean(),
        reverseLookup: z.boolean(),
        tls: z.object({ keyFile: z.string(), certFile: z.string() }).strict(),
        requireTls: z.boolean(),
        // max 0 turns the limit off.
        connectionRateLimit: z.object({ max: nonNegativeInt, windowSeconds: positiveInt }).strict(),
        // 0 turns each one off.
        limits: z
          .object({
            maxConnectionsPerAddress: nonNegativeInt,
            maxRefusedCommands: nonNegativeInt,
            transactionTimeoutMs: nonNegativeInt,
            dataTimeoutMs: nonNegativeInt,
          })
          .strict(),
        trustedProxies: z.array(z.string().min(1)),
      })
      .strict()
      .refine((s) => !s.requireTls || (s.tls.keyFile !== '' && s.tls.certFile !== ''), {
        message: 'needs smtp.tls.keyFile and smtp.tls.certFile (there is no STARTTLS without a certificate)',
        path: ['requireTls'],
      }),
    recipients: z
      .object({
        domains: z.array(z.string().min(1)),
        addresses: z.array(z.string().min(1)),
      })
      .strict(),
    reference: z
      .object({
        subjectPatterns: z.array(regexSource).min(1),
        plusTag: z.boolean(),
      })
      .strict(),
    policy: z
      .object({
        noReference: z.enum(['reject', 'drop', 'create']),
        noReferenceText: z.string().min(1),
        autoSubmitted: machinePolicy,
        deliveryReports: machinePolicy,
        precedence: machinePolicy,
        precedenceValues: z.array(
          z
            .string()
            .min(1)
            .transform((s) => s.toLowerCase()),
        ),
        autoReplyHeaders: machinePolicy,
        nullSender: machinePolicy,
        mailerDaemon: machinePolicy,
        loopRateLimit: machinePolicy,
        loopRateLimitMax: positiveInt,
        loopRateLimitWindowSeconds: positiveInt,
        knownSendersOnly: z.boolean(),
        knownSenderDomains: z.array(
          z
            .string()
            .min(1)
            .transform((s) => s.toLowerCase().replace(/^@/, '')),
        ),
      })
      .strict(),
    // Recipient → Sirportly account, new-ticket fields and no-reference policy (see default.yaml).
    routes: z.array(routeSchema),
    newTickets: z
      .object({
        perSenderMax: nonNegativeInt,
        windowSeconds: positiveInt,
        overLimit: z.enum(['reject', 'drop']),
        overLimitText: z.string().min(1),
        markerTag: z.boolean(),
      })
      .strict(),
    // Matching replies whose subject lost the reference by In-Reply-To/References.
    threads: z
      .object({
        enabled: z.boolean(),
        ttlDays: z.number().positive(),
        learnFromTicket: z.boolean(),
        maxReferences: positiveInt,
      })
      .strict(),
    // SPF/DKIM/DMARC of SMTP mail, evaluated by the worker (see config/default.yaml).
    auth: z
      .object({
        enabled: z.boolean(),
        timeoutMs: positiveInt,
        dnsTimeoutMs: positiveInt,
      })
      .strict(),
    replies: z.object({ stripQuoted: z.boolean() }).strict(),
    // Drafting (parse, sanitise, convert) in threads that can be stopped (see config/default.yaml).
    draft: z
      .object({
        threads: nonNegativeInt,
        attempts: positiveInt,
        heapMb: z.number().int().min(16),
        maxDecodedBytes: positiveInt,
        maxAttachments: nonNegativeInt,
      })
      .strict(),
    html: z
      .object({
        maxDepth: positiveInt,
        maxBytes: positiveInt,
        remoteImages: z.enum(['keep', 'drop']),
      })
      .strict(),
    redis: z
      .object({
        url: redisUrl,
        prefix: z.string().regex(/^[A-Za-z0-9_{}.-]+$/, 'letters, digits, _ . - { } only'),
        // What a 250 waits for (see config/default.yaml and queue/durability.ts).
        durability: z.enum(['auto', 'none', 'fsync', 'replica']),
        replicas: positiveInt,
        replicaTimeoutMs: positiveInt,
        // Sentinel: when given, the primary named sentinelName is asked of these instead of redis.url's host.
        sentinels: z.array(hostPort),
        sentinelName: z.string(),
      })
      .strict()
      .refine((r) => r.sentinels.length === 0 || r.sentinelName !== '', {
        message: 'needs redis.sentinelName (REDIS_SENTINEL_NAME) with redis.sentinels',
        path: ['sentinelName'],
      }),
    queue: z
      .object({
        concurrency: positiveInt,
        retryPeriodHours: z.number().positive(),
        backoffInitialMs: positiveInt,
        backoffMaxMs: positiveInt,
        rawRetentionHours: z.number().min(0),
        failedRetentionDays: z.number().positive(),
        // Failed mail one sender / one client address may have parked; 0 turns a cap off.
        failedPerSenderMaxJobs: nonNegativeInt,
        failedPerSenderMaxBytes: nonNegativeInt,
        failedPerClientMaxJobs: nonNegativeInt,
        failedPerClientMaxBytes: nonNegativeInt,
        seenTtlDays: z.number().positive(),
        tokenRefreshMarginSeconds: nonNegativeInt,
        keepCompleted: nonNegativeInt,
        parseTimeoutMs: positiveInt,
        closeTimeoutMs: positiveInt,
        lockDurationMs: nonNegativeInt,
        workerNiceness: z.number().int().min(0).max(19),
      })
      .strict(),
    sirportly: z
      .object({
        url: httpUrl,
        token: secret,
        secret: secret,
        requestTimeoutMs: positiveInt,
        connections: positiveInt,
        credentialsRecheckSeconds: positiveInt,
      })
      .strict(),
    http: z.object({ host: z.string().min(1), port }).strict(),
    // The queue dashboard on /admin of the HTTP endpoint: on when a login is configured, unless
    // admin.enabled says otherwise (see adminSwitch).
    admin: z
      .object({
        enabled: z.union([z.boolean(), z.literal('auto')]),
        readOnly: z.boolean(),
        token: secret,
        username: z.string(),
        password: secret,
      })
      .strict()
      .superRefine(checkAdminLogin)
      .transform((a) => ({ ...a, ...adminSwitch(a) })),
    log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) }).strict(),
    // `mailgate replay`: how hard it may push an archive into Redis (see config/default.yaml).
    replay: z
      .object({
        maxInFlight: positiveInt,
        maxWaitingJobs: positiveInt,
        maxRedisMemoryPercent: z.number().min(1).max(100),
        tempfailAttempts: positiveInt,
        tempfailBackoffMs: positiveInt,
        dryRunThreads: nonNegativeInt,
      })
      .strict(),
  })
  .strict()
  // With auto the accept deadline still bounds the wait (451 either way); an explicit replica level must fit.
  .refine((c) => c.redis.durability !== 'replica' || c.redis.replicaTimeoutMs < c.smtp.acceptTimeoutMs, {
    message: 'must be below smtp.acceptTimeoutMs (the wait for replicas is part of storing a message)',
    path: ['redis', 'replicaTimeoutMs'],
  })
  .superRefine(checkRoutes);

export type Config = z.infer<typeof configSchema>;

interface AdminSettings {
  enabled: boolean | 'auto';
  token: string;
  username: string;
  password: string;
}

/** Half a login is a mistake whenever the dashboard may be on; no login at all only when it must be. */
function checkAdminLogin(a: AdminSettings, ctx: z.RefinementCtx): void {
  if (a.enabled === false) return;
  if (a.token === '' && (a.username === '') !== (a.password === '')) {
    ctx.addIssue({
      code: 'custom',
      path: a.username === '' ? ['username'] : ['password'],
      message:
        a.username === ''
          ? 'is required with admin.password (ADMIN_PASSWORD)'
          : 'is required with admin.username (ADMIN_USERNAME)',
    });
    return;
  }
  if (a.enabled === true && a.token === '' && a.username === '') {
    ctx.addIssue({
      code: 'custom',
      path: ['enabled'],
      message:
        'needs admin.token (ADMIN_TOKEN) or admin.username and admin.password (ADMIN_PASSWORD): the dashboard is never open without a login',
    });
  }
}

/**
 * Whether the dashboard is served, and why (for the start-up log). "auto" (the default): on when
 * a login is configured, since setting one says the operator wants it; true or false decide alone.
 */
export function adminSwitch(a: AdminSettings): { enabled: boolean; why: string } {
  const login =
    a.token !== ''
      ? 'admin.token (ADMIN_TOKEN) is set'
      : a.username !== '' && a.password !== ''
        ? 'admin.username and admin.password (ADMIN_USERNAME, ADMIN_PASSWORD) are set'
        : null;
  if (a.enabled === true) return { enabled: true, why: `admin.enabled is true and ${login ?? 'a login is set'}` };
  if (a.enabled === false)
    return { enabled: false, why: `admin.enabled is false${login ? ` (${login} but not used)` : ''}` };
  if (login) return { enabled: true, why: `${login} (admin.enabled: auto)` };
  return {
    enabled: false,
    why: 'no login: set ADMIN_TOKEN, or ADMIN_USERNAME and ADMIN_PASSWORD, to serve it (admin.enabled: auto)',
  };
}

/** Environment variable → config path and how to read it. */
const ENV_MAP: ReadonlyArray<[string, string[], 'string' | 'int' | 'list']> = [
  ['REDIS_URL', ['redis', 'url'], 'string'],
  ['REDIS_DURABILITY', ['redis', 'durability'], 'string'],
  ['REDIS_SENTINELS', ['redis', 'sentinels'], 'list'],
  ['REDIS_SENTINEL_NAME', ['redis', 'sentinelName'], 'string'],
  ['SIRPORTLY_URL', ['sirportly', 'url'], 'string'],
  ['SIRPORTLY_TOKEN', ['sirportly', 'token'], 'string'],
  ['SIRPORTLY_SECRET', ['sirportly', 'secret'], 'string'],
  ['SMTP_HOST', ['smtp', 'host'], 'string'],
  ['SMTP_PORT', ['smtp', 'port'], 'int'],
  ['HTTP_HOST', ['http', 'host'], 'string'],
  ['HTTP_PORT', ['http', 'port'], 'int'],
  ['LOG_LEVEL', ['log', 'level'], 'string'],
  ['ADMIN_TOKEN', ['admin', 'token'], 'string'],
  ['ADMIN_USERNAME', ['admin', 'username'], 'string'],
  ['ADMIN_PASSWORD', ['admin', 'password'], 'string'],
];

// Secrets may come from files instead (NAME_FILE=/run/secrets/…, as Docker and Kubernetes mount
// them), so they need not sit in the environment of the process.
const FILE_VARS = new Set(['REDIS_URL', 'SIRPORTLY_TOKEN', 'SIRPORTLY_SECRET', 'ADMIN_TOKEN', 'ADMIN_PASSWORD']);

/** The value of NAME, or of the file named by NAME_FILE (without its trailing newline). */
function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const direct = env[name];
  const file = FILE_VARS.has(name) ? env[`${name}_FILE`] : undefined;
  if (file === undefined || file === '') return direct;
  if (direct !== undefined && direct !== '')
    throw new GatewayError('config', `${name} and ${name}_FILE are both set: use one`);
  return readSecretFile(file, `${name}_FILE`);
}

/** The package root: src/ when run from source (tests), dist/src/ when built. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export const DEFAULT_CONFIG_PATH = join(packageRoot(), 'config', 'default.yaml');

type Tree = { [key: string]: unknown };

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge of plain objects; arrays and scalars of `over` replace those of `base`. */
export function mergeTrees(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isTree(b) && isTree(v) ? mergeTrees(b, v) : v;
  }
  return out;
}

function readYaml(path: string, what: string): Tree {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new GatewayError(
      'config',
      `${what} ${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new GatewayError('config', `${what} ${path}: not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isTree(doc)) throw new GatewayError('config', `${what} ${path}: must be a YAML mapping`);
  return doc;
}

function setPath(tree: Tree, path: string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (!isTree(next)) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1]!] = value;
}

function envOverlay(env: NodeJS.ProcessEnv): Tree {
  const tree: Tree = {};
  for (const [name, path, type] of ENV_MAP) {
    const raw = envValue(env, name);
    if (raw === undefined || raw === '') continue;
    if (type === 'int') {
      if (!/^\d+$/.test(raw)) throw new GatewayError('config', `${name}=${raw}: must be a whole number`);
      setPath(tree, path, Number(raw));
    } else if (type === 'list') {
      setPath(
        tree,
        path,
        raw
          .split(',')
          .map((v) => v.trim())
          .filter((v) => v !== ''),
      );
    } else {
      setPath(tree, path, raw);
    }
  }
  return tree;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  // routes.1.ticket.team reads better as routes[1].ticket.team
  const path = issue.path
    .map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`))
    .join('');
  const env = ENV_MAP.find(([, p]) => p.join('.') === path)?.[0];
  const where = env ? `${path} (${env})` : path || 'config';
  return `${where}: ${issue.message}`;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Extra overrides applied last (tests). */
  overrides?: Tree;
  defaultPath?: string;
}

/** Load and validate the configuration. Throws GatewayError('config') with one clear line. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  let tree = readYaml(opts.defaultPath ?? DEFAULT_CONFIG_PATH, 'default config');
  const overlayPath = env.MAILGATE_CONFIG;
  if (overlayPath) tree = mergeTrees(tree, readYaml(overlayPath, 'MAILGATE_CONFIG'));
  tree = mergeTrees(tree, envOverlay(env));
  if (opts.overrides) tree = mergeTrees(tree, opts.overrides);
  const result = configSchema.safeParse(tree);
  if (!result.success) {
    const first = result.error.issues[0];
    throw new GatewayError('config', first ? describeIssue(first) : 'invalid configuration');
  }
  return readRouteSecrets(result.data);
}

/** Settings needed only to talk to Sirportly (serve with workers); `inspect` does without. */
export function requireSirportlyCredentials(config: Config): void {
  // A route with its own account was checked when the config was loaded; the main account is
  // needed only when some mail can reach it (always, unless every route, the default included, has its own).
  const last = config.routes[config.routes.length - 1];
  const everyRouteOwnAccount =
    last !== undefined && last.match.length === 0 && config.routes.every((r) => r.sirportly !== undefined);
  if (everyRouteOwnAccount) return;
  if (!config.sirportly.token) throw new GatewayError('config', 'sirportly.token (SIRPORTLY_TOKEN): is required');
  if (!config.sirportly.secret) throw new GatewayError('config', 'sirportly.secret (SIRPORTLY_SECRET): is required');
}

/** Regular expressions for subject references, compiled once. */
export function subjectRegexes(config: Config): RegExp[] {
  return config.reference.subjectPatterns.map((p) => new RegExp(p, 'i'));
}
