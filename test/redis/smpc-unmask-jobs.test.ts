/**
 * Unmask jobs on Redis: the job encoding, a job's partial against `applyMasks` over its range,
 * and the distributed expander with real `confide smpc worker` processes — two workers, and a
 * worker SIGKILLed while it holds a job (another claims it; the sum is still exact).
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, type RedisHandle } from '../../src/redis/index.ts';
import { decodeJob, encodeJob, redisMaskExpander, runJob } from '../../src/smpc/cluster/unmask-jobs.ts';
import { applyMasks } from '../../src/smpc/primitives/masking.ts';
import { randomBytes } from '../../src/smpc/primitives/random.ts';
import { createRing } from '../../src/smpc/primitives/ring.ts';
import type { ResolvedMask } from '../../src/smpc/protocol/unmask.ts';
import { type RedisInstance, startRedis } from '../fixtures/redis.ts';
import { confide, killAll } from './smpc-cluster-helpers.ts';

function masks(n: number): ResolvedMask[] {
  return Array.from({ length: n }, (_, i) => ({ key: randomBytes(32), sign: i % 3 === 0 ? 1 : -1 }));
}

function randomTarget(length: number): Uint32Array {
  const t = new Uint32Array(length);
  for (let i = 0; i < length; i += 16_384) crypto.getRandomValues(t.subarray(i, i + 16_384));
  return t;
}

async function local(target: Uint32Array, m: readonly ResolvedMask[]): Promise<Uint32Array> {
  return applyMasks(target.slice(), m, { ring: createRing(32), algorithm: 'aes-256-ctr' });
}

describe('unmask jobs', () => {
  it('encodes a job losslessly and refuses bytes that are not one', () => {
    const job = { ringBits: 20, algorithm: 'chacha20' as const, start: 7, length: 100, masks: masks(3) };
    expect(decodeJob(encodeJob(job))).toEqual(job);
    const bytes = encodeJob(job);
    expect(() => decodeJob(bytes.subarray(0, bytes.length - 1))).toThrow(
      expect.objectContaining({ code: 'SMPC_MALFORMED_MESSAGE' }),
    );
  });

  it("computes a range's partial exactly as applyMasks does over that range", async () => {
    const m = masks(5);
    const whole = await local(new Uint32Array(1000), m);
    const partial = await runJob({
      ringBits: 32,
      algorithm: 'aes-256-ctr',
      start: 300,
      length: 200,
      masks: m,
    });
    expect(partial).toEqual(whole.subarray(300, 500));
  });
});

describe('unmask jobs on Redis workers', () => {
  let redis: RedisInstance;
  let handle: RedisHandle;
  beforeAll(async () => {
    redis = await startRedis();
    handle = await connectRedis({ url: redis.url });
  });
  afterEach(async () => {
    await killAll();
  });
  afterAll(async () => {
    await handle.close();
    await redis.stop();
  });

  it('sums the partials of two workers exactly', async () => {
    const workers = [0, 1].map(() => confide('smpc', 'worker', '--redis', redis.url));
    await Promise.all(workers.map((w) => w.waitFor(/worker ready/)));
    const m = masks(6);
    const target = randomTarget(10_001);
    const expected = await local(target, m);
    await redisMaskExpander(handle, { jobs: 7, timeoutMs: 30_000 })(target, m, {
      ringBits: 32,
      algorithm: 'aes-256-ctr',
    });
    expect(target).toEqual(expected);
    await Promise.all(workers.map((w) => w.kill('SIGTERM')));
    const done = workers.map((w) => Number(/after (\d+) job/.exec(w.stderr)?.[1] ?? -1));
    expect(done.reduce((a, b) => a + b, 0)).toBe(7);
  });

  it('retries the job of a worker SIGKILLed mid-job on another worker, exactly', async () => {
    const doomed = confide('smpc', 'worker', '--redis', redis.url, '--claim-ms', '300');
    await doomed.waitFor(/worker ready/);
    // Two large jobs: each takes long enough to kill the worker while it holds one.
    const m = masks(24);
    const target = randomTarget(1 << 20);
    const expected = await local(target, m);
    const running = redisMaskExpander(handle, { jobs: 2, timeoutMs: 120_000 })(target, m, {
      ringBits: 32,
      algorithm: 'aes-256-ctr',
    });
    const probe = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    let held = 0;
    try {
      for (let i = 0; i < 500 && held === 0; i++) {
        const summary = (await probe.xpending('confide:smpc:jobs', 'workers').catch(() => [0])) as [number];
        held = Number(summary[0]);
        if (held === 0) await new Promise((r) => setTimeout(r, 10));
      }
      expect(held).toBeGreaterThan(0);
      await doomed.kill('SIGKILL');
      // Its job stays pending under the dead consumer until a live worker claims it.
      const pending = (await probe.xpending('confide:smpc:jobs', 'workers')) as [number];
      expect(Number(pending[0])).toBeGreaterThan(0);
    } finally {
      probe.disconnect();
    }
    const rescuer = confide('smpc', 'worker', '--redis', redis.url, '--claim-ms', '300');
    await running;
    expect(target).toEqual(expected);
    await rescuer.kill('SIGTERM');
    expect(Number(/after (\d+) job/.exec(rescuer.stderr)?.[1])).toBeGreaterThanOrEqual(1);
  });
});
