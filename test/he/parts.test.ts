/**
 * Scoring a batch in parts without re-writing it (`scoreBatchPart` + `joinScoredParts`, what the
 * worker pool runs; internal, not exported from `confide/he`), reading a batch's size from its header (`batchUnits`, `peekContainer`),
 * and `HeServer` over a `ScoringPool` (`infer` on a pool), here with the server's in-process backend;
 * `test/worker/he-server.test.ts` runs the same API on real worker threads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainLogistic, trainMultinomial } from '../../src/demo/train.ts';
import { isConfideError } from '../../src/errors.ts';
import { HeClient } from '../../src/he/client.ts';
import { encodeContainer, peekContainer } from '../../src/he/container.ts';
import * as heEntry from '../../src/he/index.ts';
import { batchUnits, joinScoredParts, partRange, type ScoredPart } from '../../src/he/partition.ts';
import { HeServer, scoreBatchPart } from '../../src/he/server.ts';
import { InProcessBackend } from '../../src/server/backend.ts';
import { loadDataset } from '../fixtures/data.ts';

const breast = loadDataset('breast-cancer-wisconsin');
const diabetes = loadDataset('diabetes');
const binary = trainLogistic(breast.x, breast.y, {
  features: breast.features,
  classes: ['malignant', 'benign'],
});
const sorted = [...diabetes.y].sort((a, b) => a - b);
const [cut1, cut2] = [sorted[147] as number, sorted[294] as number];
const tertiles = diabetes.y.map((v) => (v < cut1 ? 0 : v < cut2 ? 1 : 2));
const multiclass = trainMultinomial(diabetes.x, tertiles, {
  features: diabetes.features,
  classes: ['low', 'mid', 'high'],
});

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (!isConfideError(e)) throw new Error(`expected a confide error, got ${String(e)}`, { cause: e });
    return e.code;
  }
  throw new Error('expected an error, but the call returned');
}

async function codeOfAsync(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    if (!isConfideError(e)) throw new Error(`expected a confide error, got ${String(e)}`, { cause: e });
    return e.code;
  }
  throw new Error('expected an error, but the call resolved');
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

function rowsOf(x: readonly number[][], n: number): number[][] {
  return Array.from({ length: n }, (_, i) => x[i % x.length] as number[]);
}

let client: HeClient;
let multi: HeClient;
let keys: Uint8Array;
let server: HeServer;
let multiServer: HeServer;

beforeAll(async () => {
  client = await HeClient.create(binary);
  multi = await HeClient.create(multiclass);
  keys = client.exportEvaluationKeys();
  server = await HeServer.create(keys, binary);
  multiServer = await HeServer.create(multi.exportEvaluationKeys(), multiclass);
});

afterAll(() => {
  for (const d of [client, multi, server, multiServer]) d?.dispose();
});

describe('scoreBatchPart + joinScoredParts', () => {
  it('any cut of either layout joins to the bytes of infer (binary and multiclass)', async () => {
    const cases = [
      { c: client, s: server, rows: rowsOf(breast.x, 2 * client.plan.slots + 7), layout: 'batch' as const },
      { c: client, s: server, rows: breast.x.slice(0, 7), layout: 'single' as const },
      { c: multi, s: multiServer, rows: rowsOf(diabetes.x, multi.plan.slots + 1), layout: 'batch' as const },
      { c: multi, s: multiServer, rows: diabetes.x.slice(0, 5), layout: 'single' as const },
    ];
    for (const { c, s, rows, layout } of cases) {
      const batch = c.encrypt(rows, { layout });
      const { result: whole } = await s.infer(batch);
      const units = batchUnits(batch, c.plan.slots) as number;
      expect(units).toBe(layout === 'batch' ? Math.ceil(rows.length / c.plan.slots) : rows.length);
      for (let count = 1; count <= units; count++) {
        const parts: ScoredPart[] = Array.from({ length: count }, (_, i) =>
          scoreBatchPart(s, batch, partRange(units, i, count)),
        );
        expect(same(joinScoredParts(parts), whole), `${layout}, ${count} parts`).toBe(true);
      }
    }
  });

  it('checks the whole batch before scoring a part: a flipped bit anywhere is HE_CONTAINER_CORRUPT', () => {
    const batch = client.encrypt(breast.x.slice(0, 4), { layout: 'single' });
    const corrupt = batch.slice();
    corrupt[corrupt.length - 1] = (corrupt[corrupt.length - 1] as number) ^ 1; // in the last row
    expect(codeOf(() => scoreBatchPart(server, corrupt, { first: 0, end: 1 }))).toBe('HE_CONTAINER_CORRUPT');
    const other = codeOf(() => scoreBatchPart(multiServer, batch, { first: 0, end: 1 }));
    expect(other).toBe('HE_PARAMETERS_MISMATCH');
  });

  it('refuses ranges outside the batch and parts of different batches', () => {
    const batch = client.encrypt(breast.x.slice(0, 3), { layout: 'single' });
    expect(codeOf(() => scoreBatchPart(server, batch, { first: 0, end: 4 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => scoreBatchPart(server, batch, { first: 2, end: 2 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => scoreBatchPart(server, batch, { first: -1, end: 1 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => scoreBatchPart({} as HeServer, batch, { first: 0, end: 1 }))).toBe(
      'INVALID_ARGUMENT',
    );
    const a = scoreBatchPart(server, batch, { first: 0, end: 1 });
    const b = scoreBatchPart(server, client.encrypt(breast.x.slice(0, 2), { layout: 'single' }), {
      first: 1,
      end: 2,
    });
    expect(codeOf(() => joinScoredParts([a, b]))).toBe('HE_CONTAINER_MALFORMED'); // rows 3 vs 2
    expect(codeOf(() => joinScoredParts([]))).toBe('INVALID_ARGUMENT');
  });
});

describe('batchUnits and peekContainer: the header, unchecked', () => {
  it('reads units and metadata without the digest, and says undefined for what is not a batch', async () => {
    const batch = client.encrypt(breast.x.slice(0, 9), { layout: 'single' });
    const flipped = batch.slice();
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
    expect(batchUnits(flipped, client.plan.slots)).toBe(9); // planning only: the digest is not read
    const peek = peekContainer(batch);
    expect(peek?.kind).toBe('encrypted-batch');
    expect(peek?.itemCount).toBe(9);
    expect(peek?.metadata.rows).toBe(9);
    expect(batchUnits((await server.infer(batch)).result, client.plan.slots)).toBeUndefined(); // a result
    expect(batchUnits(new Uint8Array(8), client.plan.slots)).toBeUndefined();
    expect(batchUnits(batch.subarray(0, 100), client.plan.slots)).toBeUndefined(); // metadata cut
    const noRows = encodeContainer({
      kind: 'encrypted-batch',
      fingerprint: new Uint8Array(32),
      keySetId: new Uint8Array(16),
      metadata: { layout: 'batch', rows: 'many' },
      items: [],
    });
    expect(batchUnits(noRows, client.plan.slots)).toBeUndefined();
  });
});

describe('HeServer over a ScoringPool', () => {
  it('infer on a pool gives the bytes and summary of infer here; the pooled server holds no keys here', async () => {
    const backend = new InProcessBackend();
    const pooled = await HeServer.create(keys, binary, { pool: backend });
    try {
      expect(pooled.pooled).toBe(true);
      expect(pooled.keySetId).toBe(client.keySetId);
      expect(pooled.plan).toEqual(server.plan);
      expect(backend.loaded).toBe(1);
      for (const layout of ['batch', 'single'] as const) {
        const batch = client.encrypt(breast.x.slice(0, 6), { layout });
        const here = await server.infer(batch);
        const there = await pooled.infer(batch);
        expect(same(there.result, here.result)).toBe(true);
        expect(there.summary).toEqual(here.summary);
        expect(there.summary.layout).toBe(layout);
      }
      expect(await codeOfAsync(() => pooled.infer(new Uint8Array(8)))).toBe('HE_CONTAINER_MALFORMED');
      expect(codeOf(() => scoreBatchPart(pooled, new Uint8Array(8), { first: 0, end: 1 }))).toBe(
        'HE_SERVER_POOLED',
      );
      // part scoring is internal: neither a method nor an export of confide/he
      expect('inferPart' in pooled).toBe(false);
      expect('scoreBatchPart' in heEntry).toBe(false);
    } finally {
      await pooled.disposeAsync();
      await backend.close();
    }
  });

  it('the last server of a pair unloads it from the pool; the pool stays the caller’s', async () => {
    const backend = new InProcessBackend();
    const [a, b] = [
      await HeServer.create(keys, binary, { pool: backend }),
      await HeServer.create(keys, binary, { pool: backend }),
    ];
    const batch = client.encrypt(breast.x.slice(0, 2), { layout: 'single' });
    await a.disposeAsync();
    expect(backend.loaded).toBe(1); // b still uses it
    expect(same((await b.infer(batch)).result, (await server.infer(batch)).result)).toBe(true);
    expect(await codeOfAsync(() => a.infer(batch))).toBe('HE_USE_AFTER_DISPOSE');
    await b.disposeAsync();
    await b.disposeAsync(); // idempotent
    expect(backend.loaded).toBe(0);
    const again = await HeServer.create(keys, binary, { pool: backend }); // the pool still works
    expect(backend.loaded).toBe(1);
    again.dispose();
    await again.disposeAsync();
    expect(backend.loaded).toBe(0);
    await backend.close();
  });

  it('checks what it can on this thread and refuses what is not a pool', async () => {
    const backend = new InProcessBackend();
    expect(await codeOfAsync(() => HeServer.create(keys, multiclass, { pool: backend }))).toBe(
      'HE_MODEL_MISMATCH',
    );
    const corrupt = keys.slice();
    corrupt[corrupt.length - 1] = (corrupt[corrupt.length - 1] as number) ^ 1;
    expect(await codeOfAsync(() => HeServer.create(corrupt, binary, { pool: backend }))).toBe(
      'HE_CONTAINER_CORRUPT',
    );
    expect(backend.loaded).toBe(0);
    const notAPool = { load: async () => ({}) } as never;
    expect(await codeOfAsync(() => HeServer.create(keys, binary, { pool: notAPool }))).toBe(
      'INVALID_ARGUMENT',
    );
    const liar = {
      load: async () => ({ keySetId: '00'.repeat(16), modelDigest: server.modelDigest }),
      infer: async () => new Uint8Array(0),
      unload: async () => {},
    };
    expect(await codeOfAsync(() => HeServer.create(keys, binary, { pool: liar }))).toBe(
      'HE_KEY_SET_MISMATCH',
    );
    await backend.close();
  });
});
