// Routes: their validation at start-up (one line naming the path of the bad value) and how a
// message's recipients choose one.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, requireSirportlyCredentials } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { GatewayError } from '../../../src/errors.js';
import {
  IMPLICIT_DEFAULT_ROUTE,
  routeFor,
  routeNamed,
  routeTable,
  routingAddress,
} from '../../../src/mail/door/route.js';

const TICKET = { brand: 'Help', department: 'Support', status: 'New', priority: 'Normal', team: 'Helpdesk' };
const ACCOUNT = { token: 'route-token', secret: 'route-secret' };

function load(overrides: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Config {
  return loadConfig({ env, overrides });
}

/** The error loadConfig throws: a GatewayError('config') with a one-line message. */
function configError(overrides: Record<string, unknown>): string {
  let caught: unknown;
  try {
    load(overrides);
  } catch (err) {
    caught = err;
  }
  expect(caught, 'loadConfig should have thrown').toBeInstanceOf(GatewayError);
  const err = caught as GatewayError;
  expect(err.kind).toBe('config');
  expect(err.message).not.toMatch(/[\r\n]/);
  return err.message;
}

describe('route validation', () => {
  it('accepts a valid set of routes and keeps them in order, matches lower-cased and trimmed', () => {
    const config = load({
      policy: { noReference: 'create' },
      routes: [
        {
          name: 'sales',
          match: [' Sales@Example.COM ', 'Example.org'],
          ticket: { ...TICKET, brand: 'Example', sla: 'Gold', tag_list: 'email, sales' },
        },
        { name: 'legal', match: ['@legal.example.com'], noReference: 'drop' },
        { name: 'catch-all', ticket: TICKET },
      ],
    });
    expect(config.routes.map((r) => r.name)).toEqual(['sales', 'legal', 'catch-all']);
    expect(config.routes[0]!.match).toEqual(['sales@example.com', 'example.org']);
    expect(config.routes[2]!.match).toEqual([]);
    expect(config.routes[1]!.noReference).toBe('drop');
    expect(config.routes[0]!.noReference).toBeUndefined();
  });

  it('keeps the name "default" for the default route', () => {
    // The gateway's own default route is called "default": a route with match under that name
    // would be taken for it when a job names its route, and mail would go to its account.
    expect(
      configError({
        routes: [
          { name: 'default', match: ['vip@example.com'], noReference: 'create', ticket: TICKET, sirportly: ACCOUNT },
        ],
      }),
    ).toBe(
      'routes[0].name: "default" is the name of the default route (the one without match); name this route otherwise',
    );
    expect(
      load({
        routes: [
          { name: 'vip', match: ['vip@example.com'] },
          { name: 'default', noReference: 'drop' },
        ],
      }).routes.at(-1)!.name,
    ).toBe('default');
  });

  it('refuses a match with two @ and an empty secret file', () => {
    expect(configError({ routes: [{ name: 'a', match: ['support@@example.com'] }] })).toMatch(
      /^routes\[0\]\.match\[0\]: must be an address/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'routes-empty-'));
    writeFileSync(join(dir, 'token'), '\n');
    writeFileSync(join(dir, 'secret'), 's\n');
    expect(
      configError({
        routes: [
          {
            name: 'a',
            match: ['a@example.com'],
            sirportly: { tokenFile: join(dir, 'token'), secretFile: join(dir, 'secret') },
          },
        ],
      }),
    ).toBe(`routes[0].sirportly.tokenFile=${join(dir, 'token')}: is empty`);
  });

  it('refuses two routes with the same name', () => {
    expect(
      configError({
        routes: [
          { name: 'a', match: ['a@example.com'] },
          { name: 'a', match: ['b@example.com'] },
        ],
      }),
    ).toBe('routes[1].name: "a" is used by an earlier route; names must be unique');
  });

  it('refuses a route without match anywhere but last', () => {
    expect(configError({ routes: [{ name: 'everything' }, { name: 'b', match: ['b@example.com'] }] })).toBe(
      'routes[0].match: route "everything" has no match, so it is the default route and must be the last one',
    );
    // An explicit empty list is no match too, and two defaults cannot both be last.
    expect(
      configError({
        routes: [
          { name: 'a', match: [] },
          { name: 'b', match: [] },
        ],
      }),
    ).toBe('routes[0].match: route "a" has no match, so it is the default route and must be the last one');
  });

  it('requires department, status, priority and team of a route that opens tickets', () => {
    for (const field of ['department', 'status', 'priority', 'team'] as const) {
      const ticket: Record<string, string> = { ...TICKET };
      delete ticket[field];
      expect(
        configError({ routes: [{ name: 'sales', match: ['sales@example.com'], noReference: 'create', ticket }] }),
        field,
      ).toBe(`routes[0].ticket.${field}: is required: route "sales" opens new tickets (noReference: create)`);
    }
    // An empty string is no value either.
    expect(
      configError({
        routes: [
          { name: 'sales', match: ['sales@example.com'], noReference: 'create', ticket: { ...TICKET, team: '' } },
        ],
      }),
    ).toMatch(/^routes\[0\]\.ticket\.team: /);
  });

  it('requires them of a route that inherits create from policy.noReference, not of one that overrides it', () => {
    const { team: _team, ...noTeam } = TICKET;
    expect(
      configError({
        policy: { noReference: 'create' },
        routes: [
          { name: 'sales', match: ['sales@example.com'], ticket: TICKET },
          { name: 'fallback', ticket: noTeam },
        ],
      }),
    ).toBe('routes[1].ticket.team: is required: route "fallback" opens new tickets (noReference: create)');
    const ok = load({
      policy: { noReference: 'create' },
      routes: [
        { name: 'quiet', match: ['noreply@example.com'], noReference: 'drop' },
        { name: 'fallback', ticket: TICKET },
      ],
    });
    expect(ok.routes[0]!.ticket).toEqual({});
  });

  it('refuses a department name without its brand (Sirportly resolves a name only within a brand); an id needs none', () => {
    const { brand: _brand, ...noBrand } = TICKET;
    expect(
      configError({
        routes: [{ name: 'sales', match: ['sales@example.com'], noReference: 'create', ticket: noBrand }],
      }),
    ).toBe(
      'routes[0].ticket.department: "Support" is a department name, which Sirportly resolves only with its brand: set routes[0].ticket.brand, or give the department\'s id',
    );
    expect(
      load({
        routes: [
          {
            name: 'sales',
            match: ['sales@example.com'],
            noReference: 'create',
            ticket: { ...noBrand, department: '42' },
          },
        ],
      }).routes[0]!.ticket.department,
    ).toBe('42');
  });

  it('refuses policy.noReference create without a default route', () => {
    const message =
      'policy.noReference: create needs the ticket fields of new tickets: add a default route (one without match, last) with ticket: {department, status, priority, team}';
    expect(configError({ policy: { noReference: 'create' } })).toBe(message);
    expect(
      configError({
        policy: { noReference: 'create' },
        routes: [{ name: 'sales', match: ['sales@example.com'], ticket: TICKET }],
      }),
    ).toBe(message);
  });

  it('refuses a match entry that is neither an address nor a domain', () => {
    for (const bad of [
      'two words',
      'support@',
      'a@b@example.com',
      '@@example.com',
      'example..com',
      '-example.com',
      'http://example.com',
    ]) {
      expect(configError({ routes: [{ name: 'r', match: ['ok@example.com', bad] }] }), bad).toBe(
        'routes[0].match[1]: must be an address (help@example.com) or a domain (example.com)',
      );
    }
    expect(configError({ routes: [{ name: 'r', match: [''] }] })).toMatch(/^routes\[0\]\.match\[0\]: /);
    expect(configError({ routes: [{ name: 'r', match: 'example.com' }] })).toMatch(/^routes\[0\]\.match: /);
  });

  it('refuses bad names and unknown keys', () => {
    expect(configError({ routes: [{ name: 'has space', match: ['a@example.com'] }] })).toBe(
      'routes[0].name: letters, digits, _ . - only (1 to 64)',
    );
    expect(
      configError({ routes: [{ name: 'r', match: ['a@example.com'], ticket: { ...TICKET, queue: 'x' } }] }),
    ).toMatch(/^routes\[0\]\.ticket: .*queue/);
    expect(configError({ routes: [{ name: 'r', match: ['a@example.com'], noReference: 'post' }] })).toMatch(
      /^routes\[0\]\.noReference: /,
    );
  });

  it('refuses a route account without token or secret', () => {
    expect(configError({ routes: [{ name: 'other', sirportly: { url: 'https://other.example' } }] })).toBe(
      'routes[0].sirportly.token: is required when a route has its own Sirportly account (or tokenFile)',
    );
    expect(
      configError({
        routes: [
          { name: 'a', match: ['a@example.com'] },
          { name: 'other', sirportly: { token: 'tok-long-t' } },
        ],
      }),
    ).toBe('routes[1].sirportly.secret: is required when a route has its own Sirportly account (or secretFile)');
    expect(configError({ routes: [{ name: 'other', sirportly: { token: '', secret: 'sec-long-s' } }] })).toMatch(
      /^routes\[0\]\.sirportly\.token: is required/,
    );
    expect(configError({ routes: [{ name: 'other', sirportly: { ...ACCOUNT, url: 'ftp://x.example' } }] })).toBe(
      'routes[0].sirportly.url: must be an http:// or https:// URL',
    );
  });

  it('refuses token and tokenFile (or secret and secretFile) together', () => {
    expect(
      configError({
        routes: [
          { name: 'other', sirportly: { token: 'tok-long-t', tokenFile: '/run/secrets/t', secret: 'sec-long-s' } },
        ],
      }),
    ).toBe('routes[0].sirportly.tokenFile: token and tokenFile are both set: use one');
    expect(
      configError({
        routes: [
          { name: 'other', sirportly: { token: 'tok-long-t', secret: 'sec-long-s', secretFile: '/run/secrets/s' } },
        ],
      }),
    ).toBe('routes[0].sirportly.secretFile: secret and secretFile are both set: use one');
  });

  describe('secrets from files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailgate-route-secrets-'));
    const file = (name: string, content: string): string => {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    };

    it('reads tokenFile and secretFile without the trailing newline', () => {
      const config = load({
        routes: [
          {
            name: 'sales',
            match: ['sales@example.com'],
            sirportly: {
              url: 'https://sales.example',
              tokenFile: file('tok', 'tok-sales\n'),
              secretFile: file('sec', 'sec-sales\r\n'),
            },
          },
          {
            name: 'mixed',
            match: ['mixed@example.com'],
            sirportly: { token: 'inline-tok', secretFile: file('sec2', 'sec-mixed') },
          },
        ],
      });
      expect(config.routes[0]!.sirportly).toEqual({
        url: 'https://sales.example',
        token: 'tok-sales',
        secret: 'sec-sales',
      });
      expect(config.routes[1]!.sirportly).toEqual({ url: undefined, token: 'inline-tok', secret: 'sec-mixed' });
      // The route table gives the account in one form, the main URL where the route has none.
      expect(routeFor(config, ['sales@example.com']).account).toEqual({
        url: 'https://sales.example',
        token: 'tok-sales',
        secret: 'sec-sales',
      });
      expect(routeFor(config, ['mixed@example.com']).account).toEqual({
        url: config.sirportly.url,
        token: 'inline-tok',
        secret: 'sec-mixed',
      });
    });

    it('names a tokenFile or secretFile that cannot be read', () => {
      const missing = join(dir, 'missing-token');
      expect(
        configError({
          routes: [
            { name: 'a', match: ['a@example.com'] },
            { name: 'b', sirportly: { tokenFile: missing, secret: 'sec-long-s' } },
          ],
        }),
      ).toBe(`routes[1].sirportly.tokenFile=${missing}: cannot be read (ENOENT)`);
      expect(
        configError({ routes: [{ name: 'b', sirportly: { token: 'tok-long-t', secretFile: join(dir, 'nope') } }] }),
      ).toBe(`routes[0].sirportly.secretFile=${join(dir, 'nope')}: cannot be read (ENOENT)`);
    });
  });
});

describe('requireSirportlyCredentials', () => {
  const main = { SIRPORTLY_TOKEN: 'main-token', SIRPORTLY_SECRET: 'main-secret' };
  const requireFor =
    (overrides: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
    () =>
      requireSirportlyCredentials(load(overrides, env));

  it('needs the main token and secret when there are no routes', () => {
    expect(requireFor({})).toThrow(new GatewayError('config', 'sirportly.token (SIRPORTLY_TOKEN): is required'));
    expect(requireFor({}, { SIRPORTLY_TOKEN: 'main-token' })).toThrow(
      new GatewayError('config', 'sirportly.secret (SIRPORTLY_SECRET): is required'),
    );
    expect(requireFor({}, main)).not.toThrow();
  });

  it('needs the main account while any mail can reach it', () => {
    // Every route has its own account, but the implicit default route uses the main one.
    expect(requireFor({ routes: [{ name: 'a', match: ['a@example.com'], sirportly: ACCOUNT }] })).toThrow(
      /^sirportly\.token \(SIRPORTLY_TOKEN\): is required$/,
    );
    // The configured default route has no account of its own.
    expect(
      requireFor({ routes: [{ name: 'a', match: ['a@example.com'], sirportly: ACCOUNT }, { name: 'rest' }] }),
    ).toThrow(/sirportly\.token/);
    // A matched route without an account.
    expect(
      requireFor({
        routes: [
          { name: 'a', match: ['a@example.com'] },
          { name: 'rest', sirportly: ACCOUNT },
        ],
      }),
    ).toThrow(/sirportly\.token/);
  });

  it('does without the main account when every route, the default included, has its own', () => {
    expect(
      requireFor({
        routes: [
          { name: 'a', match: ['a@example.com'], sirportly: ACCOUNT },
          { name: 'rest', sirportly: { token: 'tok-long-x', secret: 'sec-long-y' } },
        ],
      }),
    ).not.toThrow();
    expect(requireFor({ routes: [{ name: 'only', sirportly: ACCOUNT }] })).not.toThrow();
  });
});

describe('routeFor', () => {
  const config = load({
    policy: { noReference: 'reject' },
    routes: [
      {
        name: 'sales',
        match: ['sales@example.com', 'example.org'],
        noReference: 'create',
        ticket: TICKET,
        sirportly: { url: 'https://sales.example', ...ACCOUNT },
      },
      { name: 'billing', match: ['@billing.example.com'], noReference: 'drop' },
      { name: 'support', match: ['Support@Example.com'] },
      { name: 'wide', match: ['example.com'] },
      { name: 'support-late', match: ['help@example.com'] },
      { name: 'rest', noReference: 'drop' },
    ],
  });
  const nameFor = (...rcpt: string[]): string => routeFor(config, rcpt).name;

  it('matches an address', () => {
    const r = routeFor(config, ['sales@example.com']);
    expect(r.name).toBe('sales');
    expect(r.noReference).toBe('create');
    expect(r.ticket).toEqual(TICKET);
    expect(r.account).toEqual({ url: 'https://sales.example', token: 'route-token', secret: 'route-secret' });
    expect(r.isDefault).toBe(false);
  });

  it('matches a domain given bare or as "@domain", and only that exact domain', () => {
    expect(nameFor('anyone@example.org')).toBe('sales');
    expect(nameFor('accounts@billing.example.com')).toBe('billing');
    expect(routeFor(config, ['accounts@billing.example.com']).noReference).toBe('drop');
    expect(nameFor('someone@sub.example.org')).toBe('rest');
    expect(nameFor('example.org@elsewhere.example')).toBe('rest');
  });

  it('ignores the plus-tag and case of the recipient', () => {
    expect(nameFor('Support+GJ-060309@Example.com')).toBe('support');
    expect(nameFor('SALES+ab-123456@EXAMPLE.COM')).toBe('sales');
    expect(routingAddress(' Support+GJ-060309@Example.com ')).toBe('support@example.com');
    // A leading "+" is no tag.
    expect(routingAddress('+x@Example.com')).toBe('+x@example.com');
  });

  it('takes the first route in config order, whatever the order of the recipients', () => {
    // help@example.com is in "wide" (domain) and in "support-late" (address): wide comes first.
    expect(nameFor('help@example.com')).toBe('wide');
    expect(nameFor('help@example.com', 'sales@example.com')).toBe('sales');
    expect(nameFor('other@example.com', 'support@example.com')).toBe('support');
  });

  it('matches when any one of several recipients does', () => {
    expect(nameFor('nobody@elsewhere.example', 'x@example.org')).toBe('sales');
    expect(nameFor('nobody@elsewhere.example', 'billing@other.example', 'BILLING@billing.example.com')).toBe('billing');
  });

  it('falls to the configured default route', () => {
    const r = routeFor(config, ['nobody@elsewhere.example']);
    expect(r).toMatchObject({ name: 'rest', isDefault: true, noReference: 'drop', account: null, ticket: {} });
    expect(routeFor(config, []).name).toBe('rest');
    expect(routeTable(config).map((t) => t.name)).toEqual([
      'sales',
      'billing',
      'support',
      'wide',
      'support-late',
      'rest',
    ]);
  });

  it('adds an implicit default route with policy.noReference and the main account when none is configured', () => {
    const c = load({
      policy: { noReference: 'drop' },
      routes: [{ name: 'sales', match: ['sales@example.com'], sirportly: ACCOUNT }],
    });
    const r = routeFor(c, ['other@example.com']);
    expect(r).toEqual({
      name: IMPLICIT_DEFAULT_ROUTE,
      addresses: new Set(),
      domains: new Set(),
      isDefault: true,
      noReference: 'drop',
      ticket: {},
      account: null,
    });
    expect(IMPLICIT_DEFAULT_ROUTE).toBe('default');
    expect(routeTable(c).map((t) => t.name)).toEqual(['sales', 'default']);
    // No routes at all: everything takes the implicit default.
    const none = load({});
    expect(routeFor(none, ['sales@example.com'])).toMatchObject({
      name: 'default',
      noReference: 'reject',
      account: null,
    });
  });

  it('routeNamed: undefined is the default route, an unknown name is null', () => {
    expect(routeNamed(config, undefined)?.name).toBe('rest');
    expect(routeNamed(config, 'billing')?.noReference).toBe('drop');
    expect(routeNamed(config, 'gone')).toBeNull();
    const c = load({ routes: [{ name: 'sales', match: ['sales@example.com'] }] });
    expect(routeNamed(c, undefined)).toMatchObject({ name: 'default', isDefault: true, account: null });
    expect(routeNamed(c, 'default')?.isDefault).toBe(true);
    expect(routeNamed(c, 'rest')).toBeNull();
  });
});
