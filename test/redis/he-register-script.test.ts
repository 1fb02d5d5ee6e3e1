/**
 * The registration Lua script on a real redis-server: the byte quota holds for a re-registration
 * by the owner with other (larger) keys, not only for a new key set; leased key sets are passed
 * over by eviction, and a registration that only a leased one could make room for is refused
 * (`busy`) with nothing changed.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { luaScript } from '../../src/server/redis/lua.ts';
import { keySetKeys, REGISTER_SCRIPT } from '../../src/server/redis/scripts.ts';
import { type RedisInstance, startRedis } from '../fixtures/redis.ts';

let redis: RedisInstance;
let client: Redis;
const register = luaScript(REGISTER_SCRIPT);
const PREFIX = 'quota:';
const MAX_BYTES = 1000;

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});
afterAll(async () => {
  client.disconnect();
  await redis.stop();
});

function run(
  id: string,
  owner: string,
  digest: string,
  bytes: number,
  now: number,
  prefix = PREFIX,
  maxKeySets = 100,
): Promise<unknown> {
  return register.run(client, keySetKeys(prefix, id, owner), [
    id,
    owner,
    digest,
    bytes,
    now,
    maxKeySets,
    100, // max per principal
    MAX_BYTES,
    3600,
    JSON.stringify({ models: {}, slots: 1 }),
    Buffer.from('keys'),
    prefix,
  ]);
}

describe('REGISTER_SCRIPT', () => {
  it('keeps the byte total within maxKeySetBytes when an owner replaces its keys with larger ones', async () => {
    expect(await run('a', 'alice', 'd1', 300, 1)).toBe('created');
    expect(await run('b', 'alice', 'd1', 300, 2)).toBe('created');
    expect(await run('c', 'mallory', 'd1', 300, 3)).toBe('created');
    // Mallory re-registers her key set with keys estimated at 900 bytes: others must make room.
    expect(await run('c', 'mallory', 'd2', 900, 4)).toBe('replaced');
    const total = Number(await client.get(`${PREFIX}he:total`));
    expect(total).toBeLessThanOrEqual(MAX_BYTES);
    // Her own key set is the one just written and stays.
    expect(await client.hget(`${PREFIX}he:ks:c`, 'digest')).toBe('d2');
    expect(await client.zscore(`${PREFIX}he:lru`, 'c')).toBe('4');
  });

  it('passes leased key sets over, refuses with busy (changing nothing) when only leased ones remain, and evicts once leases lapse', async () => {
    const P = 'lease:';
    expect(await run('x', 'alice', 'd', 100, 1, P, 2)).toBe('created');
    expect(await run('y', 'alice', 'd', 100, 2, P, 2)).toBe('created');
    // x, the least recently used, is in use on some replica (a lease 60 s ahead on Redis's clock).
    const [seconds] = (await client.time()) as [number, number];
    await client.zadd(`${P}he:use:x`, seconds * 1000 + 60_000, 'request-1');
    expect(await run('z', 'bob', 'd', 100, 3, P, 2)).toBe('created');
    expect(await client.exists(`${P}he:ks:x:keys`)).toBe(1);
    expect(await client.exists(`${P}he:ks:y:keys`)).toBe(0);
    // Now z is leased too: no victim left, and nothing changes.
    await client.zadd(`${P}he:use:z`, seconds * 1000 + 60_000, 'request-2');
    const before = await Promise.all([client.zrange(`${P}he:lru`, 0, -1), client.get(`${P}he:total`)]);
    expect(await run('w', 'carol', 'd', 100, 4, P, 2)).toBe('busy');
    expect(await Promise.all([client.zrange(`${P}he:lru`, 0, -1), client.get(`${P}he:total`)])).toEqual(
      before,
    );
    expect(await client.exists(`${P}he:ks:w`)).toBe(0);
    // A lapsed lease (its expiry in the past) no longer protects x.
    await client.zadd(`${P}he:use:x`, 1, 'request-1');
    expect(await run('w', 'carol', 'd', 100, 5, P, 2)).toBe('created');
    expect(await client.exists(`${P}he:ks:x`)).toBe(0);
    expect(await client.zrange(`${P}he:lru`, 0, -1)).toEqual(['z', 'w']);
    expect(await client.get(`${P}he:total`)).toBe('200');
  });
});
