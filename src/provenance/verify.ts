/**
 * `confide/provenance/verify`: the verifiers of `confide/provenance` and nothing else, for
 * browsers, workers and any bundle that must not see Node code.
 *
 * Here: model_signing v1 bundles in all three modes, steps 1–7 on the bundle and step 8 on files
 * given as bytes, through one async API: {@link verifyModel}`({ files }, bundle, trust)` and
 * {@link verifyModelBundle}`(bundle, trust)`, with `trust` one of `{ publicKey }` (key mode),
 * `{ certificateAuthorities, at? }` (certificate mode: the one RFC 5280 path validator of confide,
 * PKI.js over WebCrypto) or `{ trustedRoot, identity, issuer }` (keyless Sigstore bundles offline:
 * the maintained `@sigstore/verify`, unmodified), both answering with one
 * {@link ModelVerificationReport}; and {@link hashModelBytes}; signed lineage graphs against a
 * policy ({@link verifyLineage}, and {@link checkLineageFiles} with a digest function the caller
 * supplies); the local log's proofs and checkpoints ({@link verifyLogProof},
 * {@link verifyCheckpoint}, {@link verifyInclusion}, {@link verifyConsistency}); inference receipts
 * ({@link verifyReceipt}) and witness cosignatures, k of n ({@link verifyWitnessedCheckpoint}); the key, DSSE and
 * canonical-JSON helpers those need. Conclusions and codes are those of the same functions in
 * `confide/provenance` (they are the same functions).
 *
 * Nothing this entry loads imports a `node:` module, and no signing module is loaded (a test walks
 * the import graph; the browser test bundles the built entry with esbuild for
 * `platform: 'browser'` and runs it in Chromium). The Sigstore packages are loaded lazily, on the
 * first keyless verification: in the built entry they are a separate chunk with `@noble/*`
 * stand-ins for the Node built-ins they use (`model-signing/keyless/shims.ts`, wired by `tsup.config.ts`).
 * Deliberately not here: reading the disk (`verifyModel({ path })`, `hashModel`, `diskDigests`, `LogStore`)
 * and every signing function: use `confide/provenance` in Node for those.
 *
 * @module
 */

export { ConfideError, isConfideError } from '../errors.ts';
export {
  type AuditCheck,
  type AuditEdge,
  type AuditEvidence,
  type AuditNode,
  type AuditNodeKind,
  type AuditReceipt,
  type AuditReport,
  type AuditState,
  type AuditTrust,
  auditEvidence,
  type EvidenceFile,
  formatAuditReport,
  formatLedgerEntry,
  receiptOf,
} from './audit/audit.ts';
export { auditHtml } from './audit/html.ts';
export {
  assertEnvelope,
  type DsseEnvelope,
  type DsseSignature,
  envelopePayload,
  IN_TOTO_PAYLOAD_TYPE,
  isEnvelope,
  preAuthEncoding,
} from './common/dsse.ts';
export { canonicalize, canonicalizeToBytes, type JsonValue } from './common/jcs.ts';
export {
  type KeyAlgorithm,
  type KeyFingerprints,
  keyFingerprints,
  keyHint,
  type PublicKey,
  parsePublicKeyDer,
  parsePublicKeyPem,
  publicKeysEqual,
  publicKeyToDer,
  publicKeyToPem,
} from './common/keys.ts';
export {
  formatVerificationReport,
  type KeyFingerprint,
  type SignerDescription,
  type VerificationCheck,
  type VerificationReport,
} from './common/report.ts';
export {
  type DigestSet,
  type InTotoStatement,
  type ResourceDescriptor,
  STATEMENT_TYPE_V1,
} from './common/statement.ts';
export {
  type FileReport,
  type FileStatus,
  ProvenanceError,
  type ProvenanceErrorCode,
  VerificationError,
  type VerificationErrorCode,
} from './errors.ts';
export {
  keyId,
  type LineagePolicy,
  POLICY_ALGORITHMS,
  parseLineagePolicy,
  policyFromKeys,
  type SignerRule,
  type TrustedKey,
} from './lineage/policy.ts';
export {
  attestationDigest,
  LINEAGE_EVENTS,
  type LineageArtifact,
  type LineageEvent,
  type LineageStatement,
} from './lineage/statement.ts';
export {
  type AttestationSource,
  checkLineageFiles,
  type FileDigestResult,
  type LineageArtifactReport,
  type LineageCode,
  type LineageFileReport,
  type LineageGraphNode,
  type LineageNodeReport,
  type LineageProblem,
  type LineageReport,
  type LineageSignerReport,
  verifyLineage,
  walkLineageGraph,
} from './lineage/verify.ts';
export {
  type Checkpoint,
  type NoteSignature,
  type NoteVerifier,
  noteKeyId,
  noteVerifier,
  noteVerifierKey,
  type ParsedNote,
  parseCheckpoint,
  parseNote,
  parseNoteVerifierKey,
  sameTreeHead,
  verifyCheckpoint,
  verifyNote,
} from './log/checkpoint.ts';
export { HASH_SIZE, leafHash, nodeHash, verifyConsistency, verifyInclusion } from './log/merkle.ts';
export {
  type LogDirectoryFacts,
  type LogVerificationReport,
  logDirectoryReport,
  verifyLogProofReport,
} from './log/report.ts';
export {
  type CheckpointConsistency,
  type LogProof,
  type LogProofResult,
  parseLogProof,
  type VerifyLogProofOptions,
  verifyCheckpointConsistency,
  verifyLogProof,
} from './log/verify.ts';
export {
  type HashModelBytesOptions,
  hashModelBytes,
  type ModelBytes,
} from './model-signing/hash-bytes.ts';
export type { KeylessIdentity } from './model-signing/keyless/verify-bundle.ts';
export {
  compareResources,
  MODEL_SIGNING_PREDICATE_TYPE,
  type ModelManifest,
  type ModelResource,
  type ModelSerialization,
  type ModelSigningStatement,
  /** @deprecated The British spelling of `normalizeRelativePath`. */
  normaliseRelativePath,
  normaliseRelativePath as normalizeRelativePath,
  rootDigest,
  SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
  type SigstoreBundle,
} from './model-signing/manifest.ts';
export type { ModelTrustMode, ModelVerificationReport } from './model-signing/report.ts';
export {
  type KeyMaterialKind,
  parseModelBundle,
  verifyEnvelope,
  verifySignature,
} from './model-signing/verify-bundle.ts';
export type { SigningCertificateInfo } from './model-signing/verify-certificate-bundle.ts';
export {
  type ModelFilesSource,
  type ModelPathSource,
  type ModelSource,
  type ModelTrust,
  verifyModel,
  verifyModelBundle,
} from './model-signing/verify-model.ts';
export {
  type InferenceReceipt,
  RECEIPT_PREDICATE_TYPE,
  RECEIPT_SUBJECTS,
  RECEIPT_TYPE,
  type ReceiptPredicate,
  type ReceiptStatement,
  receiptLogEntry,
} from './receipt/statement.ts';
export {
  parseReceipt,
  type ReceiptTrust,
  type VerifiedReceipt,
  type VerifyReceiptOptions,
  verifyReceipt,
} from './receipt/verify.ts';
export {
  laneDigest,
  type RoundTranscript,
  TRANSCRIPT_PREDICATE_TYPE,
  type TranscriptDp,
  type TranscriptDpMechanism,
  type TranscriptStatement,
  transcriptPayload,
  transcriptProblems,
  transcriptStatement,
  transcriptStatementProblems,
} from './transcript/statement.ts';
export {
  type ClientExpectation,
  checkLedger,
  checkTranscriptForClient,
  type LedgerBudget,
  type LedgerEntry,
  type LedgerOptions,
  type LedgerZcdp,
  ledgerEpsilon,
  openTranscriptEnvelope,
  parseTranscriptBundle,
  TRANSCRIPT_BUNDLE_TYPE,
  type TranscriptBundle,
  type TranscriptTrust,
  transcriptEntry,
  transcriptLedger,
  transcriptRuleProblems,
  type VerifiedTranscript,
  verifyRoundTranscript,
  verifyTranscriptBundle,
} from './transcript/verify.ts';
export {
  addSignatureLines,
  type CosignatureVerifier,
  cosignatureKeyId,
  cosignatureMessage,
  cosignatureVerifier,
  cosignatureVerifierKey,
  NOTE_ALG_COSIGNATURE_V1,
  parseCosignatureVerifierKey,
  type VerifiedCosignature,
  verifyWitnessedCheckpoint,
  type WitnessedCheckpoint,
  type WitnessPolicy,
} from './witness/cosignature.ts';
