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
 * Everything except the filesystem functions (`hashModel`, `hashFile`, `signModel`,
 * `verifyModel`) is pure and runs in browsers; those import `node:fs` lazily.
 *
 * - certificate-mode bundles against given CA certificates ({@link verifyModelWithCertificates};
 *   Node only, chain checks by OpenSSL through `node:crypto`).
 *
 * - keyless (Sigstore) bundles offline against a `trusted_root.json` and a pinned identity
 *   ({@link verifyModelKeyless}; Node only, Sigstore checks by `@sigstore/verify`, loaded lazily).
 *
 * Not yet here: signed lineage graphs, the local transparency log.
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
  verifyModelWithCertificates,
} from './certificate.ts';
export {
  assertEnvelope,
  createEnvelope,
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
  type VerificationErrorOptions,
} from './errors.ts';
export {
  createSha256,
  type HashBackend,
  type HashModelOptions,
  hashFile,
  hashModel,
  type IncrementalHash,
  normaliseRelativePath,
  sha256Hex,
} from './hash.ts';
export { canonicalize, canonicalizeToBytes, type JsonValue } from './jcs.ts';
export {
  type KeylessIdentity,
  type KeylessModelVerificationResult,
  type KeylessVerifiedModelBundle,
  verifyModelBundleKeyless,
  verifyModelKeyless,
} from './keyless.ts';
export {
  GENERATABLE_ALGORITHMS,
  generateKeyPair,
  type KeyAlgorithm,
  keyHint,
  PrivateKey,
  type PublicKey,
  parsePrivateKeyPem,
  parsePublicKeyDer,
  parsePublicKeyPem,
  privateKeyToPem,
  publicKeysEqual,
  publicKeyToDer,
  publicKeyToPem,
} from './keys.ts';
export {
  type BundlePublicKey,
  compareResources,
  DEFAULT_GIT_IGNORES,
  DEFAULT_SHARD_SIZE,
  MODEL_SIGNING_PREDICATE_TYPE,
  type ModelManifest,
  type ModelResource,
  type ModelSerialization,
  type ModelSigningPredicate,
  type ModelSigningStatement,
  modelStatement,
  rootDigest,
  SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
  type SigstoreBundle,
  serialiseStatement,
} from './model-signing.ts';
export {
  keySigner,
  type SignedModel,
  type Signer,
  type SignModelOptions,
  serialiseBundle,
  signEnvelope,
  signMessage,
  signModel,
  signModelManifest,
} from './sign.ts';
export {
  assertStatement,
  type DigestSet,
  type InTotoStatement,
  isStatement,
  type ResourceDescriptor,
  STATEMENT_TYPE_V1,
} from './statement.ts';
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
