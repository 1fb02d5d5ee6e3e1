/**
 * The encrypted pipeline end to end on real trained models and the bundled data: accuracy parity
 * with the plaintext model on all three tasks in both layouts, evaluation with evaluation keys
 * alone, batch-only keys, chunking beyond the slot count, secret-key round trips and disposal.
 *
 * SEAL contexts and key sets are expensive, so each task's client and server are made once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainLogistic, trainMultinomial, trainRidge } from '../../src/demo/train.ts';
import { isConfideError } from '../../src/errors.ts';
import { type DecryptedScores, HeClient } from '../../src/he/client.ts';
import { decodeContainer, encodeContainer } from '../../src/he/container.ts';
import { decodeSecretKeys } from '../../src/he/keys.ts';
import {
  type LinearModel,
  modelDigest,
  parseLinearModel,
  predictFromScores,
  scorePlaintext,
} from '../../src/he/model.ts';
import { HeServer } from '../../src/he/server.ts';
import { loadDataset } from '../fixtures/data.ts';

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

interface Parity {
  /** Largest |probability difference| over rows and classes (classifiers). */
  readonly maxProbabilityError: number;
  /** Largest |encrypted - plaintext| / |plaintext| (regression). */
  readonly maxRelativeError: number;
  /** Fraction of rows whose encrypted label equals the plaintext label. */
  readonly labelAgreement: number;
  /** Labels the encrypted pipeline produced, in row order. */
  readonly labels: readonly string[];
}

/** Compares decrypted predictions with the plaintext model on the same rows. */
function parity(model: LinearModel, rows: readonly number[][], decrypted: DecryptedScores): Parity {
  expect(decrypted.predictions).toHaveLength(rows.length);
  const plain = scorePlaintext(model, rows).map((s) => predictFromScores(model, s));
  let maxProbabilityError = 0;
  let maxRelativeError = 0;
  let agree = 0;
  const labels: string[] = [];
  decrypted.predictions.forEach((p, i) => {
    const q = plain[i];
    expect(p.task).toBe(model.task);
    if (p.task === 'regression' && q?.task === 'regression') {
      expect(Math.abs(q.prediction)).toBeGreaterThan(1); // relative error is meaningful
      maxRelativeError = Math.max(
        maxRelativeError,
        Math.abs(p.prediction - q.prediction) / Math.abs(q.prediction),
      );
    } else if (p.task === 'binary-classification' && q?.task === 'binary-classification') {
      maxProbabilityError = Math.max(maxProbabilityError, Math.abs(p.probability - q.probability));
      if (p.label === q.label) agree++;
      labels.push(p.label);
    } else if (p.task === 'multiclass-classification' && q?.task === 'multiclass-classification') {
      p.probabilities.forEach((v, c) => {
        maxProbabilityError = Math.max(maxProbabilityError, Math.abs(v - (q.probabilities[c] as number)));
      });
      if (p.label === q.label) agree++;
      labels.push(p.label);
    } else {
      throw new Error(`row ${i}: prediction tasks differ`);
    }
  });
  return { maxProbabilityError, maxRelativeError, labelAgreement: agree / rows.length, labels };
}

interface Fixture {
  readonly name: string;
  readonly model: LinearModel;
  readonly x: number[][];
  /** True class index per row (classifiers). */
  readonly y: readonly number[];
  readonly classes: readonly string[];
}

const breast = loadDataset('breast-cancer-wisconsin');
const diabetes = loadDataset('diabetes');
const sortedTargets = [...diabetes.y].sort((a, b) => a - b);
const cut1 = sortedTargets[Math.floor(sortedTargets.length / 3)] as number;
const cut2 = sortedTargets[Math.floor((2 * sortedTargets.length) / 3)] as number;
const diabetesClass = diabetes.y.map((v) => (v < cut1 ? 0 : v < cut2 ? 1 : 2));

const fixtures: Fixture[] = [
  {
    name: 'binary: logistic regression on breast cancer',
    model: trainLogistic(breast.x, breast.y, { features: breast.features, classes: ['malignant', 'benign'] }),
    x: breast.x,
    y: breast.y,
    classes: ['malignant', 'benign'],
  },
  {
    name: 'regression: ridge on diabetes',
    model: trainRidge(diabetes.x, diabetes.y, { features: diabetes.features }),
    x: diabetes.x,
    y: diabetes.y,
    classes: [],
  },
  {
    name: 'multiclass: multinomial on diabetes tertiles',
    model: trainMultinomial(diabetes.x, diabetesClass, {
      features: diabetes.features,
      classes: ['low', 'mid', 'high'],
    }),
    x: diabetes.x,
    y: diabetesClass,
    classes: ['low', 'mid', 'high'],
  },
];

interface Live {
  client: HeClient;
  server: HeServer;
  evaluationKeys: Uint8Array;
}

const live = new Map<string, Live>();

function get(name: string): Live {
  const entry = live.get(name);
  if (!entry) throw new Error(`no live client for ${name}`);
  return entry;
}

beforeAll(async () => {
  for (const f of fixtures) {
    const client = await HeClient.create(f.model);
    const evaluationKeys = client.exportEvaluationKeys();
    // The server gets a copy of the evaluation-key bytes and nothing else.
    const server = await HeServer.create(Uint8Array.from(evaluationKeys), f.model);
    live.set(f.name, { client, server, evaluationKeys });
  }
});

afterAll(async () => {
  for (const { client, server } of live.values()) {
    server.dispose();
    client.dispose();
  }
});

/** Eight rows spread over the data set. */
function spread(x: number[][]): number[][] {
  return Array.from({ length: 8 }, (_, i) => x[Math.floor((i * x.length) / 8) + 3] as number[]);
}

describe.each(fixtures)('$name', (f) => {
  it.each(['batch', 'single'] as const)('matches the plaintext model in the %s layout', async (layout) => {
    const { client, server } = get(f.name);
    const rows = layout === 'batch' ? f.x : spread(f.x);
    const batch = client.encrypt(rows, { layout });
    const { result, summary } = await server.infer(batch);
    const decrypted = client.decrypt(result);
    expect(decrypted.layout).toBe(layout);
    expect(decrypted.modelDigest).toBe(modelDigest(f.model));
    expect(summary).toEqual({
      layout,
      rows: rows.length,
      inputCiphertexts: layout === 'batch' ? f.model.features.length : rows.length,
      outputCiphertexts: layout === 'batch' ? f.model.coefficients.length : rows.length,
      modelDigest: server.modelDigest,
    });
    const p = parity(f.model, rows, decrypted);
    if (f.model.task === 'regression') {
      expect(p.maxRelativeError).toBeLessThan(1e-5);
    } else {
      expect(p.maxProbabilityError).toBeLessThan(1e-4);
      expect(p.labelAgreement).toBe(1);
      if (layout === 'batch') {
        // A real model: the encrypted labels are as accurate as the plaintext ones, well above chance.
        const correct = p.labels.filter((label, i) => label === f.classes[f.y[i] as number]).length;
        expect(correct / rows.length).toBeGreaterThan(f.classes.length === 2 ? 0.95 : 0.5);
      }
    }
    // Scores are rounded to the plan's precision before they leave the client (IND-CPA-D).
    const grid = 2 ** client.plan.precisionBits;
    for (const s of decrypted.scores) for (const v of s) expect(Number.isInteger(v * grid)).toBe(true);
  });

  it('reads scores only from the first slots: every other slot of a single-layout result is masked', async () => {
    const { client, server } = get(f.name);
    const rows = f.x.slice(0, 2);
    const result = decodeContainer(
      (await server.infer(client.encrypt(rows, { layout: 'single' }))).result,
      'encrypted-result',
    );
    const material = await decodeSecretKeys(client.exportSecretKeys());
    const { ctx, secretKey } = material;
    const decryptor = new ctx.seal.Decryptor(ctx.context, secretKey);
    const cipher = new ctx.seal.Ciphertext();
    const plain = new ctx.seal.Plaintext();
    try {
      const expected = scorePlaintext(f.model, rows);
      result.items.forEach((item, r) => {
        cipher.loadFromArray(ctx.context, item);
        decryptor.decrypt(cipher, plain);
        const slots = ctx.encoder.decodeFloat64(plain) as Float64Array;
        const scores = expected[r] as Float64Array;
        const outputs = scores.length;
        let worst = 0;
        for (let s = 0; s < slots.length; s++) {
          // One output: every slot holds the full score. Several: slot c holds score c, the rest 0.
          const want = outputs === 1 ? (scores[0] as number) : s < outputs ? (scores[s] as number) : 0;
          worst = Math.max(worst, Math.abs((slots[s] as number) - want));
        }
        expect(worst).toBeLessThan(1e-3);
      });
    } finally {
      for (const h of [plain, cipher, decryptor, secretKey]) h.delete();
    }
  });
});

describe('evaluation with evaluation keys only', () => {
  const f = fixtures[0] as Fixture;

  it('holds no secret key material: only the plan and the Galois keys', () => {
    const { client, evaluationKeys } = get(f.name);
    const container = decodeContainer(evaluationKeys, 'evaluation-keys');
    expect(Object.keys(container.metadata).sort()).toEqual(['galoisSteps', 'plan']);
    expect(container.metadata.galoisSteps).toEqual([1, 2, 4, 8, 16]);
    expect(container.items).toHaveLength(1);
    const secret = decodeContainer(client.exportSecretKeys(), 'secret-keys').items[0] as Uint8Array;
    const haystack = Buffer.from(evaluationKeys);
    expect(haystack.indexOf(Buffer.from(secret))).toBe(-1);
    // Nor any 32-byte window of the secret key's polynomial data.
    for (let i = 0; i < 16; i++) {
      const at = 64 + Math.floor((i * (secret.length - 128)) / 16);
      expect(haystack.indexOf(Buffer.from(secret.subarray(at, at + 32))), `window at ${at}`).toBe(-1);
    }
  });

  it('the secret key never appears in a batch or a result either', async () => {
    const { client, server } = get(f.name);
    const secret = decodeContainer(client.exportSecretKeys(), 'secret-keys').items[0] as Uint8Array;
    const batch = client.encrypt(f.x.slice(0, 3), { layout: 'single' });
    const result = (await server.infer(batch)).result;
    for (const bytes of [batch, result]) {
      const haystack = Buffer.from(bytes);
      for (let i = 0; i < 8; i++) {
        const at = 64 + Math.floor((i * (secret.length - 128)) / 8);
        expect(haystack.indexOf(Buffer.from(secret.subarray(at, at + 32)))).toBe(-1);
      }
    }
  });

  it('the server refuses secret keys in place of evaluation keys', async () => {
    const { client } = get(f.name);
    expect(await codeOfAsync(() => HeServer.create(client.exportSecretKeys(), f.model))).toBe(
      'HE_WRONG_KIND',
    );
  });

  it('a second server built from the same evaluation-key bytes gives the same predictions', async () => {
    const { client, server, evaluationKeys } = get(f.name);
    const other = await HeServer.create(evaluationKeys, f.model);
    try {
      expect(other.keySetId).toBe(client.keySetId);
      expect(other.keySetId).toBe(server.keySetId);
      const batch = client.encrypt(f.x.slice(0, 50), { layout: 'batch' });
      const a = client.decrypt((await server.infer(batch)).result);
      const b = client.decrypt((await other.infer(batch)).result);
      expect(b.predictions.map((p) => (p.task === 'binary-classification' ? p.label : ''))).toEqual(
        a.predictions.map((p) => (p.task === 'binary-classification' ? p.label : '')),
      );
    } finally {
      other.dispose();
    }
  });
});

describe('batch-only keys', () => {
  const f = fixtures[0] as Fixture;
  let client: HeClient;
  let server: HeServer;
  let evaluationKeys: Uint8Array;

  beforeAll(async () => {
    client = await HeClient.create(f.model, { layouts: ['batch'] });
    evaluationKeys = client.exportEvaluationKeys();
    server = await HeServer.create(evaluationKeys, f.model);
  });

  afterAll(() => {
    server.dispose();
    client.dispose();
  });

  it('hold no Galois keys and are far smaller than keys for both layouts', () => {
    expect(client.plan.layouts).toEqual(['batch']);
    expect(client.plan.galoisSteps).toEqual([]);
    const container = decodeContainer(evaluationKeys, 'evaluation-keys');
    expect(container.items).toHaveLength(0);
    expect(container.metadata.galoisSteps).toEqual([]);
    const both = get(f.name).evaluationKeys;
    expect(evaluationKeys.length).toBeLessThan(4096);
    expect(evaluationKeys.length * 100).toBeLessThan(both.length);
  });

  it('score the batch layout with full parity', async () => {
    const decrypted = client.decrypt((await server.infer(client.encrypt(f.x, { layout: 'batch' }))).result);
    const p = parity(f.model, f.x, decrypted);
    expect(p.maxProbabilityError).toBeLessThan(1e-4);
    expect(p.labelAgreement).toBe(1);
  });

  it('refuse the single layout on the client, and auto picks batch even for one row', async () => {
    expect(codeOf(() => client.encrypt(f.x.slice(0, 1), { layout: 'single' }))).toBe('HE_LAYOUT_UNAVAILABLE');
    expect(client.chooseLayout(1)).toBe('batch');
    const decrypted = client.decrypt((await server.infer(client.encrypt(f.x.slice(0, 1)))).result);
    expect(decrypted.layout).toBe('batch');
  });

  it('refuse a single-layout batch on the server', async () => {
    // Evaluation keys of the both-layouts key set, restricted to the batch layout (what a client
    // that generated batch-only keys would send): a single-layout batch of that key set is refused.
    const both = get(f.name);
    const full = decodeContainer(both.evaluationKeys, 'evaluation-keys');
    const plan = full.metadata.plan as { parameters: unknown; request: Record<string, unknown> };
    const batchOnly = encodeContainer({
      kind: 'evaluation-keys',
      fingerprint: full.fingerprint,
      keySetId: full.keySetId,
      metadata: { plan: { ...plan, request: { ...plan.request, layouts: ['batch'] } }, galoisSteps: [] },
      items: [],
    });
    const restricted = await HeServer.create(batchOnly, f.model);
    try {
      expect(restricted.plan.galoisSteps).toEqual([]);
      const single = both.client.encrypt(f.x.slice(0, 2), { layout: 'single' });
      expect(await codeOfAsync(() => restricted.infer(single))).toBe('HE_LAYOUT_UNAVAILABLE');
      // The batch layout still works with those keys.
      const batch = both.client.encrypt(f.x.slice(0, 2), { layout: 'batch' });
      expect(both.client.decrypt((await restricted.infer(batch)).result).predictions).toHaveLength(2);
    } finally {
      restricted.dispose();
    }
  });
});

describe('layout choice and chunking', () => {
  it('auto picks single for fewer rows than features and batch otherwise', async () => {
    const f = fixtures[0] as Fixture;
    const { client, server } = get(f.name);
    expect(client.chooseLayout(1)).toBe('single');
    expect(client.chooseLayout(29)).toBe('single');
    expect(client.chooseLayout(30)).toBe('batch');
    expect(client.chooseLayout(569)).toBe('batch');
    expect(client.decrypt((await server.infer(client.encrypt(f.x.slice(0, 3)))).result).layout).toBe(
      'single',
    );
  });

  it('splits more rows than slots into chunks and keeps the row order', async () => {
    const f = fixtures[1] as Fixture; // regression, 10 features
    const { client, server } = get(f.name);
    const slots = client.plan.slots;
    expect(slots).toBe(4096);
    const rows = Array.from({ length: slots + 404 }, (_, i) => f.x[i % f.x.length] as number[]);
    const batch = client.encrypt(rows, { layout: 'batch' });
    const container = decodeContainer(batch, 'encrypted-batch');
    expect(container.metadata.chunks).toBe(2);
    expect(container.metadata.rows).toBe(rows.length);
    expect(container.items).toHaveLength(2 * 10);
    const { result, summary } = await server.infer(batch);
    expect(summary.outputCiphertexts).toBe(2);
    const decrypted = client.decrypt(result);
    const p = parity(f.model, rows, decrypted);
    expect(p.maxRelativeError).toBeLessThan(1e-5);
    // Rows either side of the chunk boundary land where they belong.
    const plain = scorePlaintext(f.model, rows);
    for (const r of [slots - 1, slots, slots + 1, rows.length - 1]) {
      const got = decrypted.predictions[r];
      expect(got?.task === 'regression' && got.prediction).toBeCloseTo(
        (plain[r] as Float64Array)[0] as number,
        3,
      );
    }
  });

  it('fills exactly one chunk with slot-count rows', () => {
    const f = fixtures[1] as Fixture;
    const { client } = get(f.name);
    const rows = Array.from({ length: client.plan.slots }, (_, i) => f.x[i % f.x.length] as number[]);
    const container = decodeContainer(client.encrypt(rows, { layout: 'batch' }), 'encrypted-batch');
    expect(container.metadata.chunks).toBe(1);
    expect(container.items).toHaveLength(10);
  });
});

describe('client input checks', () => {
  const f = fixtures[0] as Fixture;

  it.each([
    ['no rows', []],
    ['a short row', [[1, 2, 3]]],
    ['a NaN value', [Object.assign([...(breast.x[0] as number[])], { 4: Number.NaN })]],
    ['an infinite value', [Object.assign([...(breast.x[0] as number[])], { 0: Number.POSITIVE_INFINITY })]],
    [
      'a value beyond the input bound after scaling',
      [Object.assign([...(breast.x[0] as number[])], { 3: 1e9 })],
    ],
  ])('refuses %s with HE_VALUE_OUT_OF_RANGE', (_, rows) => {
    const { client } = get(f.name);
    expect(codeOf(() => client.encrypt(rows as number[][]))).toBe('HE_VALUE_OUT_OF_RANGE');
  });
});

describe('secret keys and disposal', () => {
  const f = fixtures[2] as Fixture; // multiclass

  it('round-trips through exportSecretKeys / fromSecretKeys', async () => {
    const { client, server } = get(f.name);
    const bytes = client.exportSecretKeys();
    const restored = await HeClient.fromSecretKeys(bytes, f.model);
    try {
      expect(restored.keySetId).toBe(client.keySetId);
      expect(restored.plan).toEqual(client.plan);
      expect(restored.model).toEqual(client.model);
      const rows = f.x.slice(0, 40);
      // Encrypted by the original, decrypted by the restored client, and the other way round.
      const a = restored.decrypt((await server.infer(client.encrypt(rows, { layout: 'batch' }))).result);
      const b = client.decrypt((await server.infer(restored.encrypt(rows, { layout: 'batch' }))).result);
      for (const d of [a, b]) {
        const p = parity(f.model, rows, d);
        expect(p.maxProbabilityError).toBeLessThan(1e-4);
        expect(p.labelAgreement).toBe(1);
      }
    } finally {
      restored.dispose();
    }
  });

  it('restores without a model, taking the interface from the key file', async () => {
    const { client } = get(f.name);
    const restored = await HeClient.fromSecretKeys(client.exportSecretKeys());
    try {
      expect(restored.model).toEqual(client.model);
      expect(restored.model.outputs).toBe(3);
      expect('coefficients' in restored.model).toBe(false);
      // The model interface alone is enough to check against.
      const again = await HeClient.fromSecretKeys(client.exportSecretKeys(), client.model);
      again.dispose();
    } finally {
      restored.dispose();
    }
  });

  it('refuses another model with HE_MODEL_MISMATCH', async () => {
    const { client } = get(f.name);
    const bytes = client.exportSecretKeys();
    const ridge = (fixtures[1] as Fixture).model;
    expect(await codeOfAsync(() => HeClient.fromSecretKeys(bytes, ridge))).toBe('HE_MODEL_MISMATCH');
    // Same features and classes, different scaler: another interface.
    const shifted = parseLinearModel({
      ...f.model,
      scaler: { mean: f.model.scaler?.mean.map((m) => m + 1), scale: f.model.scaler?.scale },
    });
    expect(await codeOfAsync(() => HeClient.fromSecretKeys(bytes, shifted))).toBe('HE_MODEL_MISMATCH');
    // Classes renamed: another interface.
    const renamed = parseLinearModel({ ...f.model, classes: ['a', 'b', 'c'] });
    expect(await codeOfAsync(() => HeClient.fromSecretKeys(bytes, renamed))).toBe('HE_MODEL_MISMATCH');
  });

  it('refuses every use after dispose, and disposing twice is fine', async () => {
    const { client, evaluationKeys } = get(f.name);
    const batch = client.encrypt(f.x.slice(0, 2), { layout: 'batch' });
    const c = await HeClient.fromSecretKeys(client.exportSecretKeys());
    const s = await HeServer.create(evaluationKeys, f.model);
    const result = (await s.infer(batch)).result;
    c.dispose();
    c.dispose();
    c[Symbol.dispose]();
    s.dispose();
    s.dispose();
    s[Symbol.dispose]();
    expect(codeOf(() => c.encrypt(f.x.slice(0, 1)))).toBe('HE_USE_AFTER_DISPOSE');
    expect(codeOf(() => c.decrypt(result))).toBe('HE_USE_AFTER_DISPOSE');
    expect(codeOf(() => c.exportSecretKeys())).toBe('HE_USE_AFTER_DISPOSE');
    expect(codeOf(() => c.exportEvaluationKeys())).toBe('HE_USE_AFTER_DISPOSE');
    expect(await codeOfAsync(() => s.infer(batch))).toBe('HE_USE_AFTER_DISPOSE');
    // The shared client and server are untouched by disposing these.
    expect(client.decrypt(result).predictions).toHaveLength(2);
  });
});

describe('declared precision', () => {
  it('keeps every score within 2^-precisionBits of the plaintext score, in both layouts, over fresh key sets', async () => {
    const data = loadDataset('breast-cancer-wisconsin');
    const model = trainLogistic(data.x, data.y, { features: data.features });
    const rows = data.x.slice(0, 24);
    const plain = scorePlaintext(model, rows);
    let worst = 0;
    for (let trial = 0; trial < 3; trial++) {
      const client = await HeClient.create(model);
      const server = await HeServer.create(client.exportEvaluationKeys(), model);
      const bound = 2 ** -client.plan.precisionBits;
      expect(client.plan.estimatedError).toBeLessThanOrEqual(bound);
      for (const layout of ['batch', 'single'] as const) {
        const { scores } = client.decrypt((await server.infer(client.encrypt(rows, { layout }))).result);
        scores.forEach((s, i) => {
          worst = Math.max(
            worst,
            Math.abs((s[0] as number) - ((plain[i] as Float64Array)[0] as number)) / bound,
          );
        });
      }
      server.dispose();
      client.dispose();
    }
    // worst is measured in units of the declared bound
    expect(worst).toBeLessThanOrEqual(1);
  });
});
