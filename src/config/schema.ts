// The settings: their zod schema, the Config type it yields, and what the admin block decides.
// Loading them (files, environment, secret files) is load.ts; routes.ts and values.ts hold the
// schemas of routes and of single values.
import { z } from 'zod';
import {
  hostPort,
  httpUrl,
  machinePolicy,
  nonNegativeInt,
  port,
  positiveInt,
  redisUrl,
  regexSource,
  secret,
} from './values.js';
import { checkRoutes, routeSchema } from './routes.js';

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
        maxMimeParts: positiveInt,
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

/** Regular expressions for subject references, compiled once. */
export function subjectRegexes(config: Config): RegExp[] {
  return config.reference.subjectPatterns.map((p) => new RegExp(p, 'i'));
}
