// How durable an accepted message is before the SMTP client hears 250, and what it takes from
// Redis. The level is chosen in config (redis.durability) and checked against the server:
//   none    — in Redis's memory (and its AOF within a second with appendfsync everysec);
//   fsync   — in the primary's AOF on disk: WAITAOF 1 0 where the server has it (7.2+), else the
//             server must run appendonly yes with appendfsync always (it fsyncs before replying);
//   replica — fsync, and also in the memory of at least redis.replicas replicas (WAIT).
// `auto` takes the strongest level the server gives at the time it is checked.
import type { Redis } from 'ioredis';
import { GatewayError } from '../errors.js';

export type DurabilitySetting = 'auto' | 'none' | 'fsync' | 'replica';
export type DurabilityLevel = 'none' | 'fsync' | 'replica';

/** What the server can give, read from INFO and CONFIG GET. */
export interface RedisCapabilities {
  version: string;
  /** WAITAOF exists (Redis 7.2 and later). */
  waitaof: boolean;
  aofEnabled: boolean;
  /** appendfsync, or null when CONFIG GET is not allowed (managed Redis). */
  appendfsync: string | null;
  role: string;
  connectedReplicas: number;
}

export interface DurabilityPlan {
  level: DurabilityLevel;
  /** How the local disk write is confirmed: by a WAITAOF after the writes, or by the server's own appendfsync always. */
  fsync: 'waitaof' | 'appendfsync-always' | null;
  /** Replicas to WAIT for after the writes (0: none). */
  replicas: number;
  timeoutMs: number;
}

export interface DurabilityOptions {
  setting: DurabilitySetting;
  replicas: number;
  timeoutMs: number;
}

function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [a = 0, b = 0] = version.split('.').map((n) => Number.parseInt(n, 10));
  return a > major || (a === major && b >= minor);
}

function infoField(info: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:(.*)$`, 'm').exec(info);
  return m?.[1]?.trim();
}

/** Capabilities from the text of INFO (server, persistence, replication) and appendfsync. */
export function parseCapabilities(info: string, appendfsync: string | null): RedisCapabilities {
  const version = infoField(info, 'redis_version') ?? '0.0.0';
  return {
    version,
    waitaof: versionAtLeast(version, 7, 2),
    aofEnabled: infoField(info, 'aof_enabled') === '1',
    appendfsync,
    role: infoField(info, 'role') ?? 'unknown',
    connectedReplicas: Number(infoField(info, 'connected_slaves') ?? '0'),
  };
}

export async function readCapabilities(conn: Redis): Promise<RedisCapabilities> {
  const info = await conn.info('server', 'persistence', 'replication');
  let appendfsync: string | null = null;
  try {
    const pair = await conn.config('GET', 'appendfsync');
    appendfsync = pair[1] ?? null;
  } catch {
    // CONFIG is often disabled or renamed by managed services: then only WAITAOF can prove fsync.
  }
  return parseCapabilities(info, appendfsync);
}

/** Why the server cannot confirm a disk write per message, or null when it can. */
function fsyncGap(c: RedisCapabilities): string | null {
  if (!c.aofEnabled)
    return `Redis ${c.version} runs without an append-only file (set appendonly yes${c.waitaof ? '' : ' and appendfsync always'})`;
  if (c.waitaof) return null;
  if (c.appendfsync === 'always') return null;
  if (c.appendfsync === null)
    return `Redis ${c.version} has no WAITAOF (7.2+) and CONFIG GET appendfsync is not allowed, so appendfsync always cannot be checked`;
  return `Redis ${c.version} has no WAITAOF (7.2+) and runs appendfsync ${c.appendfsync} (set appendfsync always)`;
}

/**
 * The plan for a setting on a server, or a GatewayError('config') saying in one line why the
 * server cannot give the level asked for. Pure: start-up and reconnects both come here.
 */
export function planDurability(opts: DurabilityOptions, c: RedisCapabilities): DurabilityPlan {
  const base = { timeoutMs: opts.timeoutMs };
  const fsync = c.waitaof && c.aofEnabled ? ('waitaof' as const) : ('appendfsync-always' as const);
  const gap = fsyncGap(c);
  if (c.role !== 'master') {
    throw new GatewayError(
      'config',
      `redis.durability: the server is a ${c.role}, not a primary (point redis.url or redis.sentinels at the primary)`,
    );
  }
  switch (opts.setting) {
    case 'none':
      return { ...base, level: 'none', fsync: null, replicas: 0 };
    case 'fsync':
      if (gap) throw new GatewayError('config', `redis.durability fsync: ${gap}`);
      return { ...base, level: 'fsync', fsync, replicas: 0 };
    case 'replica':
      if (gap) throw new GatewayError('config', `redis.durability replica: ${gap}`);
      return { ...base, level: 'replica', fsync, replicas: opts.replicas };
    case 'auto':
      if (gap) return { ...base, level: 'none', fsync: null, replicas: 0 };
      if (c.connectedReplicas >= opts.replicas) return { ...base, level: 'replica', fsync, replicas: opts.replicas };
      return { ...base, level: 'fsync', fsync, replicas: 0 };
  }
}

/** One line for the start-up log: the level and what a 250 then survives. */
export function describePlan(p: DurabilityPlan): string {
  const how = p.fsync === 'waitaof' ? 'WAITAOF' : 'appendfsync always';
  switch (p.level) {
    case 'none':
      return '250 once the message is in Redis memory: a Redis crash or power loss can lose up to a second of accepted mail (appendfsync everysec), or all of it without persistence';
    case 'fsync':
      return `250 once the message is on the Redis primary's disk (${how}): survives a Redis crash or power loss, not the loss of its disk`;
    case 'replica':
      return `250 once the message is on the primary's disk (${how}) and in ${p.replicas} replica(s) (WAIT, ${p.timeoutMs} ms, else 451): survives the loss of the primary host, with failover`;
  }
}

/**
 * After a message's writes on `conn` (the last of them on this connection): resolves once the
 * plan's level holds for them, else throws store_unavailable (the client gets 451, never 250).
 * WAIT and WAITAOF wait for this connection's last write, which follows the message's writes
 * made before it on other connections, so one call covers them all.
 */
export async function confirmDurable(conn: Redis, p: DurabilityPlan): Promise<void> {
  if (p.fsync === 'waitaof') {
    const [local] = (await conn.call('WAITAOF', 1, 0, p.timeoutMs)) as [number, number];
    if (local < 1)
      throw new GatewayError('store_unavailable', `Redis did not confirm the write on disk within ${p.timeoutMs} ms`);
  }
  if (p.replicas > 0) {
    const acked = await conn.wait(p.replicas, p.timeoutMs);
    if (acked < p.replicas)
      throw new GatewayError(
        'store_unavailable',
        `${acked} of ${p.replicas} replica(s) confirmed the write within ${p.timeoutMs} ms`,
      );
  }
}

/**
 * The plan in force for one door connection: checked when the connection becomes ready, and again
 * each time it reconnects (after a failover the new primary may give more or less).
 */
export class DurabilityGuard {
  private current: DurabilityPlan | GatewayError | null = null;

  constructor(
    private readonly conn: Redis,
    private readonly opts: DurabilityOptions,
    private readonly onPlan: (plan: DurabilityPlan | GatewayError) => void = () => undefined,
  ) {
    conn.on('ready', () => void this.check());
  }

  /** The plan, or why the level asked for cannot be given; null while not yet checked. */
  plan(): DurabilityPlan | GatewayError | null {
    return this.current;
  }

  /** Read the server's capabilities and settle the plan; a Redis error leaves the plan as it was. */
  async check(): Promise<DurabilityPlan | GatewayError | null> {
    let next: DurabilityPlan | GatewayError;
    try {
      next = planDurability(this.opts, await readCapabilities(this.conn));
    } catch (err) {
      if (!(err instanceof GatewayError)) return this.current;
      next = err;
    }
    const before = this.current;
    this.current = next;
    const same =
      before !== null &&
      !(before instanceof Error) &&
      !(next instanceof Error) &&
      before.level === next.level &&
      before.fsync === next.fsync;
    if (!same) this.onPlan(next);
    return next;
  }

  /** Whether a message already stored needs a write of its own before its WAIT (see confirm). */
  waits(): boolean {
    const p = this.current;
    return p !== null && !(p instanceof Error) && (p.fsync === 'waitaof' || p.replicas > 0);
  }

  /** After the message's last write on `conn`: resolves once the level holds, else throws store_unavailable. */
  async confirm(conn: Redis): Promise<void> {
    const p = this.current ?? (await this.check());
    if (p === null) throw new GatewayError('store_unavailable', 'durability of the Redis server not yet known');
    if (p instanceof GatewayError) throw new GatewayError('store_unavailable', p.message);
    await confirmDurable(conn, p);
  }
}

export function durabilityOptions(redis: {
  durability: DurabilitySetting;
  replicas: number;
  replicaTimeoutMs: number;
}): DurabilityOptions {
  return { setting: redis.durability, replicas: redis.replicas, timeoutMs: redis.replicaTimeoutMs };
}
