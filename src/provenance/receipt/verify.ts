/**
 * Verification of inference receipts (`statement.ts` for the format), offline and in browsers:
 * no `node:` import, no signing code. One call, {@link verifyReceipt}`(receipt, { publicKey },
 * options)`, checks in order, each step with its code:
 *
 * 1. the receipt's shape (`PROV_RECEIPT_MALFORMED`);
 * 2. the DSSE payload type (`PROV_PAYLOAD_TYPE`) and the signature over the PAE by the expected
 *    server key (`PROV_SIGNATURE_INVALID`);
 * 3. the statement: in-toto Statement v1 (`PROV_STATEMENT_TYPE`, `PROV_PAYLOAD_MALFORMED`), the
 *    receipt predicate type (`PROV_PREDICATE_TYPE`), the predicate's fields and the two subjects
 *    (`PROV_RECEIPT_MALFORMED`), the key fingerprint it names equal to the expected key's
 *    (`PROV_KEY_MISMATCH`);
 * 4. the subjects equal to the SHA-256 of the bytes sent and received, when given
 *    (`PROV_RECEIPT_SUBJECT_MISMATCH`);
 * 5. the inclusion of the envelope in the server's log: the log proof's checkpoint signed by the
 *    same key under the origin the predicate names, the proof about this envelope, the path to the
 *    root (`PROV_CHECKPOINT_*`, `PROV_LOG_PROOF_MALFORMED`, `PROV_LOG_INCLUSION_INVALID`);
 * 6. when the caller kept an earlier checkpoint: consistency between it and the receipt's
 *    checkpoint, with the proof the caller fetched (`PROV_LOG_CONSISTENCY_INVALID`: a server that
 *    shows different histories to different clients).
 *
 * Deliberately not here: fetching proofs, witness cosignatures (`witness/cosignature.ts`), any
 * claim that the computation was correct (a receipt binds bytes, see SECURITY.md).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { sha256, toHex } from '../../internal/bytes.ts';
import { type DsseEnvelope, IN_TOTO_PAYLOAD_TYPE } from '../common/dsse.ts';
import { keyFingerprints, type PublicKey } from '../common/keys.ts';
import { STATEMENT_TYPE_V1, statementProblems } from '../common/statement.ts';
import { VerificationError } from '../errors.ts';
import { noteVerifier } from '../log/checkpoint.ts';
import { type LogProof, verifyCheckpointConsistency, verifyLogProof } from '../log/verify.ts';
import { verifyEnvelope } from '../model-signing/verify-bundle.ts';
import {
  type InferenceReceipt,
  RECEIPT_PREDICATE_TYPE,
  RECEIPT_SUBJECTS,
  type ReceiptPredicate,
  type ReceiptStatement,
  receiptLogEntry,
  receiptPredicateProblems,
  receiptProblems,
} from './statement.ts';

/** Who must have signed the receipt and its log's checkpoints. */
export interface ReceiptTrust {
  /** The server's receipt key (Ed25519; it signs the receipts and the log's checkpoints). */
  readonly publicKey: PublicKey;
  /** The expected log origin (default: the one the receipt names). */
  readonly origin?: string;
}

/** Options of {@link verifyReceipt}. */
export interface VerifyReceiptOptions {
  /** The encrypted-batch container exactly as uploaded. */
  readonly batch?: Uint8Array;
  /** The encrypted-result container exactly as received. */
  readonly result?: Uint8Array;
  /** A checkpoint of the same log kept from earlier (signed note text). */
  readonly previousCheckpoint?: string;
  /**
   * The consistency proof (hex hashes) between `previousCheckpoint` and the receipt's checkpoint,
   * from the smaller size to the larger (`GET /v1/log/proof/consistency`); empty at equal sizes.
   */
  readonly consistencyProof?: readonly string[];
}

/** What a verified receipt established. */
export interface VerifiedReceipt {
  readonly valid: true;
  readonly statement: ReceiptStatement;
  readonly predicate: ReceiptPredicate;
  /** SHA-256 (hex) of the uploaded batch and of the returned result, as signed. */
  readonly batchDigest: string;
  readonly resultDigest: string;
  /** The log: origin, the receipt's index and leaf hash, the checkpoint it is proven against. */
  readonly origin: string;
  readonly index: number;
  readonly leafHash: string;
  readonly checkpoint: string;
  readonly treeSize: number;
  readonly rootHash: string;
  /** Present when a kept checkpoint was checked: the larger of the two (the one to keep next). */
  readonly newestCheckpoint?: string;
  /** True when the subjects were compared with bytes the caller gave. */
  readonly bytesChecked: { readonly batch: boolean; readonly result: boolean };
}

function malformed(message: string): never {
  throw new VerificationError('PROV_RECEIPT_MALFORMED', message);
}

/**
 * Parses a receipt (JSON text, bytes or value) and checks its outer shape.
 *
 * @throws {VerificationError} `PROV_RECEIPT_MALFORMED`.
 */
export function parseReceipt(input: unknown): InferenceReceipt {
  let value = input;
  if (input instanceof Uint8Array) value = new TextDecoder().decode(input);
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      malformed('the receipt is not JSON');
    }
  }
  const problems = receiptProblems(value);
  if (problems.length > 0) malformed(`not an inference receipt: invalid ${problems.join(', ')}`);
  return value as InferenceReceipt;
}

function subjectDigest(statement: ReceiptStatement, name: string): string {
  const matches = statement.subject.filter((s) => s.name === name);
  const digest = matches[0]?.digest.sha256;
  if (matches.length !== 1 || typeof digest !== 'string') {
    malformed(`the receipt must have exactly one subject '${name}' with a sha256 digest`);
  }
  return digest;
}

function checkBytes(what: string, bytes: Uint8Array | undefined, signed: string): boolean {
  if (bytes === undefined) return false;
  if (!(bytes instanceof Uint8Array)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', `options.${what} must be a Uint8Array`);
  }
  const actual = toHex(sha256(bytes));
  if (actual !== signed) {
    throw new VerificationError(
      'PROV_RECEIPT_SUBJECT_MISMATCH',
      `the receipt is for another ${what}: it signs sha256 ${signed}, the ${what} here has ${actual}`,
    );
  }
  return true;
}

/**
 * Verifies an inference receipt (module notes for the steps and codes).
 *
 * @throws {VerificationError} with the code of the failing step.
 * @example
 * ```ts
 * const verified = verifyReceipt(receipt, { publicKey: serverKey }, { batch, result, previousCheckpoint });
 * verified.predicate.model.digest; verified.checkpoint; // keep the checkpoint for the next request
 * ```
 */
export function verifyReceipt(
  input: unknown,
  trust: ReceiptTrust,
  options: VerifyReceiptOptions = {},
): VerifiedReceipt {
  if (
    trust === null ||
    typeof trust !== 'object' ||
    trust.publicKey === undefined ||
    !(trust.publicKey.bytes instanceof Uint8Array)
  ) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'trust must be { publicKey } (the server receipt key)',
    );
  }
  if (options === null || typeof options !== 'object') {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'options must be an object');
  }
  const receipt = parseReceipt(input);
  const envelope: DsseEnvelope = receipt.envelope;
  const payload = verifyEnvelope(envelope, [trust.publicKey], {
    payloadType: IN_TOTO_PAYLOAD_TYPE,
  });
  let statement: unknown;
  try {
    statement = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    throw new VerificationError('PROV_PAYLOAD_MALFORMED', 'the signed receipt payload is not JSON');
  }
  const problems = statementProblems(statement);
  if (problems.includes('_type')) {
    throw new VerificationError('PROV_STATEMENT_TYPE', `the receipt is not an in-toto ${STATEMENT_TYPE_V1}`);
  }
  if (problems.length > 0) {
    throw new VerificationError(
      'PROV_PAYLOAD_MALFORMED',
      `the receipt statement is not well formed: invalid ${problems.join(', ')}`,
    );
  }
  const st = statement as ReceiptStatement;
  if (st.predicateType !== RECEIPT_PREDICATE_TYPE) {
    throw new VerificationError(
      'PROV_PREDICATE_TYPE',
      `the statement's predicate type is ${JSON.stringify(st.predicateType)}, not ${RECEIPT_PREDICATE_TYPE}`,
    );
  }
  const predicateProblems = receiptPredicateProblems(st.predicate);
  if (predicateProblems.length > 0) {
    malformed(`the receipt predicate is invalid: ${predicateProblems.join(', ')}`);
  }
  const predicate = st.predicate as ReceiptPredicate;
  if (st.subject.length !== 2) malformed('a receipt has exactly two subjects, the batch and the result');
  const batchDigest = subjectDigest(st, RECEIPT_SUBJECTS.batch);
  const resultDigest = subjectDigest(st, RECEIPT_SUBJECTS.result);
  if (predicate.server.keyFingerprint !== keyFingerprints(trust.publicKey).sha256Spki) {
    throw new VerificationError(
      'PROV_KEY_MISMATCH',
      'the receipt names another server key fingerprint than the key it is verified with',
    );
  }
  const bytesChecked = {
    batch: checkBytes('batch', options.batch, batchDigest),
    result: checkBytes('result', options.result, resultDigest),
  };
  const origin = trust.origin ?? predicate.server.log;
  if (predicate.server.log !== origin) {
    throw new VerificationError(
      'PROV_CHECKPOINT_ORIGIN',
      `the receipt names log '${predicate.server.log}', not '${origin}'`,
    );
  }
  if (trust.publicKey.algorithm !== 'ed25519') {
    throw new VerificationError(
      'PROV_CHECKPOINT_SIGNATURE_INVALID',
      'receipt logs are signed with Ed25519 keys: this key cannot have signed the checkpoint',
    );
  }
  const verifier = noteVerifier(origin, trust.publicKey);
  const proof: LogProof = receipt.proof;
  const logged = verifyLogProof(proof, verifier, { entry: receiptLogEntry(envelope), origin });
  const inclusion = logged.inclusion as { index: number; leafHash: string };
  let newestCheckpoint: string | undefined;
  if (options.previousCheckpoint !== undefined) {
    if (typeof options.previousCheckpoint !== 'string') {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'options.previousCheckpoint must be the note text');
    }
    const { newer } = verifyCheckpointConsistency(
      options.previousCheckpoint,
      proof.checkpoint,
      options.consistencyProof ?? [],
      verifier,
    );
    newestCheckpoint = newer.size === logged.treeSize ? proof.checkpoint : options.previousCheckpoint;
  }
  return {
    valid: true,
    statement: st,
    predicate,
    batchDigest,
    resultDigest,
    origin,
    index: inclusion.index,
    leafHash: inclusion.leafHash,
    checkpoint: proof.checkpoint,
    treeSize: logged.treeSize,
    rootHash: logged.rootHash,
    ...(newestCheckpoint === undefined ? {} : { newestCheckpoint }),
    bytesChecked,
  };
}
