import { describe, expect, it } from 'vitest';
import {
  MAX_INT32_VARIANCE,
  sampleDiscreteGaussian,
  sampleDiscreteGaussianBigVector,
  sampleDiscreteGaussianVector,
  samplerInternals,
  toRational,
} from '../../src/smpc/primitives/dp-sampler.ts';
import { injectableRandom } from '../../src/smpc/primitives/random.ts';
import { seededRandomSource } from '../../src/smpc/simulate.ts';
import { chiSquare, discreteGaussianPmf, discreteLaplacePmf, moments } from './dp-stats.ts';
import { expectCode } from './helpers.ts';

const N = 100_000;

describe('exact rationals', () => {
  it('converts numbers exactly from their binary64 value, and reduces', () => {
    expect(toRational(0.5)).toEqual({ numerator: 1n, denominator: 2n });
    expect(toRational(2.5)).toEqual({ numerator: 5n, denominator: 2n });
    expect(toRational(1e6)).toEqual({ numerator: 1000000n, denominator: 1n });
    // 0.1 is not 1/10 in binary64: it is 3602879701896397 / 2^55.
    expect(toRational(0.1)).toEqual({ numerator: 3602879701896397n, denominator: 2n ** 55n });
    expect(toRational(Number.MIN_VALUE)).toEqual({ numerator: 1n, denominator: 2n ** 1074n });
    expect(toRational({ numerator: 6n, denominator: 4n })).toEqual({ numerator: 3n, denominator: 2n });
    expect(toRational(7n)).toEqual({ numerator: 7n, denominator: 1n });
  });

  it('refuses variances that are not positive and finite', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 0n, -3n]) {
      expectCode(() => toRational(bad as number), 'INVALID_ARGUMENT');
      expectCode(() => sampleDiscreteGaussian(bad as number), 'INVALID_ARGUMENT');
    }
    expectCode(() => toRational({ numerator: 1n, denominator: 0n }), 'INVALID_ARGUMENT');
    expectCode(() => toRational({ numerator: -1n, denominator: 2n }), 'INVALID_ARGUMENT');
    expectCode(() => toRational({ numerator: 1, denominator: 2 } as never), 'INVALID_ARGUMENT');
    expectCode(() => toRational('2' as never), 'INVALID_ARGUMENT');
  });

  it('floorSqrt is exact on big integers', () => {
    const { floorSqrt } = samplerInternals;
    for (const n of [
      0n,
      1n,
      2n,
      3n,
      4n,
      15n,
      16n,
      17n,
      10n ** 40n,
      10n ** 40n - 1n,
      (2n ** 61n - 1n) ** 2n,
    ]) {
      const r = floorSqrt(n);
      expect(r * r <= n && (r + 1n) * (r + 1n) > n, String(n)).toBe(true);
    }
  });
});

describe('Bernoulli(exp(−γ)) (CKS Algorithm 1)', () => {
  it.each([
    [0n, 1n],
    [1n, 3n],
    [1n, 1n],
    [5n, 2n],
    [7n, 3n],
  ])('γ = %d/%d matches exp(−γ) within 5 standard errors', (n, d) => {
    const e = samplerInternals.engine(1, seededRandomSource(`bexp-${n}-${d}`));
    const trials = 40_000;
    let hits = 0;
    for (let i = 0; i < trials; i++) if (e.bernoulliExp(n, d)) hits++;
    const p = Math.exp(-Number(n) / Number(d));
    const se = Math.sqrt((p * (1 - p)) / trials);
    if (p === 1) expect(hits).toBe(trials);
    else expect(Math.abs(hits / trials - p)).toBeLessThan(5 * se);
  });
});

describe('discrete Laplace (CKS Algorithm 2)', () => {
  it.each([1n, 3n, 10n])('scale t = %d matches the exact pmf (chi-square, TV)', (t) => {
    const e = samplerInternals.engine(1, seededRandomSource(`dlap-${t}`));
    const xs = Array.from({ length: 50_000 }, () => Number(e.laplace(t)));
    const pmf = discreteLaplacePmf(Number(t));
    const support = Math.ceil(Number(t) * 40);
    const r = chiSquare(xs, pmf, support);
    expect(r.statistic, JSON.stringify(r)).toBeLessThan(r.critical);
    expect(r.tv).toBeLessThan(0.02);
  });
});

describe('discrete Gaussian (CKS Algorithm 3)', () => {
  it.each([0.5, 1, 2.5, 1 / 3, 40_000])(
    'σ² = %d: 10^5 samples match the exact pmf, with mean ≈ 0 and variance ≈ Var within CLT bounds',
    (variance) => {
      const xs = sampleDiscreteGaussianVector(variance, N, { random: seededRandomSource(`dg-${variance}`) });
      const { pmf, support } = discreteGaussianPmf(variance);
      const width = Math.max(1, Math.floor(Math.sqrt(variance) / 8));
      const r = chiSquare(xs, pmf, support, width);
      expect(r.df).toBeGreaterThan(2);
      expect(r.statistic, JSON.stringify(r)).toBeLessThan(r.critical);
      if (width === 1) expect(r.tv).toBeLessThan(0.01);
      // Moments against the exact pmf's (below σ² for small σ: N_Z(0, σ²) has variance < σ²).
      const exact = moments(pmf, support);
      let m = 0;
      let s2 = 0;
      let s4 = 0;
      for (const x of xs) {
        m += x;
        s2 += x * x;
        s4 += x ** 4;
      }
      m /= N;
      s2 /= N;
      s4 /= N;
      expect(Math.abs(m)).toBeLessThan(5 * Math.sqrt(exact.variance / N));
      const varOfSquare = s4 - s2 * s2;
      expect(Math.abs(s2 - exact.variance)).toBeLessThan(5 * Math.sqrt(varOfSquare / N));
      if (variance < 1) expect(exact.variance).toBeLessThan(variance);
    },
  );

  it('is deterministic given the bytes: the same stream gives the same samples, another does not', () => {
    const a = sampleDiscreteGaussianVector(2.5, 1000, { random: seededRandomSource('same') });
    const b = sampleDiscreteGaussianVector(2.5, 1000, { random: seededRandomSource('same') });
    const c = sampleDiscreteGaussianVector(2.5, 1000, { random: seededRandomSource('other') });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('the number and bigint engines return identical samples from identical bytes', () => {
    for (const v of [0.5, 2.5, { numerator: 1n, denominator: 3n }, 1000, 123_456]) {
      const e1 = samplerInternals.engine(v, seededRandomSource(`engines-${v}`));
      const e2 = samplerInternals.engine(v, seededRandomSource(`engines-${v}`));
      expect(e1.fast, String(v)).toBe(true); // (1/3 as a double, 6004799503160661/2^54, would not be)
      const fast = Array.from({ length: 3000 }, () => e1.sample());
      const big = Array.from({ length: 3000 }, () => e2.sampleWithBigints());
      expect(fast).toEqual(big);
    }
  });

  it('handles a large exact rational variance (10^12 / 3) on bigints, with the right spread', () => {
    const variance = { numerator: 10n ** 12n, denominator: 3n };
    expect(samplerInternals.engine(variance, seededRandomSource('x')).fast).toBe(false);
    const xs = sampleDiscreteGaussianBigVector(variance, 4000, { random: seededRandomSource('big') });
    let s2 = 0;
    for (const x of xs) s2 += Number(x) ** 2;
    const sigma2 = 1e12 / 3;
    // Var(X²) = 2σ⁴ for σ this large; 5 standard errors.
    expect(Math.abs(s2 / xs.length - sigma2)).toBeLessThan(5 * Math.sqrt((2 * sigma2 * sigma2) / xs.length));
    const one = sampleDiscreteGaussian(
      { numerator: 10n ** 30n, denominator: 7n },
      seededRandomSource('huge'),
    );
    expect(typeof one).toBe('bigint');
    expect(one > -(10n ** 17n) && one < 10n ** 17n).toBe(true);
  });

  it('refuses bad lengths, variances too large for the output type, and broken random sources', () => {
    expectCode(() => sampleDiscreteGaussianVector(1, -1), 'INVALID_ARGUMENT');
    expectCode(() => sampleDiscreteGaussianVector(1, 1.5), 'INVALID_ARGUMENT');
    expectCode(() => sampleDiscreteGaussianVector(MAX_INT32_VARIANCE * 2, 1), 'INVALID_ARGUMENT');
    expect(sampleDiscreteGaussianVector(MAX_INT32_VARIANCE, 2)).toHaveLength(2);
    expectCode(() => sampleDiscreteGaussianBigVector(2n ** 121n, 1), 'INVALID_ARGUMENT');
    expectCode(
      () => sampleDiscreteGaussianVector(1, 1, { random: injectableRandom(() => new Uint8Array(3)) }),
      'SMPC_BACKEND_UNAVAILABLE',
    );
    expectCode(() => sampleDiscreteGaussianVector(1, 1, { random: 'x' as never }), 'INVALID_ARGUMENT');
    expect(sampleDiscreteGaussianVector(1, 0)).toHaveLength(0);
  });

  it('uses the platform CSPRNG by default', () => {
    const a = sampleDiscreteGaussianVector(1e6, 64);
    const b = sampleDiscreteGaussianVector(1e6, 64);
    expect(a).not.toEqual(b);
  });
});
