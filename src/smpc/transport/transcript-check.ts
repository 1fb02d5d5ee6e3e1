/**
 * The client's side of committed round transcripts: what `AggregationClient` checks when the
 * server sends a `transcript` frame (`frames.ts`) before the result, given the server's public key
 * (`AggregationClientOptions.transcriptKey`). The check is `verifyRoundTranscript` of
 * `confide/provenance` (signature, inclusion in the server's log, the honest-transcript rules),
 * with what only this client knows: the digest of the masked vector it sent, the threshold it ran
 * with, the DP floor it was announced, the survivors and sum the result told it. A failure is kept
 * as evidence (the bundle as received, the code and message); a round whose transcript never came
 * is `missing` (`PROV_TRANSCRIPT_MISSING`). Given the checkpoint the client pinned in an earlier
 * round (`log-pin.ts`), the bundle must also prove the log consistent from it, under the same
 * origin and key; a verified check returns the checkpoint to pin next.
 *
 * Browser-safe and pure. Deliberately not here: writing evidence to disk (`confide smpc join
 * --transcripts FILE` does) and retrying anything.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { decodeUtf8 } from '../../internal/bytes.ts';
import type { PublicKey } from '../../provenance/common/keys.ts';
import { VerificationError } from '../../provenance/errors.ts';
import { laneDigest, type RoundTranscript } from '../../provenance/transcript/statement.ts';
import { verifyRoundTranscript } from '../../provenance/transcript/verify.ts';
import { achievedEpsilon, type DpPlan } from '../dp.ts';
import { toHex } from '../primitives/encoding.ts';
import { type LogPin, pinCheckpoint } from './log-pin.ts';

/** What a client concluded about a round's transcript. */
export interface ClientTranscriptCheck {
  /** `verified`: every check passed; `failed`: one did (see `code`); `missing`: none was sent. */
  readonly status: 'verified' | 'failed' | 'missing';
  /** The code of the failed check (`PROV_*`), or `PROV_TRANSCRIPT_MISSING`. */
  readonly code?: string;
  readonly message?: string;
  /** The bundle as received (parsed JSON when it parses, else the text), the evidence to keep. */
  readonly bundle: unknown;
  /** Index of the transcript in the server's log, when verified. */
  readonly logIndex?: number;
  /** What the client could not check (e.g. no sum was shared). */
  readonly notChecked: readonly string[];
  /** The checkpoint the transcript was checked against for consistency (`log-pin.ts`), if any. */
  readonly pinned?: LogPin;
  /** When verified: the checkpoint to pin for the next round. */
  readonly pin?: LogPin;
}

/** What a session of the client remembers for the check. */
export interface TranscriptWitness {
  maskedDigest: string | null;
  threshold: number | null;
  bundle: Uint8Array | null;
  /** The survivors (U3) of the unmask request this client answered, when it got one. */
  unmaskSurvivors?: readonly string[] | null;
}

/**
 * Checks a transcript key is an Ed25519 public key (the server's log and statement key).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT`.
 */
export function assertTranscriptKey(key: unknown): asserts key is PublicKey {
  const k = key as { algorithm?: unknown; bytes?: unknown };
  if (
    typeof key !== 'object' ||
    key === null ||
    k.algorithm !== 'ed25519' ||
    !(k.bytes instanceof Uint8Array) ||
    k.bytes.length !== 32
  )
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      "transcriptKey must be the server's Ed25519 public key (parsePublicKeyPem)",
    );
}

/** A fresh witness for a session. */
export function newTranscriptWitness(): TranscriptWitness {
  return { maskedDigest: null, threshold: null, bundle: null, unmaskSurvivors: null };
}

/** Notes what the client sends or is asked (masked vectors and the round's threshold). */
export function witnessMessage(w: TranscriptWitness, message: unknown): void {
  const m = message as {
    type?: unknown;
    masked?: unknown;
    params?: { threshold?: unknown };
    survivors?: unknown;
  };
  if (m?.type === 'masked-input' && m.masked instanceof Uint32Array) w.maskedDigest = laneDigest(m.masked);
  if (m?.type === 'advertise-request' && typeof m.params?.threshold === 'number')
    w.threshold = m.params.threshold;
  // The first one: a later request (which the client does not answer) must not replace it.
  if (m?.type === 'unmask-request' && Array.isArray(m.survivors) && (w.unmaskSurvivors ?? null) === null)
    w.unmaskSurvivors = m.survivors.filter((x): x is string => typeof x === 'string');
}

/** Checks a session's transcript against what the client saw; never throws. */
export function checkClientTranscript(
  w: TranscriptWitness,
  key: PublicKey,
  seen: {
    readonly clientId: string;
    readonly roundId: string;
    readonly session: Uint8Array;
    readonly minSurvivors: number | null;
    /** The DP plan the round was announced with (null without DP; undefined: not checked). */
    readonly dp?: {
      readonly l2Sensitivity: number;
      readonly localVariance: number;
      readonly dimension: number;
    } | null;
    readonly survivors: readonly string[];
    readonly sum: Uint32Array | null;
  },
  pin: LogPin | null = null,
): ClientTranscriptCheck {
  const pinned = pin === null ? {} : { pinned: pin };
  if (w.bundle === null) {
    return {
      status: 'missing',
      code: 'PROV_TRANSCRIPT_MISSING',
      message: `the server sent no transcript for round ${seen.roundId}`,
      bundle: null,
      notChecked: [],
    };
  }
  const text = decodeUtf8(w.bundle) ?? '';
  let bundle: unknown = text;
  try {
    bundle = JSON.parse(text);
  } catch {
    // kept as text: the evidence is what was received
  }
  try {
    const v = verifyRoundTranscript(
      bundle,
      {
        publicKey: key,
        ...(pin === null ? {} : { previousCheckpoint: pin.checkpoint, origin: pin.origin }),
      },
      {
        clientId: seen.clientId,
        roundId: seen.roundId,
        session: toHex(seen.session),
        ...(w.maskedDigest === null ? {} : { maskedDigest: w.maskedDigest }),
        ...(w.threshold === null ? {} : { threshold: w.threshold }),
        ...(seen.minSurvivors === null ? {} : { minSurvivors: seen.minSurvivors }),
        ...(seen.dp === undefined ? {} : { dp: seen.dp }),
        survivors: seen.survivors,
        aggregateDigest: seen.sum === null ? null : laneDigest(seen.sum),
      },
    );
    checkCommittedSpend(v.transcript, seen.dp);
    // The server learns a client's input if it tells some clients it dropped (for its masking-key
    // shares) while removing its self mask (a survivor): the committed U3 must be the one asked.
    const asked = w.unmaskSurvivors;
    if (
      asked !== undefined &&
      asked !== null &&
      [...asked].sort().join('\n') !== [...v.transcript.stages.masked].sort().join('\n')
    )
      throw new VerificationError(
        'PROV_TRANSCRIPT_SURVIVORS_INVALID',
        `the unmask request named ${asked.length} survivor(s), not the ${v.transcript.stages.masked.length} committed in U3`,
      );
    return {
      status: 'verified',
      bundle,
      ...(v.log.inclusion === undefined ? {} : { logIndex: v.log.inclusion.index }),
      notChecked: v.notChecked,
      ...pinned,
      pin: pinCheckpoint((bundle as { proof: { checkpoint: string } }).proof.checkpoint),
    };
  } catch (e) {
    const code =
      typeof (e as { code?: unknown }).code === 'string'
        ? (e as { code: string }).code
        : 'PROV_TRANSCRIPT_MALFORMED';
    return {
      status: 'failed',
      code,
      message: e instanceof Error ? e.message : 'verification failed',
      bundle,
      notChecked: [],
      ...pinned,
    };
  }
}

/**
 * A completed DP round must commit at least the ε and δ its announced plan spends for the
 * survivors it summed (`achievedEpsilon`): the basic ε ledger adds the committed values, so a
 * server committing less would under-report every client's loss.
 */
function checkCommittedSpend(
  t: { readonly status: string; readonly survivors: readonly string[]; readonly dp: RoundTranscript['dp'] },
  announced: unknown,
): void {
  const plan = announced as Partial<DpPlan> | null | undefined;
  if (t.status !== 'completed' || t.dp === null || typeof plan?.epsilon !== 'number') return;
  let owed: number;
  try {
    owed = achievedEpsilon(plan as DpPlan, [t.survivors.length]);
  } catch {
    owed = Number.POSITIVE_INFINITY;
  }
  const delta = plan.delta as number;
  if (!(t.dp.epsilonSpent >= owed * (1 - 1e-9)) || !(t.dp.deltaSpent >= delta * (1 - 1e-9)))
    throw new VerificationError(
      'PROV_TRANSCRIPT_ROUND_MISMATCH',
      `the committed DP part says the round spent ε ${t.dp.epsilonSpent}, δ ${t.dp.deltaSpent}; the announced plan spends ε ${owed}, δ ${delta} for ${t.survivors.length} survivors`,
    );
}
