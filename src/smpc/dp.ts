/**
 * Distributed differential privacy for secure aggregation: the distributed discrete Gaussian
 * mechanism of Kairouz, Liu and Steinke (ICML 2021, arXiv 2102.06387), planned for the worst case
 * of dropouts.
 *
 * - {@link planDistributedDiscreteGaussian} turns a target (ε, δ) over R rounds, an L2 clip, a
 *   scale (or value bits), the dimension, the expected cohort n, the minimum survivors t and the
 *   ring width into a {@link DpPlan}: plain JSON the server sends to every client. The local
 *   variance is the least (≥ 1, on a 2^-10 grid below 2^10, whole above) for which the sum of
 *   only t clients' noises meets the target, using a at t and τ at n (`dp-accounting.ts`), so
 *   every survivor count in [t, n] is covered. Dropouts below n therefore never break the
 *   promise; they only spend more of it.
 * - {@link privatize} is the client side: L2 clip (in reals) → scale → stochastic rounding,
 *   conditional on the rounded norm staying within the plan's sensitivity (rounding retried, as
 *   in the paper's Proposition 22 and TFF) → plus exact discrete Gaussian noise (`primitives/dp-sampler.ts`)
 *   → Z_{2^b}. The rounding reuses `quantize.ts` (its 53-bit uniforms need not be exact: they
 *   move the signal, not the noise); the noise is exact.
 * - {@link achievedEpsilon} is what the server reports after a round: the ε with the survivors it
 *   actually had (never above the plan's ε when survivors ≥ t; refused below t).
 * - {@link decodeNoisySum} turns the unmasked ring sum back into the mean over survivors.
 * - {@link validateDpPlan} checks a plan received over the network: shape, ranges, and that its
 *   numbers add up — the sensitivity matches the clip, scale and dimension, the local variance
 *   really gives the claimed ε at t survivors, and the ring holds the sum — so a client never adds
 *   less noise than the ε it is shown.
 *
 * Ring overflow: each rounded coordinate is at most ⌈c·s⌉ in magnitude, so n clients' signals sum
 * to at most n⌈c·s⌉; the noise of up to n clients is nσ²-subgaussian (CKS show N_Z(0, σ²) is
 * σ²-subgaussian: E[e^(λX)] ≤ e^(λ²σ²/2)), so by a union bound over d coordinates it stays within
 * B = √(2nσ²·ln(2d·2^40)) except with probability 2^-40 per round. The planner refuses a ring
 * where n⌈c·s⌉ + ⌈B⌉ > 2^(b−1) − 1 (`SMPC_OVERFLOW_RISK`), so modular wrap-around ("modular
 * clipping") happens with probability at most 2^-40 per round.
 *
 * Deliberately not here: network code and message formats (the transport carries the plan as
 * JSON), random rotations (the L∞ spread they buy is not needed for the bound above), Skellam
 * noise, subsampling amplification, and topping up noise server-side.
 *
 * @module
 */

import { ConfideArgumentError } from '../errors.ts';
import { assertInteger, assertObject } from '../internal/assert.ts';
import { ddgEpsilon, ddgZcdpRho, roundedL2Bound } from './dp-accounting.ts';
import { SmpcError } from './errors.ts';
import { sampleDiscreteGaussianVector } from './primitives/dp-sampler.ts';
import { type RandomSource, resolveRandom } from './primitives/random.ts';
import { createRing, DEFAULT_RING_BITS, ringToSigned } from './primitives/ring.ts';
import { MAX_COHORT } from './protocol/params.ts';
import { clipVector, MAX_VALUE_BITS, stochasticRound } from './quantize.ts';
import { assertFiniteVector, assertUint32Array } from './validate.ts';

/** The plan format's version; a plan with another version is refused. */
export const DP_PLAN_VERSION = 1;
/** Modular wrap-around probability the planner allows per round: 2^-40. */
export const DP_OVERFLOW_LOG2 = -40;
/** TFF's default conditional-rounding parameter β = e^(−0.5). */
export const DEFAULT_DP_BETA = Math.exp(-0.5);
/** The local variance is rounded up to a multiple of this (so σ² is an exact, short rational). */
const VARIANCE_GRID = 1024;
/** Largest local variance the planner will use (the Int32 sampler's limit). */
const MAX_LOCAL_VARIANCE = 2 ** 40;
/** The largest cohort a secure-aggregation round can have (one Shamir share per client). */
const MAX_CLIENTS = MAX_COHORT;
const MAX_DIMENSION = 1 << 28;
const MAX_ROUNDS = 1_000_000;
/** Relative slack when re-checking a received plan's floating-point numbers. */
const RECHECK_TOLERANCE = 1e-9;
/** Conditional rounding retries before giving up (each fails with probability ≤ β < 1). */
const MAX_ROUNDING_TRIES = 1000;

/** What to plan for. Exactly one of `valueBits` and `scale` is required. */
export interface DpPlanInput {
  /** Target ε over all `rounds`, > 0. */
  readonly epsilon: number;
  /** Target δ, in (0, 1). */
  readonly delta: number;
  /** Rounds the target covers (default 1): zCDP/Rényi divergences add across rounds. */
  readonly rounds?: number;
  /** Every client's update is scaled down to at most this L2 norm (in real units). */
  readonly l2Clip: number;
  /** Bits for one client's largest coordinate: scale = (2^(valueBits−1) − 1) / l2Clip. */
  readonly valueBits?: number;
  /** Quantized units per real unit (1/γ in the paper). */
  readonly scale?: number;
  /** Length d of every update. */
  readonly dimension: number;
  /** Expected cohort n: the most clients whose inputs are summed. */
  readonly expectedClients: number;
  /** Fewest survivors t with which a round still completes (the calibration's worst case). */
  readonly minSurvivors: number;
  /** Ring width b (default 32). */
  readonly ringBits?: number;
  /** Conditional-rounding parameter β in [0, 1) (default e^(−0.5), TFF's; 0 = plain rounding). */
  readonly beta?: number;
}

/** A distributed-DP plan: plain JSON, sent by the server to every client with the round. */
export interface DpPlan {
  readonly version: 1;
  readonly mechanism: 'distributed-discrete-gaussian';
  /** The target ε over `rounds`, and δ. */
  readonly epsilon: number;
  readonly delta: number;
  readonly rounds: number;
  readonly l2Clip: number;
  /** Quantized units per real unit. */
  readonly scale: number;
  readonly dimension: number;
  readonly expectedClients: number;
  readonly minSurvivors: number;
  readonly ringBits: number;
  readonly beta: number;
  /** L2 sensitivity of one client's rounded vector, in quantized units (Theorem 1's bound). */
  readonly l2Sensitivity: number;
  /** σ² of each client's noise, in quantized units²: ≥ 1, a multiple of 2^-10, whole from 2^10 on. */
  readonly localVariance: number;
  /** Per-coordinate bound on the summed noise of n clients, except with probability 2^-40. */
  readonly noiseBound: number;
  /** Per-coordinate bound on the summed signal of n clients: n·⌈l2Clip·scale⌉. */
  readonly signalBound: number;
  /** ε over `rounds` guaranteed with only `minSurvivors` survivors per round (≤ `epsilon`). */
  readonly guaranteedEpsilon: number;
  /** ρ-zCDP over `rounds` at `minSurvivors` (the same bound in zCDP form, for composing elsewhere). */
  readonly rho: number;
}

function fail(message: string): never {
  throw new ConfideArgumentError('INVALID_ARGUMENT', message);
}

function positiveNumber(value: unknown, label: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value;
  return fail(`${label} must be a positive finite number`);
}

function checkEpsilonDelta(epsilon: unknown, delta: unknown): { epsilon: number; delta: number } {
  const e = positiveNumber(epsilon, 'epsilon');
  if (!(typeof delta === 'number' && delta > 0 && delta < 1)) fail('delta must be a number in (0, 1)');
  return { epsilon: e, delta };
}

function checkBeta(beta: unknown): number {
  if (typeof beta === 'number' && beta >= 0 && beta < 1) return beta;
  return fail('beta must be a number in [0, 1)');
}

/** ε over R rounds for `survivors` survivors, with τ taken at `tauClients`. */
function epsilonFor(
  p: Pick<DpPlan, 'l2Sensitivity' | 'localVariance' | 'dimension' | 'rounds' | 'delta'>,
  survivors: number,
  tauClients: number,
): number {
  return ddgEpsilon(
    {
      l2Sensitivity: p.l2Sensitivity,
      localVariance: p.localVariance,
      clients: survivors,
      tauClients,
      dimension: p.dimension,
      rounds: p.rounds,
    },
    p.delta,
  );
}

function noiseBoundFor(clients: number, localVariance: number, dimension: number): number {
  return Math.sqrt(2 * clients * localVariance * (Math.log(2 * dimension) - DP_OVERFLOW_LOG2 * Math.LN2));
}

function checkRing(plan: Pick<DpPlan, 'signalBound' | 'noiseBound' | 'ringBits'>): void {
  const capacity = 2 ** (plan.ringBits - 1) - 1;
  if (plan.signalBound + Math.ceil(plan.noiseBound) > capacity) {
    throw new SmpcError(
      'SMPC_OVERFLOW_RISK',
      `the sum of the clients' signals (≤ ${plan.signalBound}) and noise (≤ ${Math.ceil(plan.noiseBound)} ` +
        `except with probability 2^${DP_OVERFLOW_LOG2}) can wrap modulo 2^${plan.ringBits}; use more ring ` +
        'bits, a smaller scale or fewer value bits',
    );
  }
}

/**
 * Plans a round (or R rounds) of the distributed discrete Gaussian so that the aggregate meets
 * (ε, δ)-DP even if only `minSurvivors` clients survive each round.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for inputs out of range (ε ≤ 0, δ ∉ (0, 1),
 * t > n, both or neither of `valueBits` and `scale`, …).
 * @throws {SmpcError} `SMPC_DP_INFEASIBLE` when no local variance up to 2^40 meets the target;
 * `SMPC_OVERFLOW_RISK` when the ring cannot hold n clients' signals plus noise.
 * @example
 * ```ts
 * const plan = planDistributedDiscreteGaussian({
 *   epsilon: 1, delta: 1e-5, l2Clip: 1, valueBits: 16, dimension: 1000,
 *   expectedClients: 100, minSurvivors: 70, ringBits: 32,
 * });
 * plan.localVariance; // 250994264 (σ ≈ 15843 quantized units per client; Δ₂ ≈ 32768)
 * ```
 */
export function planDistributedDiscreteGaussian(input: DpPlanInput): DpPlan {
  const o = assertObject(input, 'input');
  const { epsilon, delta } = checkEpsilonDelta(o.epsilon, o.delta);
  const rounds = assertInteger(o.rounds ?? 1, 'rounds', 1, MAX_ROUNDS);
  const l2Clip = positiveNumber(o.l2Clip, 'l2Clip');
  const dimension = assertInteger(o.dimension, 'dimension', 1, MAX_DIMENSION);
  const n = assertInteger(o.expectedClients, 'expectedClients', 1, MAX_CLIENTS);
  const t = assertInteger(o.minSurvivors, 'minSurvivors', 1, MAX_CLIENTS);
  if (t > n) fail(`minSurvivors (${t}) must not exceed expectedClients (${n})`);
  const ringBits = createRing((o.ringBits as number | undefined) ?? DEFAULT_RING_BITS).bits;
  const beta = checkBeta(o.beta ?? DEFAULT_DP_BETA);
  if ((o.valueBits === undefined) === (o.scale === undefined)) {
    fail('exactly one of valueBits and scale is required');
  }
  const scale =
    o.scale !== undefined
      ? positiveNumber(o.scale, 'scale')
      : (2 ** (assertInteger(o.valueBits, 'valueBits', 2, MAX_VALUE_BITS) - 1) - 1) / l2Clip;
  const scaledClip = l2Clip * scale;
  if (!(scaledClip <= 2 ** 30)) fail('l2Clip · scale must be at most 2^30 quantized units');
  const l2Sensitivity = roundedL2Bound(scaledClip, dimension, beta);
  const shape = { l2Sensitivity, dimension, rounds, delta };
  const meets = (v: number) => epsilonFor({ ...shape, localVariance: v }, t, n) <= epsilon;

  // ε falls as σ² grows (a and τ both fall), so bisect on log σ² between 1 and 2^40.
  let localVariance: number;
  if (meets(1)) {
    localVariance = 1;
  } else {
    if (!meets(MAX_LOCAL_VARIANCE)) {
      throw new SmpcError(
        'SMPC_DP_INFEASIBLE',
        `even a local variance of 2^40 quantized units² does not reach ε = ${epsilon} at ${t} survivors; ` +
          'raise epsilon, delta or minSurvivors, or lower the scale',
      );
    }
    let lo = 0; // log2 of a variance that misses
    let hi = 40; // log2 of one that meets
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (meets(2 ** mid)) hi = mid;
      else lo = mid;
    }
    // Round up to a short rational: 2^-10 steps while small, whole numbers from 2^10 on (a relative
    // change below 1e-3, and σ² = p/1 keeps the sampler's integers small enough for its fast engine
    // up to σ ≈ 7000).
    const step = 2 ** hi >= VARIANCE_GRID ? 1 : 1 / VARIANCE_GRID;
    localVariance = Math.ceil(2 ** hi / step) * step;
    // Rounding up only adds noise; recheck anyway so the guarantee never rests on the search.
    while (!meets(localVariance)) localVariance += step;
  }
  const signalBound = n * Math.ceil(scaledClip);
  const noiseBound = noiseBoundFor(n, localVariance, dimension);
  checkRing({ signalBound, noiseBound, ringBits });
  const guaranteedEpsilon = epsilonFor({ ...shape, localVariance }, t, n);
  const rho = ddgZcdpRho({ l2Sensitivity, localVariance, clients: t, tauClients: n, dimension, rounds });
  return {
    version: DP_PLAN_VERSION,
    mechanism: 'distributed-discrete-gaussian',
    epsilon,
    delta,
    rounds,
    l2Clip,
    scale,
    dimension,
    expectedClients: n,
    minSurvivors: t,
    ringBits,
    beta,
    l2Sensitivity,
    localVariance,
    noiseBound,
    signalBound,
    guaranteedEpsilon,
    rho,
  };
}

function survivorCounts(plan: DpPlan, survivors: number | readonly number[]): number[] {
  const list = typeof survivors === 'number' ? [survivors] : survivors;
  if (!Array.isArray(list) || list.length === 0 || list.length > plan.rounds) {
    fail(`survivors must be a number or an array of 1 to ${plan.rounds} numbers (one per round)`);
  }
  return list.map((s, i) => {
    const k = assertInteger(s, `survivors[${i}]`, 0, MAX_CLIENTS);
    if (k < plan.minSurvivors) {
      throw new SmpcError(
        'SMPC_DP_TOO_FEW_SURVIVORS',
        `${k} survivors is below the plan's minimum of ${plan.minSurvivors}: the noise summed falls short ` +
          'of the privacy target; abort the round instead of releasing the sum',
      );
    }
    if (k > plan.expectedClients) {
      fail(`survivors (${k}) must not exceed the plan's expectedClients (${plan.expectedClients})`);
    }
    return k;
  });
}

/**
 * The ε actually achieved. With a number: all of the plan's rounds had that many survivors. With
 * an array: the rounds run so far, one survivor count each (ε spent so far). Never above the
 * plan's ε while every count is at least `minSurvivors`.
 *
 * @throws {SmpcError} `SMPC_DP_TOO_FEW_SURVIVORS` for a count below `minSurvivors`.
 * @throws {SmpcError} `SMPC_DP_PLAN_INVALID` for a plan that does not validate.
 * @example
 * ```ts
 * achievedEpsilon(plan, 90); // < plan.epsilon when plan.minSurvivors < 90
 * ```
 */
export function achievedEpsilon(plan: DpPlan, survivors: number | readonly number[]): number {
  const p = validateDpPlan(plan);
  const counts = survivorCounts(p, survivors);
  if (typeof survivors === 'number') {
    return epsilonFor(p, counts[0] as number, counts[0] as number);
  }
  return ddgEpsilon(
    counts.map((k) => ({
      l2Sensitivity: p.l2Sensitivity,
      localVariance: p.localVariance,
      clients: k,
      dimension: p.dimension,
      rounds: 1,
    })),
    p.delta,
  );
}

/**
 * The ε a client has spent, at its own δ, by contributing to one round under each plan listed
 * (repeat a plan once per round joined). Each round is counted at its plan's worst case — only
 * `minSurvivors` inputs summed, τ at `expectedClients` — and rounds compose by adding Rényi
 * divergences. Computed at the client's δ rather than the plan's, so a plan with a large δ cannot
 * pass for a small ε: this is what a client compares with its own limit before joining.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for an empty list or δ outside (0, 1).
 * @throws {SmpcError} `SMPC_DP_PLAN_INVALID` for a plan that does not validate.
 * @example
 * ```ts
 * spentEpsilon([...joinedPlans, announcedPlan], 1e-6) <= myLimit; // else decline the round
 * ```
 */
export function spentEpsilon(plans: readonly DpPlan[], delta: number): number {
  if (!Array.isArray(plans) || plans.length === 0) fail('plans must be a non-empty array of DP plans');
  if (!(typeof delta === 'number' && delta > 0 && delta < 1)) fail('delta must be a number in (0, 1)');
  return ddgEpsilon(
    plans.map((plan) => {
      const p = validateDpPlan(plan);
      return {
        l2Sensitivity: p.l2Sensitivity,
        localVariance: p.localVariance,
        clients: p.minSurvivors,
        tauClients: p.expectedClients,
        dimension: p.dimension,
        rounds: 1,
      };
    }),
    delta,
  );
}

const PLAN_KEYS = [
  'version',
  'mechanism',
  'epsilon',
  'delta',
  'rounds',
  'l2Clip',
  'scale',
  'dimension',
  'expectedClients',
  'minSurvivors',
  'ringBits',
  'beta',
  'l2Sensitivity',
  'localVariance',
  'noiseBound',
  'signalBound',
  'guaranteedEpsilon',
  'rho',
] as const;

function invalid(message: string, fields: string[] = []): never {
  throw new SmpcError('SMPC_DP_PLAN_INVALID', `invalid DP plan: ${message}`, { fields });
}

function close(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= RECHECK_TOLERANCE * Math.max(1, Math.abs(expected));
}

/**
 * Parses and checks a plan received over the network (e.g. from `JSON.parse`): every field
 * present with the right type and range, no unknown fields, and the derived numbers recomputed —
 * the sensitivity from the clip, scale, dimension and β, the guaranteed ε from the local variance
 * at `minSurvivors` (it must not exceed the target), the noise bound, and the ring fit. Returns a
 * frozen copy.
 *
 * @throws {SmpcError} `SMPC_DP_PLAN_INVALID` with the offending `fields`.
 * @example
 * ```ts
 * const plan = validateDpPlan(JSON.parse(announcement.dp));
 * ```
 */
export function validateDpPlan(value: unknown): DpPlan {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid('not an object');
  const o = value as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !(PLAN_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) invalid(`unknown fields ${unknown.join(', ')}`, unknown);
  const bad: string[] = [];
  const num = (k: (typeof PLAN_KEYS)[number], ok: (x: number) => boolean): number => {
    const x = o[k];
    if (typeof x === 'number' && Number.isFinite(x) && ok(x)) return x;
    bad.push(k);
    return Number.NaN;
  };
  const int = (x: number, lo: number, hi: number) => Number.isSafeInteger(x) && x >= lo && x <= hi;
  if (o.version !== DP_PLAN_VERSION) bad.push('version');
  if (o.mechanism !== 'distributed-discrete-gaussian') bad.push('mechanism');
  const epsilon = num('epsilon', (x) => x > 0);
  const delta = num('delta', (x) => x > 0 && x < 1);
  const rounds = num('rounds', (x) => int(x, 1, MAX_ROUNDS));
  const l2Clip = num('l2Clip', (x) => x > 0);
  const scale = num('scale', (x) => x > 0);
  const dimension = num('dimension', (x) => int(x, 1, MAX_DIMENSION));
  const expectedClients = num('expectedClients', (x) => int(x, 1, MAX_CLIENTS));
  const minSurvivors = num('minSurvivors', (x) => int(x, 1, MAX_CLIENTS));
  const ringBits = num('ringBits', (x) => int(x, 1, 32));
  const beta = num('beta', (x) => x >= 0 && x < 1);
  const l2Sensitivity = num('l2Sensitivity', (x) => x > 0);
  const localVariance = num(
    'localVariance',
    (x) => x >= 1 && x <= MAX_LOCAL_VARIANCE && Number.isInteger(x < VARIANCE_GRID ? x * VARIANCE_GRID : x),
  );
  const noiseBound = num('noiseBound', (x) => x > 0);
  const signalBound = num('signalBound', (x) => int(x, 1, Number.MAX_SAFE_INTEGER));
  const guaranteedEpsilon = num('guaranteedEpsilon', (x) => x >= 0);
  const rho = num('rho', (x) => x >= 0);
  if (bad.length > 0) invalid(`bad or missing fields ${bad.join(', ')}`, bad);
  if (minSurvivors > expectedClients) invalid('minSurvivors exceeds expectedClients', ['minSurvivors']);
  const scaledClip = l2Clip * scale;
  if (!(scaledClip <= 2 ** 30)) invalid('l2Clip · scale exceeds 2^30', ['scale']);
  // Recompute what the privacy claim rests on; a plan whose numbers do not follow is refused.
  if (!close(l2Sensitivity, roundedL2Bound(scaledClip, dimension, beta))) {
    invalid('l2Sensitivity does not match l2Clip, scale, dimension and beta', ['l2Sensitivity']);
  }
  const shape = { l2Sensitivity, localVariance, dimension, rounds, delta };
  const recomputed = epsilonFor(shape, minSurvivors, expectedClients);
  if (!close(guaranteedEpsilon, recomputed)) {
    invalid('guaranteedEpsilon does not follow from localVariance at minSurvivors', ['guaranteedEpsilon']);
  }
  if (recomputed > epsilon * (1 + RECHECK_TOLERANCE)) {
    invalid('the local variance does not reach the target epsilon at minSurvivors', ['localVariance']);
  }
  if (signalBound !== expectedClients * Math.ceil(scaledClip)) {
    invalid('signalBound does not match expectedClients, l2Clip and scale', ['signalBound']);
  }
  if (!close(noiseBound, noiseBoundFor(expectedClients, localVariance, dimension))) {
    invalid('noiseBound does not match the local variance', ['noiseBound']);
  }
  const rhoCheck = ddgZcdpRho({
    l2Sensitivity,
    localVariance,
    clients: minSurvivors,
    tauClients: expectedClients,
    dimension,
    rounds,
  });
  if (!close(rho, rhoCheck)) invalid('rho does not follow from localVariance', ['rho']);
  try {
    checkRing({ signalBound, noiseBound, ringBits });
  } catch (e) {
    invalid(`the ring cannot hold the sum: ${(e as Error).message}`, ['ringBits']);
  }
  return Object.freeze({
    version: DP_PLAN_VERSION,
    mechanism: 'distributed-discrete-gaussian',
    epsilon,
    delta,
    rounds,
    l2Clip,
    scale,
    dimension,
    expectedClients,
    minSurvivors,
    ringBits,
    beta,
    l2Sensitivity,
    localVariance,
    noiseBound,
    signalBound,
    guaranteedEpsilon,
    rho,
  });
}

/**
 * Stochastic rounding conditioned on the rounded vector's L2 norm being at most `maxNorm`: rounds,
 * and rounds again while the norm exceeds it (Proposition 22 of the DDG paper; TFF retries the
 * same way). With `maxNorm` from {@link roundedL2Bound} at β, each try fails with probability ≤ β.
 *
 * @throws {SmpcError} `SMPC_DP_INFEASIBLE` after 1000 failed tries (β^1000: a broken source or bound).
 */
export function conditionalRound(scaled: Float64Array, maxNorm: number, random: RandomSource): Float64Array {
  const limit = maxNorm * maxNorm;
  for (let tries = 0; tries < MAX_ROUNDING_TRIES; tries++) {
    const rounded = stochasticRound(scaled, random);
    let sq = 0;
    for (const x of rounded) sq += x * x;
    if (sq <= limit) return rounded;
  }
  throw new SmpcError(
    'SMPC_DP_INFEASIBLE',
    `conditional rounding failed ${MAX_ROUNDING_TRIES} times (probability below β^${MAX_ROUNDING_TRIES}); ` +
      'the random source or the norm bound is broken',
  );
}

/** Options of {@link privatize}. */
export interface PrivatizeOptions {
  /**
   * Randomness for rounding and noise; defaults to the platform CSPRNG. Tests only: not in the
   * published declarations.
   * @internal
   */
  readonly random?: RandomSource;
}

/**
 * The client side of one round: clip to the plan's L2 bound, scale, round stochastically (retrying
 * until the rounded norm is within the plan's sensitivity when β > 0), add exact discrete Gaussian
 * noise of the plan's local variance, and encode in Z_{2^b}. The result is what the client masks
 * and sends.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a vector of the wrong length or with
 * non-finite entries.
 * @throws {SmpcError} `SMPC_DP_PLAN_INVALID` for a plan that does not validate.
 * @example
 * ```ts
 * const { values } = privatize(update, plan); // then mask `values` as any ring vector
 * ```
 */
export function privatize(
  values: ArrayLike<number>,
  plan: DpPlan,
  options: PrivatizeOptions = {},
): { readonly values: Uint32Array; readonly clipped: boolean } {
  const p = validateDpPlan(plan);
  const v = assertFiniteVector(values, 'values');
  if (v.length !== p.dimension) fail(`values must have the plan's dimension ${p.dimension}, got ${v.length}`);
  const random = resolveRandom(options.random);
  const { values: clippedValues, clipped } = clipVector(v, { clipL2: p.l2Clip });
  const scaled = new Float64Array(clippedValues.length);
  for (let i = 0; i < scaled.length; i++) scaled[i] = (clippedValues[i] as number) * p.scale;
  // Condition only when the conditional bound is the one the plan uses (Proposition 22).
  const conditional = p.beta > 0 && p.l2Sensitivity < p.l2Clip * p.scale + Math.sqrt(p.dimension);
  const rounded = conditional
    ? conditionalRound(scaled, p.l2Sensitivity, random)
    : stochasticRound(scaled, random);
  const noise = sampleDiscreteGaussianVector(p.localVariance, p.dimension, { random });
  const mask = createRing(p.ringBits).mask;
  const out = new Uint32Array(p.dimension);
  for (let i = 0; i < out.length; i++) out[i] = ((rounded[i] as number) + (noise[i] as number)) & mask;
  return { values: out, clipped };
}

/**
 * Decodes the unmasked ring sum of `survivors` privatized vectors into their noisy mean (real
 * units): centred representative ÷ (scale · survivors).
 *
 * @throws {SmpcError} `SMPC_DP_TOO_FEW_SURVIVORS` below the plan's `minSurvivors`.
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a sum of the wrong length.
 * @example
 * ```ts
 * const mean = decodeNoisySum(sum, plan, survivors.length);
 * ```
 */
export function decodeNoisySum(sum: Uint32Array, plan: DpPlan, survivors: number): Float64Array {
  const p = validateDpPlan(plan);
  assertUint32Array(sum, 'sum', p.dimension);
  const [k] = survivorCounts(p, survivors) as [number];
  const out = ringToSigned(sum, createRing(p.ringBits));
  const divisor = p.scale * k;
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / divisor;
  return out;
}
