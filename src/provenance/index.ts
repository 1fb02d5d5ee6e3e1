/**
 * `confide/provenance`: verifiable provenance for data and models.
 *
 * What is here today:
 * - RFC 8785 canonical JSON ({@link canonicalize});
 * - DSSE envelopes and PAE, in-toto Statement v1 ({@link preAuthEncoding}, {@link assertStatement});
 * - keys: PEM/DER parsing and writing, generation, the model_signing key hint;
 * - hashing of files and model trees as OpenSSF model_signing v1 does ({@link hashModel});
 * - model_signing v1 bundles: {@link signModel} writes key-mode bundles as the Python reference
 *   does; one async verifier checks them in every mode: {@link verifyModel}`(source, bundle,
 *   trust)` with `source` `{ path }` (files on disk) or `{ files }` (bytes) and `trust`
 *   `{ publicKey }`, `{ certificateAuthorities, at? }` (one RFC 5280 path validator on PKI.js over
 *   WebCrypto, `pki/`) or `{ trustedRoot, identity, issuer }` (Sigstore checks by
 *   `@sigstore/verify`, loaded lazily), and {@link verifyModelBundle}`(bundle, trust)` for the
 *   bundle alone; both answer with one {@link ModelVerificationReport}.
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
 * - models given as bytes (a browser's files): {@link hashModelBytes}.
 *
 * This entry is `confide/provenance/sign` (`sign.ts`: keys, manifests, signing, the log writers)
 * and `confide/provenance/verify` (`verify.ts`) together, plus the disk-reading `verifyModel`.
 * Programs that only sign can import `confide/provenance/sign`.
 *
 * Pages import `confide/provenance/verify` (`verify.ts`) instead: the verifiers alone,
 * nothing that imports a `node:` module even lazily (browser bundlers refuse the lazy `node:fs`
 * imports of this entry's filesystem functions), with the Sigstore verifier bundled for browsers.
 *
 * Everything except the filesystem functions (`hashModel`, `hashFile`, `signModel`,
 * `verifyModel({ path })`, `artifactFromFile`, `diskDigests`, `LogStore`, `leafHashOfFile`), the
 * encrypted private keys (`encryptPrivateKeyPem`,
 * `parsePrivateKeyPemWithPassword`) is pure and runs in browsers; the filesystem functions import
 * `node:fs` lazily. Verification modules never load signing modules.
 *
 * @module
 */

export { assertStatement, isStatement } from './common/statement.ts';
export type { VerificationErrorOptions } from './errors.ts';
export { type ForeignRule, foreignRule } from './lineage/policy.ts';
// Shadows the browser entry's verifyModel (bytes only) with the one that also reads the disk.
export { verifyModel } from './model-signing/verify-model-disk.ts';
// The producer side (`confide/provenance/sign`) and every browser-safe verifier
// (`confide/provenance/verify`); names both export are the same binding.
export * from './sign.ts';
export * from './verify.ts';
