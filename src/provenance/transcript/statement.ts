/**
 * The committed transcript of one secure-aggregation round: an in-toto Statement v1
 * (in-toto/attestation `spec/v1/statement.md`) whose predicate
 * (`https://confide.dev/smpc/round-transcript/v1`) records what the server saw and did:
 *
 * - the round and session ids, the parameters and plan (profile, graph, degree, threshold t,
 *   ring bits, vector length, the parameters' SHA-256) and the DP floor (`minSurvivors`);
 * - the cohort, each client with the SHA-256 of the public keys it advertised;
 * - the survivor set at each stage (U1 advertised, U2 shared keys, U3 masked inputs, U5 unmask);
 * - each client's masked-input digest (SHA-256 of its masked vector's 32-bit lanes, little-endian,
 *   check lanes included), for every masked input the server accepted;
 * - the DP plan and the ε/δ the round spent (with the mechanism's parameters, so an auditor can
 *   recompute its ρ-zCDP), or null without DP;
 * - the released aggregate's digest (SHA-256 of its lanes, little-endian), or null when the round
 *   aborted; the subject is the aggregate (or, for an aborted round, the parameters' digest).
 *
 * The statement's payload is its RFC 8785 canonical JSON, so its digest is stable. This module
 * only builds and validates the statement; ids are opaque strings, sets are sorted code-point
 * order so two honest builds of the same round are byte-identical.
 *
 * Deliberately not here: signing and logging (`sign.ts`), the checks a client or auditor makes
 * (`verify.ts`), and anything that knows the SecAgg+ state machine (`confide/smpc` builds the
 * input from its server state).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { sha256, toHex } from '../../internal/bytes.ts';
import { compareCodePoints, isLowerHex } from '../common/bytes.ts';
import { canonicalizeToBytes, type JsonValue } from '../common/jcs.ts';
import { type InTotoStatement, STATEMENT_TYPE_V1, statementProblems } from '../common/statement.ts';

/** The predicate type of a round transcript. */
export const TRANSCRIPT_PREDICATE_TYPE = 'https://confide.dev/smpc/round-transcript/v1';

/** The DP part of a transcript. */
export interface TranscriptDp {
  /** The plan's total ε over its `rounds` (informational). */
  readonly planEpsilon: number;
  readonly delta: number;
  readonly rounds: number;
  /** The DP floor: the least number of inputs any released sum may hold. */
  readonly minSurvivors: number;
  /** ε this round spent for every client in its sum (at the plan's δ for one round). */
  readonly epsilonSpent: number;
  /** δ this round spent. */
  readonly deltaSpent: number;
  /**
   * The mechanism's parameters (optional; older transcripts lack it): with them an auditor
   * recomputes the round's ρ-zCDP from the log alone and composes rounds in zCDP
   * (`transcriptLedger`), tighter than adding ε.
   */
  readonly mechanism?: TranscriptDpMechanism;
}

/** The distributed discrete Gaussian as a transcript records it (quantized units, `smpc/dp.ts`'s plan). */
export interface TranscriptDpMechanism {
  readonly name: 'distributed-discrete-gaussian';
  /** L2 sensitivity of one client's rounded vector. */
  readonly l2Sensitivity: number;
  /** σ² of each client's noise. */
  readonly localVariance: number;
  /** Length of every vector. */
  readonly dimension: number;
}

/** The predicate of a round transcript. */
export interface RoundTranscript {
  readonly roundId: string;
  /** Hex of the session tag or id the protocol ran under. */
  readonly session: string;
  readonly status: 'completed' | 'aborted';
  readonly parameters: {
    readonly protocolVersion: number;
    readonly profile: string;
    readonly graph: string;
    readonly degree: number;
    readonly threshold: number;
    readonly ringBits: number;
    readonly vectorLength: number;
    /** SHA-256 hex of the protocol parameters (as the SecAgg+ session id binds them). */
    readonly digest: string;
  };
  /** The least number of survivors the server promised (the DP floor, or t without DP). */
  readonly minSurvivors: number;
  /** The cohort, sorted by id, with the SHA-256 hex of each client's advertised public keys (null: none advertised). */
  readonly cohort: readonly { readonly id: string; readonly publicKeys: string | null }[];
  /** Survivor set at each stage, each sorted. */
  readonly stages: {
    readonly advertised: readonly string[];
    readonly shared: readonly string[];
    readonly masked: readonly string[];
    readonly unmasked: readonly string[];
  };
  /** The masked inputs the server accepted, sorted by id. */
  readonly maskedInputs: readonly { readonly id: string; readonly digest: string }[];
  /** The clients whose inputs are in the released sum (sorted); empty when aborted. */
  readonly survivors: readonly string[];
  readonly dp: TranscriptDp | null;
  /** SHA-256 hex of the released aggregate's lanes, or null when the round aborted. */
  readonly aggregate: { readonly digest: string; readonly lanes: number } | null;
  /** When the abort happened, its code. */
  readonly abortCode?: string;
  /** Free-form, signed context (e.g. the payload's digest); not interpreted by verifiers. */
  readonly annotations?: { readonly [key: string]: JsonValue };
}

/** A round transcript statement. */
export type TranscriptStatement = InTotoStatement<RoundTranscript>;

/** SHA-256 hex of 32-bit lanes written little-endian: the digest of masked inputs and aggregates. */
export function laneDigest(lanes: Uint32Array): string {
  if (!(lanes instanceof Uint32Array))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'lanes must be a Uint32Array');
  let bytes: Uint8Array;
  if (LITTLE_ENDIAN) bytes = new Uint8Array(lanes.buffer, lanes.byteOffset, lanes.byteLength);
  else {
    bytes = new Uint8Array(lanes.length * 4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < lanes.length; i++) view.setUint32(i * 4, lanes[i] as number, true);
  }
  // A masked input is megabytes: `sha256` is OpenSSL's where the runtime has it, else @noble/hashes.
  return toHex(sha256(bytes));
}

/** Typed arrays use the platform's byte order; the digest is over little-endian lanes. */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 1024;
const isSortedIds = (v: unknown): v is string[] =>
  Array.isArray(v) &&
  v.every(isId) &&
  v.every((x, i) => i === 0 || compareCodePoints(v[i - 1] as string, x as string) < 0);
const isNonNeg = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isPositive = (v: unknown): v is number => isNonNeg(v) && v > 0;

/** Dotted paths of the invalid fields of a round transcript predicate (empty when valid). */
export function transcriptProblems(value: unknown): string[] {
  if (!isRecord(value)) return ['predicate'];
  const p: string[] = [];
  if (!isId(value.roundId)) p.push('roundId');
  if (typeof value.session !== 'string' || !/^[0-9a-f]{2,128}$/.test(value.session)) p.push('session');
  if (value.status !== 'completed' && value.status !== 'aborted') p.push('status');
  const par = value.parameters;
  if (!isRecord(par)) p.push('parameters');
  else {
    for (const k of ['protocolVersion', 'degree', 'threshold', 'ringBits', 'vectorLength'] as const)
      if (!isCount(par[k])) p.push(`parameters.${k}`);
    for (const k of ['profile', 'graph'] as const) if (!isId(par[k])) p.push(`parameters.${k}`);
    if (!isLowerHex(par.digest, 32)) p.push('parameters.digest');
  }
  if (!isCount(value.minSurvivors)) p.push('minSurvivors');
  const cohortIds: string[] = [];
  if (!Array.isArray(value.cohort)) p.push('cohort');
  else
    value.cohort.forEach((c: unknown, i: number) => {
      if (!isRecord(c) || !isId(c.id) || !(c.publicKeys === null || isLowerHex(c.publicKeys, 32)))
        p.push(`cohort[${i}]`);
      else cohortIds.push(c.id);
    });
  if (!isSortedIds(cohortIds)) p.push('cohort');
  const stages = value.stages;
  if (!isRecord(stages)) p.push('stages');
  else
    for (const k of ['advertised', 'shared', 'masked', 'unmasked'] as const)
      if (!isSortedIds(stages[k])) p.push(`stages.${k}`);
  if (!Array.isArray(value.maskedInputs)) p.push('maskedInputs');
  else {
    value.maskedInputs.forEach((m: unknown, i: number) => {
      if (!isRecord(m) || !isId(m.id) || !isLowerHex(m.digest, 32)) p.push(`maskedInputs[${i}]`);
    });
    if (!isSortedIds(value.maskedInputs.map((m: unknown) => (isRecord(m) ? m.id : undefined))))
      p.push('maskedInputs');
  }
  if (!isSortedIds(value.survivors)) p.push('survivors');
  if (value.dp !== null) {
    const dp = value.dp;
    if (!isRecord(dp)) p.push('dp');
    else {
      for (const k of ['planEpsilon', 'delta', 'epsilonSpent', 'deltaSpent'] as const)
        if (!isNonNeg(dp[k])) p.push(`dp.${k}`);
      for (const k of ['rounds', 'minSurvivors'] as const) if (!isCount(dp[k])) p.push(`dp.${k}`);
      const m = dp.mechanism;
      if (
        m !== undefined &&
        (!isRecord(m) ||
          m.name !== 'distributed-discrete-gaussian' ||
          !isPositive(m.l2Sensitivity) ||
          !isPositive(m.localVariance) ||
          !isCount(m.dimension) ||
          m.dimension === 0)
      )
        p.push('dp.mechanism');
    }
  }
  if (value.aggregate !== null) {
    const a = value.aggregate;
    if (!isRecord(a) || !isLowerHex(a.digest, 32) || !isCount(a.lanes)) p.push('aggregate');
  }
  if ((value.status === 'completed') !== (value.aggregate !== null)) p.push('aggregate');
  if (value.abortCode !== undefined && typeof value.abortCode !== 'string') p.push('abortCode');
  if (value.annotations !== undefined && !isRecord(value.annotations)) p.push('annotations');
  return [...new Set(p)];
}

/**
 * Builds the statement of a round transcript, checking the predicate first.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` naming every invalid field.
 * @example
 * ```ts
 * const statement = transcriptStatement(transcriptOfRound(serverState, { roundId: 'r1', session }));
 * ```
 */
export function transcriptStatement(transcript: RoundTranscript): TranscriptStatement {
  const problems = transcriptProblems(transcript);
  if (problems.length > 0) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', `invalid round transcript: ${problems.join(', ')}`, {
      fields: problems,
    });
  }
  const subject =
    transcript.aggregate === null
      ? { name: `round:${transcript.roundId}`, digest: { sha256: transcript.parameters.digest } }
      : { name: `aggregate:${transcript.roundId}`, digest: { sha256: transcript.aggregate.digest } };
  return {
    _type: STATEMENT_TYPE_V1,
    subject: [subject],
    predicateType: TRANSCRIPT_PREDICATE_TYPE,
    predicate: transcript,
  };
}

/** The canonical payload bytes of a transcript statement (RFC 8785). */
export function transcriptPayload(statement: TranscriptStatement): Uint8Array {
  return canonicalizeToBytes(statement as unknown as JsonValue);
}

/**
 * Checks a decoded statement is a round transcript; returns the dotted paths of the invalid
 * fields (statement and predicate), empty when valid.
 */
export function transcriptStatementProblems(value: unknown): string[] {
  const problems = statementProblems(value);
  if (problems.length > 0) return problems;
  const s = value as InTotoStatement;
  if (s.predicateType !== TRANSCRIPT_PREDICATE_TYPE) return ['predicateType'];
  return transcriptProblems(s.predicate).map((f) => `predicate.${f}`);
}
