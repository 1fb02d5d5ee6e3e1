/**
 * Errors of the provenance capability (`confide/provenance`).
 *
 * Two classes, both {@link ConfideError}s with stable `PROV_*` codes:
 *
 * - {@link ProvenanceError}: something could not be done at all (a key that does not parse, a
 *   symlink in a model tree, a value that has no canonical JSON form, a file that cannot be read).
 * - {@link VerificationError}: a verification ran and reached the conclusion "not valid". Its code
 *   names the step that failed (bundle parse → structure → key material → payload type →
 *   signature → statement → manifest consistency → files), in the spirit of sigstore-js's
 *   `VerificationError` codes, so an auditor's script can tell a tampered file from a wrong key
 *   without reading English. A file-level failure carries the per-file report in `files`.
 *
 * Codes are public contract: never renamed, never reused. Messages never contain secret key
 * material; they may contain file names and digests (which are not secret).
 *
 * Deliberately not here: argument validation errors, which stay `INVALID_ARGUMENT`
 * ({@link ConfideArgumentError} from `src/internal/assert.ts`).
 *
 * @module
 */

import { ConfideError, type ConfideErrorOptions } from '../errors.ts';

/** Codes of {@link ProvenanceError}: an operation that could not be carried out. */
export type ProvenanceErrorCode =
  /** A value has no RFC 8785 canonical form (non-finite number, lone surrogate, undefined, cycle…). */
  | 'PROV_JCS_UNSUPPORTED_VALUE'
  /** Text that should be base64 is not. */
  | 'PROV_BASE64_INVALID'
  /** Bytes or text that should be JSON are not. */
  | 'PROV_JSON_INVALID'
  /** A key (PEM / DER) could not be parsed. */
  | 'PROV_KEY_INVALID'
  /** A key parsed but its algorithm or curve is not supported here. */
  | 'PROV_KEY_UNSUPPORTED'
  /** A password-protected private key and no password given (`--password-file` or `CONFIDE_KEY_PASSWORD`). */
  | 'PROV_KEY_ENCRYPTED'
  /** The password does not decrypt the private key, or the password file is empty. */
  | 'PROV_KEY_PASSWORD'
  /** Signing with a certificate whose public key is not the signing key's. */
  | 'PROV_KEY_CERTIFICATE_MISMATCH'
  /** The certificate chain given for signing is empty, longer than 10 or not DER certificates. */
  | 'PROV_SIGNING_CHAIN_INVALID'
  /** The algorithm cannot be used for this purpose (e.g. Ed25519 for model_signing bundles). */
  | 'PROV_ALGORITHM_UNSUPPORTED'
  /** An in-toto Statement or DSSE envelope given to a builder is not well formed. */
  | 'PROV_STATEMENT_INVALID'
  | 'PROV_ENVELOPE_INVALID'
  /** The model path does not exist. */
  | 'PROV_PATH_NOT_FOUND'
  /** A symbolic link was met and symlinks are refused (the default). */
  | 'PROV_SYMLINK_REFUSED'
  /** A path leaves the model tree (`..`, absolute path, or a symlink pointing outside). */
  | 'PROV_PATH_TRAVERSAL'
  /** A file name is not valid UTF-8 or otherwise cannot be written into a manifest. */
  | 'PROV_NAME_INVALID'
  /** A device, socket or FIFO inside a model tree. */
  | 'PROV_SPECIAL_FILE'
  /** A read or write failed. */
  | 'PROV_IO'
  /** A command-line input file is larger than its limit (raise it with `--max-input-bytes`). */
  | 'PROV_INPUT_TOO_LARGE'
  /** An output file (a key above all) already exists and was not replaced (`--force` replaces it). */
  | 'PROV_FILE_EXISTS'
  /** The hashing configuration asked for is not supported (method, hash type, shard size). */
  | 'PROV_HASH_UNSUPPORTED'
  /** Nothing to sign: the model has no regular file left after the ignores (model_signing refuses this too). */
  | 'PROV_MODEL_EMPTY'
  /** A Sigstore `trusted_root.json` is not valid. */
  | 'PROV_TRUSTED_ROOT_INVALID'
  /** A filesystem function was called where there is no filesystem (a browser). */
  | 'PROV_UNSUPPORTED_PLATFORM'
  /** A lineage event given to a builder is not well formed (see `fields`). */
  | 'PROV_LINEAGE_INVALID'
  /** A lineage artifact is not a regular file (directories are not attested as one artifact). */
  | 'PROV_ARTIFACT_NOT_FILE'
  /** A verification policy file is not valid (see `fields`; every problem is listed). */
  | 'PROV_POLICY_INVALID'
  /** A log file on disk is not a well-formed log (truncated, reordered, or not a confide log). */
  | 'PROV_LOG_CORRUPT'
  /** A log index or tree size outside the log. */
  | 'PROV_LOG_RANGE'
  /** Text given to the note signer cannot be signed as a C2SP note (no final newline, blank line, control character). */
  | 'PROV_NOTE_INVALID'
  /** A witness refused a checkpoint: it does not extend the history the witness already cosigned (a fork). */
  | 'PROV_WITNESS_REFUSED'
  /** A witness was asked to cosign from a size it does not hold (C2SP tlog-witness: 409). */
  | 'PROV_WITNESS_CONFLICT';

/**
 * Codes of {@link VerificationError}; each names the verification step that failed, in the order
 * the steps run.
 */
export type VerificationErrorCode =
  /** Step 1: the bundle is not JSON (an empty file included). */
  | 'PROV_BUNDLE_UNPARSABLE'
  /** Step 2: the bundle is JSON but not a well-formed Sigstore bundle (see `fields`). */
  | 'PROV_BUNDLE_MALFORMED'
  /** Step 2: the bundle's media type is not one this verifier accepts. */
  | 'PROV_BUNDLE_MEDIA_TYPE'
  /** Step 3: the bundle's key material cannot be used with this verification method. */
  | 'PROV_KEY_MATERIAL_UNSUPPORTED'
  /** Step 3: the key named by the bundle (hint, embedded key or certificate) is not the given key. */
  | 'PROV_KEY_MISMATCH'
  /** Step 3 (certificate mode): a certificate in the bundle or a trust anchor does not parse. */
  | 'PROV_CERTIFICATE_INVALID'
  /** Step 3 (certificate mode): the bundle's chain does not lead to a given trust anchor. */
  | 'PROV_CERTIFICATE_CHAIN_INVALID'
  /**
   * Step 3 (certificate mode): no longer emitted (kept, as codes are never reused): a time outside
   * a validity window is now `PROV_CERT_EXPIRED` or `PROV_CERT_NOT_YET_VALID`.
   */
  | 'PROV_CERTIFICATE_NOT_VALID_AT_TIME'
  /** Step 3 (certificate mode): the signing certificate may not sign (no digitalSignature / codeSigning). */
  | 'PROV_CERTIFICATE_USAGE'
  // Certificate paths (`certificate-path.ts`, RFC 5280 §4 and §6.1), one code per rule:
  /** A certificate or one of its extension values is BER but not DER (X.690 §10), non-canonical OIDs included. */
  | 'PROV_CERT_NOT_DER'
  /** A certificate of the path is not X.509 v3 (extensions need v3; RFC 5280 §4.1.2.1). */
  | 'PROV_CERT_VERSION'
  /** `tbsCertificate.signature` is not the outer `signatureAlgorithm` (RFC 5280 §4.1.1.2). */
  | 'PROV_CERT_ALGORITHM_MISMATCH'
  /** A certificate signature algorithm this verifier does not support (RSA PKCS#1 v1.5, RSA-PSS, ECDSA, Ed25519 are). */
  | 'PROV_CERT_ALGORITHM_UNSUPPORTED'
  /** An extension appears twice in one certificate (RFC 5280 §4.2). */
  | 'PROV_CERT_DUPLICATE_EXTENSION'
  /** A critical extension this verifier does not process (nameConstraints and policies included; RFC 5280 §4.2). */
  | 'PROV_CERT_CRITICAL_EXTENSION'
  /** An issuer's name and key identifier match, but its signature over the certificate does not verify. */
  | 'PROV_CERT_SIGNATURE_INVALID'
  /** An issuing certificate is not a CA: no basicConstraints, or cA FALSE (RFC 5280 §4.2.1.9, §6.1.4 (k)). */
  | 'PROV_CERT_NOT_CA'
  /** More intermediate CAs follow a CA than its pathLenConstraint allows (RFC 5280 §4.2.1.9, §6.1.4 (m)). */
  | 'PROV_CERT_PATH_LEN'
  /** keyUsage forbids the use: keyCertSign missing on an issuer, digitalSignature on the signing leaf (RFC 5280 §4.2.1.3). */
  | 'PROV_CERT_KEY_USAGE'
  /** The signing leaf's extendedKeyUsage lists neither codeSigning nor anyExtendedKeyUsage (RFC 5280 §4.2.1.12). */
  | 'PROV_CERT_EXT_KEY_USAGE'
  /** A certificate of the path expired before the verification time. */
  | 'PROV_CERT_EXPIRED'
  /** A certificate of the path is not yet valid at the verification time. */
  | 'PROV_CERT_NOT_YET_VALID'
  /** Step 3 (keyless): a transparency-log entry, its inclusion proof or promise does not verify. */
  | 'PROV_TLOG_INVALID'
  /** Step 3 (keyless): an RFC 3161 timestamp does not verify, or too few trusted timestamps. */
  | 'PROV_TIMESTAMP_INVALID'
  /** Step 3 (keyless): the certificate's identity or OIDC issuer is not the expected one. */
  | 'PROV_IDENTITY_MISMATCH'
  /** Step 4: the DSSE payload type is not the expected one. */
  | 'PROV_PAYLOAD_TYPE'
  /** Step 5: the signature does not verify over the payload as received. */
  | 'PROV_SIGNATURE_INVALID'
  /** Step 6: the signed payload is not JSON or not a well-formed statement/predicate (see `fields`). */
  | 'PROV_PAYLOAD_MALFORMED'
  /** Step 6: the statement `_type` is not in-toto Statement v1. */
  | 'PROV_STATEMENT_TYPE'
  /** Step 6: the predicate type is not the expected one. */
  | 'PROV_PREDICATE_TYPE'
  /** Step 6: the statement's subject is not exactly one entry with a sha256 digest. */
  | 'PROV_SUBJECT_INVALID'
  /** Step 7: the subject digest is not the root digest of the listed resources. */
  | 'PROV_ROOT_DIGEST_MISMATCH'
  /** Step 7: the manifest uses a serialization this verifier cannot recompute. */
  | 'PROV_MANIFEST_UNSUPPORTED'
  /** Step 7: a resource name in the manifest is unsafe (absolute, `..`, empty segment). */
  | 'PROV_MANIFEST_PATH_INVALID'
  /** Step 8: a signed file's content changed. */
  | 'PROV_FILE_MODIFIED'
  /** Step 8: a file on disk is not in the signed manifest. */
  | 'PROV_FILE_EXTRA'
  /** Step 8: a signed file is missing on disk. */
  | 'PROV_FILE_MISSING'
  /** Step 8: a signed file is present under another name (same digest, different name). */
  | 'PROV_FILE_RENAMED'
  // Signed lineage (`lineage-verify.ts`), per attestation, in step order:
  /** Lineage step 1: the attestation is not JSON (or not UTF-8). */
  | 'PROV_ATTESTATION_UNPARSABLE'
  /** Lineage step 2: the attestation is JSON but not a DSSE envelope (see `fields`). */
  | 'PROV_ATTESTATION_MALFORMED'
  /** Lineage step 4: no signature is by a key the policy trusts (for this event). */
  | 'PROV_KEY_UNTRUSTED'
  /** Lineage step 4: trusted keys signed, but only with algorithms the policy does not allow. */
  | 'PROV_ALGORITHM_NOT_ALLOWED'
  /** Lineage step 4: fewer distinct trusted keys signed than the policy's k-of-n threshold. */
  | 'PROV_THRESHOLD_NOT_MET'
  /** Lineage step 5: the signed payload is not the RFC 8785 canonical form of its statement. */
  | 'PROV_PAYLOAD_NOT_CANONICAL'
  /** Lineage graph: an input names an upstream attestation that was not given. */
  | 'PROV_LINEAGE_UPSTREAM_MISSING'
  /** Lineage graph: the upstream given for an input is not the attestation that was signed against (swapped). */
  | 'PROV_LINEAGE_UPSTREAM_MISMATCH'
  /** Lineage graph: the named upstream attestation does not list the input's artifact digest as a subject. */
  | 'PROV_LINEAGE_INPUT_NOT_PRODUCED'
  /** Lineage graph: an upstream attestation (direct or further up) failed verification. */
  | 'PROV_LINEAGE_UPSTREAM_INVALID'
  /** Lineage graph: the attestations form a cycle (an event consumes its own output, directly or not). */
  | 'PROV_LINEAGE_CYCLE'
  // Verifiable log (`log.ts`, `checkpoint.ts`):
  /** An inclusion proof does not lead to the checkpoint's root hash (RFC 9162 §2.1.3.2). */
  | 'PROV_LOG_INCLUSION_INVALID'
  /** A consistency proof does not link the two tree heads (RFC 9162 §2.1.4.2): a fork or a rewrite. */
  | 'PROV_LOG_CONSISTENCY_INVALID'
  /** A checkpoint is not a well-formed C2SP tlog-checkpoint signed note. */
  | 'PROV_CHECKPOINT_MALFORMED'
  /** A checkpoint is for another log (its origin line differs). */
  | 'PROV_CHECKPOINT_ORIGIN'
  /** No signature line on the checkpoint verifies with the log's note key. */
  | 'PROV_CHECKPOINT_SIGNATURE_INVALID'
  /** A log proof file is not well formed, or does not match its checkpoint (origin, size, entry). */
  | 'PROV_LOG_PROOF_MALFORMED'
  // Round transcripts (`transcript/`):
  /** A round transcript is not a well-formed transcript statement (or its signature does not verify). */
  | 'PROV_TRANSCRIPT_MALFORMED'
  /** The server sent no transcript for a round the client took part in. */
  | 'PROV_TRANSCRIPT_MISSING'
  /** A round transcript is about another round or session than the one the client took part in. */
  | 'PROV_TRANSCRIPT_ROUND_MISMATCH'
  /** The client's own masked input is not in the committed set: the server dropped it silently. */
  | 'PROV_TRANSCRIPT_INPUT_MISSING'
  /** The committed survivor sets break the threshold or DP floor, or differ from what the client was told. */
  | 'PROV_TRANSCRIPT_SURVIVORS_INVALID'
  /** The aggregate the client was told does not match the committed aggregate digest. */
  | 'PROV_TRANSCRIPT_AGGREGATE_MISMATCH'
  /** A client's ε ledger over the logged transcripts exceeds its budget, or the transcripts repeat a round. */
  | 'PROV_LEDGER_INVALID'
  // Audit (`audit/`):
  /** A digest link of the audit graph (dataset → rounds → model → predictions) does not hold. */
  | 'PROV_AUDIT_LINK_BROKEN'
  /** An audit check failed with an error that carries no code (e.g. from a caller-supplied receipt verifier). */
  | 'PROV_AUDIT_CHECK_FAILED'
  // Inference receipts (`receipt/verify.ts`) and witnesses (`witness/`):
  /** A receipt is not a well-formed `confide.inference-receipt/v1` (JSON shape, predicate fields). */
  | 'PROV_RECEIPT_MALFORMED'
  /** A receipt's subjects are not the SHA-256 of the bytes actually sent and received. */
  | 'PROV_RECEIPT_SUBJECT_MISMATCH'
  /** A witness cosignature by a trusted witness key does not verify (C2SP tlog-cosignature). */
  | 'PROV_COSIGNATURE_INVALID'
  /** Fewer distinct trusted witnesses cosigned the checkpoint than the k-of-n policy requires. */
  | 'PROV_WITNESS_THRESHOLD_NOT_MET';

/** How one file compared with the signed manifest. */
export type FileStatus = 'ok' | 'modified' | 'extra' | 'missing' | 'renamed';

/** One line of the per-file report. */
export interface FileReport {
  /** Resource name (POSIX path relative to the model root, or `"."` for a single-file model). */
  readonly name: string;
  readonly status: FileStatus;
  /** Stable code for a non-`ok` status (`PROV_FILE_*`). */
  readonly code?: VerificationErrorCode;
  /** For `renamed`: the name under which the content was signed. */
  readonly signedAs?: string;
  /** Digest in the signed manifest (lowercase hex), when there is one. */
  readonly expected?: string;
  /** Digest computed from disk (lowercase hex), when there is one. */
  readonly actual?: string;
}

/** Options of {@link VerificationError}. */
export interface VerificationErrorOptions extends ConfideErrorOptions {
  /** The per-file comparison, for file-level failures. */
  readonly files?: readonly FileReport[];
}

/** An operation in `confide/provenance` could not be carried out. */
export class ProvenanceError extends ConfideError {
  declare readonly code: ProvenanceErrorCode;
  constructor(code: ProvenanceErrorCode, message: string, options: ConfideErrorOptions = {}) {
    super(code, message, options);
  }
}

/** A verification ran to a conclusion and the conclusion is "not valid"; `code` names the step. */
export class VerificationError extends ConfideError {
  declare readonly code: VerificationErrorCode;
  /** Per-file comparison for file-level failures (`PROV_FILE_*`), otherwise undefined. */
  readonly files: readonly FileReport[] | undefined;
  constructor(code: VerificationErrorCode, message: string, options: VerificationErrorOptions = {}) {
    super(code, message, options);
    this.files = options.files;
  }
}
