/**
 * `confide/provenance/verify`: the verifiers of `confide/provenance` and nothing else, for
 * browsers, workers and any bundle that must not see Node code.
 *
 * Here: model_signing v1 bundles in all three modes, steps 1–7 on the bundle and step 8 on files
 * given as bytes: key mode ({@link verifyModelBytes}, {@link verifyModelBundle}), certificate mode
 * against given CA certificates ({@link verifyModelBytesWithCertificates},
 * {@link verifyModelBundleWithCertificates}: the one RFC 5280 path validator of confide, PKI.js over
 * WebCrypto), keyless (Sigstore) bundles offline against a `trusted_root.json` and a pinned
 * identity ({@link verifyModelBytesKeyless}, {@link verifyModelBundleKeyless}: the maintained
 * `@sigstore/verify`, unmodified), and {@link hashModelBytes}; signed lineage graphs against a
 * policy ({@link verifyLineage}, and {@link checkLineageFiles} with a digest function the caller
 * supplies); the local log's proofs and checkpoints ({@link verifyLogProof},
 * {@link verifyCheckpoint}, {@link verifyInclusion}, {@link verifyConsistency}); the key, DSSE and
 * canonical-JSON helpers those need. Conclusions and codes are those of the same functions in
 * `confide/provenance` (they are the same functions).
 *
 * Nothing this entry loads imports a `node:` module, and no signing module is loaded (a test walks
 * the import graph; the browser test bundles the built entry with esbuild for
 * `platform: 'browser'` and runs it in Chromium). The Sigstore packages are loaded lazily, on the
 * first keyless verification: in the built entry they are a separate chunk with `@noble/*`
 * stand-ins for the Node built-ins they use (`sigstore-shims.ts`, wired by `tsup.config.ts`).
 * Deliberately not here: reading the disk (`verifyModel`, `hashModel`, `diskDigests`, `LogStore`)
 * and every signing function: use `confide/provenance` in Node for those.
 *
 * @module
 */

export { ConfideError, isConfideError } from '../errors.ts';
export {
  type CertificateModelVerificationResult,
  type CertificateVerifiedModelBundle,
  type CertificateVerifyOptions,
  type SigningCertificateInfo,
  verifyModelBundleWithCertificates,
  verifyModelBundleWithCertificatesAsync,
} from './certificate-bundle.ts';
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
} from './checkpoint.ts';
export {
  assertEnvelope,
  type DsseEnvelope,
  type DsseSignature,
  envelopePayload,
  IN_TOTO_PAYLOAD_TYPE,
  isEnvelope,
  preAuthEncoding,
} from './dsse.ts';
export {
  type FileReport,
  type FileStatus,
  ProvenanceError,
  type ProvenanceErrorCode,
  VerificationError,
  type VerificationErrorCode,
} from './errors.ts';
export { canonicalize, canonicalizeToBytes, type JsonValue } from './jcs.ts';
export {
  type KeylessIdentity,
  type KeylessModelVerificationResult,
  type KeylessVerifiedModelBundle,
  verifyModelBundleKeyless,
} from './keyless-bundle.ts';
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
} from './keys.ts';
export {
  attestationDigest,
  LINEAGE_EVENTS,
  type LineageArtifact,
  type LineageEvent,
  type LineageStatement,
} from './lineage.ts';
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
} from './lineage-verify.ts';
export {
  type LogDirectoryFacts,
  type LogVerificationReport,
  logDirectoryReport,
  verifyLogProofReport,
} from './log-report.ts';
export {
  type LogProof,
  type LogProofResult,
  parseLogProof,
  type VerifyLogProofOptions,
  verifyLogProof,
} from './log-verify.ts';
export { HASH_SIZE, leafHash, nodeHash, verifyConsistency, verifyInclusion } from './merkle.ts';
export {
  type ModelOutcome,
  type ModelTrustMode,
  type ModelVerificationReport,
  modelVerificationReport,
} from './model-report.ts';
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
} from './model-signing.ts';
export {
  keyId,
  type LineagePolicy,
  POLICY_ALGORITHMS,
  parseLineagePolicy,
  policyFromKeys,
  type SignerRule,
  type TrustedKey,
} from './policy.ts';
export {
  formatVerificationReport,
  type KeyFingerprint,
  type SignerDescription,
  type VerificationCheck,
  type VerificationReport,
} from './report.ts';
export {
  type DigestSet,
  type InTotoStatement,
  type ResourceDescriptor,
  STATEMENT_TYPE_V1,
} from './statement.ts';
export {
  checkModelResources,
  type KeyMaterialKind,
  type ModelVerificationResult,
  parseModelBundle,
  type VerifiedModelBundle,
  verifyEnvelope,
  verifyModelBundle,
  verifySignature,
} from './verify-bundle.ts';
export {
  type HashModelBytesOptions,
  hashModelBytes,
  type ModelBytes,
  type VerifyModelBytesOptions,
  verifyModelBytes,
  verifyModelBytesKeyless,
  verifyModelBytesWithCertificates,
} from './verify-bytes.ts';
