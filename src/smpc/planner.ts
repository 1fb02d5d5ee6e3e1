/**
 * The round planner: derives the neighbour degree k and Shamir threshold t of a SecAgg+ round
 * from the cohort size n, the expected dropout rate δ, the assumed fraction γ of corrupt clients
 * and the threat profile, and refuses configurations it cannot make safe — with the reason —
 * instead of warning.
 *
 * Harary graphs follow the analysis of Bell et al. (CCS'20) as Google's production finder
 * (`fcp/secagg/server/graph_parameter_finder.cc`) parameterises it: statistical security σ = 40
 * and correctness η = 20. For each even k, the graph must stay connected after removing γn + δn
 * clients except with probability < 2^-(σ+1) (a union bound over pairs of k/2-long gaps in the
 * ring), and with A = ⌊γn⌋ corrupt and S = ⌈(1 − δ)n⌉ surviving clients, the k share holders of a
 * client modelled as a uniform sample (hypergeometric):
 * - t1 = the least t with P(corrupt holders > t) < 2^-(σ+1) / n (privacy),
 * - t2 = 1 + the largest x with P(surviving holders ≤ x) < 2^-η / n (correctness),
 * - semi-malicious: t1 ← ⌈(t1 + k − 1.25) / 2⌉, so honest holders, each revealing one kind of share,
 *   can never give the server t of both kinds for one client;
 * and the first k with t1 < t2 wins, with t = max(t1 + 1, 2). Feasibility requires γ + δ ≤ 0.9
 * (semi-honest) or γ + 2δ ≤ 0.9 (semi-malicious). `test/vectors/smpc/harary-params.json` holds the
 * reference implementation's expected values, and the tests check this code against all of them.
 *
 * The complete graph (k = n − 1, holders exclude the owner) needs t > k/2 and t > γn
 * (honest-but-curious), t > (n + γn)/2 (semi-malicious) or t > 2n/3 with γ < 1/3 (active, Bonawitz
 * et al. CCS'17) — one rule, {@link completeGraphThreshold}, for every planner here — and
 * t ≤ n − 1 − ⌊δn⌋ so that every client keeps t live holders.
 *
 * The `active` profile on a Harary graph: its consistency round cannot give the Bonawitz guarantee
 * globally there — with t ≪ n a server can split a large cohort into groups that each gather t
 * signatures on different survivor sets — so what protects a client v against a server that
 * shows v as a survivor to some of v's holders and as dropped to others is the threshold within
 * v's neighbourhood. The planner therefore runs the semi-malicious analysis (honest holders each
 * reveal one kind of share, and t exceeds (t1 + k)/2, so no split yields t of both kinds even
 * with the corrupt holders revealing both) and additionally requires t > 2k/3, the active bound
 * every client's policy enforces; it refuses when no k satisfies both with correctness at η = 20.
 * Signed advertisements keep stopping key substitution and Sybils. Feasibility needs
 * γ < 1/3 (active) besides γ + 2δ ≤ 0.9. Optionally it also checks that n quantized values of `valueBits` bits
 * cannot wrap a ring of `ringBits` bits (`assertSumFits`).
 *
 * Note: the default client policy demands t > k/2 whatever the profile; a deployment that plans an
 * honest-but-curious round with a lower threshold must lower `minThresholdFraction` knowingly.
 * {@link planCohort} is the networked service's rule for the cohort that joined (small cohorts on
 * the complete graph with a majority threshold, larger ones through {@link planRound}): every
 * threshold rule of the package lives in this module.
 *
 * Deliberately not here: Erdős–Rényi graphs, DP noise calibration, and per-round adaptive
 * re-planning.
 *
 * @module
 */

import { ConfideArgumentError } from '../errors.ts';
import { assertInteger, assertOneOf } from '../internal/assert.ts';
import { SmpcError } from './errors.ts';
import { DEFAULT_RING_BITS } from './primitives/ring.ts';
import { type GraphKind, MAX_COHORT, PROFILES, type Profile } from './protocol/params.ts';
import { assertSumFits } from './quantize.ts';

/** Statistical security parameter σ (failure of privacy < 2^-σ). */
export const SECURITY_PARAMETER = 40;
/** Correctness parameter η (failure of a round < 2^-η). */
export const CORRECTNESS_PARAMETER = 20;
/** Largest cohort the Harary analysis is run for. */
export const MAX_PLANNED_CLIENTS = 1_000_000;

/** Guards floor/ceil of γn and δn against rounding in the unsafe direction (as fcp does). */
const EPSILON = 1e-14;
const LN2 = Math.log(2);

// Lanczos approximation (g = 7, n = 9) of ln Γ(x) for x ≥ 0.5; relative error ~1e-15.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x ≥ 0.5. */
export function logGamma(x: number): number {
  const y = x - 1;
  let a = LANCZOS[0] as number;
  for (let i = 1; i < 9; i++) a += (LANCZOS[i] as number) / (y + i);
  const t = y + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * The probabilities P(X = x), x = 0..draws, of X ~ Hypergeometric(population, marked, draws),
 * computed in log space (so tails far below 1e-300 of the mode do not underflow early).
 */
function hypergeometricPmf(population: number, marked: number, draws: number): Float64Array {
  const out = new Float64Array(draws + 1);
  const lo = Math.max(0, draws - (population - marked));
  const hi = Math.min(draws, marked);
  const lnC = (n: number, k: number) => logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
  const lnTotal = lnC(population, draws);
  let lp = lnC(marked, lo) + lnC(population - marked, draws - lo) - lnTotal;
  for (let x = lo; x <= hi; x++) {
    out[x] = Math.exp(lp);
    // P(x + 1) / P(x) = (marked − x)(draws − x) / ((x + 1)(population − marked − draws + x + 1))
    lp += Math.log((marked - x) * (draws - x)) - Math.log((x + 1) * (population - marked - draws + x + 1));
  }
  return out;
}

/** Harary-graph parameters for one cohort. */
export interface HararyParameters {
  readonly degree: number;
  readonly threshold: number;
}

/** Which Harary analysis to run. */
export type HararyAdversary = 'semi-honest' | 'semi-malicious';

/** Extra constraints on a Harary plan. */
export interface HararyOptions {
  /** Also require t > fraction · k (the `active` profile uses 2/3); default 0 (none). */
  readonly thresholdAbove?: number;
}

function checkRates(corruptionRate: number, dropoutRate: number): void {
  for (const [label, r] of [
    ['corruptionRate', corruptionRate],
    ['dropoutRate', dropoutRate],
  ] as const) {
    if (typeof r !== 'number' || !(r >= 0 && r < 1)) {
      throw new ConfideArgumentError('INVALID_ARGUMENT', `${label} must be a number in [0, 1)`);
    }
  }
}

/**
 * The smallest even degree k < n − 1 and its threshold for a random Harary graph, or `null` when
 * none is secure and correct at σ = 40, η = 20.
 *
 * @throws {SmpcError} `SMPC_PLAN_INFEASIBLE` when the rates are outside the feasible region.
 * @example
 * ```ts
 * hararyParameters(1000, 0.05, 0.05, 'semi-honest'); // { degree: 30, threshold: 17 }
 * ```
 */
export function hararyParameters(
  clients: number,
  corruptionRate: number,
  dropoutRate: number,
  adversary: HararyAdversary,
  options: HararyOptions = {},
): HararyParameters | null {
  const above = options.thresholdAbove ?? 0;
  if (typeof above !== 'number' || !(above >= 0 && above < 1)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'thresholdAbove must be a number in [0, 1)');
  }
  const n = assertInteger(clients, 'clients', 1, MAX_PLANNED_CLIENTS);
  checkRates(corruptionRate, dropoutRate);
  assertOneOf(adversary, 'adversary', ['semi-honest', 'semi-malicious'] as const);
  const bound = adversary === 'semi-honest' ? corruptionRate + dropoutRate : corruptionRate + 2 * dropoutRate;
  if (bound > 0.9) {
    throw new SmpcError(
      'SMPC_PLAN_INFEASIBLE',
      adversary === 'semi-honest'
        ? 'semi-honest planning needs corruptionRate + dropoutRate ≤ 0.9'
        : 'semi-malicious planning needs corruptionRate + 2·dropoutRate ≤ 0.9',
    );
  }
  const corrupt = Math.floor((corruptionRate + EPSILON) * n);
  const dropped = Math.floor((dropoutRate + EPSILON) * n);
  const surviving = Math.ceil((1 - dropoutRate - EPSILON) * n);
  const qSecurity = 2 ** -(SECURITY_PARAMETER + 1) / n;
  const qCorrectness = 2 ** -CORRECTNESS_PARAMETER / n;
  const lnSecurity = -(SECURITY_PARAMETER + 1) * LN2;
  for (let k = 2; k < n - 1; k += 2) {
    // 1. The honest survivors stay connected: removing the bad clients must not cut the ring
    //    in two places (each cut needs k/2 consecutive bad clients); union bound over gap pairs.
    const bad = corrupt + dropped;
    if (k <= bad) {
      const lnPairs = Math.log(n) + Math.log(n - k - 1) - LN2;
      const lnP = lnPairs + logGamma(bad + 1) + logGamma(n - k + 1) - logGamma(n + 1) - logGamma(bad - k + 1);
      if (lnP >= lnSecurity) continue;
    }
    // 2. Privacy: few enough corrupt holders; correctness: enough surviving holders.
    const adv = hypergeometricPmf(n, corrupt, k);
    let t1 = k;
    let tail = 0; // P(X > t) for the current t
    for (let t = k; t >= 0; t--) {
      if (tail < qSecurity) t1 = t;
      else break;
      tail += adv[t] as number;
    }
    const surv = hypergeometricPmf(n, surviving, k);
    let m = -1;
    let cdf = 0;
    for (let x = 0; x <= k; x++) {
      cdf += surv[x] as number;
      if (cdf < qCorrectness) m = x;
      else break;
    }
    const t2 = m + 1;
    if (adversary === 'semi-malicious') t1 = Math.ceil((t1 + k - 1.25) / 2);
    if (t2 <= t1) continue;
    const t = Math.max(t1 + 1, 2);
    const floor = Math.floor(above * k) + 1;
    if (above > 0 && floor > t) {
      if (t2 < floor) continue; // raising t to the floor would break correctness at this k
      return { degree: k, threshold: floor };
    }
    return { degree: k, threshold: t };
  }
  return null;
}

/** What to plan for. */
export interface PlanInput {
  /** Cohort size n. */
  readonly clients: number;
  /** Expected fraction of clients that drop out during the round, in [0, 1). */
  readonly dropoutRate: number;
  /** Assumed fraction of corrupt clients colluding with the server, in [0, 1). */
  readonly corruptionRate: number;
  readonly profile: Profile;
  /** `auto` (default) uses a Harary graph when one smaller than the complete graph is safe. */
  readonly graph?: 'auto' | GraphKind;
  /** If set, also check that n values of this many bits cannot wrap the ring. */
  readonly valueBits?: number;
  readonly ringBits?: number;
}

/** A safe configuration. */
export interface Plan {
  readonly graph: GraphKind;
  readonly degree: number;
  readonly threshold: number;
  readonly profile: Profile;
  readonly ringBits: number;
}

/**
 * The threshold of the complete graph on `n` clients (k = n − 1 holders per client, the owner
 * excluded): the one rule {@link planRound} and {@link planCohort} share. It is the largest of
 * - a majority of the holders, ⌊k/2⌋ + 1 (what the default client policy demands; it also keeps
 *   the unmasking from ever revealing both secrets of a client to an honest-but-curious server),
 * - the profile's bound: t > γn (honest-but-curious), t > (n + γn)/2 (semi-malicious), t > 2n/3
 *   (active, Bonawitz et al. CCS'17, which needs γ < 1/3),
 * - 2.
 * Whether that many holders stay live is the caller's question.
 *
 * @throws {SmpcError} `SMPC_PLAN_INFEASIBLE` for the active profile with γ ≥ 1/3.
 */
export function completeGraphThreshold(n: number, corruptionRate: number, profile: Profile): number {
  const k = n - 1;
  let bound: number;
  if (profile === 'honest-but-curious') bound = Math.ceil(corruptionRate * n) + 1;
  else if (profile === 'semi-malicious') bound = Math.ceil((n + corruptionRate * n) / 2) + 1;
  else {
    if (corruptionRate >= 1 / 3) {
      throw new SmpcError(
        'SMPC_PLAN_INFEASIBLE',
        'the active profile tolerates fewer than n/3 corrupt clients',
      );
    }
    bound = Math.floor((2 * n) / 3) + 1;
  }
  return Math.max(Math.floor(k / 2) + 1, bound, 2);
}

/** {@link completeGraphThreshold}, refused when δn dropouts leave a client fewer live holders. */
function completeThreshold(n: number, gamma: number, delta: number, profile: Profile): number {
  const t = completeGraphThreshold(n, gamma, profile);
  const live = n - 1 - Math.floor(delta * n + EPSILON);
  if (t > live) {
    throw new SmpcError(
      'SMPC_PLAN_INFEASIBLE',
      `a complete graph of ${n} clients needs threshold ${t}, but after ${Math.floor(delta * n + EPSILON)} ` +
        `dropouts a client keeps only ${live} live share holders`,
    );
  }
  return t;
}

/**
 * Plans a round, or refuses with `SMPC_PLAN_INFEASIBLE` (or `SMPC_OVERFLOW_RISK`) and a reason.
 *
 * @example
 * ```ts
 * planRound({ clients: 1000, dropoutRate: 0.05, corruptionRate: 0.05, profile: 'semi-malicious' });
 * // { graph: 'harary', degree: 52, threshold: 37, ... }
 * ```
 */
export function planRound(input: PlanInput): Plan {
  const n = assertInteger(input.clients, 'clients', 3, Math.min(MAX_PLANNED_CLIENTS, MAX_COHORT));
  checkRates(input.corruptionRate, input.dropoutRate);
  const profile = assertOneOf(input.profile, 'profile', PROFILES);
  const graph = assertOneOf(input.graph ?? 'auto', 'graph', ['auto', 'complete', 'harary'] as const);
  const ringBits = input.ringBits ?? DEFAULT_RING_BITS;
  if (input.valueBits !== undefined) assertSumFits(n, input.valueBits, ringBits);
  if (profile === 'active' && input.corruptionRate >= 1 / 3) {
    throw new SmpcError(
      'SMPC_PLAN_INFEASIBLE',
      'the active profile tolerates fewer than n/3 corrupt clients',
    );
  }
  if (graph !== 'complete') {
    const adversary = profile === 'honest-but-curious' ? 'semi-honest' : 'semi-malicious';
    const h = hararyParameters(
      n,
      input.corruptionRate,
      input.dropoutRate,
      adversary,
      profile === 'active' ? { thresholdAbove: 2 / 3 } : {},
    );
    if (h !== null) return { graph: 'harary', degree: h.degree, threshold: h.threshold, profile, ringBits };
    if (graph === 'harary') {
      throw new SmpcError(
        'SMPC_PLAN_INFEASIBLE',
        `no Harary graph smaller than the complete graph is safe for ${n} clients` +
          (profile === 'active'
            ? ' with the semi-malicious threshold and t > 2k/3 of the active profile'
            : ''),
      );
    }
  }
  const threshold = completeThreshold(n, input.corruptionRate, input.dropoutRate, profile);
  return { graph: 'complete', degree: n - 1, threshold, profile, ringBits };
}

/** A session's graph and threshold. */
export interface CohortPlan {
  readonly graph: GraphKind;
  readonly degree: number;
  readonly threshold: number;
}

/** Smallest cohort a networked round runs with (the complete graph on 3 clients, t = 2). */
export const MIN_COHORT = 3;

/** Largest cohort planned on the complete graph. */
export const SMALL_COHORT = 16;

/** The complete graph on n clients with {@link completeGraphThreshold}, or null when t > k. */
function completeCohortPlan(n: number, profile: Profile, corruptionRate: number): CohortPlan | null {
  const k = n - 1;
  const t = completeGraphThreshold(n, corruptionRate, profile);
  return t <= k ? { graph: 'complete', degree: k, threshold: t } : null;
}

/**
 * Plans the session of a networked round for the `n` clients that actually joined it (the rule the
 * WebSocket server uses, beside {@link planRound}'s):
 * - up to {@link SMALL_COHORT} clients run on the complete graph with
 *   {@link completeGraphThreshold} (t = ⌊k/2⌋ + 1, or the profile's higher bound: (n + γn)/2
 *   semi-malicious, 2n/3 active). Clients demand t > k/2 by
 *   default (`ClientPolicy.minThresholdFraction`), and {@link planRound}'s Harary analysis rounds
 *   δn down, so for a handful of clients it would pick k = 2 and no client could drop; the complete
 *   graph tolerates k − t dropouts, and more abort the round, which is the honest outcome;
 * - larger cohorts take {@link planRound}'s plan (σ = 40, η = 20), with an `honest-but-curious`
 *   round planned by the semi-malicious analysis: its threshold exceeds k/2, so clients with the
 *   default policy accept it, and it is at least as private;
 * - when {@link planRound} refuses, the complete graph as above, if it has t ≤ k.
 *
 * @throws {SmpcError} `SMPC_TOO_FEW_CLIENTS` below {@link MIN_COHORT};
 *   `SMPC_PLAN_INFEASIBLE` when no safe configuration exists (e.g. `active` with γ ≥ 1/3).
 * @example
 * ```ts
 * planCohort(5, 'honest-but-curious', 0.1, 0.05, 32); // { graph: 'complete', degree: 4, threshold: 3 }
 * ```
 */
export function planCohort(
  n: number,
  profile: Profile,
  expectedDropout: number,
  corruptionRate: number,
  ringBits: number,
): CohortPlan {
  if (n < MIN_COHORT) {
    throw new SmpcError('SMPC_TOO_FEW_CLIENTS', `${n} clients joined; a round needs at least ${MIN_COHORT}`);
  }
  if (profile === 'active' && corruptionRate >= 1 / 3) {
    throw new SmpcError(
      'SMPC_PLAN_INFEASIBLE',
      'the active profile tolerates fewer than n/3 corrupt clients',
    );
  }
  const small = n <= SMALL_COHORT ? completeCohortPlan(n, profile, corruptionRate) : null;
  if (small !== null) return small;
  try {
    const plan = planRound({
      clients: n,
      dropoutRate: expectedDropout,
      corruptionRate,
      profile: profile === 'honest-but-curious' ? 'semi-malicious' : profile,
      ringBits,
    });
    return { graph: plan.graph, degree: plan.degree, threshold: plan.threshold };
  } catch (e) {
    if (!(e instanceof SmpcError) || e.code !== 'SMPC_PLAN_INFEASIBLE') throw e;
    const fallback = completeCohortPlan(n, profile, corruptionRate);
    if (fallback === null) throw e;
    return fallback;
  }
}
