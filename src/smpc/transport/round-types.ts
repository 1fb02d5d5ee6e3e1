/**
 * The vocabulary of a secure-aggregation service round, shared by the transport-agnostic round
 * runner (`round-runner.ts`) and the WebSocket server (`ws-server.ts`, which re-exports the public
 * names): the progress events, `runRound`'s options and their validation, and the result of a round
 * and of each of its sessions. Pure types and checks; no I/O.
 *
 * Deliberately not here: connection handling (`connections.ts`), the session logic
 * (`round-runner.ts`), retries and bans (`retry.ts`, applied by the server).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertBytes, assertInteger, assertOneOf, assertString } from '../../internal/assert.ts';
import type { RoundTranscript } from '../../provenance/transcript/statement.ts';
import { type DpPlan, validateDpPlan } from '../dp.ts';
import { assertRoundFits, estimateRoundResources } from '../estimate.ts';
import { MIN_COHORT } from '../planner.ts';
import { PRG_ALGORITHMS, type PrgAlgorithm } from '../primitives/prg.ts';
import { DEFAULT_RING_BITS, MAX_RING_BITS } from '../primitives/ring.ts';
import { isValidId } from '../primitives/session.ts';
import { DEFAULT_PROFILE, PROFILES, type Profile } from '../protocol/params.ts';
import type { Exclusion } from '../protocol/server.ts';
import { encodeDp, MAX_ROUND_ID_LENGTH, roundFrameBytes } from './frames.ts';
import type { ConsistencyProver } from './log-pin.ts';

/** Progress of the server. */
export type AggregationEvent =
  | { readonly type: 'listening'; readonly url: string }
  | { readonly type: 'client-connected'; readonly clientId: string }
  | { readonly type: 'client-disconnected'; readonly clientId: string; readonly code: number }
  | {
      readonly type: 'client-rejected';
      readonly code: string;
      readonly reason: string;
      /**
       * For a hello with a wrong token or an unknown id: the id it claimed (≤ 64 characters, control
       * characters replaced) and whether that id is registered. The peer is told neither.
       */
      readonly clientId?: string;
      readonly registered?: boolean;
    }
  | {
      readonly type: 'frame-refused';
      readonly clientId: string;
      readonly code: string;
      readonly reason: string;
    }
  | { readonly type: 'round-announced'; readonly roundId: string; readonly clients: readonly string[] }
  | {
      readonly type: 'round-started';
      readonly roundId: string;
      readonly cohort: readonly string[];
      readonly graph: string;
      readonly degree: number;
      readonly threshold: number;
    }
  | {
      readonly type: 'client-declined';
      readonly roundId: string;
      readonly clientId: string;
      readonly code: string;
      /** The client's words (≤ 200 characters, control characters replaced): e.g. both vector lengths. */
      readonly reason: string;
    }
  | { readonly type: 'stage'; readonly roundId: string; readonly stage: string }
  | {
      readonly type: 'stage-deadline';
      readonly roundId: string;
      readonly stage: string;
      readonly pending: number;
    }
  | {
      readonly type: 'client-dropped';
      readonly roundId: string;
      readonly clientId: string;
      readonly stage: string;
      /** What the client did (`Exclusion.code`), when the state machine excluded or marked it. */
      readonly code?: string;
      readonly reason: string;
    }
  | {
      readonly type: 'round-completed';
      readonly roundId: string;
      readonly survivors: number;
      readonly dropped: number;
    }
  | {
      readonly type: 'round-aborted';
      readonly roundId: string;
      readonly code: string;
      readonly reason: string;
    }
  | {
      readonly type: 'client-banned';
      readonly roundId: string;
      readonly clientId: string;
      readonly code: string;
    }
  | {
      /** Named by an abort that does not prove its fault: left out of this round's retries only. */
      readonly type: 'client-sidelined';
      readonly roundId: string;
      readonly clientId: string;
      readonly code: string;
    };

/** A client banned because its own messages made a session abort. */
export interface BannedClient {
  readonly clientId: string;
  /** The abort code that named it (`SMPC_AGGREGATE_INVALID`, `SMPC_SHARES_INCONSISTENT`). */
  readonly code: string;
  /** The session (service round id) it made abort. */
  readonly roundId: string;
}

/** Options of `AggregationServer.runRound`. */
export interface AggregationRoundOptions {
  /** This round's id (≤ 63 characters); never reused by this server. */
  readonly roundId: string;
  readonly vectorLength: number;
  /** Ring width b; default 32. */
  readonly ringBits?: number;
  /** Threat profile; default `semi-malicious` ({@link DEFAULT_PROFILE}, the same everywhere). */
  readonly profile?: Profile;
  /** Abort unless at least this many clients join (≥ 3). */
  readonly minClients: number;
  /** Time clients have to answer the announcement (their `prepare` runs then); default 30 000 ms. */
  readonly joinTimeoutMs?: number;
  /** Deadline of each protocol stage; default 30 000 ms. */
  readonly stageTimeoutMs?: number;
  /** Expected dropout rate for the planner, in [0, 1); default 0.1. */
  readonly expectedDropout?: number;
  /** Assumed fraction of corrupt clients for the planner, in [0, 1); default 0.05. */
  readonly corruptionRate?: number;
  /** Opaque bytes every client receives (e.g. the global model); bound into the session. */
  readonly payload?: Uint8Array;
  /**
   * A distributed-DP plan (`planDistributedDiscreteGaussian`), sent to the clients with the
   * announcement so each adds its noise (`privatize`). Its `dimension` and `ringBits` must match
   * the round's. The round aborts (`SMPC_COHORT_TOO_LARGE`) if more clients join than its
   * `expectedClients`, and (`SMPC_DP_TOO_FEW_SURVIVORS`) as soon as fewer than its `minSurvivors`
   * remain, before any unmask share is requested; clients enforce the floor too, refusing to unmask.
   */
  readonly dp?: DpPlan;
  /** Send the sum to the clients in the result frame; default false (status and survivors only). */
  readonly shareSum?: boolean;
  /** Mask PRG; default `aes-256-ctr`. */
  readonly prg?: PrgAlgorithm;
  /**
   * Fresh sessions (`${roundId}.retry1`, …) to run, without the clients it names, after a session
   * aborts with a code a single client causes (`retry.ts`); default 2, at most 9, 0 to disable.
   */
  readonly maxRetries?: number;
  /**
   * Commits each session's transcript (`transcriptOfRound`, built by the server when the session
   * ends) and returns the bundle to send the clients (a `confide.round-transcript/v1` bundle, as
   * JSON text or its UTF-8 bytes), e.g. `commitTranscript` of `confide/provenance` into a log. It
   * runs before the result is sent; if it throws, the clients get no transcript (and flag it).
   */
  readonly commitTranscript?: TranscriptCommitter;
  /**
   * Proves the log consistent from one tree size to another (hex hashes, RFC 9162 §2.1.4), e.g.
   * `transcriptConsistencyProver(store)` of `confide/provenance`: a client that pinned a checkpoint
   * in an earlier round gets its transcript with a consistency proof from it (`log-pin.ts`) and
   * flags the round without one.
   */
  readonly proveTranscriptConsistency?: ConsistencyProver;
}

/** Signs and logs a round transcript; resolves with the bundle sent to the clients. */
export type TranscriptCommitter = (transcript: RoundTranscript) => Promise<Uint8Array | string>;

/** The outcome of a round. */
export interface RoundResult {
  readonly roundId: string;
  readonly status: 'completed' | 'aborted';
  /** Σ of the survivors' inputs mod 2^b, or null when aborted. */
  readonly sum: Uint32Array | null;
  /** Clients whose inputs are in the sum (empty when aborted). */
  readonly survivors: readonly string[];
  /** Clients of the cohort whose inputs are not in the sum. */
  readonly dropped: readonly string[];
  /** The clients that joined (the invited cohort of the session). */
  readonly cohort: readonly string[];
  /** Why the round aborted; `clients` names the clients whose messages caused it, when known. */
  readonly abort: {
    readonly code: string;
    readonly reason: string;
    readonly clients?: readonly string[];
  } | null;
  /**
   * Every client the state machine excluded or marked, with the stage and a code for what it sent
   * (a malformed message, a share outside the field, a bad signature, …). A client marked in
   * `unmask` still has its input in the sum.
   */
  readonly excluded: readonly Exclusion[];
  /** Session parameters, or null when the round aborted before planning. */
  readonly plan: { readonly graph: string; readonly degree: number; readonly threshold: number } | null;
  /** Wall-clock milliseconds per stage (`join` included). */
  readonly stageTimesMs: Readonly<Record<string, number>>;
  /** Bytes of round frames received and sent. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Milliseconds spent inside the server state machine (its cryptography and bookkeeping). */
  readonly protocolTimeMs: number;
  /**
   * With a DP plan: the ε this round's release spent, for its actual survivor count
   * (`achievedEpsilon(plan, [survivors])`; ≤ the plan's per-round share of its target). Compose
   * rounds with `achievedEpsilon(plan, counts)`. Null without a plan or when aborted.
   */
  readonly epsilon: number | null;
  /** Clients banned during this round (an abort proved their fault: `ABORT_FAULT` in retry.ts). */
  readonly banned: readonly BannedClient[];
  /**
   * Clients an abort named without proving their fault (inconsistent shares): left out of this
   * round's later sessions, not banned.
   */
  readonly sidelined: readonly BannedClient[];
  /** Earlier sessions of this round that aborted and were retried (their ids and abort). */
  readonly retried: readonly { readonly roundId: string; readonly code: string }[];
}

/** The outcome of one session (a round is one session, or more with retries). */
export type SessionResult = Omit<RoundResult, 'banned' | 'sidelined' | 'retried'>;

/** What {@link checkRoundOptions} checks a round against. */
export interface ServerLimits {
  readonly maxFrameBytes: number;
  readonly maxMemoryBytes: number;
  /** Clients connected now (the cohort is among them). */
  readonly connected: number;
  /** Clients registered. */
  readonly registered: number;
}

/** `runRound`'s options, checked and with defaults, for one session. */
export type SessionOptions = Required<
  Omit<
    AggregationRoundOptions,
    'payload' | 'dp' | 'prg' | 'maxRetries' | 'commitTranscript' | 'proveTranscriptConsistency'
  >
> & {
  readonly commitTranscript: TranscriptCommitter | null;
  readonly proveTranscriptConsistency: ConsistencyProver | null;
  readonly prg: PrgAlgorithm;
  /** The round's distributed-DP plan, validated, or null. */
  readonly dp: DpPlan | null;
};

/**
 * Validates `runRound`'s options against the server's limits and fills in the defaults.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` naming the invalid option.
 * @throws {SmpcError} `SMPC_PLAN_TOO_LARGE` when the round's estimated memory exceeds the cap.
 */
export function checkRoundOptions(options: AggregationRoundOptions, limits: ServerLimits): SessionOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'round options must be an object');
  }
  const roundId = assertString(options.roundId, 'roundId', MAX_ROUND_ID_LENGTH);
  if (!isValidId(roundId))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'roundId must be well-formed UTF-16');
  const rate = (value: unknown, label: string, fallback: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !(value >= 0 && value < 1)) {
      throw new ConfideArgumentError('INVALID_ARGUMENT', `${label} must be a number in [0, 1)`);
    }
    return value;
  };
  if (options.payload !== undefined) assertBytes(options.payload, 'payload');
  const dp = options.dp === undefined ? null : checkDpPlan(options.dp, options);
  if (options.commitTranscript !== undefined && typeof options.commitTranscript !== 'function') {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'commitTranscript must be a function');
  }
  if (
    options.proveTranscriptConsistency !== undefined &&
    typeof options.proveTranscriptConsistency !== 'function'
  ) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'proveTranscriptConsistency must be a function');
  }
  if (options.shareSum !== undefined && typeof options.shareSum !== 'boolean') {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'shareSum must be a boolean');
  }
  const vectorLength = assertInteger(options.vectorLength, 'vectorLength', 1, 2 ** 26);
  // A masked vector (4 bytes a lane, plus check lanes and framing) must fit in one frame, and so
  // must the announcement with its payload, or every client would be cut off mid-round.
  const needed = roundFrameBytes(
    vectorLength,
    options.payload?.length ?? 0,
    dp === null ? 0 : encodeDp(dp).length,
  );
  if (needed > limits.maxFrameBytes) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `a round of ${vectorLength} lanes with this payload needs frames of ${needed} bytes; ` +
        `maxFrameBytes is ${limits.maxFrameBytes}: raise it or shorten the vector or payload`,
    );
  }
  // Refused before anything is announced: the server's memory for the largest cohort possible
  // (the round is announced to the clients connected now; the cohort is among them).
  assertRoundFits(
    estimateRoundResources({ role: 'server', clients: Math.max(1, limits.connected), vectorLength }),
    limits.maxMemoryBytes,
    { shrink: 'shorten vectorLength or register fewer clients', raise: 'raise maxMemoryBytes' },
  );
  return {
    roundId,
    vectorLength,
    ringBits: assertInteger(options.ringBits ?? DEFAULT_RING_BITS, 'ringBits', 1, MAX_RING_BITS),
    profile: assertOneOf(options.profile ?? DEFAULT_PROFILE, 'profile', PROFILES),
    minClients: assertInteger(options.minClients, 'minClients', MIN_COHORT, limits.registered),
    joinTimeoutMs: assertInteger(options.joinTimeoutMs ?? 30_000, 'joinTimeoutMs', 1, 2 ** 31 - 1),
    stageTimeoutMs: assertInteger(options.stageTimeoutMs ?? 30_000, 'stageTimeoutMs', 1, 2 ** 31 - 1),
    expectedDropout: rate(options.expectedDropout, 'expectedDropout', 0.1),
    corruptionRate: rate(options.corruptionRate, 'corruptionRate', 0.05),
    shareSum: options.shareSum ?? false,
    prg: assertOneOf(options.prg ?? 'aes-256-ctr', 'prg', PRG_ALGORITHMS),
    dp,
    commitTranscript: options.commitTranscript ?? null,
    proveTranscriptConsistency: options.proveTranscriptConsistency ?? null,
  };
}

/** Validates a DP plan against the round it is for (same dimension and ring). */
function checkDpPlan(value: unknown, options: AggregationRoundOptions): DpPlan {
  const plan = validateDpPlan(value);
  const ringBits = options.ringBits ?? DEFAULT_RING_BITS;
  if (plan.dimension !== options.vectorLength || plan.ringBits !== ringBits) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `the DP plan is for ${plan.dimension} lanes in a 2^${plan.ringBits} ring; the round has ` +
        `${options.vectorLength} lanes in 2^${ringBits}: plan for the round's vector`,
      { fields: ['dp'] },
    );
  }
  return plan;
}
