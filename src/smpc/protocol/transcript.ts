/**
 * The round transcript of a SecAgg+ server state (`server.ts`), as the provenance statement of
 * `confide/provenance` (`provenance/transcript/statement.ts`) records it: the parameters and plan,
 * the SHA-256 of each client's advertised public keys (encryption key ‖ masking key), the set of
 * clients at each stage (U1, U2, U3 and those that answered the unmask request), the SHA-256 of
 * every accepted masked vector (its 32-bit lanes little-endian, check lanes included; what the
 * client computes over the vector it sent, {@link maskedInputDigest}), the survivors in the sum,
 * the DP part, and the aggregate's digest. Pure: data in, data out.
 *
 * Deliberately not here: signing and logging (the transport and CLI do it through
 * `confide/provenance`), and any judgement (the client and the auditor verify).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { sha256, toHex } from '../../internal/bytes.ts';
import { compareCodePoints } from '../../provenance/common/bytes.ts';
import {
  laneDigest,
  type RoundTranscript,
  type TranscriptDp,
} from '../../provenance/transcript/statement.ts';
import { PROTOCOL_VERSION, paramsDigest } from './params.ts';
import type { ServerState } from './server.ts';

/** What the transcript needs besides the server state. */
export interface TranscriptContext {
  /** The round id the clients were told (default: the protocol parameters' `roundId`). */
  readonly roundId?: string;
  /** The session tag the round ran under (default: the protocol's session id). */
  readonly session?: Uint8Array;
  /** The DP floor the server promised (default: the state's limits, else 0). */
  readonly minSurvivors?: number;
  /** The DP part: the plan and what this round spent, or null/absent without DP. */
  readonly dp?: TranscriptDp | null;
  /** Signed, uninterpreted context (e.g. `payloadDigest`). */
  readonly annotations?: RoundTranscript['annotations'];
}

/** SHA-256 hex of a masked vector's lanes, little-endian: the digest a transcript commits to. */
export function maskedInputDigest(masked: Uint32Array): string {
  return laneDigest(masked);
}

const sorted = (ids: Iterable<string>): string[] => [...ids].sort(compareCodePoints);

/**
 * The transcript of a finished (done or aborted) round.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a state that is not a server state or
 *   a round still running.
 * @example
 * ```ts
 * const t = transcriptOfRound(outcome.server, { dp: null });
 * ```
 */
export function transcriptOfRound(state: ServerState, context: TranscriptContext = {}): RoundTranscript {
  if (typeof state !== 'object' || state === null || state.role !== 'server')
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'state must be a SecAgg+ server state');
  if (state.stage !== 'done' && state.stage !== 'aborted')
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `the round is still in stage ${state.stage}: transcripts are of finished rounds`,
    );
  const p = state.params;
  const completed = state.stage === 'done' && state.result !== null;
  const advertised = new Map(state.advertised.map((a) => [a.id, a]));
  const session = context.session ?? state.sessionId ?? new Uint8Array(32);
  const minSurvivors = context.minSurvivors ?? state.limits?.minSurvivors ?? 0;
  return {
    roundId: context.roundId ?? p.roundId,
    session: toHex(session),
    status: completed ? 'completed' : 'aborted',
    parameters: {
      protocolVersion: PROTOCOL_VERSION,
      profile: p.profile,
      graph: p.graph,
      degree: p.degree,
      threshold: p.threshold,
      ringBits: p.ringBits,
      vectorLength: p.vectorLength,
      digest: toHex(paramsDigest(p)),
    },
    minSurvivors,
    cohort: sorted(p.clients).map((id) => {
      const a = advertised.get(id);
      return { id, publicKeys: a === undefined ? null : toHex(sha256(a.encryptionKey, a.maskingKey)) };
    }),
    stages: {
      advertised: sorted(state.advertised.map((a) => a.id)),
      shared: sorted(state.shared.map((s) => s.id)),
      masked: sorted(state.masked.map((m) => m.id)),
      unmasked: sorted(state.unmasked.map((u) => u.id)),
    },
    maskedInputs: [...state.masked]
      .sort((a, b) => compareCodePoints(a.id, b.id))
      .map((m) => ({ id: m.id, digest: maskedInputDigest(m.masked) })),
    survivors: completed ? sorted(state.survivors ?? []) : [],
    dp: context.dp ?? null,
    aggregate: completed
      ? { digest: laneDigest(state.result as Uint32Array), lanes: (state.result as Uint32Array).length }
      : null,
    ...(completed || state.abort === null ? {} : { abortCode: state.abort.code }),
    ...(context.annotations === undefined ? {} : { annotations: context.annotations }),
  };
}
