import { describe, expect, it } from 'vitest';
import { createRing, ringSum } from '../../src/smpc/primitives/ring.ts';
import { dequantizeWeightedMean, quantizeWeighted } from '../../src/smpc/weighted.ts';
import { expectCode, seededRandom } from './helpers.ts';

describe('weighted means', () => {
  const opts = { maxWeight: 1000, valueBits: 20, clipLInf: 2 } as const;

  it('the securely summed packing decodes to Σw·x / Σw and Σw', () => {
    const rnd = seededRandom('w');
    const clients = Array.from({ length: 30 }, (_, c) => ({
      weight: 1 + ((c * 37) % 1000),
      x: Array.from(rnd(16), (b) => (b - 128) / 100),
    }));
    const packed = clients.map((c) => quantizeWeighted(c.x, c.weight, opts));
    const sum = ringSum(
      packed.map((p) => p.values),
      createRing(32),
    );
    const { mean, totalWeight } = dequantizeWeightedMean(sum, (packed[0] as (typeof packed)[number]).params);
    const W = clients.reduce((s, c) => s + c.weight, 0);
    expect(Math.abs(totalWeight - W) / W).toBeLessThan(1e-3);
    for (let i = 0; i < 16; i++) {
      const truth = clients.reduce((s, c) => s + c.weight * (c.x[i] as number), 0) / W;
      expect(Math.abs((mean[i] as number) - truth)).toBeLessThan(1e-3);
    }
  });

  it('refuses weights above the cap or not positive, instead of warning', () => {
    expectCode(() => quantizeWeighted([0.1], 1000.5, opts), 'SMPC_WEIGHT_OUT_OF_RANGE');
    expectCode(() => quantizeWeighted([0.1], 0, opts), 'SMPC_WEIGHT_OUT_OF_RANGE');
    expectCode(() => quantizeWeighted([0.1], -3, opts), 'SMPC_WEIGHT_OUT_OF_RANGE');
    expectCode(() => quantizeWeighted([0.1], Number.NaN, opts), 'INVALID_ARGUMENT');
    expectCode(() => quantizeWeighted([0.1], 1, { ...opts, maxWeight: 0 }), 'INVALID_ARGUMENT');
    expect(quantizeWeighted([0.1], 1000, opts).values.length).toBe(2);
  });

  it('keeps every packed entry within ±M and clips values first', () => {
    const { values, params, clipped } = quantizeWeighted([50, -50, 0.5], 1000, opts);
    expect(clipped).toBe(true);
    const signed = Array.from(values, (v) => (v >= 2 ** 31 ? v - 2 ** 32 : v));
    for (const v of signed) expect(Math.abs(v)).toBeLessThanOrEqual(params.maxMagnitude);
    expect(signed[0]).toBe(params.maxMagnitude); // w′ = 1
  });

  it('refuses an aggregate without weight', () => {
    const { params } = quantizeWeighted([0.1], 1, opts);
    expectCode(() => dequantizeWeightedMean(new Uint32Array(2), params), 'SMPC_WEIGHT_OUT_OF_RANGE');
  });
});
