// The plaintext half of the federated-learning example (src/demo/federated.ts) and the trainer's
// warm start it relies on, on the bundled breast-cancer data. The network half is tested with real
// processes in test/smpc/federated*.test.ts.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { datasetFromCsv } from '../../src/demo/dataset.ts';
import {
  accuracy,
  applyUpdate,
  DEFAULT_TRAINING,
  decodePayload,
  encodePayload,
  initialModel,
  localUpdate,
  modelVector,
  scalerFromStatistics,
  splitFederated,
  statisticsLength,
  statisticsVector,
} from '../../src/demo/federated.ts';
import { fitScaler, trainLogistic } from '../../src/demo/train.ts';
import { createRing, ringSum } from '../../src/smpc/primitives/ring.ts';
import { dequantizeWeightedMean, quantizeWeighted } from '../../src/smpc/weighted.ts';
import { expectCode } from '../smpc/helpers.ts';

const data = datasetFromCsv(
  readFileSync(new URL('../../data/breast-cancer-wisconsin.csv', import.meta.url), 'utf8'),
);
const ring = createRing(32);

describe('splitFederated', () => {
  it('holds out every fifth row and cuts the rest into 8 contiguous, unequal, disjoint shards', () => {
    const split = splitFederated(data, { hospitals: 8 });
    expect(split.test.x.length).toBe(113);
    expect(split.train.x.length).toBe(456);
    expect(split.shards.map((s) => s.x.length)).toEqual([30, 38, 46, 53, 61, 68, 76, 84]);
    // In file order: shard rows concatenated are exactly the training rows.
    expect(split.shards.flatMap((s) => s.x)).toEqual(split.train.x);
    expect(split.test.x[0]).toEqual(data.x[4]);
    // Not stratified: the first hospital sees mostly malignant rows.
    expect(split.shards[0]?.y.filter((v) => v === 1).length).toBe(2);
  });

  it('refuses more hospitals than the rows allow, and bad counts', () => {
    const tiny = { features: ['a'], x: [[1], [2], [3], [4], [5]], y: [0, 1, 0, 1, 0] };
    expectCode(() => splitFederated(tiny, { hospitals: 3 }), 'INVALID_ARGUMENT');
    expectCode(() => splitFederated(data, { hospitals: 0 }), 'INVALID_ARGUMENT');
    expectCode(() => splitFederated(data, { hospitals: 2.5 }), 'INVALID_ARGUMENT');
  });
});

describe('the statistics round', () => {
  it('decodes a known sum exactly, negative values and fractions included', () => {
    const a = statisticsVector([[1.5], [-2.25]]);
    const b = statisticsVector([[0.75]]);
    expect(a.length).toBe(statisticsLength(1));
    const { rows, scaler } = scalerFromStatistics(ringSum([a, b], ring), 1);
    expect(rows).toBe(3);
    // Σx = 0, Σx² = 2.25 + 5.0625 + 0.5625 = 7.875: mean 0, variance 2.625.
    expect(scaler.mean[0]).toBe(0);
    expect(scaler.scale[0]).toBe(Math.sqrt(2.625));
  });

  it('carries the low limbs of 255 summands without wrapping', () => {
    const v = 2 ** 18 - 2 ** -30; // every low limb is all ones
    const one = statisticsVector([[v]]);
    const sum = ringSum(new Array<Uint32Array>(255).fill(one), ring);
    const { rows, scaler } = scalerFromStatistics(sum, 1);
    expect(rows).toBe(255);
    expect(scaler.mean[0]).toBe(v);
  });

  it('gives the pooled scaler central training fits, over the real shards', () => {
    const split = splitFederated(data, { hospitals: 8 });
    const sum = ringSum(
      split.shards.map((s) => statisticsVector(s.x)),
      ring,
    );
    const { rows, scaler } = scalerFromStatistics(sum, data.features.length);
    const central = fitScaler(split.train.x);
    expect(rows).toBe(456);
    central.mean.forEach((m, j) => {
      expect(Math.abs((scaler.mean[j] as number) - m) / (central.scale[j] as number)).toBeLessThan(1e-8);
      expect(Math.abs((scaler.scale[j] as number) / (central.scale[j] as number) - 1)).toBeLessThan(1e-6);
    });
  });

  it('refuses sums that do not fit and malformed input', () => {
    expectCode(() => statisticsVector([[2 ** 45]]), 'INVALID_ARGUMENT');
    expectCode(() => statisticsVector([[Number.NaN]]), 'INVALID_ARGUMENT');
    expectCode(() => statisticsVector([]), 'INVALID_ARGUMENT');
    expectCode(() => scalerFromStatistics(new Uint32Array(3), 1), 'INVALID_ARGUMENT');
    expectCode(() => scalerFromStatistics(new Uint32Array(statisticsLength(1)), 1), 'INVALID_ARGUMENT');
  });
});

describe('warm-started training and FedAvg', () => {
  const split = splitFederated(data, { hospitals: 8 });
  const central = trainLogistic(split.train.x, split.train.y, { features: data.features });

  it('a warm start from the zero model over the fitted scaler reaches the cold-start optimum', () => {
    const zero = initialModel(data.features, fitScaler(split.train.x));
    const warm = trainLogistic(split.train.x, split.train.y, { features: data.features, start: zero });
    const a = modelVector(warm);
    const b = modelVector(central);
    a.forEach((v, i) => {
      expect(Math.abs(v - (b[i] as number))).toBeLessThan(1e-9);
    });
  });

  it('a Newton step from the optimum stays there, and maxIterations bounds the work', () => {
    const again = trainLogistic(split.train.x, split.train.y, {
      features: data.features,
      start: central,
      maxIterations: 1,
    });
    const delta = modelVector(again).map((v, i) => v - (modelVector(central)[i] as number));
    expect(Math.max(...delta.map(Math.abs))).toBeLessThan(1e-9);
    const zero = initialModel(data.features, fitScaler(split.train.x));
    const one = trainLogistic(split.train.x, split.train.y, {
      features: data.features,
      start: zero,
      maxIterations: 1,
    });
    expect(modelVector(one)).not.toEqual(modelVector(central));
  });

  it('refuses a start model over other features', () => {
    const other = initialModel(['a', 'b'], { mean: [0, 0], scale: [1, 1] });
    expectCode(
      () => trainLogistic(split.train.x, split.train.y, { features: data.features, start: other }),
      'INVALID_ARGUMENT',
    );
  });

  it('ten rounds of quantized FedAvg over plain sums match central accuracy on the test set', () => {
    const { rows, scaler } = scalerFromStatistics(
      ringSum(
        split.shards.map((s) => statisticsVector(s.x)),
        ring,
      ),
      data.features.length,
    );
    let global = initialModel(data.features, scaler);
    for (let round = 1; round <= 10; round++) {
      const packed = split.shards.map((s) =>
        quantizeWeighted(localUpdate(global, s, { pooledRows: rows }), s.x.length, {
          maxWeight: 200,
          valueBits: 16,
          clipLInf: 4,
        }),
      );
      const sum = ringSum(
        packed.map((p) => p.values),
        ring,
      );
      const { mean, totalWeight } = dequantizeWeightedMean(
        sum,
        (packed[0] as (typeof packed)[number]).params,
      );
      expect(Math.abs(totalWeight - 456)).toBeLessThan(0.05);
      global = applyUpdate(global, mean);
    }
    const centralAccuracy = accuracy(central, split.test);
    expect(centralAccuracy).toBeGreaterThan(0.95);
    expect(Math.abs(accuracy(global, split.test) - centralAccuracy)).toBeLessThanOrEqual(0.03);
  });

  it('localUpdate and applyUpdate validate their arguments', () => {
    const zero = initialModel(data.features, fitScaler(split.train.x));
    const shard = split.shards[0] as (typeof split.shards)[number];
    expect(localUpdate(zero, shard, { pooledRows: 456 }).length).toBe(31);
    expectCode(() => localUpdate(zero, shard, { pooledRows: 10 }), 'INVALID_ARGUMENT');
    expectCode(() => localUpdate(zero, shard, { pooledRows: 456, iterations: 0 }), 'INVALID_ARGUMENT');
    expectCode(() => applyUpdate(zero, [1, 2]), 'INVALID_ARGUMENT');
  });
});

describe('round payloads', () => {
  it('carry the statistics request or the global model, and refuse anything else', () => {
    expect(decodePayload(encodePayload({ kind: 'statistics' }))).toEqual({ kind: 'statistics' });
    const model = initialModel(['a'], { mean: [1], scale: [2] }, ['no', 'yes']);
    const train = { kind: 'train', round: 3, model, pooledRows: 456, settings: DEFAULT_TRAINING } as const;
    expect(decodePayload(encodePayload(train))).toEqual(train);
    const bad = { ...train, settings: { ...DEFAULT_TRAINING, localSteps: 0 } };
    expectCode(() => decodePayload(encodePayload(bad)), 'INVALID_ARGUMENT');
    expectCode(() => decodePayload(Uint8Array.of(0xff)), 'INVALID_ARGUMENT');
    expectCode(() => decodePayload(new TextEncoder().encode('{"kind":"other"}')), 'INVALID_ARGUMENT');
    expectCode(
      () => decodePayload(encodePayload({ ...train, model: {} as typeof model })),
      'HE_MODEL_INVALID',
    );
  });
});

describe('datasetFromCsv', () => {
  it('reads the bundled data and refuses a file without target or with a non-number', () => {
    expect(data.x.length).toBe(569);
    expect(data.features.length).toBe(30);
    expectCode(() => datasetFromCsv('a,b\n1,2\n'), 'HE_CSV_INVALID');
    expectCode(() => datasetFromCsv('a,target\nx,1\n'), 'HE_CSV_INVALID');
  });
});
