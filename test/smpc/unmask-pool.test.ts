// The unmask pool: real worker threads running the built worker (dist/smpc/unmask-worker.js).
// Rounds unmasked on 1 and 2 workers give exactly the single-thread sum (and the survivors' plain
// sum) for several cohort sizes, lengths that no split divides and dropouts; a worker that crashes
// mid-job, or a pool closed mid-job, aborts the round with SMPC_UNMASK_FAILED and no sum; the
// AggregationServer's `unmaskWorkers` does the same over loopback.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createRing } from '../../src/smpc/primitives/ring.ts';
import { runRound } from '../../src/smpc/protocol/round.ts';
import { splitUnmaskJob } from '../../src/smpc/protocol/unmask-job.ts';
import { UnmaskPool } from '../../src/smpc/transport/unmask-pool.ts';
import { expectCode, expectCodeAsync } from './helpers.ts';
import { makeParams, randomLanes } from './protocol-harness.ts';
import {
  connectClient,
  expectExact,
  frameType,
  registry,
  startServer,
  tamperingWebSocket,
} from './transport/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'confide-unmask-pool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function plain(
  inputs: ReadonlyMap<string, Uint32Array>,
  without: ReadonlySet<string>,
  m: number,
): Uint32Array {
  const ring = createRing(32);
  const out = new Uint32Array(m);
  for (const [id, x] of inputs) {
    if (without.has(id)) continue;
    for (let i = 0; i < m; i++) out[i] = ((out[i] as number) + (x[i] as number)) & ring.mask;
  }
  return out;
}

describe('UnmaskPool', () => {
  it('gives exactly the single-thread sum on 1 and 2 workers (several n, m, dropouts)', async () => {
    await using one = await UnmaskPool.create({ size: 1 });
    await using two = await UnmaskPool.create({ size: 2 });
    for (const [n, m, drops] of [
      [6, 1, []],
      [9, 1001, ['c2', 'c7']],
      [12, 65_537 + 5, ['c0', 'c4', 'c5']],
      [16, 333, []],
    ] as const) {
      const params = makeParams(n, { vectorLength: m, threshold: Math.floor(n / 2) + 1 });
      const inputs = new Map(params.clients.map((id) => [id, randomLanes(m)]));
      const dropAt = new Map(drops.map((id) => [id, 'masked-input'] as const));
      const expected = plain(inputs, new Set(drops), m);
      const single = await runRound({ params, inputs, dropAt });
      expect(single.result, `n=${n} m=${m} single`).toEqual(expected);
      for (const pool of [one, two]) {
        const out = await runRound({ params, inputs, dropAt, unmask: pool.run });
        expect(out.result, `n=${n} m=${m} on ${pool.size}`).toEqual(expected);
      }
    }
  }, 60_000);

  it('splits by ranges when there are few masks: partials cover lanes that do not divide m', async () => {
    await using pool = await UnmaskPool.create({ size: 2 });
    const params = makeParams(3, { vectorLength: 10_007, threshold: 2 });
    const inputs = new Map(params.clients.map((id) => [id, randomLanes(10_007)]));
    let parts = 0;
    const out = await runRound({
      params,
      inputs,
      unmask: async (job) => {
        parts = splitUnmaskJob(job, 4).length;
        expect(splitUnmaskJob(job, 4)[0]?.selfMaskKeys).toHaveLength(3); // by ranges: every mask
        return pool.run(job);
      },
    });
    expect(parts).toBe(4);
    expect(out.result).toEqual(plain(inputs, new Set(), 10_007));
  });

  it('a worker crash during unmask aborts the round with SMPC_UNMASK_FAILED, and the next run replaces it', async () => {
    const marker = join(dir, 'crashed');
    process.env.CONFIDE_TEST_CRASH_MARKER = marker; // workers copy the environment when they start
    const script = pathToFileURL(join(import.meta.dirname, 'fixtures/crashing-unmask-worker.mjs'));
    await using pool = await UnmaskPool.create({ size: 2, script });
    const params = makeParams(12, { vectorLength: 200_000, threshold: 7 });
    const inputs = new Map(params.clients.map((id) => [id, randomLanes(200_000)]));
    const dropAt = new Map([['c3', 'masked-input'] as const]);
    const out = await runRound({ params, inputs, dropAt, unmask: pool.run });
    expect(out.result).toBeNull();
    expect(out.server.stage).toBe('aborted');
    expect(out.server.abort?.code).toBe('SMPC_UNMASK_FAILED');
    expect(out.server.abort?.reason).toMatch(/exited with code 7/);
    expect(pool.spawned).toBe(2);
    delete process.env.CONFIDE_TEST_CRASH_MARKER;
    const again = await runRound({ params, inputs, dropAt, unmask: pool.run });
    expect(pool.spawned).toBe(3);
    expect(again.result).toEqual(plain(inputs, new Set(['c3']), 200_000));
  }, 60_000);

  it('a pool closed during unmask aborts the round with SMPC_UNMASK_FAILED; a closed pool refuses work', async () => {
    const pool = await UnmaskPool.create({ size: 2 });
    const params = makeParams(12, { vectorLength: 300_000, threshold: 7 });
    const inputs = new Map(params.clients.map((id) => [id, randomLanes(300_000)]));
    const out = await runRound({
      params,
      inputs,
      unmask: async (job) => {
        const running = pool.run(job);
        setTimeout(() => void pool.close(), 5);
        return running;
      },
    });
    expect(out.result).toBeNull();
    expect(out.server.abort?.code).toBe('SMPC_UNMASK_FAILED');
    const job = {
      ringBits: 32,
      prg: 'aes-256-ctr',
      sessionId: new Uint8Array(32),
      maskedLength: 4,
      vectorLength: 4,
      start: 0,
      length: 4,
      selfMaskKeys: [],
      pairwise: [],
    } as const;
    await expectCodeAsync(pool.run(job), 'WORKER_CLOSED');
  }, 60_000);

  it('validates its size', async () => {
    await expectCodeAsync(UnmaskPool.create({ size: 0 }), 'INVALID_ARGUMENT');
    await expectCodeAsync(UnmaskPool.create({ size: 65 }), 'INVALID_ARGUMENT');
    expectCode(() => splitUnmaskJob({} as never, 2), 'INVALID_ARGUMENT');
  });
});

describe('AggregationServer unmaskWorkers', () => {
  it('sums exactly over loopback with 2 unmask workers and a dropout after share-keys', async () => {
    const reg = registry(6);
    const h = await startServer(reg, { unmaskWorkers: 2 });
    const clients = await Promise.all(
      reg.map((c) =>
        connectClient(
          h.server.url,
          c.id,
          c.id === 'c2'
            ? {
                WebSocket: tamperingWebSocket((bytes, control) => {
                  if (frameType(bytes) === 'masked-input') control.close();
                  else control.send(bytes);
                }),
              }
            : {},
        ),
      ),
    );
    try {
      await h.server.waitForClients(6, 10_000);
      const result = await h.server.runRound({
        profile: 'honest-but-curious',
        roundId: 'workers-1',
        vectorLength: 1003,
        minClients: 5,
        stageTimeoutMs: 30_000,
      });
      expectExact(result, 1003);
      expect(result.dropped).toEqual(['c2']);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await h.server.close();
    }
  }, 60_000);

  it('refuses a bad worker count', async () => {
    await expectCodeAsync(startServer(registry(3), { unmaskWorkers: 65 }), 'INVALID_ARGUMENT');
    await expectCodeAsync(startServer(registry(3), { unmaskWorkers: 1.5 }), 'INVALID_ARGUMENT');
  });
});
