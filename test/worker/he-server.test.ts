/**
 * The `confide/he` evaluation API on the worker pool: `HeServer.create(keys, model, { pool })` with
 * a real `InferencePool` (worker_threads, real SEAL, the built `dist/worker/entry.js`).
 * `infer` on the pool gives the bytes and summary of in-process `infer`; coded errors from the workers
 * reach the caller as the right class (including a corrupted batch, refused by the worker that
 * scores it whether the batch went whole or in parts); disposal unloads the pair from the workers
 * once its last server goes, and leaves the pool open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainLogistic } from '../../src/demo/train.ts';
import { type ConfideError, HeError, isConfideError } from '../../src/errors.ts';
import { HeClient } from '../../src/he/client.ts';
import { decodeContainer, encodeContainer } from '../../src/he/container.ts';
import { HeServer } from '../../src/he/server.ts';
import { InferencePool } from '../../src/worker/index.ts';
import { loadDataset } from '../fixtures/data.ts';

const breast = loadDataset('breast-cancer-wisconsin');
const model = trainLogistic(breast.x, breast.y, {
  features: breast.features,
  classes: ['malignant', 'benign'],
});

async function errorOf(promise: Promise<unknown>): Promise<ConfideError> {
  try {
    await promise;
  } catch (e) {
    if (!isConfideError(e)) throw new Error(`expected a confide error, got ${String(e)}`, { cause: e });
    return e;
  }
  throw new Error('expected an error, but the promise resolved');
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

function rowsOf(n: number): number[][] {
  return Array.from({ length: n }, (_, i) => breast.x[i % breast.x.length] as number[]);
}

let client: HeClient;
let keys: Uint8Array;
let local: HeServer;
let pool: InferencePool;

beforeAll(async () => {
  client = await HeClient.create(model);
  keys = client.exportEvaluationKeys();
  local = await HeServer.create(keys, model);
  pool = await InferencePool.create({ size: 2 });
});

afterAll(async () => {
  await pool?.close();
  local?.dispose();
  client?.dispose();
});

describe('HeServer with { pool: InferencePool }', () => {
  it('infer: the bytes and summary of in-process infer, both layouts, one batch or many at once', async () => {
    const server = await HeServer.create(keys, model, { pool });
    try {
      expect(server.pooled).toBe(true);
      expect(server.keySetId).toBe(local.keySetId);
      expect(server.modelDigest).toBe(local.modelDigest);
      for (const batch of [
        client.encrypt(rowsOf(2 * client.plan.slots + 5), { layout: 'batch' }),
        client.encrypt(rowsOf(5), { layout: 'single' }),
      ]) {
        const here = await local.infer(batch);
        const there = await server.infer(batch); // split over both workers
        expect(same(there.result, here.result)).toBe(true);
        expect(there.summary).toEqual(here.summary);
        const burst = await Promise.all([1, 2, 3].map(() => server.infer(batch))); // whole each
        for (const { result, summary } of burst) {
          expect(same(result, here.result)).toBe(true);
          expect(summary).toEqual(here.summary);
        }
      }
      const decrypted = client.decrypt(
        (await server.infer(client.encrypt(rowsOf(3), { layout: 'single' }))).result,
      );
      expect(decrypted.predictions).toHaveLength(3);
    } finally {
      await server.disposeAsync();
    }
  });

  it('coded errors cross the boundary: another key set, a corrupted batch (whole or in parts)', async () => {
    const server = await HeServer.create(keys, model, { pool });
    const other = await HeClient.create(model, { layouts: ['single'] });
    try {
      const foreign = await errorOf(server.infer(other.encrypt(rowsOf(2), { layout: 'single' })));
      expect(foreign.code).toBe('HE_KEY_SET_MISMATCH');
      expect(foreign).toBeInstanceOf(HeError);
      expect(foreign.stack).toContain('--- in the worker ---');
      const corrupt = client.encrypt(rowsOf(4), { layout: 'single' });
      corrupt[corrupt.length - 1] = (corrupt[corrupt.length - 1] as number) ^ 1;
      // Alone: cut in two, both workers check the whole batch. In a burst: whole, one worker each.
      expect((await errorOf(server.infer(corrupt))).code).toBe('HE_CONTAINER_CORRUPT');
      const burst = await Promise.all([0, 1, 2].map(() => errorOf(server.infer(corrupt))));
      expect(burst.map((e) => e.code)).toEqual(Array(3).fill('HE_CONTAINER_CORRUPT'));
      expect((await errorOf(server.infer(new Uint8Array(8)))).code).toBe('HE_CONTAINER_MALFORMED');
      expect(
        (await errorOf(HeServer.create(keys, { ...model, intercepts: [Number.NaN] }, { pool }))).code,
      ).toBe('HE_MODEL_INVALID');
    } finally {
      other.dispose();
      await server.disposeAsync();
    }
  });

  it('bad ciphertexts in both halves of a cut batch: the error in-process scoring gives (the first one)', async () => {
    const server = await HeServer.create(keys, model, { pool });
    try {
      const good = decodeContainer(client.encrypt(rowsOf(4), { layout: 'single' }), 'encrypted-batch');
      // Well-digested, but rows 1 and 3 hold a truncated SEAL object: part 0 and part 1 both fail.
      const items = good.items.map((item, i) => (i % 2 === 1 ? item.subarray(0, 40) : item));
      const batch = encodeContainer({ ...good, items });
      const expected = await (async () => {
        try {
          await local.infer(batch);
        } catch (e) {
          return e as ConfideError;
        }
        throw new Error('in-process scoring accepted the batch');
      })();
      const pooled = await errorOf(server.infer(batch));
      expect(pooled.code).toBe(expected.code);
      expect(pooled.message).toBe(expected.message);
      expect(pooled.message).toContain('input ciphertext 1');
    } finally {
      await server.disposeAsync();
    }
  });

  it('disposal: the pair stays loaded while a server uses it, is unloaded after the last, the pool stays open', async () => {
    const loaded = async () => (await pool.stats()).workers.map((w) => w.loaded);
    const before = await loaded();
    const a = await HeServer.create(keys, model, { pool });
    const b = await HeServer.create(keys, model, { pool });
    const batch = client.encrypt(rowsOf(2), { layout: 'single' });
    expect((await pool.stats()).workers.every((w, i) => w.loaded === (before[i] ?? 0) + 1)).toBe(true);
    await a.disposeAsync();
    expect((await errorOf(a.infer(batch))).code).toBe('HE_USE_AFTER_DISPOSE');
    expect(same((await b.infer(batch)).result, (await local.infer(batch)).result)).toBe(true);
    const running = b.infer(batch);
    await b.disposeAsync(); // waits for the accepted job, then unloads
    expect(same((await running).result, (await local.infer(batch)).result)).toBe(true);
    expect(await loaded()).toEqual(before);
    expect((await errorOf(pool.infer(b.keySetId, b.modelDigest, batch))).code).toBe('WORKER_NOT_LOADED');
    await using c = await HeServer.create(keys, model, { pool }); // the pool still serves
    expect(same((await c.infer(batch)).result, (await local.infer(batch)).result)).toBe(true);
  });

  it('after the pool closes: WORKER_CLOSED, and disposing still works', async () => {
    const own = await InferencePool.create({ size: 1 });
    const server = await HeServer.create(keys, model, { pool: own });
    await own.close();
    const batch = client.encrypt(rowsOf(1), { layout: 'single' });
    expect((await errorOf(server.infer(batch))).code).toBe('WORKER_CLOSED');
    await server.disposeAsync();
  });
});
