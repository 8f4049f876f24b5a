// src/config: this file loads the settings; schema.ts says what they are, routes.ts and values.ts
// hold the schemas of routes and of single values.
//
// Configuration: config/default.yaml, merged with the file named by MAILGATE_CONFIG, then the
// environment variables (README, "Configuration"); validated once at start-up so a bad value stops the
// process with one line that names it, instead of failing later mid-mail.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { GatewayError } from '../errors.js';
import { readSecretFile } from './values.js';
import { readRouteSecrets } from './routes.js';
import { configSchema, type Config } from './schema.js';

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
