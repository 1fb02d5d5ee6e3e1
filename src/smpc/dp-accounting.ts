/**
 * Privacy accounting for the distributed discrete Gaussian (pure functions, in floating point):
 * how much privacy the sum of m clients' independent N_Z(0, σ²) noises gives a vector of L2
 * sensitivity Δ₂ in d dimensions, over R rounds, as (ε, δ)-DP.
 *
 * Follows Kairouz, Liu and Steinke, "The Distributed Discrete Gaussian Mechanism for Federated
 * Learning with Secure Aggregation" (ICML 2021, arXiv 2102.06387), Proposition 14 / Eq. 17 and
 * Theorem 1, as the authors' reference implementation computes it (google-research/federated,
 * `distributed_dp/accounting_utils.py`, `compute_rdp_dgaussian` and `ddgauss_epsilon`): with
 * τ = 10 · Σ_{k=1}^{m−1} exp(−2π²σ²·k/(k+1)), a = Δ₂/(√m·σ) and a₁ = Δ₁/(√m·σ), one round satisfies
 * Rényi DP of every order α > 1 with
 *
 *   D_α ≤ min( α·a²/2 + τd,  α/2·(a² + 2a₁τ + τ²d),  α/2·(a + τ√d)² ).
 *
 * Rounds compose by adding divergences (R·D_α). The (ε, δ) conversion is the one of Canonne,
 * Kamath and Steinke (NeurIPS 2020, arXiv 2004.00010, Proposition 12 / their `cdp_eps`):
 * ε = min over α of D_α + log(1 − 1/α) − (log δ + log α)/(α − 1), which is also what TF Privacy's
 * `get_privacy_spent` computes on a grid of orders. Here α ranges over the reals (a geometric grid
 * refined by golden-section search), so the result is never above the grid's; any α gives a valid
 * bound, so an imprecise search can only cost tightness, never privacy.
 *
 * The ρ-zCDP form (D_α ≤ ρα for all α ≥ 1) is reported too: ρ = min(a²/2 + τd, (a² + 2a₁τ +
 * τ²d)/2, (a + τ√d)²/2) per round, i.e. ½ε̂² with ε̂ = min(√(a² + 2τd), a + τ√d, …). The first term
 * uses 2τd (τd ≤ α·τd for α ≥ 1), the bound Eq. 17 supports; we did not rely on a sharper
 * constant we could not check against the paper's text.
 *
 * Sensitivity after scaling and stochastic rounding (Theorem 1 / Proposition 22 of the same paper,
 * `rounded_l2_norm_bound` in the reference): a vector of norm ≤ c (in quantized units) rounds to
 * norm ≤ c + √d always, and, with conditional rounding that retries until it holds (each try fails
 * with probability ≤ β), to √(c² + d/4 + √(2 ln(1/β))·(c + √d/2)). Δ₁ ≤ Δ₂·min(√d, Δ₂) on the
 * integer grid (`rounded_l1_norm_bound`).
 *
 * Deliberately not here: subsampling amplification (every client of the cohort participates),
 * Skellam accounting, sampling, and planning (`dp.ts`).
 *
 * @module
 */

import { ConfideArgumentError } from '../errors.ts';
import { assertInteger } from '../internal/assert.ts';

/** What one (or R identical) rounds of the distributed discrete Gaussian look like. */
export interface DdgAccountingInput {
  /** L2 sensitivity of one client's rounded vector, in quantized units. */
  readonly l2Sensitivity: number;
  /** L1 sensitivity in quantized units; defaults to Δ₂·min(√d, Δ₂). */
  readonly l1Sensitivity?: number;
  /** Variance σ² of each client's noise, in quantized units². */
  readonly localVariance: number;
  /** Number of clients whose noise is in the sum (the survivors). */
  readonly clients: number;
  readonly dimension: number;
  /** Number of rounds composed (default 1). */
  readonly rounds?: number;
  /**
   * Clients counted in τ, if not `clients`. τ grows with the cohort while a shrinks with it, so a
   * bound for every survivor count in [t, n] takes a at t and τ at n (the planner's worst case).
   */
  readonly tauClients?: number;
}

/** The orders TF Privacy and the reference use by default: 2..128 and 256. */
export const REFERENCE_RDP_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 127 }, (_, i) => i + 2),
  256,
]);

function positive(value: unknown, label: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value;
  throw new ConfideArgumentError('INVALID_ARGUMENT', `${label} must be a positive finite number`);
}

function checkDelta(delta: unknown): number {
  if (typeof delta === 'number' && delta > 0 && delta < 1) return delta;
  throw new ConfideArgumentError('INVALID_ARGUMENT', 'delta must be a number in (0, 1)');
}

/**
 * τ = 10 · Σ_{k=1}^{m−1} exp(−2π²σ²·k/(k+1)) (Theorem 1): how far the sum of m discrete Gaussians
 * of variance σ² is from a discrete Gaussian of variance mσ². Zero for one client.
 *
 * @example
 * ```ts
 * ddgTau(100, 1); // ≈ 1.4e-6
 * ```
 */
export function ddgTau(clients: number, localVariance: number): number {
  const m = assertInteger(clients, 'clients', 1, 100_000_000);
  const s2 = positive(localVariance, 'localVariance');
  const c = -2 * Math.PI * Math.PI * s2;
  let tau = 0;
  for (let k = 1; k < m; k++) tau += Math.exp((c * k) / (k + 1));
  return 10 * tau;
}

/**
 * The L2 norm bound after stochastic rounding of a vector of norm ≤ `scaledNorm` (quantized units)
 * in `dimension` coordinates; `beta` > 0 is the conditional-rounding parameter (0 for plain
 * rounding, bound c + √d).
 *
 * @example
 * ```ts
 * roundedL2Bound(1000, 100, 0); // 1010
 * ```
 */
export function roundedL2Bound(scaledNorm: number, dimension: number, beta: number): number {
  const c = positive(scaledNorm, 'scaledNorm');
  const d = assertInteger(dimension, 'dimension', 1, Number.MAX_SAFE_INTEGER);
  if (!(typeof beta === 'number' && beta >= 0 && beta < 1)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'beta must be a number in [0, 1)');
  }
  const plain = c + Math.sqrt(d);
  if (beta === 0) return plain;
  const conditioned = Math.sqrt(
    c * c + 0.25 * d + Math.sqrt(2 * Math.log(1 / beta)) * (c + 0.5 * Math.sqrt(d)),
  );
  return Math.min(plain, conditioned);
}

/** The L1 bound Δ₁ ≤ Δ₂·min(√d, Δ₂) for integer vectors of L2 norm ≤ Δ₂. */
export function roundedL1Bound(l2Bound: number, dimension: number): number {
  return l2Bound * Math.min(Math.sqrt(dimension), l2Bound);
}

interface Terms {
  /** The three (slope, intercept) pairs: D_α ≤ min_i (slope_i·α + intercept_i), for all rounds. */
  readonly lines: readonly (readonly [number, number])[];
}

function terms(input: DdgAccountingInput): Terms {
  const l2 = positive(input.l2Sensitivity, 'l2Sensitivity');
  const s2 = positive(input.localVariance, 'localVariance');
  const m = assertInteger(input.clients, 'clients', 1, 100_000_000);
  const d = assertInteger(input.dimension, 'dimension', 1, Number.MAX_SAFE_INTEGER);
  const rounds = assertInteger(input.rounds ?? 1, 'rounds', 1, 1_000_000);
  const l1 =
    input.l1Sensitivity === undefined
      ? roundedL1Bound(l2, d)
      : positive(input.l1Sensitivity, 'l1Sensitivity');
  const tau = ddgTau(input.tauClients ?? m, s2);
  const sd = Math.sqrt(m * s2);
  const a = l2 / sd;
  const a1 = l1 / sd;
  const lines: [number, number][] = [
    [(a * a) / 2, tau * d],
    [(a * a + 2 * a1 * tau + tau * tau * d) / 2, 0],
    [(a + tau * Math.sqrt(d)) ** 2 / 2, 0],
  ];
  return { lines: lines.map(([s, i]) => [s * rounds, i * rounds] as const) };
}

/**
 * The Rényi divergence bound D_α of R rounds (Proposition 14 / Eq. 17), for α > 1.
 *
 * @example
 * ```ts
 * ddgRenyi({ l2Sensitivity: 10, localVariance: 100, clients: 4, dimension: 1 }, 2); // ≈ 0.25
 * ```
 */
export function ddgRenyi(input: DdgAccountingInput, alpha: number): number {
  if (!(typeof alpha === 'number' && alpha > 1 && Number.isFinite(alpha))) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'alpha must be a finite number above 1');
  }
  let best = Number.POSITIVE_INFINITY;
  for (const [s, i] of terms(input).lines) best = Math.min(best, s * alpha + i);
  return best;
}

/** ρ such that R rounds are ρ-zCDP (D_α ≤ ρα for every α ≥ 1). */
export function ddgZcdpRho(input: DdgAccountingInput): number {
  let best = Number.POSITIVE_INFINITY;
  for (const [s, i] of terms(input).lines) best = Math.min(best, s + i);
  return best;
}

/**
 * min over α > 1 of ε(α) = D(α) + log(1 − 1/α) − (log δ + log α)/(α − 1): a geometric grid on
 * α − 1 from 1e-6 to 1e8, then golden-section refinement around the best grid point.
 */
function minimiseEpsilon(renyi: (alpha: number) => number, logDelta: number): number {
  const f = (x: number) => {
    const alpha = 1 + Math.exp(x);
    return renyi(alpha) + Math.log1p(-1 / alpha) - (logDelta + Math.log(alpha)) / (alpha - 1);
  };
  const lo = Math.log(1e-6);
  const hi = Math.log(1e8);
  const steps = 240;
  let bestI = 0;
  let bestV = Number.POSITIVE_INFINITY;
  for (let i = 0; i <= steps; i++) {
    const v = f(lo + ((hi - lo) * i) / steps);
    if (v < bestV) {
      bestV = v;
      bestI = i;
    }
  }
  let a = lo + ((hi - lo) * Math.max(0, bestI - 1)) / steps;
  let b = lo + ((hi - lo) * Math.min(steps, bestI + 1)) / steps;
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let k = 0; k < 80; k++) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  return Math.min(bestV, fc, fd);
}

/**
 * ε of ρ-zCDP at δ with the conversion of Canonne, Kamath and Steinke (Prop. 12 / `cdp_eps`).
 *
 * @example
 * ```ts
 * zcdpToEpsilon(0.5, 1e-5); // ≈ 5.3 (the classical ρ + 2√(ρ ln(1/δ)) gives 5.30…; CKS is a bit lower)
 * ```
 */
export function zcdpToEpsilon(rho: number, delta: number): number {
  if (!(typeof rho === 'number' && Number.isFinite(rho) && rho >= 0)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'rho must be a finite number ≥ 0');
  }
  const ld = Math.log(checkDelta(delta));
  if (rho === 0) return 0;
  return Math.max(
    0,
    minimiseEpsilon((alpha) => rho * alpha, ld),
  );
}

/**
 * The ε at `delta` of R rounds of the distributed discrete Gaussian, minimised over all real
 * orders α > 1 (or over `orders` when given, as TF Privacy does — for comparing with it). An array
 * composes rounds that differ (e.g. in their number of survivors): their divergences add.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for out-of-range inputs.
 * @example
 * ```ts
 * ddgEpsilon({ l2Sensitivity: 1000, localVariance: 5e5, clients: 10, dimension: 100, rounds: 1 }, 1e-5);
 * ```
 */
export function ddgEpsilon(
  input: DdgAccountingInput | readonly DdgAccountingInput[],
  delta: number,
  orders?: readonly number[],
): number {
  const ld = Math.log(checkDelta(delta));
  const parts = Array.isArray(input)
    ? (input as readonly DdgAccountingInput[])
    : [input as DdgAccountingInput];
  if (parts.length === 0) throw new ConfideArgumentError('INVALID_ARGUMENT', 'input must not be empty');
  const all = parts.map((p) => terms(p).lines);
  const renyi = (alpha: number) => {
    let total = 0;
    for (const lines of all) {
      let rdp = Number.POSITIVE_INFINITY;
      for (const [s, i] of lines) rdp = Math.min(rdp, s * alpha + i);
      total += rdp;
    }
    return total;
  };
  let best = Number.POSITIVE_INFINITY;
  if (orders !== undefined) {
    for (const alpha of orders) {
      if (!(typeof alpha === 'number' && alpha > 1)) {
        throw new ConfideArgumentError('INVALID_ARGUMENT', 'every order must be a number above 1');
      }
      best = Math.min(best, renyi(alpha) + Math.log1p(-1 / alpha) - (ld + Math.log(alpha)) / (alpha - 1));
    }
  } else if (all.length === 1) {
    // One kind of round: min over α of a min of lines is the min over lines of each line's optimum,
    // and each line's ε(α) has a single minimum, so this is as tight as the search can be.
    for (const [s, i] of all[0] as readonly (readonly [number, number])[]) {
      best = Math.min(
        best,
        minimiseEpsilon((alpha) => s * alpha + i, ld),
      );
    }
  } else {
    best = minimiseEpsilon(renyi, ld);
  }
  return Math.max(0, best);
}
