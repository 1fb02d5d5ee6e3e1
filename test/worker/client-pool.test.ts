/**
 * The client pool (confide/worker `HeClientPool`) on real worker_threads and real SEAL, against the
 * built worker script (`dist/worker/client-entry.js`; `npm test` builds first): its batches are
 * v1 containers that in-process `HeServer` scores and `HeClient` decrypts to the predictions of an
 * in-process batch; its decryptions equal `HeClient.decrypt` exactly, with 1 and with N workers;
 * arguments (before any worker is asked) and damaged ciphertexts (in the worker) are refused with
 * the in-process codes and messages; a worker killed mid-call fails the call with WORKER_CRASHED
 * and is replaced; close() with calls in flight finishes started ranges and fails the rest with
 * WORKER_CLOSED; no error carries the key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainLogistic, trainMultinomial } from '../../src/demo/train.ts';
import { type ConfideError, isConfideError } from '../../src/errors.ts';
import { type DecryptedScores, HeClient } from '../../src/he/client.ts';
import { decodeContainer, encodeContainer } from '../../src/he/container.ts';
import type { LinearModel } from '../../src/he/model.ts';
import { HeServer } from '../../src/he/server.ts';
import { toHex } from '../../src/internal/bytes.ts';
import { HeClientPool } from '../../src/worker/index.ts';
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

interface Party {
  readonly model: LinearModel;
  readonly client: HeClient;
  readonly secret: Uint8Array;
  readonly server: HeServer;
}

async function party(model: LinearModel): Promise<Party> {
  const client = await HeClient.create(model);
  const server = await HeServer.create(client.exportEvaluationKeys(), model);
  return { model, client, secret: client.exportSecretKeys(), server };
}

function rowsOf(x: readonly number[][], n: number): number[][] {
  return Array.from({ length: n }, (_, i) => x[i % x.length] as number[]);
}

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; error: ConfideError }> {
  try {
    await promise;
  } catch (e) {
    if (!isConfideError(e)) throw new Error(`expected a confide error, got ${String(e)}`, { cause: e });
    return { code: e.code, error: e };
  }
  throw new Error('expected an error, but the promise resolved');
}

function syncError(work: () => unknown): ConfideError {
  try {
    work();
  } catch (e) {
    if (isConfideError(e)) return e;
    throw e;
  }
  throw new Error('expected an error');
}

function plain(d: DecryptedScores) {
  return {
    layout: d.layout,
    modelDigest: d.modelDigest,
    scores: d.scores.map((s) => [...s]),
    predictions: d.predictions,
  };
}

/**
 * Two encryptions of the same rows are independent random ciphertexts, so their decryptions agree
 * to the plan's error bound, not bit for bit: same labels, scores within twice the bound (plus the
 * rounding grid).
 */
function agree(a: DecryptedScores, b: DecryptedScores, client: HeClient): void {
  expect(a.layout).toBe(b.layout);
  const labels = (d: DecryptedScores) => d.predictions.map((p) => ('label' in p ? p.label : p.task));
  expect(labels(a)).toEqual(labels(b));
  const tolerance = 2 * client.plan.estimatedError + 2 ** -client.plan.precisionBits;
  let worst = 0;
  a.scores.forEach((s, r) => {
    s.forEach((v, c) => {
      worst = Math.max(worst, Math.abs(v - ((b.scores[r] as Float64Array)[c] as number)));
    });
  });
  expect(worst).toBeLessThanOrEqual(tolerance);
}

let bin: Party;
let multi: Party;
let pool1: HeClientPool;
let pool2: HeClientPool;
let multiPool: HeClientPool;

beforeAll(async () => {
  // N = 8192: 4096 rows per chunk, so ten thousand rows make several chunks to split.
  bin = await party(binary);
  multi = await party(multiclass);
  [pool1, pool2, multiPool] = await Promise.all([
    HeClientPool.fromSecretKeys(bin.secret, { size: 1 }),
    HeClientPool.fromSecretKeys(bin.secret, { size: 2, model: binary }),
    HeClientPool.fromClientSecret(multi.client, { size: 2 }),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([pool1?.close(), pool2?.close(), multiPool?.close()]);
  for (const p of [bin, multi]) {
    p?.client.dispose();
    p?.server.dispose();
  }
});

describe('HeClientPool: same results as HeClient', () => {
  it('pool encrypt (1 and 2 workers) → in-process infer and decrypt: the in-process predictions, both layouts', async () => {
    for (const [layout, n] of [
      ['batch', 9000],
      ['single', 9],
    ] as const) {
      const rows = rowsOf(breast.x, n);
      const reference = bin.client.decrypt(
        (await bin.server.infer(bin.client.encrypt(rows, { layout }))).result,
      );
      for (const pool of [pool1, pool2]) {
        const batch = await pool.encrypt(rows, { layout });
        const container = decodeContainer(batch, 'encrypted-batch');
        const own = decodeContainer(bin.client.encrypt(rows, { layout }), 'encrypted-batch');
        expect(container.metadata).toEqual(own.metadata);
        expect(container.items.length).toBe(own.items.length);
        expect(toHex(container.keySetId)).toBe(bin.client.keySetId);
        agree(bin.client.decrypt((await bin.server.infer(batch)).result), reference, bin.client);
      }
    }
  });

  it('in-process encrypt → pool decrypt equals HeClient.decrypt exactly, with 1 and 2 workers', async () => {
    const rows = rowsOf(breast.x, 9000); // 3 chunks of 4096
    const result = (await bin.server.infer(bin.client.encrypt(rows))).result;
    const reference = plain(bin.client.decrypt(result));
    expect(plain(await pool1.decrypt(result))).toEqual(reference);
    expect(plain(await pool2.decrypt(result))).toEqual(reference);
    const single = (await bin.server.infer(bin.client.encrypt(rowsOf(breast.x, 5), { layout: 'single' })))
      .result;
    expect(plain(await pool2.decrypt(single))).toEqual(plain(bin.client.decrypt(single)));
  });

  it('multiclass: pool encrypt → in-process infer → pool decrypt gives the in-process predictions', async () => {
    const rows = rowsOf(diabetes.x, 300);
    const reference = multi.client.decrypt((await multi.server.infer(multi.client.encrypt(rows))).result);
    const result = (await multi.server.infer(await multiPool.encrypt(rows))).result;
    agree(await multiPool.decrypt(result), reference, multi.client);
    expect(plain(await multiPool.decrypt(result))).toEqual(plain(multi.client.decrypt(result)));
  });

  it('many concurrent calls spread over the workers and keep their own rows', async () => {
    const before = await pool2.stats();
    const calls = Array.from({ length: 6 }, (_, i) => rowsOf(breast.x.slice(i * 10), 3 + i));
    const batches = await Promise.all(calls.map((rows) => pool2.encrypt(rows, { layout: 'single' })));
    const results = await Promise.all(batches.map(async (b) => (await bin.server.infer(b)).result));
    const decrypted = await Promise.all(results.map((r) => pool2.decrypt(r)));
    decrypted.forEach((d, i) => {
      const reference = bin.client.decrypt(results[i] as Uint8Array);
      expect(plain(d)).toEqual(plain(reference));
      expect(d.predictions.length).toBe(3 + i);
    });
    const after = await pool2.stats();
    expect(after.workers).toHaveLength(2);
    for (const worker of after.workers) {
      const was = before.workers.find((w) => w.index === worker.index)?.jobs ?? 0;
      expect(worker.jobs - was).toBeGreaterThanOrEqual(4); // both workers took part
    }
  });

  it('reports progress in ciphertexts as ranges finish, ending at the total', async () => {
    const seen: [number, number][] = [];
    await pool2.encrypt(rowsOf(breast.x, 9000), { layout: 'batch', onProgress: (d, t) => seen.push([d, t]) });
    expect(seen.length).toBe(2);
    expect(seen.at(-1)).toEqual([3 * 30, 3 * 30]);
    // One chunk (100 rows) is shared too: 15 of its 30 ciphertexts per worker.
    const one: number[] = [];
    const batch = await pool2.encrypt(rowsOf(breast.x, 100), {
      layout: 'batch',
      onProgress: (d) => one.push(d),
    });
    expect(one).toEqual([15, 30]);
    const reference = bin.client.decrypt(
      (await bin.server.infer(bin.client.encrypt(rowsOf(breast.x, 100)))).result,
    );
    agree(bin.client.decrypt((await bin.server.infer(batch)).result), reference, bin.client);
  });
});

describe('HeClientPool: arguments and damaged input refused as in process', () => {
  it('refuses bad rows and options with the codes and messages of HeClient.encrypt', async () => {
    const bad: [unknown, unknown][] = [
      [[], {}],
      ['rows', {}],
      [[[1, 2, 3]], {}],
      [[...rowsOf(breast.x, 3), breast.x[0]?.map((v, j) => (j === 4 ? Number.NaN : v))], {}],
      [[breast.x[0]?.map((v, j) => (j === 2 ? v * 1e9 : v))], {}],
      [rowsOf(breast.x, 2), { layout: 'diagonal' }],
      [rowsOf(breast.x, 2), { onProgress: 'yes' }],
    ];
    for (const [rows, options] of bad) {
      const expected = syncError(() =>
        bin.client.encrypt(rows as number[][], options as Parameters<HeClient['encrypt']>[1]),
      );
      const { error } = await codeOf(
        pool2.encrypt(rows as number[][], options as Parameters<HeClient['encrypt']>[1]),
      );
      expect(error.code).toBe(expected.code);
      expect(error.message).toBe(expected.message);
    }
    expect((await codeOf(pool2.encrypt(rowsOf(breast.x, 2), null as never))).code).toBe('INVALID_ARGUMENT');
  });

  it('refuses results that are not for these keys with the codes and messages of HeClient.decrypt', async () => {
    const foreign = (await multi.server.infer(multi.client.encrypt(rowsOf(diabetes.x, 3)))).result;
    const damaged = (await bin.server.infer(bin.client.encrypt(rowsOf(breast.x, 3)))).result.slice();
    damaged[damaged.length - 5] = (damaged[damaged.length - 5] as number) ^ 1;
    for (const bytes of [foreign, damaged, bin.client.encrypt(rowsOf(breast.x, 2))]) {
      const expected = syncError(() => bin.client.decrypt(bytes));
      const { error } = await codeOf(pool2.decrypt(bytes));
      expect(error.code).toBe(expected.code);
      expect(error.message).toBe(expected.message);
    }
    expect((await codeOf(pool2.decrypt('bytes' as never))).code).toBe('INVALID_ARGUMENT');
  });

  it('a damaged ciphertext inside a well-formed result fails in the worker with the in-process code and message', async () => {
    const result = (await bin.server.infer(bin.client.encrypt(rowsOf(breast.x, 9000)))).result;
    const container = decodeContainer(result, 'encrypted-result');
    // The last ciphertext (in the second worker's range) cut short; the container's digest is rewritten.
    const items = container.items.map((item, i) =>
      i === container.items.length - 1 ? item.subarray(0, 40) : item,
    );
    const damaged = encodeContainer({ ...container, items });
    const expected = syncError(() => bin.client.decrypt(damaged));
    expect(expected.message).toContain(`result ciphertext ${container.items.length - 1}`);
    for (const pool of [pool1, pool2]) {
      const { error } = await codeOf(pool.decrypt(damaged));
      expect(error.code).toBe(expected.code);
      expect(error.message).toBe(expected.message);
      expect(error.constructor.name).toBe(expected.constructor.name);
    }
  });

  it('refuses bad key files and options with codes, without starting workers', async () => {
    expect((await codeOf(HeClientPool.fromSecretKeys('key' as never))).code).toBe('INVALID_ARGUMENT');
    expect((await codeOf(HeClientPool.fromSecretKeys(bin.secret, { size: 0 }))).code).toBe(
      'INVALID_ARGUMENT',
    );
    expect((await codeOf(HeClientPool.fromSecretKeys(bin.secret, null as never))).code).toBe(
      'INVALID_ARGUMENT',
    );
    expect((await codeOf(HeClientPool.fromClientSecret({} as never))).code).toBe('INVALID_ARGUMENT');
    const flipped = bin.secret.slice();
    flipped[flipped.length - 9] = (flipped[flipped.length - 9] as number) ^ 1;
    const inProcess = await codeOf(HeClient.fromSecretKeys(flipped));
    expect((await codeOf(HeClientPool.fromSecretKeys(flipped))).code).toBe(inProcess.code);
    const evalKeys = bin.client.exportEvaluationKeys();
    expect((await codeOf(HeClientPool.fromSecretKeys(evalKeys))).code).toBe(
      (await codeOf(HeClient.fromSecretKeys(evalKeys))).code,
    );
    expect((await codeOf(HeClientPool.fromSecretKeys(bin.secret, { size: 1, model: multiclass }))).code).toBe(
      'HE_MODEL_MISMATCH',
    );
  });

  it('leaves the caller’s key bytes and client as they were', async () => {
    const copy = bin.secret.slice();
    const pool = await HeClientPool.fromSecretKeys(copy, { size: 1 });
    await pool.close();
    expect(Buffer.from(copy).equals(Buffer.from(bin.secret))).toBe(true);
    expect(bin.client.exportSecretKeys().length).toBe(bin.secret.length); // still usable
  });

  it('puts no secret key bytes into any error message or stack', async () => {
    const keyItem = decodeContainer(bin.secret, 'secret-keys').items[0] as Uint8Array;
    const windows = [0, 1000, keyItem.length - 64].map((at) => keyItem.subarray(at, at + 24));
    const forms = windows.flatMap((w) => [
      toHex(w),
      Buffer.from(w).toString('base64').slice(4, 28),
      Buffer.from(w).toString('latin1'),
    ]);
    const errors: ConfideError[] = [
      (await codeOf(pool2.encrypt([[1, 2]]))).error,
      (await codeOf(pool2.decrypt(bin.secret))).error,
      (await codeOf(HeClientPool.fromSecretKeys(bin.secret, { size: 1, model: multiclass }))).error,
    ];
    const flipped = bin.secret.slice();
    flipped[200] = (flipped[200] as number) ^ 1;
    errors.push((await codeOf(HeClientPool.fromSecretKeys(flipped, { size: 1 }))).error);
    for (const error of errors) {
      const text = `${error.message}\n${error.stack ?? ''}\n${String(error.cause ?? '')}`;
      for (const form of forms) expect(text.includes(form)).toBe(false);
    }
  });
});

describe('HeClientPool: crashes and close', () => {
  it('a worker killed mid-call fails the call with WORKER_CRASHED and is replaced', async () => {
    process.env.CONFIDE_TEST_CRASH_COUNT = '7';
    const crashing = await HeClientPool.fromSecretKeys(bin.secret, {
      size: 2,
      workerScript: new URL('./fixtures/client-crashing-entry.mjs', import.meta.url),
    });
    try {
      // 13 rows, single layout: ranges of 6 and 7 rows; the worker given 7 dies.
      const { code } = await codeOf(crashing.encrypt(rowsOf(breast.x, 13), { layout: 'single' }));
      expect(code).toBe('WORKER_CRASHED');
      expect(crashing.crashes).toBe(1);
      // The replacement loaded the key again: both workers serve.
      const rows = rowsOf(breast.x, 12);
      const batch = await crashing.encrypt(rows, { layout: 'single' });
      const decrypted = await crashing.decrypt((await bin.server.infer(batch)).result);
      agree(
        decrypted,
        bin.client.decrypt((await bin.server.infer(bin.client.encrypt(rows, { layout: 'single' }))).result),
        bin.client,
      );
    } finally {
      delete process.env.CONFIDE_TEST_CRASH_COUNT;
      await crashing.close();
    }
  });

  it('close() with calls in flight: started ranges finish, queued ones fail with WORKER_CLOSED', async () => {
    const pool = await HeClientPool.fromSecretKeys(bin.secret, { size: 1 });
    const rows = rowsOf(breast.x, 4100); // 2 chunks each
    const calls = Array.from({ length: 5 }, () => pool.encrypt(rows, { layout: 'batch' }));
    const closing = pool.close();
    const outcomes = await Promise.allSettled(calls);
    await closing;
    const codes = outcomes.map((o) => (o.status === 'rejected' ? (o.reason as ConfideError).code : 'ok'));
    expect(codes.filter((c) => c === 'ok').length).toBeGreaterThanOrEqual(1);
    expect(codes.filter((c) => c !== 'ok').every((c) => c === 'WORKER_CLOSED')).toBe(true);
    expect(codes).toContain('WORKER_CLOSED');
    const ok = outcomes.find((o) => o.status === 'fulfilled') as PromiseFulfilledResult<Uint8Array>;
    const decrypted = bin.client.decrypt((await bin.server.infer(ok.value)).result);
    expect(decrypted.predictions.length).toBe(4100);
    expect((await codeOf(pool.encrypt(rows))).code).toBe('WORKER_CLOSED');
    expect((await codeOf(pool.decrypt(ok.value))).code).toBe('WORKER_CLOSED');
    await pool.close(); // idempotent
  });
});
