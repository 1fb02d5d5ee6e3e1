/**
 * The shared Redis connection (`src/redis`): URL and option checks, ACL users and passwords
 * against a real redis-server, the coded errors when Redis is down, and recovery without a new
 * client once it is back.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, resolveRedisOptions } from '../../src/redis/index.ts';
import { type RedisInstance, startRedis } from '../fixtures/redis.ts';

describe('resolveRedisOptions', () => {
  it('parses redis:// and rediss:// URLs with credentials, database and defaults', () => {
    const plain = resolveRedisOptions({ url: 'redis://127.0.0.1:6390/2' });
    expect(plain).toMatchObject({ host: '127.0.0.1', port: 6390, db: 2, tls: false, prefix: 'confide:' });
    expect(plain.username).toBeUndefined();
    const tls = resolveRedisOptions({ url: 'rediss://alice:p%40ss@redis.example:6380', prefix: 'tenant-a' });
    expect(tls).toMatchObject({ host: 'redis.example', port: 6380, tls: true, username: 'alice' });
    expect(tls.password).toBe('p@ss');
    expect(tls.prefix).toBe('tenant-a:');
    expect(tls.endpoint).toBe('redis.example:6380');
    expect(resolveRedisOptions({ url: 'redis://h', password: 'x' }).port).toBe(6379);
  });

  it('refuses bad schemes, prefixes, TTLs and a CA file without TLS, with REDIS_OPTIONS_INVALID', () => {
    const bad = [
      { url: 'http://127.0.0.1:6379' },
      { url: 'not a url' },
      { url: '' },
      { url: 'redis://h', prefix: 'has space' },
      { url: 'redis://h', prefix: '' },
      { url: 'redis://h', keySetTtlSeconds: 0 },
      { url: 'redis://h', jobTtlSeconds: 1.5 },
      { url: 'redis://h', tlsCaFile: '/etc/hostname' },
      { url: 'rediss://h', tlsCaFile: '/no/such/ca.pem' },
      { url: 'redis://h/notadb' },
    ];
    for (const options of bad) {
      expect(() => resolveRedisOptions(options), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: 'REDIS_OPTIONS_INVALID' }),
      );
    }
  });

  it('never puts the password in a message', () => {
    try {
      resolveRedisOptions({ url: 'redis://u:hunter2@h', prefix: 'bad prefix' });
      expect.unreachable();
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('hunter2');
    }
  });
});

describe('connectRedis against a real redis-server', () => {
  let redis: RedisInstance;
  beforeAll(async () => {
    redis = await startRedis([
      '--requirepass',
      'default-secret',
      '--user',
      'confide',
      'on',
      '>user-secret',
      '~confide:*',
      '&*',
      '+@all',
    ]);
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('authenticates with an ACL user and password, and refuses wrong ones with REDIS_AUTH_FAILED', async () => {
    const ok = await connectRedis({ url: redis.url, username: 'confide', password: 'user-secret' });
    try {
      await ok.run((c) => c.set(ok.key('probe'), '1'));
      expect(await ok.run((c) => c.get('confide:probe'))).toBe('1');
      // The ACL allows this user confide:* only.
      await expect(ok.run((c) => c.set('other:probe', '1'))).rejects.toMatchObject({
        code: 'REDIS_AUTH_FAILED',
      });
    } finally {
      await ok.close();
    }
    const viaUrl = await connectRedis({ url: `redis://:default-secret@127.0.0.1:${redis.port}` });
    await viaUrl.close();
    await expect(
      connectRedis({ url: redis.url, username: 'confide', password: 'wrong' }),
    ).rejects.toMatchObject({
      code: 'REDIS_AUTH_FAILED',
    });
    const error = await connectRedis({ url: redis.url }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'REDIS_AUTH_FAILED' });
    expect(String((error as Error).message)).not.toContain('secret');
  });

  it('answers REDIS_UNAVAILABLE while Redis is down, and works again once it is back', async () => {
    const handle = await connectRedis({ url: redis.url, password: 'default-secret', commandTimeoutMs: 1000 });
    try {
      await redis.kill();
      await expect(handle.run((c) => c.get(handle.key('x')))).rejects.toMatchObject({
        code: 'REDIS_UNAVAILABLE',
      });
      await redis.restart();
      let value: string | null | undefined;
      for (let i = 0; i < 50 && value === undefined; i++) {
        value = await handle.run((c) => c.get(handle.key('x'))).catch(() => undefined);
        if (value === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      expect(value).toBeNull();
    } finally {
      await handle.close();
    }
  });

  it('fails to connect to a port nobody listens on with REDIS_UNAVAILABLE', async () => {
    await expect(connectRedis({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 500 })).rejects.toMatchObject({
      code: 'REDIS_UNAVAILABLE',
    });
  });
});

describe('connectRedis over TLS (rediss://) against a real redis-server', () => {
  let redis: RedisInstance;
  let dir: string;
  let tlsPort: number;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'confide-redis-tls-'));
    // A throwaway CA and a server certificate for localhost, made by the openssl CLI.
    const openssl = (...args: string[]) => {
      const run = spawnSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      if (run.status !== 0) throw new Error(`openssl ${args[0]}: ${run.stderr}`);
    };
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=confide test CA',
    );
    openssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      '-subj',
      '/CN=localhost',
    );
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    openssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      '1',
      '-extfile',
      'san.ext',
    );
    tlsPort = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const address = srv.address();
        const port = typeof address === 'object' && address ? address.port : 0;
        srv.close(() => resolve(port));
      });
    });
    redis = await startRedis([
      '--tls-port',
      String(tlsPort),
      '--tls-cert-file',
      join(dir, 'server.pem'),
      '--tls-key-file',
      join(dir, 'server.key'),
      '--tls-ca-cert-file',
      join(dir, 'ca.pem'),
      '--tls-auth-clients',
      'no',
    ]);
  });
  afterAll(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('connects with the CA file and refuses a server certificate it cannot verify', async () => {
    const ok = await connectRedis({ url: `rediss://localhost:${tlsPort}`, tlsCaFile: join(dir, 'ca.pem') });
    try {
      await ok.run((c) => c.set(ok.key('tls'), 'yes'));
      expect(await ok.run((c) => c.get(ok.key('tls')))).toBe('yes');
    } finally {
      await ok.close();
    }
    // Without the CA the certificate does not verify: no connection, a coded error.
    await expect(
      connectRedis({ url: `rediss://localhost:${tlsPort}`, commandTimeoutMs: 2000 }),
    ).rejects.toMatchObject({ code: 'REDIS_UNAVAILABLE' });
  });
});
