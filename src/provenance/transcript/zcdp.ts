/**
 * The zCDP arithmetic of the transcript ε ledger (`verify.ts`), self-contained so an auditor needs
 * nothing but `confide/provenance` (the provenance layers do not import `confide/smpc`).
 *
 * - One round of the distributed discrete Gaussian with m survivors, each adding N_Z(0, σ²) to a
 *   vector of L2 sensitivity Δ₂ in d dimensions, is ρ-zCDP with
 *   ρ = min(a²/2 + τd, (a² + 2a₁τ + τ²d)/2, (a + τ√d)²/2), a = Δ₂/(√m·σ), a₁ = Δ₂·min(√d, Δ₂)/(√m·σ),
 *   τ = 10·Σ_{k=1}^{m−1} exp(−2π²σ²·k/(k+1)) (Kairouz, Liu and Steinke, ICML 2021, arXiv
 *   2102.06387, Theorem 1 and Eq. 17 — the same bound `confide/smpc`'s `ddgZcdpRho` computes).
 * - ρ adds across rounds (Bun and Steinke, TCC 2016, arXiv 1605.02065, Lemma 1.7).
 * - ρ converts to (ε, δ) by Canonne, Kamath and Steinke's published `cdp_eps` (NeurIPS 2020, arXiv
 *   2004.00010, Proposition 12): bisection on ε of δ(ε) = min over α > 1 of
 *   exp((α−1)(αρ−ε) + α·log(1−1/α))/(α−1), α found by bisection on the derivative. A different
 *   route from `confide/smpc`'s minimisation of ε(α) over α; the tests hold the two (and a Python
 *   transcription of `cdp_eps`) to agree.
 *
 * Deliberately not here: other mechanisms, subsampling, planning.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';

/** The ρ-zCDP of one round of the distributed discrete Gaussian with `survivors` inputs summed. */
export function ddgRoundRho(
  mechanism: { readonly l2Sensitivity: number; readonly localVariance: number; readonly dimension: number },
  survivors: number,
): number {
  const { l2Sensitivity: l2, localVariance: s2, dimension: d } = mechanism;
  if (
    !(
      l2 > 0 &&
      s2 > 0 &&
      Number.isSafeInteger(d) &&
      d > 0 &&
      Number.isSafeInteger(survivors) &&
      survivors > 0
    )
  )
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'the mechanism parameters and survivors must be positive',
    );
  let tau = 0;
  const c = -2 * Math.PI * Math.PI * s2;
  for (let k = 1; k < survivors; k++) tau += Math.exp((c * k) / (k + 1));
  tau *= 10;
  const sd = Math.sqrt(survivors * s2);
  const a = l2 / sd;
  const a1 = (l2 * Math.min(Math.sqrt(d), l2)) / sd;
  return Math.min(
    (a * a) / 2 + tau * d,
    (a * a + 2 * a1 * tau + tau * tau * d) / 2,
    (a + tau * Math.sqrt(d)) ** 2 / 2,
  );
}

/** δ of ρ-zCDP at ε (Canonne, Kamath and Steinke's `cdp_delta`). */
function cdpDelta(rho: number, eps: number): number {
  let amin = 1.01;
  let amax = (eps + 1) / (2 * rho) + 2;
  let alpha = amin;
  for (let i = 0; i < 200; i++) {
    alpha = (amin + amax) / 2;
    const derivative = (2 * alpha - 1) * rho - eps + Math.log1p(-1 / alpha);
    if (derivative < 0) amin = alpha;
    else amax = alpha;
  }
  const delta = Math.exp((alpha - 1) * (alpha * rho - eps) + alpha * Math.log1p(-1 / alpha)) / (alpha - 1);
  return Math.min(delta, 1);
}

/**
 * ε at δ of ρ-zCDP (Canonne, Kamath and Steinke's `cdp_eps`); +∞ for ρ = +∞. The bisection keeps
 * an ε whose δ is at most the target, so the answer is never below the true bound's.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for ρ < 0 or δ outside (0, 1).
 * @example
 * ```ts
 * zcdpEpsilon(0.45, 1e-6); // ≈ 4.92
 * ```
 */
export function zcdpEpsilon(rho: number, delta: number): number {
  if (!(typeof rho === 'number' && rho >= 0))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'rho must be a number ≥ 0');
  if (!(typeof delta === 'number' && delta > 0 && delta < 1))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'delta must be a number in (0, 1)');
  if (rho === 0) return 0;
  if (!Number.isFinite(rho)) return Number.POSITIVE_INFINITY;
  let lo = 0;
  let hi = rho + 2 * Math.sqrt(rho * Math.log(1 / delta));
  for (let i = 0; i < 200; i++) {
    const eps = (lo + hi) / 2;
    if (cdpDelta(rho, eps) <= delta) hi = eps;
    else lo = eps;
  }
  return hi;
}
