// Statistics helpers for the DP sampler tests: exact pmfs (in floats, for checking only) and a
// chi-square test against them.

/** The discrete Gaussian pmf N_Z(0, σ²) on [−K, K], normalised over that range (the rest is < 1e-30). */
export function discreteGaussianPmf(variance: number): { pmf: (x: number) => number; support: number } {
  const support = Math.ceil(13 * Math.sqrt(variance)) + 10;
  let z = 0;
  for (let x = -support; x <= support; x++) z += Math.exp((-x * x) / (2 * variance));
  return { pmf: (x) => (Math.abs(x) > support ? 0 : Math.exp((-x * x) / (2 * variance)) / z), support };
}

/** The discrete Laplace pmf with scale t: (1 − e^(−1/t)) / (1 + e^(−1/t)) · e^(−|x|/t). */
export function discreteLaplacePmf(t: number): (x: number) => number {
  const q = Math.exp(-1 / t);
  return (x) => ((1 - q) / (1 + q)) * q ** Math.abs(x);
}

/** Exact mean and variance of a pmf on [−support, support]. */
export function moments(pmf: (x: number) => number, support: number): { mean: number; variance: number } {
  let m = 0;
  let v = 0;
  for (let x = -support; x <= support; x++) {
    m += x * pmf(x);
    v += x * x * pmf(x);
  }
  return { mean: m, variance: v - m * m };
}

/**
 * Pearson's chi-square of integer samples against a pmf. Bins are single integers while their
 * expected count is at least `minExpected`, else grouped into width-`width` ranges, and the two
 * tails (everything beyond the last bin) are one bin each. Returns the statistic, degrees of
 * freedom and the critical value at p ≈ 3e-6 (Wilson–Hilferty, z = 4.5).
 */
export function chiSquare(
  samples: ArrayLike<number>,
  pmf: (x: number) => number,
  support: number,
  width = 1,
): { statistic: number; df: number; critical: number; tv: number } {
  const n = samples.length;
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const x = samples[i] as number;
    counts.set(x, (counts.get(x) ?? 0) + 1);
  }
  // Central bins of `width` integers each, from −support to support, merged while sparse.
  const bins: { lo: number; hi: number; p: number; c: number }[] = [];
  for (let lo = -support; lo <= support; lo += width) {
    const hi = Math.min(support, lo + width - 1);
    let p = 0;
    let c = 0;
    for (let x = lo; x <= hi; x++) {
      p += pmf(x);
      c += counts.get(x) ?? 0;
    }
    bins.push({ lo, hi, p, c });
  }
  const merged: { p: number; c: number }[] = [];
  let acc = { p: 0, c: 0 };
  for (const b of bins) {
    acc = { p: acc.p + b.p, c: acc.c + b.c };
    if (acc.p * n >= 5) {
      merged.push(acc);
      acc = { p: 0, c: 0 };
    }
  }
  if (merged.length > 0 && acc.p > 0) {
    const last = merged[merged.length - 1] as { p: number; c: number };
    last.p += acc.p;
    last.c += acc.c;
  }
  let outside = 0;
  for (const [x, c] of counts) if (Math.abs(x) > support) outside += c;
  let statistic = 0;
  let tv = outside / n;
  for (const b of merged) {
    const e = b.p * n;
    statistic += (b.c - e) ** 2 / e;
    tv += Math.abs(b.c / n - b.p);
  }
  if (outside > 0) statistic = Number.POSITIVE_INFINITY;
  const df = merged.length - 1;
  const z = 4.5;
  const critical = df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
  return { statistic, df, critical, tv: tv / 2 };
}
