/**
 * `confide/provenance/sign`: the producer side of `confide/provenance`, apart from its verifiers
 * (as `@sigstore/sign` stands beside `@sigstore/verify`): private keys (generation, PEM, encrypted
 * PKCS#8), model_signing v1 manifests of files on disk or bytes and the bundles that sign them
 * (key and certificate mode), signed lineage statements, countersignatures, and the writing side
 * of the local log (Merkle tree, signed checkpoints, the file-backed store).
 *
 * Node: the filesystem functions (`hashModel`, `hashFile`, `signModel`, `artifactFromFile`,
 * `diskDigests`, `LogStore`, `leafHashOfFile`) and the encrypted private keys import `node:*`
 * lazily; the rest is pure. Verification lives in `confide/provenance/verify` (browsers too), which
 * never loads this module; `confide/provenance` is both together.
 *
 * Deliberately not here: any verifier, keyless (Fulcio/Rekor) signing, timestamps.
 *
 * @module
 */

export { createEnvelope } from './common/dsse.ts';
export {
  encryptPrivateKeyPem,
  isEncryptedPrivateKeyPem,
  KEY_SCRYPT_PARAMS,
  parsePrivateKeyPemWithPassword,
} from './common/key-encryption.ts';
export {
  certificatePublicKey,
  GENERATABLE_ALGORITHMS,
  /** @deprecated The old name of `generateSigningKeyPair`. */
  generateKeyPair,
  generateKeyPair as generateSigningKeyPair,
  PrivateKey,
  parsePrivateKeyPem,
  privateKeyToPem,
} from './common/keys.ts';
export { artifactFromFile, diskDigests } from './lineage/files.ts';
export {
  attestAggregationRound,
  attestEvent,
  attestInferenceBatch,
  cosignAttestation,
  countersignAttestation,
  type LineageAttestation,
  linkInput,
  signLineage,
} from './lineage/sign.ts';
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
} from './lineage/statement.ts';
export { formatCheckpoint, NOTE_ALG_ED25519 } from './log/checkpoint.ts';
export { consistencyProof, EMPTY_ROOT, inclusionProof, type SubtreeCache, treeRoot } from './log/merkle.ts';
export { LOG_PROOF_TYPE, MerkleLog, signNote } from './log/signed-log.ts';
export { LogStore, type LogStoreOpenOptions, leafHashOfFile } from './log/store.ts';
export type { ManifestOptions } from './model-signing/build-manifest.ts';
export {
  createSha256,
  type HashBackend,
  type HashModelOptions,
  type HashProgressCallback,
  hashFile,
  hashModel,
  type IncrementalHash,
  relativeInside,
  sha256Hex,
} from './model-signing/hash.ts';
export { type HashModelBytesOptions, hashModelBytes, type ModelBytes } from './model-signing/hash-bytes.ts';
export {
  type BundlePublicKey,
  DEFAULT_GIT_IGNORES,
  DEFAULT_SHARD_SIZE,
  type ModelManifest,
  type ModelSigningPredicate,
  modelStatement,
  /** @deprecated The British spelling of `serializeStatement`. */
  serialiseStatement,
  serialiseStatement as serializeStatement,
} from './model-signing/manifest.ts';
export {
  keySigner,
  type SignedModel,
  type Signer,
  type SignManifestOptions,
  type SignModelOptions,
  /** @deprecated The British spelling of `serializeBundle`. */
  serialiseBundle,
  serialiseBundle as serializeBundle,
  signEnvelope,
  signMessage,
  signModel,
  signModelManifest,
} from './model-signing/sign.ts';
export { ReceiptLog } from './receipt/log.ts';
export { type ReceiptFacts, receiptStatement, signReceipt } from './receipt/sign.ts';
export { commitTranscript, signTranscript, transcriptConsistencyProver } from './transcript/sign.ts';
export {
  createWitnessServer,
  httpConsistencySource,
  type WitnessServer,
  type WitnessServerOptions,
} from './witness/server.ts';
export { type ConsistencySource, Witness } from './witness/witness.ts';
