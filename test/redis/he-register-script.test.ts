/**
 * The registration Lua script on a real redis-server: the byte quota holds for a re-registration
 * by the owner with other (larger) keys, not only for a new key set.
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

function run(id: string, owner: string, digest: string, bytes: number, now: number): Promise<unknown> {
  return register.run(client, keySetKeys(PREFIX, id, owner), [
    id,
    owner,
    digest,
    bytes,
    now,
    100, // max key sets
    100, // max per principal
    MAX_BYTES,
    3600,
    JSON.stringify({ models: {}, slots: 1 }),
    Buffer.from('keys'),
    PREFIX,
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
});
