/**
 * Whether a client joins an announced round: {@link decideAnnouncement}, one pure function over
 * the announce frame, the client's resolved policy and limits, and what it remembers (round ids it
 * joined, what it saw of each, the DP plans it spent budget on). The WebSocket client
 * (`transport/ws-client.ts`) only decodes, calls it, and then declines or creates keys and joins.
 *
 * The checks, first failing one decides (codes and reasons are what the server is told):
 * the payload against its announced SHA-256 (`SMPC_PAYLOAD_MISMATCH`); a round id already joined
 * (`SMPC_POLICY_VIOLATION`); a retry session the retry rule refuses (`transport/retry.ts`); the
 * profile and ring floors ({@link decideJoin}); a vector too long for this client's frames
 * (`SMPC_FRAME_TOO_LARGE`); a DP plan that does not validate or does not match the round
 * (`SMPC_DP_PLAN_INVALID`); the ε budget composed over every DP round joined, at the client's own δ
 * (`SMPC_POLICY_VIOLATION`).
 *
 * Deliberately not here: checks on the application's input (its length; the state machine and the
 * client), the full round parameters (decided again by {@link decideJoin} inside `client.ts`), and
 * any state change: the caller records the round as joined.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { type DpPlan, spentEpsilon, validateDpPlan } from '../dp.ts';
import type { SmpcErrorCode } from '../errors.ts';
import { equalBytes, toHex } from '../primitives/encoding.ts';
import { type AnnounceFrame, payloadDigest, roundFrameBytes } from '../transport/frames.ts';
import { decideRetry, type PriorSession, parseRetryRoundId } from '../transport/retry.ts';
import { type ClientPolicy, decideJoin } from './policy.ts';

/** The δ at which a client's `maxEpsilon` is measured unless it says otherwise. */
export const DEFAULT_MAX_DELTA = 1e-6;

/** What a client remembers across announcements (and, persisted, across restarts). */
export interface JoinHistory {
  /** Service round ids this client joined. */
  readonly completedRoundIds: Iterable<string>;
  /** What this client saw of sessions it joined in this process, by round id (retry decisions). */
  readonly seen?: ReadonlyMap<string, PriorSession>;
  /** The DP plan of every DP round this client joined. */
  readonly dpRoundsJoined: readonly DpPlan[];
}

/** The client's own limits, beside its {@link ClientPolicy}. */
export interface JoinLimits {
  /** Largest frame this client accepts. */
  readonly maxFrameBytes: number;
  /** ε budget over every DP round joined; unset: no budget (and no DP plan required). */
  readonly maxEpsilon?: number;
  /** δ at which `maxEpsilon` is measured (default {@link DEFAULT_MAX_DELTA}). */
  readonly maxDelta?: number;
}

/** The outcome of {@link decideAnnouncement}. */
export type AnnouncementDecision =
  | {
      readonly join: true;
      /** SHA-256 of the payload as this client computed it. */
      readonly digest: Uint8Array;
      /** The same, hex. */
      readonly payloadDigest: string;
      /** The round's validated DP plan, or null. */
      readonly dp: DpPlan | null;
      /** The retry attempt the round id names (0 for a first session). */
      readonly attempt: number;
      /**
       * The policy for this session's state machine: round ids are checked here, so none; with a
       * DP plan, its `minSurvivors` and `expectedClients` as floor and cap.
       */
      readonly sessionPolicy: Required<ClientPolicy>;
    }
  | { readonly join: false; readonly code: SmpcErrorCode; readonly reason: string };

function decline(code: SmpcErrorCode, reason: string): AnnouncementDecision {
  return { join: false, code, reason };
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message.slice(0, 200) : 'invalid';
}

/**
 * Whether a client joins the announced round, and if so with what. Pure (no clock, no I/O, no
 * state change).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` when an argument is not of the documented shape.
 * @example
 * ```ts
 * const d = decideAnnouncement(frame, policy, { completedRoundIds: [], dpRoundsJoined: [] }, { maxFrameBytes });
 * if (!d.join) send({ kind: 'decline', roundId: frame.roundId, session: frame.session, code: d.code, reason: d.reason });
 * ```
 */
export function decideAnnouncement(
  frame: AnnounceFrame,
  policy: Required<ClientPolicy>,
  history: JoinHistory,
  limits: JoinLimits,
): AnnouncementDecision {
  if (typeof frame !== 'object' || frame === null || !(frame.payload instanceof Uint8Array)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'frame must be a decoded announce frame');
  }
  if (typeof policy !== 'object' || policy === null) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'policy must be a resolved client policy');
  }
  if (
    typeof history !== 'object' ||
    history === null ||
    typeof history.completedRoundIds?.[Symbol.iterator] !== 'function' ||
    !Array.isArray(history.dpRoundsJoined)
  ) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'history must list completedRoundIds and dpRoundsJoined',
    );
  }
  if (typeof limits !== 'object' || limits === null || !Number.isSafeInteger(limits.maxFrameBytes)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'limits.maxFrameBytes must be an integer');
  }
  const digest = payloadDigest(frame.payload);
  if (!equalBytes(digest, frame.payloadDigest)) {
    return decline('SMPC_PAYLOAD_MISMATCH', 'the payload does not match its announced digest');
  }
  const completed = [...history.completedRoundIds];
  if (completed.includes(frame.roundId)) {
    return decline('SMPC_POLICY_VIOLATION', 'this client already took part in this round id');
  }
  // A retry session only of a round whose every session this client joined it saw abort: never
  // a second sum over an overlapping cohort (retry.ts). Ids joined in an earlier process have no
  // known outcome, so they forbid retries of their round.
  const { base, attempt } = parseRetryRoundId(frame.roundId);
  const prior = completed
    .filter((id) => parseRetryRoundId(id).base === base)
    .map(
      (id): PriorSession =>
        history.seen?.get(id) ?? {
          attempt: parseRetryRoundId(id).attempt,
          outcome: 'unknown',
          reachedUnmask: true,
        },
    );
  const retry = decideRetry(attempt, prior, policy.allowRetryAfterUnmask);
  if (!retry.join) return decline('SMPC_POLICY_VIOLATION', retry.reason);
  // The profile and ring floors, decided on the announcement (the same function decides again on
  // the full parameters, before any key is advertised).
  const pins = decideJoin({ profile: frame.profile, ringBits: frame.ringBits }, policy);
  if (!pins.join) return pins;
  // A masked vector must fit in one frame; the announcement, payload included, already did.
  if (roundFrameBytes(frame.vectorLength) > limits.maxFrameBytes) {
    return decline(
      'SMPC_FRAME_TOO_LARGE',
      `a vector of ${frame.vectorLength} lanes does not fit in this client's frames of ${limits.maxFrameBytes} bytes`,
    );
  }
  let dp: DpPlan | null = null;
  if (frame.dp !== null && frame.dp !== undefined) {
    try {
      dp = validateDpPlan(frame.dp);
    } catch (e) {
      return decline('SMPC_DP_PLAN_INVALID', `the round's DP plan is invalid: ${messageOf(e)}`);
    }
    if (dp.dimension !== frame.vectorLength || dp.ringBits !== frame.ringBits) {
      return decline('SMPC_DP_PLAN_INVALID', "the DP plan does not match the round's vector or ring");
    }
  }
  if (limits.maxEpsilon !== undefined) {
    // Measured at this client's δ over every DP round it joined, not at the δ or the per-plan ε
    // the server names (a plan with a large δ, or a fresh plan each round, would otherwise pass).
    const delta = limits.maxDelta ?? DEFAULT_MAX_DELTA;
    const total =
      dp === null ? Number.POSITIVE_INFINITY : spentEpsilon([...history.dpRoundsJoined, dp], delta);
    if (!(total <= limits.maxEpsilon)) {
      return decline(
        'SMPC_POLICY_VIOLATION',
        dp === null
          ? 'this client requires a DP plan and the round has none'
          : `joining would bring this client's ε (at δ = ${delta}) to ${total.toPrecision(4)}, above its budget of ${limits.maxEpsilon}`,
      );
    }
  }
  const sessionPolicy: Required<ClientPolicy> = {
    ...policy,
    completedRoundIds: [],
    ...(dp === null
      ? {}
      : {
          minSurvivors: Math.max(dp.minSurvivors, policy.minSurvivors),
          // More clients than the plan covers would weaken its accounting (τ) and ring bound.
          maxCohort: Math.min(dp.expectedClients, policy.maxCohort),
        }),
  };
  return { join: true, digest, payloadDigest: toHex(digest), dp, attempt, sessionPolicy };
}
