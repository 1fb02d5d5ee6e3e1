import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, type RedisHandle } from '../../src/redis/index.ts';
import { redisUnmaskRunner } from '../../src/smpc/cluster/unmask-jobs.ts';
import { publicKeyFromSecret } from '../../src/smpc/primitives/ka.ts';
import { randomBytes } from '../../src/smpc/primitives/random.ts';
import {
  combineUnmaskPartials,
  decodeUnmaskJob,
  encodeUnmaskPartial,
  runUnmaskJob,
  type UnmaskJob,
} from '../../src/smpc/protocol/unmask-job.ts';
import { type RedisInstance, startRedis } from '../fixtures/redis.ts';
import { confide, killAll } from './smpc-cluster-helpers.ts';

/** An unmask job of `selfKeys` self masks and `dropped` dropped clients with `peers` survivors each. */
function job(length: number, selfKeys: number, dropped: number, peers: number): UnmaskJob {
  return {
    ringBits: 32,
    prg: 'aes-256-ctr',
    sessionId: randomBytes(32),
    maskedLength: length,
    vectorLength: length - 2,
    start: 0,
    length,
    selfMaskKeys: Array.from({ length: selfKeys }, () => randomBytes(32)),
    pairwise: Array.from({ length: dropped }, () => ({
      secretKey: randomBytes(32),
      peers: Array.from({ length: peers }, (_, i) => ({
        publicKey: publicKeyFromSecret(randomBytes(32)),
        sign: i % 2 === 0 ? (1 as const) : (-1 as const),
      })),
    })),
  };
}

/** The masked sum with the job's masks removed, on this thread (the reference). */
async function reference(total: Uint32Array, j: UnmaskJob): Promise<Uint32Array> {
  return combineUnmaskPartials(total.slice(), [await runUnmaskJob(j)], j.ringBits);
}

function randomTarget(length: number): Uint32Array {
  const t = new Uint32Array(length);
  for (let i = 0; i < length; i += 16_384) crypto.getRandomValues(t.subarray(i, i + 16_384));
  return t;
}

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

  it('fails with SMPC_UNMASK_FAILED when no worker takes the jobs, and takes its jobs back', async () => {
    const j = job(100, 2, 1, 2);
    await expect(redisUnmaskRunner(handle, { jobs: 3, timeoutMs: 300 })(j)).rejects.toMatchObject({
      code: 'SMPC_UNMASK_FAILED',
    });
    expect(await handle.client.xlen('confide:smpc:jobs')).toBe(0);
  });

  it('sums the partials of two workers exactly', async () => {
    const workers = [0, 1].map(() => confide('smpc', 'worker', '--redis', redis.url));
    await Promise.all(workers.map((w) => w.waitFor(/worker ready/)));
    const j = job(10_001, 6, 2, 3);
    const total = randomTarget(j.length);
    const expected = await reference(total, j);
    const partials = await redisUnmaskRunner(handle, { jobs: 7, timeoutMs: 30_000 })(j);
    expect(partials).toHaveLength(7);
    expect(combineUnmaskPartials(total, partials, 32)).toEqual(expected);
    await Promise.all(workers.map((w) => w.kill('SIGTERM')));
    const done = workers.map((w) => Number(/after (\d+) job/.exec(w.stderr)?.[1] ?? -1));
    expect(done.reduce((a, b) => a + b, 0)).toBe(7);
  });

  it('retries the job of a worker SIGKILLed mid-job on another worker, exactly', async () => {
    const doomed = confide('smpc', 'worker', '--redis', redis.url, '--claim-ms', '300');
    await doomed.waitFor(/worker ready/);
    // Two large jobs: each takes long enough to kill the worker while it holds one.
    const j = job(1 << 20, 20, 1, 4);
    const total = randomTarget(j.length);
    const expected = await reference(total, j);
    const running = redisUnmaskRunner(handle, { jobs: 2, timeoutMs: 120_000 })(j);
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
    expect(combineUnmaskPartials(total, await running, 32)).toEqual(expected);
    await rescuer.kill('SIGTERM');
    expect(Number(/after (\d+) job/.exec(rescuer.stderr)?.[1])).toBeGreaterThanOrEqual(1);
  });

  /**
   * A Redis writer without the cluster key: as soon as the jobs are queued, it writes a partial of
   * zeros (the right range, the wrong values) for every part, before any worker runs.
   */
  async function forgeAll(): Promise<number> {
    const forger = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      let entries: [Buffer, Buffer[]][] = [];
      for (let i = 0; i < 500 && entries.length === 0; i++) {
        entries = (await forger.xrangeBuffer('confide:smpc:jobs', '-', '+')) as [Buffer, Buffer[]][];
        if (entries.length === 0) await new Promise((r) => setTimeout(r, 10));
      }
      for (const [, flat] of entries) {
        const fields = new Map<string, Buffer>();
        for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), flat[i + 1] as Buffer);
        const part = decodeUnmaskJob(new Uint8Array(fields.get('d') as Buffer));
        const zeros = encodeUnmaskPartial({ start: part.start, values: new Uint32Array(part.length) });
        await forger.xadd(
          `confide:smpc:results:${fields.get('r')}`,
          '*',
          'n',
          String(fields.get('n')),
          'd',
          Buffer.from(zeros),
          'm',
          Buffer.alloc(32, 7),
        );
      }
      return entries.length;
    } finally {
      forger.disconnect();
    }
  }

  function keyFile(): { path: string; key: Uint8Array } {
    const key = new Uint8Array(randomBytes(48));
    const path = join(mkdtempSync(join(tmpdir(), 'confide-cluster-key-')), 'cluster.key');
    writeFileSync(path, `${Buffer.from(key).toString('base64')}\n`, { mode: 0o600 });
    return { path, key: new Uint8Array(Buffer.from(Buffer.from(key).toString('base64'))) };
  }

  it('without a cluster key, trusts Redis writers: a forged partial makes a wrong sum (the trust boundary)', async () => {
    const j = job(1000, 3, 1, 2);
    const total = randomTarget(j.length);
    const expected = await reference(total, j);
    await handle.client.xtrim('confide:smpc:jobs', 'MAXLEN', 0);
    const running = redisUnmaskRunner(handle, { jobs: 2, timeoutMs: 30_000 })(j);
    expect(await forgeAll()).toBe(2);
    const partials = await running;
    expect(combineUnmaskPartials(total, partials, 32)).not.toEqual(expected);
  });

  it('with --cluster-key-file, ignores forged partials and sums the genuine ones of a keyed worker exactly', async () => {
    const { path, key } = keyFile();
    const j = job(5000, 4, 2, 3);
    const total = randomTarget(j.length);
    const expected = await reference(total, j);
    await handle.client.xtrim('confide:smpc:jobs', 'MAXLEN', 0);
    const running = redisUnmaskRunner(handle, { jobs: 3, timeoutMs: 60_000, clusterKey: key })(j);
    expect(await forgeAll()).toBe(3);
    const w = confide('smpc', 'worker', '--redis', redis.url, '--cluster-key-file', path);
    await w.waitFor(/worker ready/);
    const partials = await running;
    expect(partials).toHaveLength(3);
    expect(combineUnmaskPartials(total, partials, 32)).toEqual(expected);
  });

  it('fails with SMPC_UNMASK_FAILED, naming the cluster key, when the workers lack it', async () => {
    const { key } = keyFile();
    const w = confide('smpc', 'worker', '--redis', redis.url);
    await w.waitFor(/worker ready/);
    const j = job(200, 1, 0, 0);
    await expect(
      redisUnmaskRunner(handle, { jobs: 1, timeoutMs: 1500, clusterKey: key })(j),
    ).rejects.toMatchObject({
      code: 'SMPC_UNMASK_FAILED',
      message: expect.stringMatching(/cluster-key-file/),
    });
  });

  it('refuses a cluster key file that is too short, with a usage hint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-cluster-key-'));
    writeFileSync(join(dir, 'short.key'), 'too short\n');
    const w = confide('smpc', 'worker', '--redis', redis.url, '--cluster-key-file', join(dir, 'short.key'));
    expect(await w.exited).toBe(1);
    expect(w.stderr).toMatch(/INVALID_ARGUMENT.*openssl rand/);
    expect(w.stderr).not.toMatch(/too short/);
  });
});
