// `mailgate check`: whether Sirportly has what a running gateway needs, before mail arrives.
// Per account (the main one and each route's own): the credentials, tickets/spql when new tickets
// carry a marker tag, and every object a route names for new tickets (brand, department, status,
// priority, team, sla) with the team in the department's escalation path.
import type { Config } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import { routeTable, type Route, type SirportlyAccount } from '../mail/door/route.js';
import { SirportlyClient, type ObjectKind, type SirportlyObject } from '../sirportly/client.js';
import { checkCredentials } from '../sirportly/credentials.js';

export type CheckStatus = 'ok' | 'missing' | 'refused' | 'unreachable' | 'unknown';

export interface CheckRow {
  /** "main" or "route <name>" for a route with its own account. */
  account: string;
  /** The route whose setting is checked; "" for account-wide checks. */
  route: string;
  check: string;
  value: string;
  status: CheckStatus;
  detail: string;
}

export interface CheckReport {
  ok: boolean;
  rows: CheckRow[];
}

/** What a client must answer for the check (the real client; tests may pass their own). */
export type CheckClient = Pick<SirportlyClient, 'getTicket' | 'findTicketByTag' | 'listObjects'> & {
  close?: () => Promise<void>;
};

const FIELDS = ['brand', 'department', 'status', 'priority', 'team', 'sla'] as const;
const KIND_OF: Record<(typeof FIELDS)[number], ObjectKind> = {
  brand: 'brands',
  department: 'departments',
  status: 'statuses',
  priority: 'priorities',
  team: 'teams',
  sla: 'slas',
};

/** Matches as Sirportly does: by id, or by name ignoring case. */
function named(list: SirportlyObject[], given: string): SirportlyObject | undefined {
  return (
    list.find((o) => String(o.id) === given) ??
    list.find((o) => typeof o.name === 'string' && o.name.toLowerCase() === given.toLowerCase())
  );
}

function ref(value: unknown): { id: string | null; name: string | null } | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as { id?: unknown; name?: unknown };
  return {
    id: typeof v.id === 'number' || typeof v.id === 'string' ? String(v.id) : null,
    name: typeof v.name === 'string' ? v.name : null,
  };
}

function sameRef(a: { id: string | null; name: string | null } | null, o: SirportlyObject): boolean {
  if (!a) return false;
  if (a.id !== null && o.id !== null) return a.id === String(o.id);
  return a.name !== null && typeof o.name === 'string' && a.name.toLowerCase() === o.name.toLowerCase();
}

function failureStatus(err: unknown): { status: CheckStatus; detail: string } {
  if (err instanceof GatewayError) {
    if (err.kind === 'auth') return { status: 'refused', detail: err.message };
    if (err.kind === 'timeout' || err.kind === 'network' || err.kind === 'server' || err.kind === 'rate_limited')
      return { status: 'unreachable', detail: err.message };
    return { status: 'unknown', detail: err.message };
  }
  return { status: 'unknown', detail: err instanceof Error ? err.message : String(err) };
}

interface AccountGroup {
  label: string;
  account: SirportlyAccount;
  routes: Route[];
}

function accounts(config: Config): AccountGroup[] {
  const main: AccountGroup = { label: 'main', account: config.sirportly, routes: [] };
  const groups: AccountGroup[] = [];
  for (const r of routeTable(config)) {
    if (r.account) groups.push({ label: `route ${r.name}`, account: r.account, routes: [r] });
    else main.routes.push(r);
  }
  return main.routes.length > 0 ? [main, ...groups] : groups;
}

async function checkAccount(group: AccountGroup, client: CheckClient, config: Config): Promise<CheckRow[]> {
  const rows: CheckRow[] = [];
  const row = (route: string, check: string, value: string, status: CheckStatus, detail = '') =>
    rows.push({ account: group.label, route, check, value, status, detail });

  const creds = await checkCredentials(client);
  if (!creds.ok) {
    row(
      '',
      'credentials',
      new URL(group.account.url).host,
      creds.refused ? 'refused' : failureStatus(creds.error).status,
      creds.error.message,
    );
    return rows;
  }
  row('', 'credentials', new URL(group.account.url).host, 'ok', 'token and secret accepted (tickets/ticket)');

  const creating = group.routes.filter((r) => r.noReference === 'create');
  if (config.newTickets.markerTag && creating.length > 0) {
    try {
      await client.findTicketByTag('mailgate-check');
      row(
        '',
        'tickets/spql',
        'newTickets.markerTag',
        'ok',
        'allowed: a ticket whose submit got no answer can be found by its tag',
      );
    } catch (err) {
      const f = failureStatus(err);
      row(
        '',
        'tickets/spql',
        'newTickets.markerTag',
        f.status,
        f.status === 'refused'
          ? `the token may not use tickets/spql, which finds a ticket whose submit got no answer: ${f.detail}`
          : f.detail,
      );
    }
  }

  const lists = new Map<ObjectKind, Promise<SirportlyObject[]>>();
  const list = (kind: ObjectKind) => {
    let p = lists.get(kind);
    if (!p) {
      p = client.listObjects(kind);
      p.catch(() => undefined);
      lists.set(kind, p);
    }
    return p;
  };

  for (const route of creating) {
    const found: Partial<Record<(typeof FIELDS)[number], SirportlyObject>> = {};
    for (const field of FIELDS) {
      const given = route.ticket[field];
      if (given === undefined) continue;
      const kind = KIND_OF[field];
      let objects: SirportlyObject[];
      try {
        objects = await list(kind);
      } catch (err) {
        const f = failureStatus(err);
        row(route.name, field, given, f.status, `cannot list objects/${kind}: ${f.detail}`);
        continue;
      }
      let match: SirportlyObject | undefined;
      if (field === 'department' && !/^\d+$/.test(given)) {
        // A name is looked up within the route's brand (two brands may each have one of that name).
        match = objects.find(
          (d) =>
            typeof d.name === 'string' &&
            d.name.toLowerCase() === given.toLowerCase() &&
            found.brand !== undefined &&
            sameRef(ref(d.brand), found.brand),
        );
      } else {
        match = named(objects, given);
      }
      found[field] = match;
      if (match) row(route.name, field, given, 'ok', `id ${String(match.id)}`);
      else
        row(
          route.name,
          field,
          given,
          'missing',
          field === 'department' && route.ticket.brand
            ? `no such department in brand ${route.ticket.brand} (objects/${kind})`
            : `not found in objects/${kind}`,
        );
    }
    if (found.department && found.team)
      rows.push(await teamOnPath(group.label, route, found.department, found.team, list));
  }
  return rows;
}

async function teamOnPath(
  account: string,
  route: Route,
  department: SirportlyObject,
  team: SirportlyObject,
  list: (k: ObjectKind) => Promise<SirportlyObject[]>,
): Promise<CheckRow> {
  const base = {
    account,
    route: route.name,
    check: 'team in escalation path',
    value: `${route.ticket.team} / ${route.ticket.department}`,
  };
  const pathRef = ref(department.escalation_path);
  if (!pathRef)
    return { ...base, status: 'missing', detail: `department ${String(department.name)} has no escalation path` };
  let paths: SirportlyObject[];
  try {
    paths = await list('escalation_paths');
  } catch (err) {
    const f = failureStatus(err);
    return { ...base, status: f.status, detail: `cannot list objects/escalation_paths: ${f.detail}` };
  }
  const path = paths.find((p) => sameRef(pathRef, p));
  const teams = path && Array.isArray(path.teams) ? path.teams.map(ref) : null;
  if (!teams)
    return {
      ...base,
      status: 'unknown',
      detail: `escalation path ${pathRef.name ?? pathRef.id} does not list its teams; check by hand`,
    };
  return teams.some((t) => sameRef(t, team))
    ? { ...base, status: 'ok', detail: `on path ${pathRef.name ?? pathRef.id}` }
    : {
        ...base,
        status: 'missing',
        detail: `team not on path ${pathRef.name ?? pathRef.id}: Sirportly refuses the new ticket`,
      };
}

/** Run every check; `makeClient` builds the client of one account (the real one by default). */
export async function runChecks(
  config: Config,
  makeClient?: (account: SirportlyAccount) => CheckClient,
): Promise<CheckReport> {
  const make =
    makeClient ??
    ((a: SirportlyAccount) =>
      new SirportlyClient({ ...a, requestTimeoutMs: config.sirportly.requestTimeoutMs, connections: 2 }));
  const rows: CheckRow[] = [];
  for (const group of accounts(config)) {
    const client = make(group.account);
    try {
      rows.push(...(await checkAccount(group, client, config)));
    } finally {
      await client.close?.();
    }
  }
  // An escalation path that does not list its teams cannot be checked, which is not a fault.
  const ok = rows.every((r) => r.status === 'ok' || (r.status === 'unknown' && r.check === 'team in escalation path'));
  return { ok, rows };
}
