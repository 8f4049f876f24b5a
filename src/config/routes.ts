// Routes in the configuration: their schema, the rules across routes that zod cannot say field by
// field, and their secret files. How a message picks a route is src/mail/door/route.ts.
import { z } from 'zod';
import { GatewayError } from '../errors.js';
import { checkSecretLength, httpUrl, readSecretFile, secret as secretValue } from './values.js';

// Fields a new ticket gets (tickets/submit). Names as Sirportly spells them; values are names or ids.
const ticketFieldsSchema = z
  .object({
    brand: z.string().min(1).optional(),
    department: z.string().min(1).optional(),
    status: z.string().min(1).optional(),
    priority: z.string().min(1).optional(),
    team: z.string().min(1).optional(),
    sla: z.string().min(1).optional(),
    tag_list: z.string().min(1).optional(),
  })
  .strict();

/** Sirportly refuses a ticket without these (subject and contact come from the mail). */
export const REQUIRED_TICKET_FIELDS = ['department', 'status', 'priority', 'team'] as const;

// A route's own Sirportly account; secrets inline or read from files (tokenFile/secretFile).
const routeAccountSchema = z
  .object({
    url: httpUrl.optional(),
    token: secretValue.optional(),
    secret: secretValue.optional(),
    tokenFile: z.string().min(1).optional(),
    secretFile: z.string().min(1).optional(),
  })
  .strict();

const routeMatch = z
  .string()
  .min(1)
  .transform((s) => s.trim().toLowerCase())
  .refine((s) => /^([^@\s]+@|@)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/.test(s), {
    message: 'must be an address (help@example.com) or a domain (example.com)',
  });

export const routeSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only (1 to 64)'),
    // Recipient addresses or whole domains; none makes this the default route (it must be last).
    match: z.array(routeMatch).default([]),
    // What mail without a ticket reference gets on this route; policy.noReference when absent.
    noReference: z.enum(['create', 'reject', 'drop']).optional(),
    ticket: ticketFieldsSchema.default({}),
    sirportly: routeAccountSchema.optional(),
  })
  .strict();

export type RouteConfig = z.infer<typeof routeSchema>;
export type TicketFieldsConfig = z.infer<typeof ticketFieldsSchema>;

interface RouteCheckInput {
  routes: RouteConfig[];
  policy: { noReference: 'reject' | 'drop' | 'create' };
}

/** Route rules zod cannot say field by field: unique names, default last, what create needs. */
export function checkRoutes(c: RouteCheckInput, ctx: z.RefinementCtx): void {
  const names = new Set<string>();
  c.routes.forEach((r, i) => {
    const at = (...path: Array<string | number>) => ['routes', i, ...path];
    if (names.has(r.name))
      ctx.addIssue({
        code: 'custom',
        path: at('name'),
        message: `"${r.name}" is used by an earlier route; names must be unique`,
      });
    names.add(r.name);
    // The default route the gateway adds when none is configured is called "default": a route
    // with match under that name would be mistaken for it when a job names its route.
    if (r.name === 'default' && r.match.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: at('name'),
        message: '"default" is the name of the default route (the one without match); name this route otherwise',
      });
    }
    if (r.match.length === 0 && i !== c.routes.length - 1) {
      ctx.addIssue({
        code: 'custom',
        path: at('match'),
        message: `route "${r.name}" has no match, so it is the default route and must be the last one`,
      });
    }
    // Sirportly finds a department by name only within its brand (two brands may each have a
    // "Support"); without one, every new ticket of the route would be refused.
    const department = r.ticket.department;
    if (department !== undefined && !/^\d+$/.test(department) && !r.ticket.brand) {
      ctx.addIssue({
        code: 'custom',
        path: at('ticket', 'department'),
        message: `"${department}" is a department name, which Sirportly resolves only with its brand: set routes[${i}].ticket.brand, or give the department's id`,
      });
    }
    if ((r.noReference ?? c.policy.noReference) === 'create') {
      for (const f of REQUIRED_TICKET_FIELDS) {
        if (!r.ticket[f])
          ctx.addIssue({
            code: 'custom',
            path: at('ticket', f),
            message: `is required: route "${r.name}" opens new tickets (noReference: create)`,
          });
      }
    }
    const a = r.sirportly;
    if (a) {
      if (a.token !== undefined && a.tokenFile !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: at('sirportly', 'tokenFile'),
          message: 'token and tokenFile are both set: use one',
        });
      if (a.secret !== undefined && a.secretFile !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: at('sirportly', 'secretFile'),
          message: 'secret and secretFile are both set: use one',
        });
      if (!a.token && !a.tokenFile)
        ctx.addIssue({
          code: 'custom',
          path: at('sirportly', 'token'),
          message: 'is required when a route has its own Sirportly account (or tokenFile)',
        });
      if (!a.secret && !a.secretFile)
        ctx.addIssue({
          code: 'custom',
          path: at('sirportly', 'secret'),
          message: 'is required when a route has its own Sirportly account (or secretFile)',
        });
    }
  });
  const hasDefault = c.routes.length > 0 && c.routes[c.routes.length - 1]!.match.length === 0;
  if (!hasDefault && c.policy.noReference === 'create') {
    ctx.addIssue({
      code: 'custom',
      path: ['policy', 'noReference'],
      message:
        'create needs the ticket fields of new tickets: add a default route (one without match, last) with ticket: {department, status, priority, team}',
    });
  }
}

/** Routes' tokenFile/secretFile → token/secret, so the rest of the code sees one form. */
export function readRouteSecrets<C extends { routes: RouteConfig[] }>(config: C): C {
  const routes = config.routes.map((r, i) => {
    const a = r.sirportly;
    if (!a || (a.tokenFile === undefined && a.secretFile === undefined)) return r;
    const token = a.tokenFile !== undefined ? readSecretFile(a.tokenFile, `routes[${i}].sirportly.tokenFile`) : a.token;
    const secret =
      a.secretFile !== undefined ? readSecretFile(a.secretFile, `routes[${i}].sirportly.secretFile`) : a.secret;
    if (!token) throw new GatewayError('config', `routes[${i}].sirportly.tokenFile=${a.tokenFile}: is empty`);
    if (!secret) throw new GatewayError('config', `routes[${i}].sirportly.secretFile=${a.secretFile}: is empty`);
    if (a.tokenFile !== undefined) checkSecretLength(token, `routes[${i}].sirportly.tokenFile=${a.tokenFile}`);
    if (a.secretFile !== undefined) checkSecretLength(secret, `routes[${i}].sirportly.secretFile=${a.secretFile}`);
    return { ...r, sirportly: { url: a.url, token, secret } };
  });
  return { ...config, routes };
}
