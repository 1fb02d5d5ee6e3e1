/**
 * Splitting encrypted batches and merging encrypted results (src/he/partition.ts), in process:
 * every split, scored part by part and merged, gives exactly the bytes of scoring the whole batch,
 * in both layouts and across chunk boundaries; malformed inputs are refused with codes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { trainLogistic } from '../../src/demo/train.ts';
import { isConfideError } from '../../src/errors.ts';
import { HeClient } from '../../src/he/client.ts';
import { decodeContainer, encodeContainer } from '../../src/he/container.ts';
import { encryptedShape, mergeEncryptedResults, splitEncryptedBatch } from '../../src/he/partition.ts';
import { HeServer } from '../../src/he/server.ts';
import { loadDataset } from '../fixtures/data.ts';

const breast = loadDataset('breast-cancer-wisconsin');
const model = trainLogistic(breast.x, breast.y, {
  features: breast.features,
  classes: ['malignant', 'benign'],
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

let client: HeClient;
let server: HeServer;

beforeAll(async () => {
  client = await HeClient.create(model, { layouts: ['batch'] });
  server = await HeServer.create(client.exportEvaluationKeys(), model);
});

describe('splitEncryptedBatch + mergeEncryptedResults', () => {
  it('split, score each part, merge: the same bytes as scoring the whole batch (batch layout)', async () => {
    const { slots } = client.plan;
    const rows = Array.from({ length: 3 * slots + 17 }, (_, i) => breast.x[i % breast.x.length] as number[]);
    const batch = client.encrypt(rows, { layout: 'batch' });
    const whole = (await server.infer(batch)).result;
    for (const parts of [1, 2, 3, 4, 9]) {
      const pieces = splitEncryptedBatch(batch, { parts, slots });
      expect(pieces).toHaveLength(Math.min(parts, 4));
      const shapes = pieces.map((p) => encryptedShape(p, 'encrypted-batch'));
      expect(shapes.reduce((n, s) => n + s.rows, 0)).toBe(rows.length);
      expect(shapes.every((s) => s.ciphertexts % model.features.length === 0)).toBe(true);
      const merged = mergeEncryptedResults(
        await Promise.all(pieces.map(async (p) => (await server.infer(p)).result)),
      );
      expect(Buffer.from(merged).equals(Buffer.from(whole))).toBe(true);
    }
    expect(client.decrypt(whole).predictions).toHaveLength(rows.length);
  });

  it('returns the input itself when there is one part, and refuses bad options', () => {
    const batch = client.encrypt(breast.x.slice(0, 5), { layout: 'batch' });
    expect(splitEncryptedBatch(batch, { parts: 4, slots: client.plan.slots })[0]).toBe(batch);
    expect(codeOf(() => splitEncryptedBatch(batch, { parts: 0, slots: 1024 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => mergeEncryptedResults([]))).toBe('INVALID_ARGUMENT');
  });

  it('refuses a batch whose ciphertext count does not match its rows, and other kinds', () => {
    const batch = client.encrypt(breast.x.slice(0, 5), { layout: 'batch' });
    const c = decodeContainer(batch, 'encrypted-batch');
    const short = encodeContainer({ ...c, items: c.items.slice(1) });
    expect(codeOf(() => splitEncryptedBatch(short, { parts: 2, slots: client.plan.slots }))).toBe(
      'HE_CONTAINER_MALFORMED',
    );
    expect(codeOf(() => splitEncryptedBatch(client.exportEvaluationKeys(), { parts: 2, slots: 1 }))).toBe(
      'HE_WRONG_KIND',
    );
    const corrupt = batch.slice();
    corrupt[corrupt.length - 1] = (corrupt[corrupt.length - 1] as number) ^ 1;
    expect(codeOf(() => splitEncryptedBatch(corrupt, { parts: 2, slots: client.plan.slots }))).toBe(
      'HE_CONTAINER_CORRUPT',
    );
  });

  it('refuses to merge results of different batches or models', async () => {
    const a = (await server.infer(client.encrypt(breast.x.slice(0, 3), { layout: 'batch' }))).result;
    const r = decodeContainer(a, 'encrypted-result');
    const other = encodeContainer({ ...r, metadata: { ...r.metadata, model: '00'.repeat(32) } });
    expect(codeOf(() => mergeEncryptedResults([a, other]))).toBe('HE_CONTAINER_MALFORMED');
    expect(codeOf(() => mergeEncryptedResults([a, client.encrypt(breast.x.slice(0, 3))]))).toBe(
      'HE_WRONG_KIND',
    );
  });
});
