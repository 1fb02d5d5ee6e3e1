/**
 * The format of an inference receipt: what `confide he serve --receipt-key` signs for every
 * scoring request, as an in-toto Statement v1 (in-toto/attestation `spec/v1/statement.md`) in a
 * DSSE envelope, plus the log proof that places it in the server's RFC 9162 log. Pure; runs in
 * browsers.
 *
 * Statement: two subjects, `encrypted-batch` and `encrypted-result`, each `{ sha256 }` of the
 * container bytes exactly as uploaded and returned; predicate type
 * {@link RECEIPT_PREDICATE_TYPE}; predicate {@link ReceiptPredicate}.
 *
 * Receipt (the JSON a response carries, base64 in the `confide-receipt` header, and one line of a
 * `receipts.jsonl`): `{ type: "confide.inference-receipt/v1", envelope, proof }` where `proof` is
 * a `confide.log-proof/v1` with an inclusion part whose entry is {@link receiptLogEntry}: the RFC
 * 8785 canonical JSON of the envelope (so the signature is in the log too).
 *
 * Deliberately not here: signing (`sign.ts`), verification (`verify.ts`), the log (`log.ts`).
 *
 * @module
 */

import { type DsseEnvelope, envelopeProblems } from '../common/dsse.ts';
import { canonicalizeToBytes } from '../common/jcs.ts';
import type { InTotoStatement } from '../common/statement.ts';
import type { LogProof } from '../log/verify.ts';

/** Predicate type of an inference receipt. */
export const RECEIPT_PREDICATE_TYPE = 'https://confide.dev/inference-receipt/v1';
/** `type` of a receipt (envelope + log proof). */
export const RECEIPT_TYPE = 'confide.inference-receipt/v1';
/** Subject names of the uploaded batch and the returned result. */
export const RECEIPT_SUBJECTS = { batch: 'encrypted-batch', result: 'encrypted-result' } as const;

/** What the server states about one scoring request. */
export interface ReceiptPredicate {
  readonly model: {
    /** The model id in the URL. */
    readonly id: string;
    /** SHA-256 (hex) of the served model's canonical JSON (the `confide-model-digest` header). */
    readonly digest: string;
    /**
     * The model_signing v1 root digest (hex) of the model file, the digest a
     * `confide provenance sign-model` bundle signs; absent when the server was not given the file.
     */
    readonly signingDigest?: string;
  };
  /** The key set the batch was scored under (32 hex). */
  readonly keySetId: string;
  /** The CKKS parameter fingerprint of the batch container (64 hex). */
  readonly parametersFingerprint: string;
  readonly server: {
    /** SHA-256 (hex) of the DER SubjectPublicKeyInfo of the receipt key. */
    readonly keyFingerprint: string;
    /** The origin of the log the receipt is appended to. */
    readonly log: string;
  };
  /** When the result was returned, RFC 3339 UTC with milliseconds. */
  readonly time: string;
  /** 16 random bytes (hex), so two receipts for identical bytes are distinct log entries. */
  readonly nonce: string;
}

/** The signed statement of a receipt. */
export type ReceiptStatement = InTotoStatement<ReceiptPredicate>;

/** A receipt: the signed statement and its inclusion in the server's log. */
export interface InferenceReceipt {
  readonly type: typeof RECEIPT_TYPE;
  readonly envelope: DsseEnvelope;
  readonly proof: LogProof;
}

const hex = (x: unknown, bytes: number): boolean =>
  typeof x === 'string' && x.length === bytes * 2 && /^[0-9a-f]+$/.test(x);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Dotted paths of the invalid fields of a receipt predicate (empty when valid). */
export function receiptPredicateProblems(value: unknown): string[] {
  if (!isRecord(value)) return ['predicate'];
  const problems: string[] = [];
  const model = value.model;
  if (!isRecord(model)) problems.push('predicate.model');
  else {
    if (typeof model.id !== 'string' || model.id === '') problems.push('predicate.model.id');
    if (!hex(model.digest, 32)) problems.push('predicate.model.digest');
    if (model.signingDigest !== undefined && !hex(model.signingDigest, 32))
      problems.push('predicate.model.signingDigest');
  }
  if (!hex(value.keySetId, 16)) problems.push('predicate.keySetId');
  if (!hex(value.parametersFingerprint, 32)) problems.push('predicate.parametersFingerprint');
  const server = value.server;
  if (!isRecord(server) || !hex(server.keyFingerprint, 32) || typeof server.log !== 'string')
    problems.push('predicate.server');
  if (typeof value.time !== 'string' || Number.isNaN(Date.parse(value.time))) problems.push('predicate.time');
  if (!hex(value.nonce, 16)) problems.push('predicate.nonce');
  return problems;
}

/** Dotted paths of the invalid fields of a receipt's outer shape (empty when valid). */
export function receiptProblems(value: unknown): string[] {
  if (!isRecord(value)) return ['receipt'];
  const problems: string[] = [];
  if (value.type !== RECEIPT_TYPE) problems.push('type');
  problems.push(...envelopeProblems(value.envelope, 'envelope'));
  if (!isRecord(value.proof) || !isRecord(value.proof.inclusion)) problems.push('proof.inclusion');
  return problems;
}

/**
 * The log entry of a receipt: the RFC 8785 canonical JSON of its DSSE envelope.
 *
 * @example
 * ```ts
 * leafHash(receiptLogEntry(receipt.envelope)); // the leaf the inclusion proof is about
 * ```
 */
export function receiptLogEntry(envelope: DsseEnvelope): Uint8Array {
  return canonicalizeToBytes({
    payload: envelope.payload,
    payloadType: envelope.payloadType,
    signatures: envelope.signatures.map((s) => ({ sig: s.sig, keyid: s.keyid ?? '' })),
  });
}
