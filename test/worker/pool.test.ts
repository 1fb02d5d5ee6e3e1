/**
 * The inference pool (confide/worker) on real worker_threads and real SEAL, against the built
 * worker script (`dist/worker/entry.js`; `npm test` builds first): results equal in-process
 * `HeServer.infer` byte for byte and decrypt to the same predictions (both layouts, binary and
 * multiclass), order kept across workers and concurrent jobs, bursts sent whole and lone batches
 * cut, coded errors crossing the worker boundary as the right class, keys loaded once per worker,
 * a crashed worker failing its job with WORKER_CRASHED and being replaced, the bounded queue,
 * unload and close.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainLogistic, trainMultinomial } from '../../src/demo/train.ts';
import { type ConfideError, HeError, isConfideError } from '../../src/errors.ts';
import { HeClient } from '../../src/he/client.ts';
import { decodeContainer, encodeContainer } from '../../src/he/container.ts';
import type { LinearModel } from '../../src/he/model.ts';
import { HeServer } from '../../src/he/server.ts';
import { WorkerError } from '../../src/worker/errors.ts';
import { InferencePool } from '../../src/worker/index.ts';
import { loadDataset } from '../fixtures/data.ts';

const breast = loadDataset('breast-cancer-wisconsin');
const diabetes = loadDataset('diabetes');
const sorted = [...diabetes.y].sort((a, b) => a - b);
const cut1 = sorted[Math.floor(sorted.length / 3)] as number;
const cut2 = sorted[Math.floor((2 * sorted.length) / 3)] as number;
const tertiles = diabetes.y.map((v) => (v < cut1 ? 0 : v < cut2 ? 1 : 2));

const binary = trainLogistic(breast.x, breast.y, {
  features: breast.features,
  classes: ['malignant', 'benign'],
});
const multiclass = trainMultinomial(diabetes.x, tertiles, {
  features: diabetes.features,
  classes: ['low', 'mid', 'high'],
});

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; error: ConfideError }> {
  try {
    await promise;
  } catch (e) {
    if (!isConfideError(e)) throw new Error(`expected a confide error, got ${String(e)}`, { cause: e });
    return { code: e.code, error: e };
  }
  throw new Error('expected an error, but the promise resolved');
}

interface Party {
  readonly model: LinearModel;
  readonly client: HeClient;
  readonly keys: Uint8Array;
  readonly server: HeServer;
}

async function party(model: LinearModel, layouts?: ('batch' | 'single')[]): Promise<Party> {
  const client = await HeClient.create(model, layouts ? { layouts } : {});
  const keys = client.exportEvaluationKeys();
  return { model, client, keys, server: await HeServer.create(keys, model) };
}

function rowsOf(x: readonly number[][], n: number): number[][] {
  return Array.from({ length: n }, (_, i) => x[i % x.length] as number[]);
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

let bin: Party;
let multi: Party;
let pool: InferencePool;

beforeAll(async () => {
  [bin, multi] = [await party(binary), await party(multiclass)];
  pool = await InferencePool.create({ size: 2 });
  await pool.load(bin.keys, bin.model);
  await pool.load(multi.keys, multi.model);
});

afterAll(async () => {
  await pool?.close();
  for (const p of [bin, multi]) {
    p?.client.dispose();
    p?.server.dispose();
  }
});

describe('InferencePool: results', () => {
  it('batch layout over 4 chunks: the bytes of HeServer.infer, split over 2 workers', async () => {
    const rows = rowsOf(breast.x, 3 * bin.client.plan.slots + 123);
    const batch = bin.client.encrypt(rows, { layout: 'batch' });
    const copy = batch.slice();
    const before = await pool.stats();
    const pooled = await pool.infer(bin.client.keySetId, bin.server.modelDigest, batch);
    const after = await pool.stats();
    // Both (idle) workers scored a part: 2 chunks each.
    expect(after.workers.map((w, i) => w.jobs - (before.workers[i]?.jobs ?? 0))).toEqual([1, 1]);
    expect(same(batch, copy)).toBe(true); // the caller's bytes are neither changed nor detached
    expect(same(pooled, (await bin.server.infer(batch)).result)).toBe(true);
    const decrypted = bin.client.decrypt(pooled);
    expect(decrypted.predictions).toHaveLength(rows.length);
    expect(decrypted.modelDigest).toBe(bin.server.modelDigest);
  });

  it('single layout, row by row: the bytes of HeServer.infer, rows in order', async () => {
    const batch = bin.client.encrypt(breast.x.slice(0, 16), { layout: 'single' });
    const pooled = await pool.infer(bin.client.keySetId, bin.server.modelDigest, batch);
    expect(same(pooled, (await bin.server.infer(batch)).result)).toBe(true);
    const expected = bin.client.decrypt((await bin.server.infer(batch)).result).scores;
    expect(bin.client.decrypt(pooled).scores).toEqual(expected);
  });

  it('multiclass, both layouts', async () => {
    for (const layout of ['batch', 'single'] as const) {
      const rows =
        layout === 'batch' ? rowsOf(diabetes.x, multi.client.plan.slots + 40) : diabetes.x.slice(0, 9);
      const batch = multi.client.encrypt(rows, { layout });
      const pooled = await pool.infer(multi.client.keySetId, multi.server.modelDigest, batch);
      expect(same(pooled, (await multi.server.infer(batch)).result)).toBe(true);
      const labels = multi.client
        .decrypt(pooled)
        .predictions.map((p) => p.task === 'multiclass-classification' && p.label);
      expect(labels).toHaveLength(rows.length);
    }
  });

  it('keeps every job whole and in order when many run at once on both workers', async () => {
    const batches = [1, 5, 2, 7, 3, 4].map((n, i) =>
      bin.client.encrypt(breast.x.slice(i * 8, i * 8 + n), { layout: 'single' }),
    );
    const pooled = await Promise.all(
      batches.map((b) => pool.infer(bin.client.keySetId, bin.server.modelDigest, b)),
    );
    for (const [i, result] of pooled.entries()) {
      expect(same(result, (await bin.server.infer(batches[i] as Uint8Array)).result)).toBe(true);
    }
  });

  it('a burst of batches goes whole, one worker each, with no batch cut', async () => {
    const batch = bin.client.encrypt(rowsOf(breast.x, 2 * bin.client.plan.slots), { layout: 'batch' });
    const expected = (await bin.server.infer(batch)).result;
    const before = await pool.stats();
    const pooled = await Promise.all(
      [0, 1, 2, 3].map(() => pool.infer(bin.client.keySetId, bin.server.modelDigest, batch)),
    );
    const after = await pool.stats();
    // 4 whole batches: 4 worker calls (a cut batch would add one per part), spread over both
    // workers (2 each, unless the machine's load held one back).
    const calls = after.workers.map((w, i) => w.jobs - (before.workers[i]?.jobs ?? 0));
    expect(calls.reduce((a, b) => a + b, 0)).toBe(4);
    expect(calls.every((n) => n >= 1)).toBe(true);
    for (const result of pooled) expect(same(result, expected)).toBe(true);
  });

  it('loads evaluation keys once per worker and pair, whatever the number of jobs', async () => {
    const again = await pool.load(bin.keys, bin.model); // same pair: nothing is loaded
    expect(again).toEqual({ keySetId: bin.client.keySetId, modelDigest: bin.server.modelDigest });
    const stats = await pool.stats();
    expect(stats.size).toBe(2);
    expect(stats.workers).toHaveLength(2);
    for (const w of stats.workers) {
      expect(w.loads).toBe(2); // binary and multiclass, once each
      expect(w.loaded).toBe(2);
      expect(w.jobs).toBeGreaterThan(3);
    }
  });
});

describe('InferencePool: errors across the worker boundary', () => {
  it('a batch under another key set: HE_KEY_SET_MISMATCH from the worker, as an HeError', async () => {
    const other = await HeClient.create(binary, { layouts: ['single'] });
    try {
      const batch = other.encrypt(breast.x.slice(0, 4), { layout: 'single' });
      const { code, error } = await codeOf(pool.infer(bin.client.keySetId, bin.server.modelDigest, batch));
      expect(code).toBe('HE_KEY_SET_MISMATCH');
      expect(error).toBeInstanceOf(HeError);
      expect(error.name).toBe('HeError');
      expect(error.message).toContain(other.keySetId);
      expect(error.stack).toContain('--- in the worker ---');
    } finally {
      other.dispose();
    }
  });

  it('keys that do not fit the model: HE_MODEL_MISMATCH from the workers; nothing stays loaded', async () => {
    const { code, error } = await codeOf(pool.load(bin.keys, multi.model));
    expect(code).toBe('HE_MODEL_MISMATCH');
    expect(error).toBeInstanceOf(HeError);
    expect((await pool.stats()).workers.every((w) => w.loaded === 2)).toBe(true);
  });

  it('checks what it can before any worker: invalid model fields, corrupt keys, unknown pairs', async () => {
    const invalid = await codeOf(pool.load(bin.keys, { ...binary, intercepts: [Number.NaN] }));
    expect(invalid.code).toBe('HE_MODEL_INVALID');
    expect(invalid.error.fields).toEqual(['intercepts']);
    const corrupt = bin.keys.slice();
    corrupt[corrupt.length - 1] = (corrupt[corrupt.length - 1] as number) ^ 1;
    expect((await codeOf(pool.load(corrupt, binary))).code).toBe('HE_CONTAINER_CORRUPT');
    const unknown = await codeOf(pool.infer('00'.repeat(16), bin.server.modelDigest, new Uint8Array(8)));
    expect(unknown.code).toBe('WORKER_NOT_LOADED');
    expect(unknown.error).toBeInstanceOf(WorkerError);
    expect(
      (await codeOf(pool.infer(bin.client.keySetId, bin.server.modelDigest, new Uint8Array(8)))).code,
    ).toBe('HE_CONTAINER_MALFORMED');
  });
});

describe('InferencePool: crashes, queue, unload, close', () => {
  for (const how of ['exit', 'throw'] as const) {
    it(`a worker that dies mid-job (${how === 'exit' ? 'process.exit' : 'uncaught exception'}): WORKER_CRASHED, replaced, the pool keeps working`, async () => {
      const victim = await party(binary, ['single']);
      process.env.CONFIDE_TEST_CRASH = `${victim.client.keySetId}:${how}`;
      const crashing = await InferencePool.create({
        size: 2,
        workerScript: new URL('./fixtures/crashing-entry.mjs', import.meta.url),
      });
      try {
        const healthy = await crashing.load(bin.keys, bin.model);
        const doomed = await crashing.load(victim.keys, victim.model);
        const batch = victim.client.encrypt(breast.x.slice(0, 1), { layout: 'single' });
        const { code, error } = await codeOf(crashing.infer(doomed.keySetId, doomed.modelDigest, batch));
        expect(code).toBe('WORKER_CRASHED');
        expect(error).toBeInstanceOf(WorkerError);
        expect(error.message).toMatch(
          how === 'exit' ? /exited with code 3/ : /uncaught Error: an uncaught exception/,
        );
        // Both workers score again (the replacement reloaded both pairs before taking work).
        const good = bin.client.encrypt(breast.x.slice(0, 6), { layout: 'single' });
        const result = await crashing.infer(healthy.keySetId, healthy.modelDigest, good);
        expect(same(result, (await bin.server.infer(good)).result)).toBe(true);
        const stats = await crashing.stats();
        expect(stats.crashes).toBe(1);
        expect(stats.workers).toHaveLength(2);
        expect(stats.workers.map((w) => w.generation).sort()).toEqual([0, 1]);
        expect(stats.workers.every((w) => w.loads === 2)).toBe(true);
      } finally {
        delete process.env.CONFIDE_TEST_CRASH;
        await crashing.close();
        victim.client.dispose();
        victim.server.dispose();
      }
    });
  }

  it('a full queue rejects at once with WORKER_QUEUE_FULL; accepted jobs complete', async () => {
    const small = await InferencePool.create({ size: 1, maxQueue: 1 });
    try {
      const { keySetId, modelDigest } = await small.load(bin.keys, bin.model);
      const batch = bin.client.encrypt(breast.x.slice(0, 4), { layout: 'single' });
      // A worker holds two jobs (one scoring, the next waiting in its port); then one may queue.
      const started = [small.infer(keySetId, modelDigest, batch), small.infer(keySetId, modelDigest, batch)];
      const queued = small.infer(keySetId, modelDigest, batch); // waits (1 of 1)
      const refused = codeOf(small.infer(keySetId, modelDigest, batch));
      expect((await refused).code).toBe('WORKER_QUEUE_FULL');
      const expected = (await bin.server.infer(batch)).result;
      for (const result of await Promise.all([...started, queued])) expect(same(result, expected)).toBe(true);
    } finally {
      await small.close();
    }
  });

  it('unload waits for accepted jobs, then refuses the pair with WORKER_NOT_LOADED', async () => {
    const p = await InferencePool.create({ size: 1 });
    try {
      const { keySetId, modelDigest } = await p.load(bin.keys, bin.model);
      const batch = bin.client.encrypt(breast.x.slice(0, 3), { layout: 'single' });
      const running = p.infer(keySetId, modelDigest, batch);
      await p.unload(keySetId, modelDigest);
      expect(same(await running, (await bin.server.infer(batch)).result)).toBe(true);
      expect((await codeOf(p.infer(keySetId, modelDigest, batch))).code).toBe('WORKER_NOT_LOADED');
      expect((await p.stats()).workers[0]?.loaded).toBe(0);
    } finally {
      await p.close();
    }
  });

  it('counts holders: a pair loaded twice stays until the second unload; a load racing the last unload loads afresh', async () => {
    const p = await InferencePool.create({ size: 1 });
    try {
      const batch = bin.client.encrypt(breast.x.slice(0, 2), { layout: 'single' });
      const { result: expected } = await bin.server.infer(batch);
      const ids = await p.load(bin.keys, bin.model);
      expect(await p.load(bin.keys, bin.model)).toEqual(ids); // a second hold, nothing loaded
      expect((await p.stats()).workers[0]).toMatchObject({ loads: 1, loaded: 1 });
      await p.unload(ids.keySetId, ids.modelDigest); // one hold left
      expect(same(await p.infer(ids.keySetId, ids.modelDigest, batch), expected)).toBe(true);
      await p.unload(ids.keySetId, ids.modelDigest); // the last: freed
      expect((await codeOf(p.infer(ids.keySetId, ids.modelDigest, batch))).code).toBe('WORKER_NOT_LOADED');
      expect((await p.stats()).workers[0]?.loaded).toBe(0);
      // Released while a job runs, and loaded again before the workers dropped it: the new hold
      // gets a fresh load (the worker does not keep answering "already loaded" for a pair it frees).
      await p.load(bin.keys, bin.model);
      const running = p.infer(ids.keySetId, ids.modelDigest, batch);
      const unloading = p.unload(ids.keySetId, ids.modelDigest);
      const reloaded = p.load(bin.keys, bin.model);
      expect(same(await running, expected)).toBe(true);
      await unloading;
      await reloaded;
      expect(same(await p.infer(ids.keySetId, ids.modelDigest, batch), expected)).toBe(true);
      expect((await p.stats()).workers[0]).toMatchObject({ loads: 3, loaded: 1 });
    } finally {
      await p.close();
    }
  });

  it('close() finishes started jobs, rejects queued ones with WORKER_CLOSED, then refuses everything', async () => {
    const p = await InferencePool.create({ size: 1 });
    const { keySetId, modelDigest } = await p.load(bin.keys, bin.model);
    const batch = bin.client.encrypt(breast.x.slice(0, 3), { layout: 'single' });
    const started = [p.infer(keySetId, modelDigest, batch), p.infer(keySetId, modelDigest, batch)]; // sent
    const queued = codeOf(p.infer(keySetId, modelDigest, batch));
    const closing = p.close();
    expect(p.close()).toBe(closing);
    expect((await queued).code).toBe('WORKER_CLOSED');
    for (const result of await Promise.all(started))
      expect(same(result, (await bin.server.infer(batch)).result)).toBe(true);
    await closing;
    expect((await codeOf(p.infer(keySetId, modelDigest, batch))).code).toBe('WORKER_CLOSED');
    expect((await codeOf(p.load(bin.keys, bin.model))).code).toBe('WORKER_CLOSED');
    expect((await codeOf(p.stats())).code).toBe('WORKER_CLOSED');
  });

  it('budgets each worker’s SEAL heap: a key load past wasmHeapBudgetBytes is WASM_OUT_OF_MEMORY there, nothing kept', async () => {
    const MiB = 1024 * 1024;
    // A worker's heap starts at 16 MiB with SEAL up and no keys; key sets of 1.8 MB each (the
    // binary model's Galois keys, under fresh ids) must grow it past 16 + 8 MiB within 30 loads.
    const p = await InferencePool.create({ size: 1, wasmHeapBudgetBytes: 24 * MiB });
    try {
      const loaded: { keySetId: string; modelDigest: string }[] = [];
      let refused: { code: string; error: ConfideError } | undefined;
      for (let i = 0; i < 30 && refused === undefined; i++) {
        const copy = encodeContainer({
          ...decodeContainer(bin.keys, 'evaluation-keys'),
          keySetId: randomBytes(16),
        });
        try {
          loaded.push(await p.load(copy, bin.model));
        } catch (error) {
          refused = { code: (error as ConfideError).code, error: error as ConfideError };
        }
      }
      expect(refused?.code, `no refusal after ${loaded.length} key sets`).toBe('WASM_OUT_OF_MEMORY');
      expect(refused?.error.message).toContain('budget');
      expect(loaded.length).toBeGreaterThan(0);
      const [worker] = (await p.stats()).workers;
      expect(worker?.loaded).toBe(loaded.length); // the refused load kept nothing
      expect(worker?.heapBytes).toBeGreaterThan(24 * MiB);
      // The worker goes on scoring with the key sets it holds.
      const last = loaded[loaded.length - 1] as { keySetId: string; modelDigest: string };
      const batch = encodeContainer({
        ...decodeContainer(bin.client.encrypt(breast.x.slice(0, 2), { layout: 'single' }), 'encrypted-batch'),
        keySetId: Buffer.from(last.keySetId, 'hex'),
      });
      expect(
        decodeContainer(await p.infer(last.keySetId, last.modelDigest, batch), 'encrypted-result').items,
      ).toHaveLength(2);
    } finally {
      await p.close();
    }
    // The library default (3 GiB) is what the shared pool runs with: the same keys load there.
    expect((await pool.stats()).workers.every((w) => w.loaded >= 2)).toBe(true);
    expect((await codeOf(InferencePool.create({ wasmHeapBudgetBytes: -1 }))).code).toBe('INVALID_ARGUMENT');
  });

  it('replaces the keys of a held pair on every worker when loaded with other bytes', async () => {
    const p = await InferencePool.create({ size: 2 });
    try {
      const fresh = bin.client.exportEvaluationKeys(); // same key set, other Galois keys
      const batch = bin.client.encrypt(breast.x.slice(0, 2), { layout: 'single' });
      const byFirst = (await bin.server.infer(batch)).result;
      const reference = await HeServer.create(fresh, bin.model);
      const byFresh = (await reference.infer(batch)).result;
      reference.dispose();
      expect(same(byFirst, byFresh)).toBe(false);
      const ids = await p.load(bin.keys, bin.model);
      const both = () => Promise.all([0, 1].map(() => p.infer(ids.keySetId, ids.modelDigest, batch)));
      for (const result of await both()) expect(same(result, byFirst)).toBe(true);
      expect(await p.load(fresh, bin.model)).toEqual(ids);
      for (const result of await both()) expect(same(result, byFresh)).toBe(true);
      expect((await p.stats()).workers.map((w) => [w.loads, w.loaded])).toEqual([
        [2, 1],
        [2, 1],
      ]);
      // Two holds now: one unload keeps the (new) keys, the second frees them.
      await p.unload(ids.keySetId, ids.modelDigest);
      for (const result of await both()) expect(same(result, byFresh)).toBe(true);
      await p.unload(ids.keySetId, ids.modelDigest);
      expect((await p.stats()).workers.map((w) => w.loaded)).toEqual([0, 0]);
    } finally {
      await p.close();
    }
  });

  it('refuses bad options and a missing worker script with codes', async () => {
    expect((await codeOf(InferencePool.create({ size: 0 }))).code).toBe('INVALID_ARGUMENT');
    expect((await codeOf(InferencePool.create({ maxQueue: -1 }))).code).toBe('INVALID_ARGUMENT');
    const missing = await codeOf(
      InferencePool.create({
        size: 1,
        workerScript: new URL('./fixtures/no-such-entry.mjs', import.meta.url),
      }),
    );
    expect(missing.code).toBe('WORKER_START_FAILED');
  });
});
