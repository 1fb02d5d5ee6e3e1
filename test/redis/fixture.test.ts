/**
 * The Redis fixture every distributed suite uses: a real `redis-server` on a free loopback port
 * that answers, and that `restart()` replaces with an empty one (as a crash without persistence).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisInstance, startRedis } from '../fixtures/redis.js';

describe('test/fixtures/redis', () => {
  let redis: RedisInstance;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('serves a real redis-server on 127.0.0.1 and restarts it empty on the same port', async () => {
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      await client.set('confide:fixture', 'v');
      expect(await client.get('confide:fixture')).toBe('v');
      const info = await client.info('server');
      expect(info).toMatch(/redis_version:\d+\.\d+/);
      await redis.restart();
      await new Promise((r) => setTimeout(r, 200));
      expect(await client.get('confide:fixture')).toBeNull();
    } finally {
      client.disconnect();
    }
  });
});
