import { describe, expect, it } from 'vitest';
import {
  sampleDiscreteGaussianBigVector,
  sampleDiscreteGaussianVector,
} from '../../src/smpc/primitives/dp-sampler.ts';
import { seededRandomSource } from '../../src/smpc/simulate.ts';
import { chiSquare, discreteGaussianPmf } from './dp-stats.ts';

// Longer runs of the distribution tests in dp-sampler.test.ts: 10^6 samples at small variances
// (the regime where the discrete Gaussian differs most from a rounded continuous one), and the
// bigint engine at an exact rational variance with a large denominator.
describe('discrete Gaussian, long runs', () => {
  it.each([
    [{ numerator: 1n, denominator: 3n }, 1 / 3],
    [{ numerator: 1n, denominator: 2n }, 0.5],
    [{ numerator: 7n, denominator: 5n }, 1.4],
  ])('σ² = %o: 10^6 samples, chi-square and total variation against the exact pmf', (variance, v) => {
    const xs = sampleDiscreteGaussianVector(variance, 1_000_000, { random: seededRandomSource(`slow-${v}`) });
    const { pmf, support } = discreteGaussianPmf(v);
    const r = chiSquare(xs, pmf, support);
    expect(r.statistic, JSON.stringify(r)).toBeLessThan(r.critical);
    expect(r.tv).toBeLessThan(0.003);
  });

  it('σ² = 10^12/3 + 1/7 (bigint engine): 2·10^5 samples, binned chi-square against the exact pmf', () => {
    const variance = { numerator: 7n * 10n ** 12n + 3n, denominator: 21n };
    const v = 1e12 / 3 + 1 / 7;
    const xs = sampleDiscreteGaussianBigVector(variance, 200_000, { random: seededRandomSource('slow-big') });
    const sigma = Math.sqrt(v);
    // Bins of width σ/8 over ±6σ; the pmf of a bin is the Gaussian integral (the discrete and
    // continuous bin masses differ by far less than the test's resolution at this σ).
    const edges = (k: number) => k * (sigma / 8);
    const bins = new Map<number, number>();
    for (const x of xs) {
      const k = Math.max(-48, Math.min(47, Math.floor(Number(x) / (sigma / 8))));
      bins.set(k, (bins.get(k) ?? 0) + 1);
    }
    const phi = (z: number) => 0.5 * (1 + erf(z / Math.SQRT2));
    let stat = 0;
    for (let k = -48; k <= 47; k++) {
      const lo = k === -48 ? Number.NEGATIVE_INFINITY : edges(k) / sigma;
      const hi = k === 47 ? Number.POSITIVE_INFINITY : edges(k + 1) / sigma;
      const e = (phi(hi) - phi(lo)) * xs.length;
      stat += ((bins.get(k) ?? 0) - e) ** 2 / e;
    }
    const df = 95;
    const critical = df * (1 - 2 / (9 * df) + 4.5 * Math.sqrt(2 / (9 * df))) ** 3;
    expect(stat).toBeLessThan(critical);
  });
});

/** erf to ~1e-15: Maclaurin series below 3, the erfc continued fraction above. */
function erf(x: number): number {
  const t = Math.abs(x);
  if (t < 3) {
    // Maclaurin series, converges fast for |x| < 3.
    let sum = t;
    let term = t;
    for (let n = 1; n < 100; n++) {
      term *= (-t * t) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    const r = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -r : r;
  }
  // erfc continued fraction for |x| ≥ 3.
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (t + f);
  const erfc = Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f);
  return x < 0 ? erfc - 1 : 1 - erfc;
}
