/**
 * What a client refuses to run with, and the one pure function that decides: {@link decideJoin}
 * (refuse a weaker profile, a threshold below the floor, a graph
 * degree below the floor, a narrower ring, a PRG not allowed, a cohort out of range, a round id
 * already taken part in).
 *
 * A client decides twice, with the same function: on the announcement (profile, ring, vector
 * length: before the application prepares an input or anything is sent) and on the server's round
 * parameters (everything: before any key is advertised). The network client (`ws-client.ts`) uses
 * the first; the state machine (`client.ts`) always uses the second, so an application driving
 * `clientStep` directly gets the same floors.
 *
 * Defaults: `minProfile` is `active` for a client configured with identities (trusted keys or its
 * own identity key): such a client was set up to have the roster authenticated, so a round without
 * signatures is a downgrade (with two Sybils a server recovers the client's input). Without
 * identities it is `honest-but-curious`, deliberately: such a client cannot run `active`, and the
 * two lower profiles run the same messages — the label only names the analysis the server planned
 * the threshold with, and a malicious server can write either label over any threshold. What
 * protects that client is its threshold floor, enforced whatever the label: t > k/2 by default
 * (`minThresholdFraction`), which is the semi-malicious condition without the corruption margin.
 * Demanding the label too would buy nothing and refuse every `honest-but-curious` server. Every
 * other floor defaults to "whatever a valid round allows".
 *
 * Deliberately not here: checks that depend on this client's input (ring and vector length equal
 * to its own; `client.ts`) and the announcement-level checks (payload digest, replay, frame fit, DP
 * plan and budget: `join.ts`, which calls this function for the floors).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertInteger, assertOneOf, assertString } from '../../internal/assert.ts';
import type { SmpcErrorCode } from '../errors.ts';
import { PRG_ALGORITHMS, type PrgAlgorithm } from '../primitives/prg.ts';
import { MAX_RING_BITS } from '../primitives/ring.ts';
import { MAX_COHORT, PROFILES, type Profile, profileRank } from './params.ts';

/** What a client refuses to run with. */
export interface ClientPolicy {
  /**
   * Weakest acceptable threat profile (`honest-but-curious` < `semi-malicious` < `active`).
   * Default `active` when the client has identities (trusted keys or its own identity key), else
   * `honest-but-curious` (the threshold floor is what protects a client without identities). A
   * weaker round is declined with `SMPC_PROFILE_TOO_WEAK` before anything is sent.
   */
  readonly minProfile?: Profile;
  /** Lowest acceptable Shamir threshold t (default 2). */
  readonly minThreshold?: number;
  /** Lowest acceptable t / k: the client requires t > k · fraction (default 0.5). */
  readonly minThresholdFraction?: number;
  /** Fewest neighbours k a client may have in the round's graph (default 2: any valid graph). */
  readonly minDegree?: number;
  /** Narrowest acceptable ring, in bits (default 1: any). */
  readonly minRingBits?: number;
  /** Smallest acceptable invited cohort (default 2). */
  readonly minCohort?: number;
  /**
   * Largest acceptable invited cohort (default: no limit). Set to a DP plan's `expectedClients`:
   * its accounting and ring bound hold for at most that many clients.
   */
  readonly maxCohort?: number;
  /** Acceptable mask PRGs (default: all). */
  readonly allowedPrg?: readonly PrgAlgorithm[];
  /**
   * Round ids this client already took part in (persisted by the application). A second session
   * for one of them is refused, so a server cannot aggregate a cohort and then the cohort minus
   * one client under the same round (multi-round difference attack).
   */
  readonly completedRoundIds?: readonly string[];
  /**
   * Fewest survivors (U3) whose inputs may be summed (default 0: any the threshold allows). Set to a
   * distributed-DP plan's `minSurvivors`: fewer inputs carry less noise than the privacy target
   * needs, so the client refuses to unmask such a sum (`SMPC_DP_TOO_FEW_SURVIVORS`).
   */
  readonly minSurvivors?: number;
  /**
   * Whether this client joins a retry session (`<round>.retry<n>`) of a round whose earlier
   * session it saw abort after it sent its masked input (its self mask may then have been revealed,
   * and a server colluding with the client blamed for the abort could hold that session's sum).
   * Default: false for `minProfile: 'active'` (the client distrusts the server), true otherwise.
   * A retry of a session that completed, or whose end the client did not see, is always refused.
   */
  readonly allowRetryAfterUnmask?: boolean;
}

/** What a client knows about a round when it decides: the announcement, or the full parameters. */
export interface RoundOffer {
  readonly profile: Profile;
  readonly ringBits: number;
  readonly roundId?: string;
  readonly clients?: readonly string[];
  readonly threshold?: number;
  readonly degree?: number;
  readonly prg?: PrgAlgorithm;
}

/** The outcome of {@link decideJoin}. */
export type JoinDecision =
  | { readonly join: true }
  | { readonly join: false; readonly code: SmpcErrorCode; readonly reason: string };

/**
 * Validates a policy and fills in its defaults.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` naming the invalid field.
 * @example
 * ```ts
 * resolveClientPolicy({}, { hasIdentities: true }).minProfile; // 'active'
 * ```
 */
export function resolveClientPolicy(
  policy: ClientPolicy | undefined,
  context: { readonly hasIdentities: boolean },
): Required<ClientPolicy> {
  const p = policy ?? {};
  if (typeof p !== 'object' || p === null) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'policy must be an object');
  }
  const minThresholdFraction = p.minThresholdFraction ?? 0.5;
  if (typeof minThresholdFraction !== 'number' || !(minThresholdFraction >= 0 && minThresholdFraction < 1)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'minThresholdFraction must be a number in [0, 1)', {
      fields: ['minThresholdFraction'],
    });
  }
  const allowedPrg = [...(p.allowedPrg ?? PRG_ALGORITHMS)];
  if (
    allowedPrg.length === 0 ||
    !allowedPrg.every((a) => (PRG_ALGORITHMS as readonly string[]).includes(a))
  ) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'allowedPrg must list known PRG algorithms', {
      fields: ['allowedPrg'],
    });
  }
  const minCohort = assertInteger(p.minCohort ?? 2, 'minCohort', 2, MAX_COHORT);
  if (p.allowRetryAfterUnmask !== undefined && typeof p.allowRetryAfterUnmask !== 'boolean') {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'allowRetryAfterUnmask must be a boolean', {
      fields: ['allowRetryAfterUnmask'],
    });
  }
  const minProfile = assertOneOf(
    p.minProfile ?? (context.hasIdentities ? 'active' : 'honest-but-curious'),
    'minProfile',
    PROFILES,
  );
  const maxCohort = assertInteger(p.maxCohort ?? MAX_COHORT, 'maxCohort', 2, MAX_COHORT);
  return {
    minProfile,
    minThreshold: assertInteger(p.minThreshold ?? 2, 'minThreshold', 2, 65_535),
    minThresholdFraction,
    minDegree: assertInteger(p.minDegree ?? 2, 'minDegree', 2, MAX_COHORT),
    minRingBits: assertInteger(p.minRingBits ?? 1, 'minRingBits', 1, MAX_RING_BITS),
    minCohort,
    maxCohort,
    allowedPrg,
    completedRoundIds: [...(p.completedRoundIds ?? [])].map((r, i) =>
      assertString(r, `completedRoundIds[${i}]`, 128),
    ),
    minSurvivors: assertInteger(p.minSurvivors ?? 0, 'minSurvivors', 0, MAX_COHORT),
    allowRetryAfterUnmask: p.allowRetryAfterUnmask ?? minProfile !== 'active',
  };
}

function decline(code: SmpcErrorCode, reason: string): JoinDecision {
  return { join: false, code, reason };
}

/**
 * Whether a client with `policy` may take part in the round `offer` describes. Pure; checks only
 * the fields present, so it serves both the announcement and the full parameters. The first
 * failing check decides: the profile (`SMPC_PROFILE_TOO_WEAK`), then every other floor
 * (`SMPC_POLICY_VIOLATION`, the reason naming the parameter and both values).
 *
 * Restored states from before a field existed lack it; a missing field means "no floor" except
 * `minProfile`, which then demands what the profile of the parameters already requires.
 *
 * @example
 * ```ts
 * const d = decideJoin({ profile: 'honest-but-curious', ringBits: 32 }, policy);
 * if (!d.join) decline(d.code, d.reason); // SMPC_PROFILE_TOO_WEAK for an identity client
 * ```
 */
export function decideJoin(offer: RoundOffer, policy: Required<ClientPolicy>): JoinDecision {
  const minProfile = policy.minProfile ?? 'honest-but-curious';
  if (profileRank(offer.profile) < profileRank(minProfile)) {
    return decline(
      'SMPC_PROFILE_TOO_WEAK',
      `the round runs the ${offer.profile} profile; this client requires at least ${minProfile}`,
    );
  }
  const minRingBits = policy.minRingBits ?? 1;
  if (offer.ringBits < minRingBits) {
    return decline(
      'SMPC_POLICY_VIOLATION',
      `the round's ring has ${offer.ringBits} bits; this client requires at least ${minRingBits}`,
    );
  }
  if (offer.prg !== undefined && !policy.allowedPrg.includes(offer.prg)) {
    return decline('SMPC_POLICY_VIOLATION', `PRG ${offer.prg} not allowed by policy`);
  }
  if (offer.roundId !== undefined && policy.completedRoundIds.includes(offer.roundId)) {
    return decline('SMPC_POLICY_VIOLATION', 'this client already took part in a session for this round id');
  }
  if (offer.clients !== undefined) {
    const n = offer.clients.length;
    if (n < policy.minCohort) {
      return decline('SMPC_POLICY_VIOLATION', `cohort of ${n} below the policy minimum ${policy.minCohort}`);
    }
    const maxCohort = policy.maxCohort ?? MAX_COHORT;
    if (n > maxCohort) {
      return decline(
        'SMPC_POLICY_VIOLATION',
        `cohort of ${n} above the policy maximum ${maxCohort} (e.g. more clients than a DP plan covers)`,
      );
    }
    const minSurvivors = policy.minSurvivors ?? 0;
    if (n < minSurvivors) {
      // The sum could never hold enough inputs: decline now rather than refuse to unmask later.
      return decline(
        'SMPC_DP_TOO_FEW_SURVIVORS',
        `cohort of ${n} can never reach this client's floor of ${minSurvivors} inputs in the sum`,
      );
    }
  }
  if (offer.degree !== undefined) {
    const minDegree = policy.minDegree ?? 2;
    if (offer.degree < minDegree) {
      return decline(
        'SMPC_POLICY_VIOLATION',
        `the round gives each client ${offer.degree} neighbours; this client requires at least ${minDegree}`,
      );
    }
  }
  if (offer.threshold !== undefined && offer.degree !== undefined) {
    const t = offer.threshold;
    const k = offer.degree;
    if (t < policy.minThreshold || t <= k * policy.minThresholdFraction) {
      return decline(
        'SMPC_POLICY_VIOLATION',
        `threshold ${t} of ${k} neighbours is below the policy floor ` +
          `(t ≥ ${policy.minThreshold} and t > ${policy.minThresholdFraction}·k)`,
      );
    }
    if (offer.profile === 'active' && 3 * t <= 2 * k) {
      return decline('SMPC_POLICY_VIOLATION', 'the active profile needs threshold > 2/3 of the neighbours');
    }
  }
  return { join: true };
}
