/**
 * Signing of inference receipts: the statement of one scoring request (`statement.ts`) in a DSSE
 * envelope signed with the server's Ed25519 receipt key, the same key that signs its log's
 * checkpoints. Pure (no filesystem); the log that receives the envelope is `log.ts`.
 *
 * Deliberately not here: appending to the log, verification (`verify.ts`).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { randomBytes, sha256, toHex } from '../../internal/bytes.ts';
import type { DsseEnvelope } from '../common/dsse.ts';
import { IN_TOTO_PAYLOAD_TYPE } from '../common/dsse.ts';
import { canonicalizeToBytes } from '../common/jcs.ts';
import { keyFingerprints, PrivateKey } from '../common/keys.ts';
import { STATEMENT_TYPE_V1 } from '../common/statement.ts';
import { ProvenanceError } from '../errors.ts';
import { keySigner, signEnvelope } from '../model-signing/sign.ts';
import {
  RECEIPT_PREDICATE_TYPE,
  RECEIPT_SUBJECTS,
  type ReceiptPredicate,
  type ReceiptStatement,
  receiptPredicateProblems,
} from './statement.ts';

/** What one scoring request was: the bytes in and out and what scored them. */
export interface ReceiptFacts {
  /**
   * The encrypted-batch container as uploaded (with `batchSha256`, its first 96 bytes are enough:
   * the parameter fingerprint is read from the header).
   */
  readonly batch: Uint8Array;
  /**
   * SHA-256 (64 hex) of the whole uploaded container when the caller already computed it (a server
   * hashes the upload while it scores it, or a queue kept the digest at upload). Taken as given.
   */
  readonly batchSha256?: string;
  /** The encrypted-result container as returned. */
  readonly result: Uint8Array;
  readonly modelId: string;
  /** SHA-256 (hex) of the served model's canonical JSON. */
  readonly modelDigest: string;
  /** model_signing root digest (hex) of the model file, when known. */
  readonly modelSigningDigest?: string;
  /** Key-set id (32 hex). */
  readonly keySetId: string;
  /** The log origin the receipt will be appended to. */
  readonly logOrigin: string;
  /** The time to state (default: now). */
  readonly time?: Date;
}

/** The statement of a receipt (not signed). The parameter fingerprint is read from the batch header. */
export function receiptStatement(facts: ReceiptFacts, key: PrivateKey): ReceiptStatement {
  if (!(facts?.batch instanceof Uint8Array) || !(facts.result instanceof Uint8Array)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'facts.batch and facts.result must be Uint8Arrays');
  }
  if (!(key instanceof PrivateKey)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'key must be a confide PrivateKey');
  }
  if (facts.batchSha256 !== undefined && !/^[0-9a-f]{64}$/.test(String(facts.batchSha256))) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'facts.batchSha256 must be 64 lowercase hex digits');
  }
  // Container header: bytes 8–40 are the parameter fingerprint (src/he/container.ts).
  const fingerprint = facts.batch.length >= 96 ? toHex(facts.batch.subarray(8, 40)) : '';
  const predicate: ReceiptPredicate = {
    model: {
      id: facts.modelId,
      digest: facts.modelDigest,
      ...(facts.modelSigningDigest === undefined ? {} : { signingDigest: facts.modelSigningDigest }),
    },
    keySetId: facts.keySetId,
    parametersFingerprint: fingerprint,
    server: { keyFingerprint: keyFingerprints(key.publicKey).sha256Spki, log: facts.logOrigin },
    time: (facts.time ?? new Date()).toISOString(),
    nonce: toHex(randomBytes(16)),
  };
  const problems = receiptPredicateProblems(predicate);
  if (problems.length > 0) {
    throw new ProvenanceError(
      'PROV_STATEMENT_INVALID',
      `cannot sign this receipt: invalid ${problems.join(', ')}`,
    );
  }
  return {
    _type: STATEMENT_TYPE_V1,
    subject: [
      {
        name: RECEIPT_SUBJECTS.batch,
        digest: { sha256: facts.batchSha256 ?? toHex(sha256(facts.batch)) },
      },
      { name: RECEIPT_SUBJECTS.result, digest: { sha256: toHex(sha256(facts.result)) } },
    ],
    predicateType: RECEIPT_PREDICATE_TYPE,
    predicate,
  };
}

/**
 * Signs the receipt of one scoring request into a DSSE envelope (payload: the RFC 8785 canonical
 * JSON of the statement).
 *
 * @throws {ProvenanceError} `PROV_ALGORITHM_UNSUPPORTED` for a key that is not Ed25519,
 *   `PROV_STATEMENT_INVALID` for facts that make an invalid predicate.
 * @example
 * ```ts
 * const envelope = await signReceipt({ batch, result, modelId: 'risk', modelDigest, keySetId, logOrigin }, key);
 * ```
 */
export async function signReceipt(facts: ReceiptFacts, key: PrivateKey): Promise<DsseEnvelope> {
  if (!(key instanceof PrivateKey) || key.algorithm !== 'ed25519') {
    throw new ProvenanceError(
      'PROV_ALGORITHM_UNSUPPORTED',
      'the receipt key must be an Ed25519 key (it also signs the log checkpoints): confide provenance keygen --algorithm ed25519',
    );
  }
  const statement = receiptStatement(facts, key);
  return signEnvelope(IN_TOTO_PAYLOAD_TYPE, canonicalizeToBytes(statement), keySigner(key));
}
