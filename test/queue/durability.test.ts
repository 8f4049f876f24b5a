// redis.durability: what the server can give is read at start, an explicit level it cannot give
// stops start-up, and a 250 waits for the disk (appendfsync always, or WAITAOF) and the replicas.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import {
  DurabilityGuard,
  confirmDurable,
  parseCapabilities,
  planDurability,
  readCapabilities,
  type RedisCapabilities,
} from '../../src/queue/durability.js';
import { startSirportlyDouble } from '../support/sirportly-double.js';
import { RedisServer } from '../support/redis-server.js';
import { runCli } from '../ops/cli.js';
import { sendRaw, startHarness, waitFor, type Double } from '../support/harness.js';

const opts = (setting: 'auto' | 'none' | 'fsync' | 'replica', replicas = 1) => ({ setting, replicas, timeoutMs: 500 });

function caps(over: Partial<RedisCapabilities>): RedisCapabilities {
  return {
    version: '7.0.15',
    waitaof: false,
    aofEnabled: true,
    appendfsync: 'always',
    role: 'master',
    connectedReplicas: 0,
    ...over,
  };
}

describe('level from the server', () => {
  it('reads version, AOF, role and replicas from INFO', () => {
    const info =
      '# Server\r\nredis_version:7.2.4\r\n# Persistence\r\naof_enabled:1\r\n# Replication\r\nrole:master\r\nconnected_slaves:2\r\n';
    expect(parseCapabilities(info, 'everysec')).toEqual({
      version: '7.2.4',
      waitaof: true,
      aofEnabled: true,
      appendfsync: 'everysec',
      role: 'master',
      connectedReplicas: 2,
    });
    expect(parseCapabilities(info.replace('7.2.4', '7.0.15'), null).waitaof).toBe(false);
    expect(parseCapabilities(info.replace('7.2.4', '10.0.0'), null).waitaof).toBe(true);
  });

  it('auto takes the strongest level given', () => {
    expect(planDurability(opts('auto'), caps({ appendfsync: 'everysec' })).level).toBe('none');
    expect(planDurability(opts('auto'), caps({ aofEnabled: false, waitaof: true })).level).toBe('none');
    expect(planDurability(opts('auto'), caps({}))).toMatchObject({
      level: 'fsync',
      fsync: 'appendfsync-always',
      replicas: 0,
    });
    expect(
      planDurability(opts('auto'), caps({ version: '7.2.0', waitaof: true, appendfsync: 'everysec' })),
    ).toMatchObject({ level: 'fsync', fsync: 'waitaof' });
    expect(planDurability(opts('auto', 2), caps({ connectedReplicas: 1 })).level).toBe('fsync');
    expect(planDurability(opts('auto', 2), caps({ connectedReplicas: 2 }))).toMatchObject({
      level: 'replica',
      replicas: 2,
    });
  });

  it('an explicit level the server cannot give is one line saying why', () => {
    const everysec = () => planDurability(opts('fsync'), caps({ appendfsync: 'everysec' }));
    expect(everysec).toThrow(GatewayError);
    expect(everysec).toThrow(
      /^redis\.durability fsync: Redis 7\.0\.15 has no WAITAOF \(7\.2\+\) and runs appendfsync everysec \(set appendfsync always\)$/,
    );
    expect(() => planDurability(opts('replica'), caps({ aofEnabled: false }))).toThrow(/appendonly yes/);
    expect(() => planDurability(opts('fsync'), caps({ appendfsync: null }))).toThrow(
      /CONFIG GET appendfsync is not allowed/,
    );
    expect(() => planDurability(opts('none'), caps({ role: 'slave' }))).toThrow(/is a slave, not a primary/);
    // A replica level needs no replica connected yet: until one is, the door answers 451.
    expect(planDurability(opts('replica'), caps({ connectedReplicas: 0 }))).toMatchObject({
      level: 'replica',
      replicas: 1,
    });
  });
});

describe('against redis-server', () => {
  it('appendonly yes + appendfsync always: fsync, confirmed by the server itself', async () => {
    const server = await RedisServer.start('aof');
    const conn = new Redis(server.url);
    try {
      const c = await readCapabilities(conn);
      expect(c).toMatchObject({ aofEnabled: true, appendfsync: 'always', role: 'master' });
      expect(planDurability(opts('auto'), c)).toMatchObject({
        level: 'fsync',
        fsync: c.waitaof ? 'waitaof' : 'appendfsync-always',
      });
    } finally {
      conn.disconnect();
      await server.destroy();
    }
  });

  it('appendfsync everysec: auto is none; serve with durability fsync stops with exit 78 and one line', async () => {
    const server = await RedisServer.start('aof', ['--appendfsync', 'everysec']);
    const conn = new Redis(server.url);
    try {
      const c = await readCapabilities(conn);
      expect(c.appendfsync).toBe('everysec');
      expect(planDurability(opts('auto'), c).level).toBe(c.waitaof ? 'fsync' : 'none');
      const r = await runCli(['serve', '--role', 'smtp'], {
        REDIS_URL: server.url,
        REDIS_DURABILITY: 'fsync',
        SMTP_PORT: '0',
        HTTP_PORT: '0',
        SMTP_HOST: '127.0.0.1',
        HTTP_HOST: '127.0.0.1',
        LOG_LEVEL: 'silent',
      });
      expect(r.code).toBe(78);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(
        /^mailgate: redis\.durability fsync: Redis \S+ has no WAITAOF \(7\.2\+\) and runs appendfsync everysec/,
      );
    } finally {
      conn.disconnect();
      await server.destroy();
    }
  }, 30_000);
});

/**
 * A server that speaks just enough RESP to stand in for Redis 7.2 (none is packaged for this
 * system): INFO, CONFIG GET, WAITAOF (answered from `aofAnswer`) and WAIT; it records the commands.
 */
async function fakeRedis72(
  aofAnswer: () => [number, number],
): Promise<{ server: Server; port: number; commands: string[][] }> {
  const commands: string[][] = [];
  const bulk = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  const server = createServer((sock) => {
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (;;) {
        const m = /^\*(\d+)\r\n/.exec(buf);
        if (!m) return;
        let at = m[0].length;
        const args: string[] = [];
        for (let i = 0; i < Number(m[1]); i++) {
          const h = /^\$(\d+)\r\n/.exec(buf.slice(at));
          if (!h) return;
          const len = Number(h[1]);
          if (buf.length < at + h[0].length + len + 2) return;
          args.push(buf.slice(at + h[0].length, at + h[0].length + len));
          at += h[0].length + len + 2;
        }
        buf = buf.slice(at);
        commands.push(args);
        const cmd = args[0]!.toUpperCase();
        if (cmd === 'INFO')
          sock.write(
            bulk(
              '# Server\r\nredis_version:7.2.4\r\n# Persistence\r\nloading:0\r\naof_enabled:1\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\n',
            ),
          );
        else if (cmd === 'CONFIG') sock.write(`*2\r\n${bulk('appendfsync')}${bulk('everysec')}`);
        else if (cmd === 'WAITAOF') {
          const [local, replicas] = aofAnswer();
          sock.write(`*2\r\n:${local}\r\n:${replicas}\r\n`);
        } else if (cmd === 'WAIT') sock.write(':0\r\n');
        else sock.write('+OK\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port, commands };
}

describe('WAITAOF (Redis 7.2+), against a stand-in server', () => {
  it('fsync on 7.2 with appendfsync everysec: WAITAOF 1 0 <timeout> after the writes; 0 local fsyncs is a 451 error', async () => {
    let answer: [number, number] = [1, 0];
    const fake = await fakeRedis72(() => answer);
    const conn = new Redis({ port: fake.port, host: '127.0.0.1', lazyConnect: true });
    try {
      await conn.connect();
      const guard = new DurabilityGuard(conn, opts('fsync'));
      const plan = await guard.check();
      expect(plan).toMatchObject({ level: 'fsync', fsync: 'waitaof', replicas: 0 });
      expect(guard.waits()).toBe(true);
      await guard.confirm(conn);
      expect(fake.commands.at(-1)).toEqual(['WAITAOF', '1', '0', '500']);
      answer = [0, 0];
      const err = await guard.confirm(conn).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).smtpReply.code).toBe(451);
      // replica: WAITAOF for the local disk, then WAIT for the replicas (none answer here).
      answer = [1, 0];
      const replica = await confirmDurable(conn, {
        level: 'replica',
        fsync: 'waitaof',
        replicas: 1,
        timeoutMs: 500,
      }).catch((e: unknown) => e);
      expect(fake.commands.slice(-2)).toEqual([
        ['WAITAOF', '1', '0', '500'],
        ['wait', '1', '500'],
      ]);
      expect((replica as GatewayError).kind).toBe('store_unavailable');
    } finally {
      conn.disconnect();
      fake.server.close();
    }
  });
});

describe('durability replica: a primary and a replica', () => {
  let primary: RedisServer;
  let replica: RedisServer;
  let double: Double;
  beforeAll(async () => {
    primary = await RedisServer.start('aof');
    replica = await RedisServer.start('none', ['--replicaof', '127.0.0.1', '0']);
    const conn = new Redis(replica.url);
    await conn.replicaof('127.0.0.1', primary.port);
    conn.disconnect();
    const p = new Redis(primary.url);
    await waitFor('the replica to connect', async () => /state=online/.test(await p.info('replication')), 20_000);
    p.disconnect();
    double = await startSirportlyDouble();
  }, 40_000);
  afterAll(async () => {
    await replica.destroy();
    await primary.destroy();
    await double.close();
  });

  it('auto is replica; a replica that does not answer turns 250 into 451, and the retry after it is back gets 250', async () => {
    const h = await startHarness(primary.url, double, { redis: { durability: 'auto', replicaTimeoutMs: 300 } });
    try {
      expect(h.logs.lines.find((l) => l.msg === 'redis durability')).toMatchObject({
        durability: 'replica',
        fsync: 'appendfsync-always',
        replicas: 1,
      });
      const msg = (tag: string) =>
        Buffer.from(
          `From: ann@example.net\r\nTo: support@example.com\r\nSubject: [GJ-060309] wait ${tag}\r\nMessage-ID: <${tag}@x>\r\n\r\nbody\r\n`,
        );
      const env = { from: 'ann@example.net', to: ['support@example.com'] };
      const first = await sendRaw(h.smtpPort, msg(randomBytes(4).toString('hex')), env);
      expect(first.code, JSON.stringify(h.logs.lines.filter((l) => Number(l.level) >= 40))).toBe(250);

      replica.pause();
      const tag = randomBytes(4).toString('hex');
      const r = await sendRaw(h.smtpPort, msg(tag), env);
      expect(r.code).toBe(451);
      expect(h.logs.lines.some((l) => typeof l.err === 'string' && /0 of 1 replica\(s\) confirmed/.test(l.err))).toBe(
        true,
      );
      replica.resume();
      // Stored before its wait timed out: the retry is a duplicate that now waits for the replica.
      const again = await sendRaw(h.smtpPort, msg(tag), env);
      expect(again.code).toBe(250);
      expect(again.response).toMatch(/already queued/);
      const onReplica = new Redis(replica.url);
      expect(await onReplica.keys(`${h.config.redis.prefix}:raw:*`)).toHaveLength(2);
      onReplica.disconnect();
    } finally {
      replica.resume();
      await h.close();
    }
  }, 40_000);
});
