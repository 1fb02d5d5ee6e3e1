/**
 * Choosing a session's graph and threshold for the cohort that actually joined a round, and
 * knowing which clients a server stage still waits for. Pure functions over the protocol's public
 * types; the WebSocket server (`ws-server.ts`) calls them, and tests can too.
 *
 * Clients, by default, demand t > k/2 (`ClientPolicy.minThresholdFraction`), and a networked
 * round loses clients for real, so the service plans differently from the bare planner:
 * - up to {@link SMALL_COHORT} clients run on the complete graph with t = ⌊k/2⌋ + 1 (or the
 *   profile's higher bound: (n + γn)/2 semi-malicious, 2k/3 active). The planner's Harary analysis
 *   rounds δn down, so for a handful of clients it would pick k = 2 and no client could drop; the
 *   complete graph tolerates k − t dropouts, and more abort the round, which is the honest outcome;
 * - larger cohorts take the planner's plan (`planner.ts`, σ = 40, η = 20), with an
 *   `honest-but-curious` round planned by the semi-malicious analysis: its threshold exceeds k/2, so
 *   clients with the default policy accept it, and it is at least as private; correctness is the
 *   planner's, not an ad-hoc bump;
 * - when the planner refuses, the complete graph as above, if it has t ≤ k.
 *
 * Deliberately not here: cohort selection policy across rounds (which clients to invite; the
 * caller decides by who is connected), and DP calibration.
 *
 * @module
 */

import { SmpcError } from '../errors.ts';
import { planRound } from '../planner.ts';
import type { GraphKind, Profile } from '../protocol/params.ts';
import type { ServerState } from '../protocol/server.ts';

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

/** The complete graph on n clients with the profile's threshold and a majority of neighbours. */
function completePlan(n: number, profile: Profile, corruptionRate: number): CohortPlan | null {
  const k = n - 1;
  let t = Math.floor(k / 2) + 1;
  if (profile === 'semi-malicious') t = Math.max(t, Math.ceil((n + corruptionRate * n) / 2) + 1);
  if (profile === 'active') t = Math.max(t, Math.floor((2 * k) / 3) + 1);
  t = Math.max(t, 2);
  return t <= k ? { graph: 'complete', degree: k, threshold: t } : null;
}

/**
 * Plans the session for `n` joined clients.
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
  const small = n <= SMALL_COHORT ? completePlan(n, profile, corruptionRate) : null;
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
    const fallback = completePlan(n, profile, corruptionRate);
    if (fallback === null) throw e;
    return fallback;
  }
}

/** The clients the server's current stage expects a message from. */
export function expectedSenders(state: ServerState): readonly string[] {
  switch (state.stage) {
    case 'advertise':
      return state.params.clients;
    case 'share-keys':
      return state.advertised.map((e) => e.id);
    case 'masked-input':
      return state.shared.map((e) => e.id);
    case 'consistency':
    case 'unmask':
      return state.survivors ?? [];
    default:
      return [];
  }
}

/** The clients the current stage still waits for (expected, not yet answered nor excluded). */
export function pendingSenders(state: ServerState): string[] {
  const done = new Set(state.excluded.filter((e) => e.stage === state.stage).map((e) => e.id));
  const add = (ids: readonly { readonly id: string }[]) => {
    for (const e of ids) done.add(e.id);
  };
  if (state.stage === 'advertise') add(state.advertised);
  if (state.stage === 'share-keys') add(state.shared);
  if (state.stage === 'masked-input') add(state.masked);
  if (state.stage === 'consistency') add(state.signatures);
  if (state.stage === 'unmask') add(state.unmasked);
  return expectedSenders(state).filter((id) => !done.has(id));
}
