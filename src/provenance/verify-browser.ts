/**
 * `confide/provenance/verify`: the verifiers of `confide/provenance` and nothing else, for
 * browsers, workers and any bundle that must not see Node code.
 *
 * Here: model_signing v1 key-mode bundles (steps 1–7 on the bundle, step 8 on files given as
 * bytes: {@link verifyModelBytes}, {@link hashModelBytes}); signed lineage graphs against a policy
 * ({@link verifyLineage}, and {@link checkLineageFiles} with a digest function the caller
 * supplies); the local log's proofs and checkpoints ({@link verifyLogProof},
 * {@link verifyCheckpoint}, {@link verifyInclusion}, {@link verifyConsistency}); the key, DSSE and
 * canonical-JSON helpers those need. Conclusions and codes are those of the same functions in
 * `confide/provenance` (they are the same functions).
 *
 * Nothing this entry loads imports a `node:` module or a Sigstore package, not even lazily, and
 * no signing module is loaded (a test walks the import graph; the browser test bundles it with
 * esbuild for `platform: 'browser'` and runs it in Chromium). Deliberately not here: reading the
 * disk (`verifyModel`, `hashModel`, `diskDigests`, `LogStore`), certificate-mode and keyless
 * verification (`node:crypto` X.509 and `@sigstore/verify`), and every signing function: use
 * `confide/provenance` in Node for those.
 *
 * @module
 */

export { ConfideError, isConfideError } from '../errors.ts';
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
  type KeyAlgorithm,
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
  type LogProof,
  type LogProofResult,
  parseLogProof,
  type VerifyLogProofOptions,
  verifyLogProof,
} from './log-verify.ts';
export { HASH_SIZE, leafHash, nodeHash, verifyConsistency, verifyInclusion } from './merkle.ts';
export {
  compareResources,
  MODEL_SIGNING_PREDICATE_TYPE,
  type ModelManifest,
  type ModelResource,
  type ModelSerialization,
  type ModelSigningStatement,
  normaliseRelativePath,
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
} from './verify-bytes.ts';
