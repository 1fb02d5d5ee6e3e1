import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { injectableRandom } from '../../src/smpc/primitives/random.ts';
import { createRing, ringFromIntegers, ringSum, ringToSigned } from '../../src/smpc/primitives/ring.ts';
import {
  assertSumFits,
  clipVector,
  dequantize,
  maxSummands,
  quantizationParams,
  quantize,
  stochasticRound,
} from '../../src/smpc/quantize.ts';
import { expectCode, seededRandom } from './helpers.ts';

describe('clipping', () => {
  it('L2 clipping scales to the bound and leaves short vectors alone', () => {
    const { values, clipped } = clipVector([3, 4], { clipL2: 1 });
    expect(clipped).toBe(true);
    expect(values[0]).toBeCloseTo(0.6, 12);
    expect(values[1]).toBeCloseTo(0.8, 12);
    expect(clipVector([0.3, 0.4], { clipL2: 1 })).toEqual({
      values: Float64Array.of(0.3, 0.4),
      clipped: false,
    });
  });

  it('L∞ clipping clamps each coordinate; L2 is applied first', () => {
    expect(Array.from(clipVector([5, -5, 0.5], { clipLInf: 1 }).values)).toEqual([1, -1, 0.5]);
    const both = clipVector([10, 0], { clipL2: 2, clipLInf: 1.5 }).values;
    expect(Array.from(both)).toEqual([1.5, 0]);
  });

  it('the output always satisfies both bounds (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { maxLength: 50 }),
        fc.double({ min: 1e-3, max: 100, noNaN: true }),
        fc.double({ min: 1e-3, max: 100, noNaN: true }),
        (xs, l2, lInf) => {
          const { values } = clipVector(xs, { clipL2: l2, clipLInf: lInf });
          let sq = 0;
          for (const v of values) {
            expect(Math.abs(v)).toBeLessThanOrEqual(lInf);
            sq += v * v;
          }
          expect(Math.sqrt(sq)).toBeLessThanOrEqual(l2 * (1 + 1e-12));
        },
      ),
    );
  });

  it('rejects non-finite input', () => {
    expectCode(() => clipVector([1, Number.NaN], { clipLInf: 1 }), 'INVALID_ARGUMENT');
    expectCode(() => clipVector([Number.POSITIVE_INFINITY], { clipLInf: 1 }), 'INVALID_ARGUMENT');
    expectCode(() => clipVector([1], { clipLInf: -1 }), 'INVALID_ARGUMENT');
  });
});

describe('stochastic rounding', () => {
  it('rounds integers to themselves and others to a neighbour', () => {
    const out = stochasticRound([1, -2, 0, 2.5, -2.5, 1e-300]);
    expect(out[0]).toBe(1);
    expect(out[1]).toBe(-2);
    expect(out[2]).toBe(0);
    expect([2, 3]).toContain(out[3]);
    expect([-3, -2]).toContain(out[4]);
    expect([0, 1]).toContain(out[5]);
  });

  it('is unbiased: 10^4 trials lie within 6 sigma of the true sum', () => {
    // Each trial rounds 0.3 (Bernoulli(0.3) extra); the mean of 10^4 sums of 10 such roundings
    // has standard deviation sqrt(10 · 0.21 / 10^4) ≈ 0.0145.
    const trials = 10_000;
    const xs = new Array<number>(10).fill(0.3);
    let total = 0;
    for (let t = 0; t < trials; t++) for (const v of stochasticRound(xs)) total += v;
    const mean = total / trials;
    expect(Math.abs(mean - 3)).toBeLessThan(6 * 0.0145);
  });

  it('is deterministic for an injected source and draws 8 bytes per entry', () => {
    let drawn = 0;
    const counting = injectableRandom((n: number) => {
      drawn += n;
      return seededRandom('r')(n);
    });
    const a = stochasticRound([0.5, 1.5, 2.5], counting);
    const b = stochasticRound([0.5, 1.5, 2.5], seededRandom('r'));
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(drawn).toBe(24);
  });
});

describe('quantize / dequantize', () => {
  it('derives parameters (M = 2^(v−1) − 1, scale = M / bound)', () => {
    const p = quantizationParams({ valueBits: 8, clipLInf: 2, clipL2: 4 });
    expect(p).toEqual({ scale: 127 / 2, maxMagnitude: 127, bound: 2, valueBits: 8, ringBits: 32 });
  });

  it('round-trips within one quantum per coordinate (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { maxLength: 30 }),
        fc.integer({ min: 2, max: 24 }),
        (xs, valueBits) => {
          const q = quantize(xs, { valueBits, clipLInf: 3, ringBits: 32 });
          const back = dequantize(q.values, q);
          for (let i = 0; i < xs.length; i++) {
            expect(Math.abs((back[i] as number) - (xs[i] as number))).toBeLessThanOrEqual(
              1 / q.scale + 1e-12,
            );
          }
        },
      ),
    );
  });

  it('encodes negatives centred in the ring and clamps at ±M', () => {
    const q = quantize([-1, 1, -5, 5], { valueBits: 8, clipLInf: 1, ringBits: 16 });
    expect(Array.from(q.values)).toEqual([2 ** 16 - 127, 127, 2 ** 16 - 127, 127]);
    expect(q.clipped).toBe(true);
    expect(Array.from(ringToSigned(q.values, createRing(16)))).toEqual([-127, 127, -127, 127]);
  });

  it('sums of quantized vectors dequantize to the sum of the inputs within n quanta', () => {
    const n = 25;
    const dim = 40;
    const rnd = seededRandom('inputs');
    const inputs: number[][] = [];
    for (let c = 0; c < n; c++) inputs.push(Array.from(rnd(dim), (b) => (b - 128) / 50));
    const opts = { valueBits: 16, clipLInf: 3, ringBits: 24 } as const;
    assertSumFits(n, opts.valueBits, opts.ringBits);
    const qs = inputs.map((x) => quantize(x, opts));
    const sum = dequantize(
      ringSum(
        qs.map((q) => q.values),
        createRing(opts.ringBits),
      ),
      qs[0] ?? quantizationParams(opts),
    );
    const scale = (qs[0] ?? quantizationParams(opts)).scale;
    for (let i = 0; i < dim; i++) {
      const truth = inputs.reduce((s, x) => s + (x[i] as number), 0);
      expect(Math.abs((sum[i] as number) - truth)).toBeLessThanOrEqual(n / scale);
    }
  });

  it('validates options', () => {
    expectCode(() => quantize([1], { valueBits: 8 }), 'INVALID_ARGUMENT');
    expectCode(() => quantize([1], { valueBits: 1, clipLInf: 1 }), 'INVALID_ARGUMENT');
    expectCode(() => quantize([1], { valueBits: 32, clipLInf: 1 }), 'INVALID_ARGUMENT');
    expectCode(() => quantize([1], { valueBits: 16, clipLInf: 1, ringBits: 12 }), 'INVALID_ARGUMENT');
    expectCode(() => quantize([1], { valueBits: 16, clipLInf: 0 }), 'INVALID_ARGUMENT');
    expectCode(() => quantize([Number.NaN], { valueBits: 16, clipLInf: 1 }), 'INVALID_ARGUMENT');
    expectCode(
      () =>
        quantize([0.5], { valueBits: 16, clipLInf: 1, random: injectableRandom(() => new Uint8Array(0)) }),
      'SMPC_BACKEND_UNAVAILABLE',
    );
  });
});

describe('overflow bounds', () => {
  it('maxSummands satisfies the ⌈log2 n⌉ + v rule and is tight', () => {
    for (const [v, b] of [
      [2, 2],
      [8, 16],
      [16, 32],
      [22, 32],
      [31, 32],
      [12, 20],
    ] as const) {
      const n = maxSummands(v, b);
      const m = 2 ** (v - 1) - 1;
      expect(n).toBeGreaterThanOrEqual(2 ** (b - v));
      expect(n * m).toBeLessThanOrEqual(2 ** (b - 1) - 1);
      expect((n + 1) * m).toBeGreaterThan(2 ** (b - 1) - 1);
    }
    expect(maxSummands(16, 8)).toBe(0);
  });

  it('n = maxSummands extreme inputs decode exactly; n + 1 is refused before any work', () => {
    const valueBits = 6;
    const ringBits = 12;
    const ring = createRing(ringBits);
    const n = maxSummands(valueBits, ringBits); // floor(2047 / 31) = 66
    expect(n).toBe(66);
    const m = 2 ** (valueBits - 1) - 1;
    const ones = new Array<Uint32Array>(n).fill(ringFromIntegers([m, -m], ring));
    expect(Array.from(ringToSigned(ringSum(ones, ring), ring))).toEqual([n * m, -n * m]);
    expect(() => assertSumFits(n, valueBits, ringBits)).not.toThrow();
    expectCode(() => assertSumFits(n + 1, valueBits, ringBits), 'SMPC_OVERFLOW_RISK');
    // and n + 1 extreme inputs really would wrap: the decoded sum is wrong
    const wrapped = ringToSigned(ringSum([...ones, ringFromIntegers([m, -m], ring)], ring), ring);
    expect(wrapped[0]).not.toBe((n + 1) * m);
  });

  it('validates arguments', () => {
    expectCode(() => assertSumFits(0, 8), 'INVALID_ARGUMENT');
    expectCode(() => maxSummands(8, 40), 'INVALID_ARGUMENT');
  });
});
