// Which route a message takes, from its recipients: the Sirportly account it goes to, and for
// mail without a reference, the policy and the fields of a new ticket. Pure: config in, route out.
import type { Config, TicketFieldsConfig } from '../../config/schema.js';

export type NoReferencePolicy = 'create' | 'reject' | 'drop';

export interface SirportlyAccount {
  url: string;
  token: string;
  secret: string;
}

export interface Route {
  name: string;
  addresses: ReadonlySet<string>;
  domains: ReadonlySet<string>;
  isDefault: boolean;
  noReference: NoReferencePolicy;
  ticket: TicketFieldsConfig;
  /** The route's own account, or null for the main `sirportly` settings. */
  account: SirportlyAccount | null;
}

/** The name of the default route the gateway adds when the config has none. */
export const IMPLICIT_DEFAULT_ROUTE = 'default';

const tables = new WeakMap<Config, Route[]>();

/** The routes in order, the last one the default (configured or implied). */
export function routeTable(config: Config): Route[] {
  let table = tables.get(config);
  if (table) return table;
  table = config.routes.map((r) => {
    const addresses = new Set<string>();
    const domains = new Set<string>();
    for (const m of r.match) {
      if (m.startsWith('@')) domains.add(m.slice(1));
      else if (m.includes('@')) addresses.add(m);
      else domains.add(m);
    }
    const a = r.sirportly;
    return {
      name: r.name,
      addresses,
      domains,
      isDefault: r.match.length === 0,
      noReference: r.noReference ?? config.policy.noReference,
      ticket: r.ticket,
      account: a ? { url: a.url ?? config.sirportly.url, token: a.token ?? '', secret: a.secret ?? '' } : null,
    };
  });
  if (!table.at(-1)?.isDefault) {
    table.push({
      name: IMPLICIT_DEFAULT_ROUTE,
      addresses: new Set(),
      domains: new Set(),
      isDefault: true,
      noReference: config.policy.noReference,
      ticket: {},
      account: null,
    });
  }
  tables.set(config, table);
  return table;
}

/** support+GJ-060309@Example.COM → support@example.com: a plus-tag must not change the route. */
export function routingAddress(address: string): string {
  const lower = address.trim().toLowerCase();
  const at = lower.lastIndexOf('@');
  if (at < 0) return lower;
  const local = lower.slice(0, at);
  const plus = local.indexOf('+');
  return `${plus > 0 ? local.slice(0, plus) : local}${lower.slice(at)}`;
}

function matches(route: Route, address: string): boolean {
  if (route.isDefault) return true;
  if (route.addresses.has(address)) return true;
  const domain = address.slice(address.lastIndexOf('@') + 1);
  return route.domains.has(domain);
}

/** First route (in config order) that any recipient matches; the default route otherwise. */
export function routeFor(config: Config, rcptTo: readonly string[]): Route {
  const table = routeTable(config);
  const addresses = rcptTo.map(routingAddress);
  for (const route of table) {
    if (route.isDefault || addresses.some((a) => matches(route, a))) return route;
  }
  return table[table.length - 1]!;
}

/**
 * The route a job recorded. Jobs from before routes existed have none: the default route. A name
 * no longer in the config gives null: guessing another account could post to the wrong helpdesk.
 */
export function routeNamed(config: Config, name: string | undefined): Route | null {
  const table = routeTable(config);
  if (name === undefined) return table[table.length - 1]!;
  return table.find((r) => r.name === name) ?? null;
}
