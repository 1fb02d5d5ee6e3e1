/**
 * Choosing a session's graph and threshold for the cohort that actually joined a round, and
 * knowing which clients a server stage still waits for. Pure functions over the protocol's public
 * types; the WebSocket server (`ws-server.ts`) calls them, and tests can too.
 *
 * The planner (`planner.ts`) gives the smallest safe threshold for the assumed corruption and
 * dropout rates; clients, by default, also demand t > k/2 (`ClientPolicy.minThresholdFraction`),
 * so a service that wants its clients' default policy to accept its rounds raises t to
 * ⌊k/2⌋ + 1 when the planner's is lower. When the planner refuses a small cohort (the complete
 * graph cannot absorb the expected dropouts), the cohort still runs on the complete graph with
 * that threshold: then more dropouts than k − t abort the round, which is the honest outcome.
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

/**
 * Plans the session for `n` joined clients.
 *
 * @throws {SmpcError} `SMPC_TOO_FEW_CLIENTS` below {@link MIN_COHORT};
 *   `SMPC_PLAN_INFEASIBLE` when no safe configuration exists (e.g. `active` with γ ≥ 1/3).
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
  const majority = (k: number) => Math.floor(k / 2) + 1;
  try {
    const plan = planRound({ clients: n, dropoutRate: expectedDropout, corruptionRate, profile, ringBits });
    const threshold = Math.min(plan.degree, Math.max(plan.threshold, majority(plan.degree)));
    return { graph: plan.graph, degree: plan.degree, threshold };
  } catch (e) {
    if (!(e instanceof SmpcError) || e.code !== 'SMPC_PLAN_INFEASIBLE') throw e;
    if (profile === 'active' && corruptionRate >= 1 / 3) throw e;
    // Small cohorts: the complete graph with the profile's bound and no dropout allowance.
    const k = n - 1;
    const bound = profile === 'active' ? Math.floor((2 * k) / 3) + 1 : majority(k);
    const threshold = Math.max(
      2,
      bound,
      profile === 'semi-malicious' ? Math.ceil((n + corruptionRate * n) / 2) + 1 : 0,
    );
    if (threshold > k) throw e;
    return { graph: 'complete', degree: k, threshold };
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
