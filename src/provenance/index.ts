/**
 * `confide/provenance`: verifiable provenance for data and models.
 *
 * What is here today:
 * - RFC 8785 canonical JSON ({@link canonicalize});
 * - DSSE envelopes and PAE, in-toto Statement v1 ({@link preAuthEncoding}, {@link assertStatement});
 * - keys: PEM/DER parsing and writing, generation, the model_signing key hint;
 * - hashing of files and model trees as OpenSSF model_signing v1 does ({@link hashModel});
 * - model_signing v1 key-mode bundles: {@link signModel} writes them as the Python reference
 *   does, {@link verifyModel} / {@link verifyModelBundle} check them step by step and fail with a
 *   {@link VerificationError} whose code names the step.
 *
 * - certificate-mode bundles against given CA certificates ({@link verifyModelWithCertificates};
 *   {@link verifyModelBytesWithCertificates} for files as bytes): one RFC 5280 path validator on
 *   PKI.js over WebCrypto (`certificate-path.ts`), the same code in browsers.
 *
 * - keyless (Sigstore) bundles offline against a `trusted_root.json` and a pinned identity
 *   ({@link verifyModelKeyless}, {@link verifyModelBytesKeyless}; Sigstore checks by
 *   `@sigstore/verify`, loaded lazily, in browsers too through `confide/provenance/verify`).
 *
 * - signed lineage: one in-toto statement per event (dataset snapshot … aggregation round) in a
 *   DSSE envelope, inputs linked to their upstream attestations by digest
 *   ({@link lineageStatement}, {@link attestEvent}, {@link attestInferenceBatch}); a policy of
 *   trusted keys, algorithms and k-of-n signers ({@link parseLineagePolicy}); an offline graph
 *   verifier with a per-node, per-file report ({@link verifyLineage}, {@link checkLineageFiles}).
 * - a verifiable local log: an RFC 9162 Merkle tree ({@link MerkleLog}, {@link verifyInclusion},
 *   {@link verifyConsistency}), checkpoints as C2SP signed notes ({@link verifyCheckpoint}), a
 *   file-backed store ({@link LogStore}, Node only) and offline proof checks ({@link verifyLogProof}).
 *
 * - models given as bytes (a browser's files): {@link hashModelBytes}, {@link verifyModelBytes}.
 *
 * Pages import `confide/provenance/verify` (`verify-browser.ts`) instead: the verifiers alone,
 * nothing that imports a `node:` module even lazily (browser bundlers refuse the lazy `node:fs`
 * imports of this entry's filesystem functions), with the Sigstore verifier bundled for browsers.
 *
 * Everything except the filesystem functions (`hashModel`, `hashFile`, `signModel`,
 * `verifyModel`, `artifactFromFile`, `diskDigests`, `LogStore`, `leafHashOfFile`), the
 * `node:crypto` certificate verifier and encrypted private keys (`encryptPrivateKeyPem`,
 * `parsePrivateKeyPemWithPassword`) is pure and runs in browsers; the filesystem functions import
 * `node:fs` lazily. Verification modules never load signing modules.
 *
 * @module
 */

export { verifyModelBundleWithCertificates, verifyModelWithCertificates } from './certificate.ts';
export { formatCheckpoint, NOTE_ALG_ED25519 } from './checkpoint.ts';
export { createEnvelope } from './dsse.ts';
export type { VerificationErrorOptions } from './errors.ts';
export {
  createSha256,
  type HashBackend,
  type HashModelOptions,
  hashFile,
  hashModel,
  type IncrementalHash,
  normaliseRelativePath,
  relativeInside,
  sha256Hex,
} from './hash.ts';
export {
  encryptPrivateKeyPem,
  isEncryptedPrivateKeyPem,
  KEY_SCRYPT_PARAMS,
  parsePrivateKeyPemWithPassword,
} from './key-encryption.ts';
export { verifyModelKeyless } from './keyless.ts';
export {
  certificatePublicKey,
  GENERATABLE_ALGORITHMS,
  generateKeyPair,
  // `generateKeyPair` is the deprecated name of `generateSigningKeyPair`; likewise the British
  // spellings `serialiseStatement` and `serialiseBundle` below (CHANGELOG, renamed exports).
  generateKeyPair as generateSigningKeyPair,
  PrivateKey,
  parsePrivateKeyPem,
  privateKeyToPem,
} from './keys.ts';
export {
  type AggregationRoundEvent,
  ATTESTATION_MEDIA_TYPE,
  aggregationRoundStatement,
  type InferenceBatchEvent,
  inferenceBatchStatement,
  LINEAGE_PREDICATE_PREFIX,
  type LineageDescriptor,
  type LineageEventInput,
  type LineagePredicate,
  lineageEventOf,
  lineagePayload,
  lineagePredicateType,
  lineageStatement,
  lineageStatementProblems,
} from './lineage.ts';
export { artifactFromFile, diskDigests } from './lineage-files.ts';
export {
  attestAggregationRound,
  attestEvent,
  attestInferenceBatch,
  cosignAttestation,
  type LineageAttestation,
  linkInput,
  signLineage,
} from './lineage-sign.ts';
export { LOG_PROOF_TYPE, MerkleLog, signNote } from './log.ts';
export { LogStore, leafHashOfFile } from './log-store.ts';
export { consistencyProof, EMPTY_ROOT, inclusionProof, treeRoot } from './merkle.ts';
export {
  type BundlePublicKey,
  DEFAULT_GIT_IGNORES,
  DEFAULT_SHARD_SIZE,
  type ModelSigningPredicate,
  modelStatement,
  serialiseStatement,
  serialiseStatement as serializeStatement,
} from './model-signing.ts';
export { type ForeignRule, foreignRule } from './policy.ts';
export {
  keySigner,
  type SignedModel,
  type Signer,
  type SignManifestOptions,
  type SignModelOptions,
  serialiseBundle,
  serialiseBundle as serializeBundle,
  signEnvelope,
  signMessage,
  signModel,
  signModelManifest,
} from './sign.ts';
export { assertStatement, isStatement } from './statement.ts';
export {
  checkModelResources,
  type KeyMaterialKind,
  type ModelVerificationResult,
  parseModelBundle,
  type VerifiedModelBundle,
  type VerifyModelOptions,
  verifyEnvelope,
  verifyModel,
  verifyModelBundle,
  verifyModelFiles,
  verifyParsedModelBundle,
  verifySignature,
} from './verify.ts';
// Everything the browser-safe verifiers export, then what needs Node or signs.
export * from './verify-browser.ts';
export { type ModelTrust, verifyModelReport } from './verify-report.ts';
