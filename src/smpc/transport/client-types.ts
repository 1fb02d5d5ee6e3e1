/**
 * The public types of the WebSocket secure-aggregation client (`ws-client.ts`): its options, what
 * `prepare` is told about a round, the record of a round it saw end, its progress events, and the
 * slice of the standard `WebSocket` it needs. Browser-safe; types only.
 *
 * Deliberately not here: option validation (`client-options.ts`) and behavior (`ws-client.ts`).
 *
 * @module
 */

import type { PublicKey } from '../../provenance/common/keys.ts';
import type { DpPlan } from '../dp.ts';
import type { SmpcError } from '../errors.ts';
import type { ClientPolicy, ClientStage, TrustedIdentity } from '../protocol/client.ts';
import type { Profile } from '../protocol/params.ts';
import type { LogPin } from './log-pin.ts';
import type { ClientTranscriptCheck } from './transcript-check.ts';

/** What a client is told about a round before it decides to join. */
export interface RoundAnnouncement {
  readonly roundId: string;
  readonly vectorLength: number;
  readonly ringBits: number;
  readonly profile: Profile;
  /** The round's opaque payload (e.g. the global model), already checked against its digest. */
  readonly payload: Uint8Array;
  /** SHA-256 of `payload`, hex. */
  readonly payloadDigest: string;
  /**
   * The round's distributed-DP plan, already validated (`validateDpPlan`) and matched to the
   * round's vector and ring, or null. When set, `prepare` should return `privatize(update, dp)`.
   */
  readonly dp: DpPlan | null;
}

/** A round as this client saw it end. */
export interface ClientRoundRecord {
  readonly roundId: string;
  /** `declined`: this client did not take part (policy, payload, `prepare` failed). */
  readonly status: 'completed' | 'aborted' | 'declined';
  readonly survivors: readonly string[];
  readonly dropped: readonly string[];
  /** The sum, when the server shares it. */
  readonly sum: Uint32Array | null;
  readonly abort: { readonly code: string; readonly reason: string } | null;
  /** Whether this client's input is in the sum. */
  readonly included: boolean;
  /** Milliseconds this client spent inside its state machine (key agreement, sharing, masking). */
  readonly protocolTimeMs: number;
  /** With `transcriptKey`: what the client concluded about the round's committed transcript. */
  readonly transcript?: ClientTranscriptCheck;
}

/** Progress of a client. */
export type ClientEvent =
  | { readonly type: 'announced'; readonly roundId: string }
  | { readonly type: 'joined'; readonly roundId: string }
  | { readonly type: 'declined'; readonly roundId: string; readonly code: string; readonly reason: string }
  | { readonly type: 'stage'; readonly roundId: string; readonly stage: ClientStage }
  | { readonly type: 'refused'; readonly code: string; readonly reason: string }
  | { readonly type: 'result'; readonly round: ClientRoundRecord };

/** How the connection ended. */
export interface ClientExit {
  /** WebSocket close code (1000 normal, 1001 server going away, 1008 refused, 1009 too large, 1006 lost). */
  readonly code: number;
  readonly reason: string;
  /** The coded error the server sent before closing, if any. */
  readonly error: SmpcError | null;
}

/** The part of the standard `WebSocket` this client uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { readonly data: unknown }) => void): void;
  addEventListener(
    type: 'close',
    listener: (event: { readonly code: number; readonly reason: string }) => void,
  ): void;
  addEventListener(type: 'error', listener: () => void): void;
}

/** A `WebSocket` constructor (the global one, or e.g. `ws`'s in older Node). */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Options of {@link AggregationClient.connect}. */
export interface AggregationClientOptions {
  /** `ws://` or `wss://` URL of the server. */
  readonly url: string;
  readonly id: string;
  readonly token: string;
  /** Long-term Ed25519 secret key (the `active` profile). */
  readonly identitySecretKey?: Uint8Array;
  /** The cohort's Ed25519 public keys, obtained out of band (the `active` profile). */
  readonly trustedIdentities?: readonly TrustedIdentity[];
  /**
   * What this client refuses to run with; `completedRoundIds` holds service round ids. With
   * `identitySecretKey` or `trustedIdentities`, `minProfile` defaults to `active` (else
   * `honest-but-curious`): a weaker announced round is declined (`SMPC_PROFILE_TOO_WEAK`) before
   * `prepare` runs or anything is sent.
   */
  readonly policy?: ClientPolicy;
  /** This client's ring vector for a round (quantize floats with `quantize`). Throw to decline. */
  readonly prepare: (round: RoundAnnouncement) => Uint32Array | Promise<Uint32Array>;
  readonly onEvent?: (event: ClientEvent) => void;
  /**
   * This client's privacy budget: the largest ε, at `maxDelta`, it spends over every DP round it
   * joins (`spentEpsilon` over `dpHistory` plus the rounds joined since, each at its plan's worst
   * case). When set, rounds without a DP plan, or whose plan would take the total past it, are
   * declined (`SMPC_POLICY_VIOLATION`).
   */
  readonly maxEpsilon?: number;
  /** The δ at which `maxEpsilon` is measured (default 1e-6), whatever δ a plan names. */
  readonly maxDelta?: number;
  /**
   * The plans of DP rounds this client joined before (one entry per round; persist
   * `dpRoundsJoined` and pass it back), so its budget spans restarts.
   */
  readonly dpHistory?: readonly DpPlan[];
  /** Injected `WebSocket` constructor; default `globalThis.WebSocket`. */
  readonly WebSocket?: WebSocketConstructor;
  /** Time to connect and authenticate; default 30 000 ms. */
  readonly connectTimeoutMs?: number;
  /** Largest frame accepted from the server; default `DEFAULT_MAX_FRAME_BYTES` (`frames.ts`). */
  readonly maxFrameBytes?: number;
  /**
   * The server's Ed25519 public key: when set, every round's committed transcript is checked
   * (`transcript-check.ts`) and the conclusion is in the round's record.
   */
  readonly transcriptKey?: PublicKey;
  /**
   * With `transcriptKey`: the server log's checkpoint pinned in an earlier run (`log-pin.ts`; persist
   * `logPin`): every transcript must prove the log consistent from it. Default: pin the first one.
   */
  readonly logPin?: LogPin;
}
