// The unmask runner's deadline holds while Redis is away: its blocking read used to wait for the
// reconnection forever (offline queue, no command timeout), so a Redis that died mid-unmask hung
// the round past `unmaskTimeoutMs` instead of failing it with SMPC_UNMASK_FAILED.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, type RedisHandle } from '../../src/redis/index.ts';
import { redisUnmaskRunner } from '../../src/smpc/cluster/unmask-jobs.ts';
import { randomBytes } from '../../src/smpc/primitives/random.ts';
import { type RedisInstance, startRedis } from '../fixtures/redis.ts';

describe('unmask jobs during a Redis outage', () => {
  let redis: RedisInstance;
  let handle: RedisHandle;
  beforeAll(async () => {
    redis = await startRedis();
    handle = await connectRedis({ url: redis.url });
  });
  afterAll(async () => {
    await handle.close().catch(() => {});
    await redis.stop();
  });

  it('fails within its timeout when Redis dies while it waits for partials', async () => {
    const running = redisUnmaskRunner(handle, { jobs: 1, timeoutMs: 1500 })({
      ringBits: 32,
      prg: 'aes-256-ctr',
      sessionId: randomBytes(32),
      maskedLength: 8,
      vectorLength: 6,
      start: 0,
      length: 8,
      selfMaskKeys: [randomBytes(32)],
      pairwise: [],
    });
    const outcome = running.then(
      () => 'resolved',
      (e: { code?: string }) => e.code,
    );
    await new Promise((r) => setTimeout(r, 300));
    await redis.kill();
    const started = Date.now();
    const winner = await Promise.race([outcome, new Promise((r) => setTimeout(() => r('hung'), 8000))]);
    expect(winner).toBe('SMPC_UNMASK_FAILED');
    expect(Date.now() - started).toBeLessThan(6000);
    await redis.restart();
  }, 30_000);
});
