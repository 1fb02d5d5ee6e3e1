/**
 * Verification of round transcripts (`statement.ts`), for the clients of a round and for auditors.
 * Pure and synchronous; runs in browsers; never imports signing code.
 *
 * {@link verifyTranscriptBundle} checks a bundle (`confide.round-transcript/v1`: `{ type,
 * envelope, proof }`) against the server's public key: the DSSE signature over the PAE
 * (`PROV_SIGNATURE_INVALID`), the statement's shape (`PROV_TRANSCRIPT_MALFORMED`), the rules every
 * honest transcript obeys ({@link transcriptRuleProblems}: each stage's set within the previous,
 * the sum over exactly the accepted masked inputs, at least max(t, DP floor) survivors;
 * `PROV_TRANSCRIPT_SURVIVORS_INVALID`), and the inclusion of the envelope (its canonical JSON) in
 * the log under a checkpoint signed by the same key (`log/verify.ts` codes), optionally consistent
 * with a checkpoint the verifier kept.
 *
 * {@link checkTranscriptForClient} adds what only a participant knows: the round and session it
 * joined (`PROV_TRANSCRIPT_ROUND_MISMATCH`), the digest of the masked input it sent, which must be
 * committed and summed (`PROV_TRANSCRIPT_INPUT_MISSING`: dropped silently), the threshold and DP
 * floor it agreed to and the survivors it was told (`PROV_TRANSCRIPT_SURVIVORS_INVALID`), and the
 * aggregate it received (`PROV_TRANSCRIPT_AGGREGATE_MISMATCH`).
 *
 * The per-client ε ledger is in `ledger.ts` (re-exported here): {@link transcriptLedger} sums, per client, the ε and δ of every logged round whose sum holds its
 * input (basic sequential composition), and alongside it composes the same rounds in zCDP from
 * the mechanism parameters each transcript records (tighter over many rounds, at a stated δ); a
 * round without DP makes a client's ε unbounded (+∞, flagged). {@link checkLedger} holds it to a
 * budget by either accountant (`PROV_LEDGER_INVALID`, also for any round without DP).
 *
 * What a transcript cannot prove: that the committed masked inputs are the ones actually summed
 * (only the check lanes and the survivors' own checks bind them), or anything about a client that
 * colludes with the server (see SECURITY.md "Round transcripts").
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { decodeUtf8 } from '../common/bytes.ts';
import { assertEnvelope, type DsseEnvelope, IN_TOTO_PAYLOAD_TYPE } from '../common/dsse.ts';
import { canonicalizeToBytes, type JsonValue } from '../common/jcs.ts';
import type { PublicKey } from '../common/keys.ts';
import { VerificationError } from '../errors.ts';
import { noteVerifier } from '../log/checkpoint.ts';
import { type LogProof, type LogProofResult, parseLogProof, verifyLogProof } from '../log/verify.ts';
import { verifyEnvelope } from '../model-signing/verify-bundle.ts';
import { type RoundTranscript, type TranscriptStatement, transcriptStatementProblems } from './statement.ts';

/** The `type` of a transcript bundle. */
export const TRANSCRIPT_BUNDLE_TYPE = 'confide.round-transcript/v1';

/** A signed, logged round transcript with its inclusion proof. */
export interface TranscriptBundle {
  readonly type: typeof TRANSCRIPT_BUNDLE_TYPE;
  readonly envelope: DsseEnvelope;
  readonly proof: LogProof;
}

/** What a verified bundle established. */
export interface VerifiedTranscript {
  readonly statement: TranscriptStatement;
  readonly transcript: RoundTranscript;
  readonly log: LogProofResult;
}

/** The bytes of the log entry of a transcript envelope: its RFC 8785 canonical JSON. */
export function transcriptEntry(envelope: DsseEnvelope): Uint8Array {
  assertEnvelope(envelope);
  return canonicalizeToBytes(envelope as unknown as JsonValue);
}

function malformed(message: string): never {
  throw new VerificationError('PROV_TRANSCRIPT_MALFORMED', message);
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses a transcript bundle (JSON text or value) and checks its shape.
 *
 * @throws {VerificationError} `PROV_TRANSCRIPT_MALFORMED`, `PROV_LOG_PROOF_MALFORMED`.
 */
export function parseTranscriptBundle(input: unknown): TranscriptBundle {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      malformed('the transcript bundle is not JSON');
    }
  }
  if (!isRecord(value) || value.type !== TRANSCRIPT_BUNDLE_TYPE)
    malformed(`not a ${TRANSCRIPT_BUNDLE_TYPE} bundle`);
  try {
    assertEnvelope(value.envelope);
  } catch {
    malformed('the bundle holds no valid DSSE envelope');
  }
  const proof = parseLogProof(value.proof);
  if (proof.inclusion === undefined) malformed('the bundle proof has no inclusion part');
  return { type: TRANSCRIPT_BUNDLE_TYPE, envelope: value.envelope as DsseEnvelope, proof };
}

/**
 * The decoded, signature-checked statement of a transcript envelope.
 *
 * @throws {VerificationError} `PROV_PAYLOAD_TYPE`, `PROV_SIGNATURE_INVALID`, `PROV_TRANSCRIPT_MALFORMED`.
 */
export function openTranscriptEnvelope(envelope: DsseEnvelope, publicKey: PublicKey): TranscriptStatement {
  const payload = verifyEnvelope(envelope, [publicKey], { payloadType: IN_TOTO_PAYLOAD_TYPE });
  let statement: unknown;
  try {
    statement = JSON.parse(decodeUtf8(payload) ?? '');
  } catch {
    malformed('the transcript payload is not JSON');
  }
  const problems = transcriptStatementProblems(statement);
  if (problems.length > 0) malformed(`not a round transcript: invalid ${problems.join(', ')}`);
  return statement as TranscriptStatement;
}

/**
 * The rules an honest transcript obeys, as sentences (empty when it obeys them all): each stage's
 * set is within the previous one and the cohort; the masked inputs are exactly U3; a completed
 * round's survivors are U3 and number at least t and the DP floor, and at least t of them answered
 * the unmask request; the DP part's floor is the transcript's.
 */
export function transcriptRuleProblems(t: RoundTranscript): string[] {
  const out: string[] = [];
  const cohort = new Set(t.cohort.map((c) => c.id));
  const within = (a: readonly string[], b: ReadonlySet<string>, an: string, bn: string): void => {
    const extra = a.filter((x) => !b.has(x));
    if (extra.length > 0)
      out.push(`${an} holds ${extra.length} client(s) not in ${bn}: ${extra.slice(0, 5).join(', ')}`);
  };
  within(t.stages.advertised, cohort, 'U1 (advertised)', 'the cohort');
  within(t.stages.shared, new Set(t.stages.advertised), 'U2 (shared keys)', 'U1');
  within(t.stages.masked, new Set(t.stages.shared), 'U3 (masked inputs)', 'U2');
  within(t.stages.unmasked, new Set(t.stages.masked), 'U5 (unmask)', 'U3');
  const maskedIds = t.maskedInputs.map((m) => m.id);
  if (maskedIds.join('\n') !== t.stages.masked.join('\n'))
    out.push('the committed masked inputs are not exactly U3');
  for (const c of t.cohort)
    if (c.publicKeys === null && t.stages.advertised.includes(c.id))
      out.push(`client ${c.id} is in U1 without advertised keys`);
  if (t.status === 'completed') {
    if (t.survivors.join('\n') !== t.stages.masked.join('\n'))
      out.push('the released sum is not over exactly U3 (the accepted masked inputs)');
    const floor = Math.max(t.parameters.threshold, t.minSurvivors, t.dp?.minSurvivors ?? 0);
    if (t.survivors.length < floor)
      out.push(
        `the sum holds ${t.survivors.length} input(s), below the floor of ${floor} (threshold and DP floor)`,
      );
    if (t.stages.unmasked.length < t.parameters.threshold)
      out.push(
        `only ${t.stages.unmasked.length} client(s) answered the unmask request, fewer than t = ${t.parameters.threshold}`,
      );
  } else if (t.survivors.length > 0) {
    out.push('an aborted round lists survivors in a sum it did not release');
  }
  if (t.dp !== null && t.dp.minSurvivors > t.minSurvivors)
    out.push("the DP plan's floor is above the floor the transcript promises");
  if (t.dp?.mechanism !== undefined && t.dp.mechanism.dimension !== t.parameters.vectorLength)
    out.push("the DP mechanism's dimension is not the round's vector length");
  return out;
}

/** How to trust a transcript bundle. */
export interface TranscriptTrust {
  /** The server's Ed25519 public key (signs statements and the log's checkpoints). */
  readonly publicKey: PublicKey;
  /** A checkpoint kept from earlier: the bundle's proof must then carry a consistency proof from it. */
  readonly previousCheckpoint?: string;
  /** The log's expected origin (default: whatever the proof names). */
  readonly origin?: string;
}

/**
 * Verifies a transcript bundle: signature, statement, honest-transcript rules, log inclusion.
 *
 * @throws {VerificationError} with the code of the failing step (module notes).
 * @example
 * ```ts
 * const { transcript } = verifyTranscriptBundle(bundleJson, { publicKey: serverPub });
 * ```
 */
export function verifyTranscriptBundle(input: unknown, trust: TranscriptTrust): VerifiedTranscript {
  if (!isRecord(trust) || !isRecord(trust.publicKey))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'trust.publicKey must be the server public key');
  const bundle = parseTranscriptBundle(input);
  const statement = openTranscriptEnvelope(bundle.envelope, trust.publicKey);
  const transcript = statement.predicate as RoundTranscript;
  const rules = transcriptRuleProblems(transcript);
  if (rules.length > 0)
    throw new VerificationError(
      'PROV_TRANSCRIPT_SURVIVORS_INVALID',
      `the transcript breaks the protocol: ${rules.join('; ')}`,
    );
  const origin = trust.origin ?? bundle.proof.origin;
  const log = verifyLogProof(bundle.proof, noteVerifier(origin, trust.publicKey), {
    entry: transcriptEntry(bundle.envelope),
    origin,
    ...(trust.previousCheckpoint === undefined ? {} : { previousCheckpoint: trust.previousCheckpoint }),
  });
  return { statement, transcript, log };
}

/** What a client of the round knows for itself. */
export interface ClientExpectation {
  readonly clientId: string;
  /** The round id it joined (as the server announced it). */
  readonly roundId?: string;
  /** Hex of the session it joined, when known. */
  readonly session?: string;
  /** Digest ({@link laneDigest}) of the masked vector it sent; undefined when it sent none. */
  readonly maskedDigest?: string;
  /** The threshold t it ran the protocol with. */
  readonly threshold?: number;
  /** The least number of survivors it agreed to (the DP floor it was announced). */
  readonly minSurvivors?: number;
  /** The survivors the server told it, sorted or not. */
  readonly survivors?: readonly string[];
  /** Digest of the aggregate the server gave it (null/undefined: it was given none). */
  readonly aggregateDigest?: string | null;
  /**
   * The DP mechanism it was announced (null: the round was announced without DP): the committed
   * DP part must agree, so the ledger cannot count noise the clients never added.
   */
  readonly dp?: {
    readonly l2Sensitivity: number;
    readonly localVariance: number;
    readonly dimension: number;
  } | null;
}

/**
 * Checks a (verified) transcript against what a client knows. Returns the names of what it could
 * not check (no aggregate given, …).
 *
 * @throws {VerificationError} `PROV_TRANSCRIPT_ROUND_MISMATCH`, `PROV_TRANSCRIPT_INPUT_MISSING`,
 *   `PROV_TRANSCRIPT_SURVIVORS_INVALID`, `PROV_TRANSCRIPT_AGGREGATE_MISMATCH`.
 */
export function checkTranscriptForClient(t: RoundTranscript, expect: ClientExpectation): string[] {
  if (!isRecord(expect) || typeof expect.clientId !== 'string' || expect.clientId === '')
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'expect.clientId must be the client id');
  const notChecked: string[] = [];
  const id = expect.clientId;
  if (expect.roundId !== undefined && expect.roundId !== t.roundId)
    throw new VerificationError(
      'PROV_TRANSCRIPT_ROUND_MISMATCH',
      `the transcript is of round ${t.roundId}, not ${expect.roundId}`,
    );
  if (expect.session !== undefined && expect.session !== t.session)
    throw new VerificationError(
      'PROV_TRANSCRIPT_ROUND_MISMATCH',
      `the transcript is of another session of round ${t.roundId}`,
    );
  if (!t.cohort.some((c) => c.id === id))
    throw new VerificationError(
      'PROV_TRANSCRIPT_INPUT_MISSING',
      `client ${id} is not in the committed cohort`,
    );
  if (expect.maskedDigest !== undefined) {
    const mine = t.maskedInputs.find((m) => m.id === id);
    if (mine === undefined)
      throw new VerificationError(
        'PROV_TRANSCRIPT_INPUT_MISSING',
        `client ${id}'s masked input is not in the committed set: the server dropped it`,
      );
    if (mine.digest !== expect.maskedDigest)
      throw new VerificationError(
        'PROV_TRANSCRIPT_INPUT_MISSING',
        `the committed masked input of ${id} is not the one it sent (digest ${mine.digest.slice(0, 12)}…)`,
      );
    if (t.status === 'completed' && !t.survivors.includes(id))
      throw new VerificationError(
        'PROV_TRANSCRIPT_INPUT_MISSING',
        `client ${id}'s input was accepted but left out of the sum`,
      );
  } else notChecked.push('own masked input (the client sent none)');
  if (expect.dp !== undefined) checkCommittedDp(t, expect.dp);
  if (expect.threshold !== undefined && t.parameters.threshold !== expect.threshold)
    throw new VerificationError(
      'PROV_TRANSCRIPT_SURVIVORS_INVALID',
      `the committed threshold ${t.parameters.threshold} is not the t = ${expect.threshold} the client ran with`,
    );
  if (
    expect.minSurvivors !== undefined &&
    t.status === 'completed' &&
    t.survivors.length < expect.minSurvivors
  )
    throw new VerificationError(
      'PROV_TRANSCRIPT_SURVIVORS_INVALID',
      `the sum holds ${t.survivors.length} inputs, below the DP floor of ${expect.minSurvivors} the client joined under`,
    );
  if (expect.survivors !== undefined) {
    const told = [...expect.survivors].sort().join('\n');
    const committed = [...t.survivors].sort().join('\n');
    if (told !== committed)
      throw new VerificationError(
        'PROV_TRANSCRIPT_SURVIVORS_INVALID',
        `the survivors the client was told (${expect.survivors.length}) are not the committed ones (${t.survivors.length})`,
      );
  } else notChecked.push('the survivors the server announced');
  if (expect.aggregateDigest !== undefined && expect.aggregateDigest !== null) {
    if (t.aggregate === null || t.aggregate.digest !== expect.aggregateDigest)
      throw new VerificationError(
        'PROV_TRANSCRIPT_AGGREGATE_MISMATCH',
        'the aggregate the client was given does not match the committed aggregate digest',
      );
  } else notChecked.push('the aggregate (the client was given none)');
  return notChecked;
}

/** The committed DP part against the one the client was announced. */
function checkCommittedDp(t: RoundTranscript, announced: ClientExpectation['dp']): void {
  const mismatch = (what: string): never => {
    throw new VerificationError('PROV_TRANSCRIPT_ROUND_MISMATCH', `the committed DP part ${what}`);
  };
  if (announced === null || announced === undefined) {
    if (t.dp !== null) mismatch('claims noise in a round announced without DP');
    return;
  }
  if (t.dp === null) {
    mismatch('is empty, but the round was announced with DP');
    return;
  }
  const m = t.dp.mechanism;
  if (
    m !== undefined &&
    (m.l2Sensitivity !== announced.l2Sensitivity ||
      m.localVariance !== announced.localVariance ||
      m.dimension !== announced.dimension)
  )
    mismatch('names another mechanism (sensitivity, variance or dimension) than the plan announced');
}

/**
 * Verifies a bundle and checks it against what the client knows (the two functions above).
 *
 * @throws {VerificationError} with the code of the failing step.
 */
export function verifyRoundTranscript(
  input: unknown,
  trust: TranscriptTrust,
  expect: ClientExpectation,
): VerifiedTranscript & { readonly notChecked: readonly string[] } {
  const verified = verifyTranscriptBundle(input, trust);
  const notChecked = checkTranscriptForClient(verified.transcript, expect);
  return { ...verified, notChecked };
}

export {
  checkLedger,
  type LedgerBudget,
  type LedgerEntry,
  type LedgerOptions,
  type LedgerZcdp,
  ledgerEpsilon,
  transcriptLedger,
} from './ledger.ts';
