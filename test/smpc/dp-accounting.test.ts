import { describe, expect, it } from 'vitest';
import {
  type DdgAccountingInput,
  ddgEpsilon,
  ddgRenyi,
  ddgTau,
  ddgZcdpRho,
  REFERENCE_RDP_ORDERS,
  roundedL2Bound,
  zcdpToEpsilon,
} from '../../src/smpc/dp-accounting.ts';
import { expectCode } from './helpers.ts';

// Known answers from the authors' reference implementation of the distributed discrete Gaussian:
// google-research/federated, distributed_dp/accounting_utils.py @ 5e27a86 — `ddgauss_epsilon(gamma,
// local_stddev, num_clients, l2_sens, beta, dim, q=1, steps, delta)`, which applies
// `rounded_l2_norm_bound`, τ, `compute_rdp_dgaussian` (Prop. 14 / Eq. 17 of arXiv 2102.06387) and
// TF Privacy's `get_privacy_spent` over the orders 2..128 and 256. The numbers were produced by running
// a line-by-line transcription of those functions (numpy/scipy only; TF Privacy's `_compute_eps` is
// ε = r + log1p(−1/α) − log(δα)/(α − 1)), with γ = 1/scale and the stddev in real units.
const REFERENCE = [
  // gamma, local stddev (real), clients, l2 clip, beta, dim, steps, delta -> eps, rounded l2 (quantized), tau
  {
    gamma: 2 ** -12,
    sd: 0.5,
    n: 100,
    c: 1,
    beta: Math.exp(-0.5),
    d: 1000,
    R: 1,
    delta: 1e-5,
    eps: 0.7946364255931888,
    l2: 4096.532413076736,
    tau: 0,
  },
  {
    gamma: 2 ** -12,
    sd: 2,
    n: 100,
    c: 1,
    beta: Math.exp(-0.5),
    d: 1000,
    R: 100,
    delta: 1e-5,
    eps: 2.1683356170569428,
  },
  {
    gamma: 2 ** -10,
    sd: 0.05,
    n: 1000,
    c: 1,
    beta: 0,
    d: 100_000,
    R: 10,
    delta: 1e-6,
    eps: 16.230982749393487,
    l2: 1340.227766016838,
  },
  {
    gamma: 2 ** -8,
    sd: 0.4,
    n: 20,
    c: 0.5,
    beta: Math.exp(-0.5),
    d: 64,
    R: 5,
    delta: 1e-5,
    eps: 2.790723547728345,
    l2: 128.57682528356344,
  },
  {
    gamma: 1,
    sd: 0.7,
    n: 1000,
    c: 8,
    beta: 0,
    d: 4,
    R: 1,
    delta: 1e-5,
    eps: 5.029544041669798,
    l2: 10,
    tau: 0.77278131040513,
  },
  {
    gamma: 1,
    sd: 1,
    n: 1000,
    c: 20,
    beta: 0,
    d: 1000,
    R: 3,
    delta: 1e-5,
    eps: 17.061547658470694,
    tau: 0.0005731282577500228,
  },
  {
    gamma: 0.5,
    sd: 0.4,
    n: 200,
    c: 4,
    beta: Math.exp(-0.5),
    d: 10,
    R: 2,
    delta: 1e-6,
    eps: 6.3891228069242505,
    l2: 8.722450276733264,
    tau: 0.030019538165538234,
  },
] as const;

function inputOf(r: (typeof REFERENCE)[number]): DdgAccountingInput {
  const scale = 1 / r.gamma;
  return {
    l2Sensitivity: roundedL2Bound(r.c * scale, r.d, r.beta),
    localVariance: (r.sd * scale) ** 2,
    clients: r.n,
    dimension: r.d,
    rounds: r.R,
  };
}

function relative(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

describe('distributed discrete Gaussian accounting', () => {
  it.each(REFERENCE.map((r, i) => [i, r] as const))(
    'reference case %d: the same ε as google-research ddgauss_epsilon on its orders; ≤ it over all α',
    (_, r) => {
      const input = inputOf(r);
      if ('l2' in r) expect(relative(input.l2Sensitivity, r.l2)).toBeLessThan(1e-13);
      if ('tau' in r) {
        const tau = ddgTau(r.n, input.localVariance);
        if (r.tau === 0) expect(tau).toBeLessThan(1e-300);
        else expect(relative(tau, r.tau)).toBeLessThan(1e-12);
      }
      expect(relative(ddgEpsilon(input, r.delta, REFERENCE_RDP_ORDERS), r.eps)).toBeLessThan(1e-12);
      const continuous = ddgEpsilon(input, r.delta);
      expect(continuous).toBeLessThanOrEqual(r.eps);
      expect(continuous).toBeGreaterThan(r.eps * 0.97);
    },
  );

  it('τ has its closed forms: 0 for one client, 10·e^(−π²σ²) for two', () => {
    expect(ddgTau(1, 0.3)).toBe(0);
    expect(relative(ddgTau(2, 0.3), 10 * Math.exp(-Math.PI * Math.PI * 0.3))).toBeLessThan(1e-14);
    expect(ddgTau(100, 0.25)).toBeGreaterThan(ddgTau(50, 0.25));
    expect(ddgTau(100, 0.5)).toBeLessThan(ddgTau(100, 0.25));
  });

  it('rounded sensitivity: c + √d without conditioning, the smaller conditional bound with β > 0', () => {
    expect(roundedL2Bound(1000, 100, 0)).toBe(1010);
    const b = roundedL2Bound(4096, 1000, Math.exp(-0.5));
    expect(b).toBeLessThan(4096 + Math.sqrt(1000));
    expect(b).toBeGreaterThan(4096);
    // With a tiny β (few retries allowed) and a small c, the plain bound is the smaller one.
    expect(roundedL2Bound(0.5, 1, 1e-10)).toBe(1.5);
    expect(roundedL2Bound(0.5, 4, 0.5)).toBeCloseTo(Math.sqrt(0.25 + 1 + Math.sqrt(2 * Math.LN2) * 1.5), 12);
  });

  it('large noise: the continuous Gaussian zCDP Δ²/(2mσ²), and ε from it by the CKS conversion', () => {
    const input = { l2Sensitivity: 100, localVariance: 1e4, clients: 20, dimension: 50 };
    const rho = 100 ** 2 / (2 * 20 * 1e4);
    expect(relative(ddgZcdpRho(input), rho)).toBeLessThan(1e-12);
    expect(relative(ddgRenyi(input, 7), 7 * rho)).toBeLessThan(1e-12);
    expect(relative(ddgEpsilon(input, 1e-6), zcdpToEpsilon(rho, 1e-6))).toBeLessThan(1e-9);
  });

  // Known answers of cdp_eps(rho, delta) from the reference code of Canonne, Kamath and Steinke
  // (IBM/discrete-gaussian-differential-privacy, cdp2adp.py), computed with that function as published.
  it.each([
    [0.5, 1e-5, 4.728386984943314],
    [0.1, 1e-6, 2.141938928385474],
    [2, 1e-5, 10.724824112939174],
    [0.01, 1e-8, 0.752325885458362],
  ])('zCDP ρ = %d at δ = %d converts to the CKS cdp_eps value', (rho, delta, eps) => {
    expect(relative(zcdpToEpsilon(rho, delta), eps)).toBeLessThan(1e-9);
    // and beats the classical ρ + 2√(ρ ln(1/δ)) (Bun–Steinke Prop. 1.3)
    expect(zcdpToEpsilon(rho, delta)).toBeLessThan(rho + 2 * Math.sqrt(rho * Math.log(1 / delta)));
  });

  it('composition: R rounds add divergences; ε grows with R and ρ is linear in R', () => {
    const one = { l2Sensitivity: 50, localVariance: 400, clients: 30, dimension: 200 };
    expect(relative(ddgZcdpRho({ ...one, rounds: 10 }), 10 * ddgZcdpRho(one))).toBeLessThan(1e-12);
    expect(relative(ddgRenyi({ ...one, rounds: 10 }, 3), 10 * ddgRenyi(one, 3))).toBeLessThan(1e-12);
    const tenSame = ddgEpsilon({ ...one, rounds: 10 }, 1e-5);
    const tenListed = ddgEpsilon(
      Array.from({ length: 10 }, () => one),
      1e-5,
    );
    expect(relative(tenListed, tenSame)).toBeLessThan(1e-6);
    expect(tenSame).toBeGreaterThan(ddgEpsilon(one, 1e-5));
    // heterogeneous rounds sit between their homogeneous neighbours
    const mixed = ddgEpsilon([one, { ...one, clients: 10 }], 1e-5);
    expect(mixed).toBeGreaterThan(ddgEpsilon({ ...one, rounds: 2 }, 1e-5));
    expect(mixed).toBeLessThan(ddgEpsilon({ ...one, clients: 10, rounds: 2 }, 1e-5));
  });

  it('monotone: more noise or more clients lowers ε; more sensitivity or smaller δ raises it', () => {
    const base = { l2Sensitivity: 50, localVariance: 100, clients: 30, dimension: 200 };
    const e = ddgEpsilon(base, 1e-5);
    expect(ddgEpsilon({ ...base, localVariance: 200 }, 1e-5)).toBeLessThan(e);
    expect(ddgEpsilon({ ...base, clients: 60 }, 1e-5)).toBeLessThan(e);
    expect(ddgEpsilon({ ...base, l2Sensitivity: 60 }, 1e-5)).toBeGreaterThan(e);
    expect(ddgEpsilon(base, 1e-8)).toBeGreaterThan(e);
    // τ counted at a larger cohort only adds ε (the planner's worst case)
    expect(ddgEpsilon({ ...base, localVariance: 0.3, tauClients: 300 }, 1e-5)).toBeGreaterThan(
      ddgEpsilon({ ...base, localVariance: 0.3 }, 1e-5),
    );
  });

  it('validates its arguments', () => {
    const ok = { l2Sensitivity: 1, localVariance: 1, clients: 2, dimension: 1 };
    for (const delta of [0, 1, -1, Number.NaN, 2])
      expectCode(() => ddgEpsilon(ok, delta), 'INVALID_ARGUMENT');
    expectCode(() => ddgEpsilon({ ...ok, localVariance: 0 }, 1e-5), 'INVALID_ARGUMENT');
    expectCode(() => ddgEpsilon({ ...ok, localVariance: Number.NaN }, 1e-5), 'INVALID_ARGUMENT');
    expectCode(() => ddgEpsilon({ ...ok, l2Sensitivity: -1 }, 1e-5), 'INVALID_ARGUMENT');
    expectCode(() => ddgEpsilon({ ...ok, clients: 0 }, 1e-5), 'INVALID_ARGUMENT');
    expectCode(() => ddgEpsilon({ ...ok, dimension: 1.5 }, 1e-5), 'INVALID_ARGUMENT');
    expectCode(() => ddgEpsilon({ ...ok, rounds: 0 }, 1e-5), 'INVALID_ARGUMENT');
    expectCode(() => ddgEpsilon([], 1e-5), 'INVALID_ARGUMENT');
    expectCode(() => ddgEpsilon(ok, 1e-5, [1]), 'INVALID_ARGUMENT');
    expectCode(() => ddgRenyi(ok, 1), 'INVALID_ARGUMENT');
    expectCode(() => zcdpToEpsilon(-1, 1e-5), 'INVALID_ARGUMENT');
    expectCode(() => roundedL2Bound(1, 1, 1), 'INVALID_ARGUMENT');
    expect(zcdpToEpsilon(0, 1e-5)).toBe(0);
  });
});
