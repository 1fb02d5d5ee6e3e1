/**
 * Verification (key, certificate and keyless modes) of models given as bytes, not paths: what a
 * browser does with files the user picked, fetched or unpacked. Steps 1–7 are those of
 * `verify-bundle.ts`, `verify-certificate-bundle.ts` and `keyless/verify-bundle.ts`; step 8
 * recomputes the manifest with `hashModelBytes` (`hash-bytes.ts`, the same builder `hashModel`
 * uses on disk) and compares it name by name, with the same codes as on disk. Ignoring works as on
 * disk: whole path components, the recorded `ignore_paths`, the caller's paths and (unless told
 * otherwise) the git paths at the root. A folder handed over from a directory listing usually
 * contains the signature file itself: name it in `ignorePaths`.
 *
 * Pure (key mode is synchronous; certificate and keyless modes are asynchronous); no filesystem,
 * so this module runs in browsers and workers.
 *
 * Deliberately not here: building manifests (`build-manifest.ts`, `hash-bytes.ts`), reading the
 * disk (`hash.ts`).
 *
 * @module
 */

import { keyHint, type PublicKey } from '../common/keys.ts';
import type { FileReport } from '../errors.ts';
import { hashModelBytes, type ModelBytes } from './hash-bytes.ts';
import {
  type KeylessIdentity,
  type KeylessModelVerificationResult,
  verifyModelBundleKeyless,
} from './keyless/verify-bundle.ts';
import {
  checkModelResources,
  type ModelVerificationResult,
  recomputation,
  type VerifiedModelBundle,
  verifyModelBundle,
} from './verify-bundle.ts';
import {
  type CertificateModelVerificationResult,
  type CertificateVerifyOptions,
  verifyModelBundleWithCertificates,
} from './verify-certificate-bundle.ts';

/** Options of {@link verifyModelBytes}. */
export interface VerifyModelBytesOptions {
  /** Extra paths to leave out, on top of those recorded in the bundle (e.g. the signature file). */
  readonly ignorePaths?: readonly string[];
  /** Ignore `.git`, `.gitattributes`, `.github`, `.gitignore` at the root (default true). */
  readonly ignoreGitPaths?: boolean;
}

/**
 * Verifies a model given as bytes against a model_signing v1 key-mode bundle: steps 1–7 of
 * `verify-bundle.ts` (structure, key hint or embedded key, payload type, signature, statement,
 * root digest), then step 8 on the bytes: the manifest is recomputed with the recorded
 * serialization and compared name by name. The same conclusions and codes as {@link verifyModel}
 * on the same files.
 *
 * @throws {VerificationError} with the code of the failing step (`PROV_FILE_MODIFIED`,
 *   `PROV_FILE_RENAMED`, `PROV_FILE_MISSING`, `PROV_FILE_EXTRA` carry the per-file report in
 *   `files`); {@link ProvenanceError} for unusable paths.
 * @example
 * ```ts
 * const files = new Map([['signme-1', a], ['signme-2', b], ['model.sig', sig]]);
 * const result = verifyModelBytes(sig, parsePublicKeyPem(pem), files, { ignorePaths: ['model.sig'] });
 * result.files.every((f) => f.status === 'ok'); // true
 * ```
 */
export function verifyModelBytes(
  bundleBytes: Uint8Array | string,
  key: PublicKey,
  model: ModelBytes,
  options: VerifyModelBytesOptions = {},
): ModelVerificationResult {
  const verified = verifyModelBundle(bundleBytes, key);
  const { files, ignoredPaths } = compareModelBytes(verified, model, options);
  return {
    valid: true,
    subjectName: verified.subjectName,
    rootDigest: verified.rootDigest,
    keyHint: keyHint(key),
    algorithm: key.algorithm,
    keyMaterial: verified.keyMaterial,
    ignoredPaths,
    files,
  };
}

/** Step 8 on bytes: recompute the manifest with the recorded serialization and compare. */
export function compareModelBytes(
  verified: VerifiedModelBundle,
  model: ModelBytes,
  options: VerifyModelBytesOptions,
): { files: FileReport[]; ignoredPaths: readonly string[] } {
  const { method, shardSize, ignorePaths } = recomputation(verified, options.ignorePaths);
  const manifest = hashModelBytes(model, {
    method,
    ...(shardSize === undefined ? {} : { shardSize }),
    ignorePaths,
    ignoreGitPaths: options.ignoreGitPaths ?? true,
  });
  const files = checkModelResources(verified.resources, manifest.resources);
  return { files, ignoredPaths: manifest.serialization.ignore_paths ?? ignorePaths };
}

/**
 * Verifies a model given as bytes against a keyless (Sigstore) bundle, offline:
 * {@link verifyModelBundleKeyless} (the Sigstore checks by `@sigstore/verify`, in browsers too),
 * then step 8 on the bytes. The same conclusions and codes as `verifyModelKeyless` on the same
 * files.
 *
 * @param trustedRoot the Sigstore trusted root (`trusted_root.json` text or its parsed object).
 * @throws {VerificationError} with the code of the failing step; {@link ProvenanceError}
 *   `PROV_TRUSTED_ROOT_INVALID` and for unusable paths.
 * @example
 * ```ts
 * const result = await verifyModelBytesKeyless(sig, trustedRootJson, { identity, issuer }, files, {
 *   ignorePaths: ['model.sig'],
 * });
 * result.identity; // the pinned signer
 * ```
 */
export async function verifyModelBytesKeyless(
  bundleBytes: Uint8Array | string,
  trustedRoot: string | object,
  expected: KeylessIdentity,
  model: ModelBytes,
  options: VerifyModelBytesOptions = {},
): Promise<KeylessModelVerificationResult> {
  const verified = await verifyModelBundleKeyless(bundleBytes, trustedRoot, expected);
  const { files, ignoredPaths } = compareModelBytes(verified, model, options);
  return {
    valid: true,
    subjectName: verified.subjectName,
    rootDigest: verified.rootDigest,
    identity: verified.identity,
    issuer: verified.issuer,
    keyHint: keyHint(verified.publicKey),
    algorithm: verified.publicKey.algorithm,
    ignoredPaths,
    files,
  };
}

/**
 * Verifies a model given as bytes against a certificate-mode bundle:
 * {@link verifyModelBundleWithCertificates} (the one certificate path validator, PKI.js over
 * WebCrypto, no `node:crypto`), then step 8 on the bytes. The same conclusions and codes as
 * `verifyModelWithCertificates` on the same files.
 *
 * @param trustAnchorsPem PEM text with one or more `CERTIFICATE` blocks (the trusted CAs).
 * @throws {VerificationError} with the code of the failing step; {@link ProvenanceError} for
 *   unusable paths or a host without WebCrypto.
 * @example
 * ```ts
 * const result = await verifyModelBytesWithCertificates(sig, caPem, files, { ignorePaths: ['model.sig'] });
 * result.certificate.subject; // 'CN=…'
 * ```
 */
export async function verifyModelBytesWithCertificates(
  bundleBytes: Uint8Array | string,
  trustAnchorsPem: string,
  model: ModelBytes,
  options: VerifyModelBytesOptions & CertificateVerifyOptions = {},
): Promise<CertificateModelVerificationResult> {
  const verified = await verifyModelBundleWithCertificates(bundleBytes, trustAnchorsPem, options);
  const { files, ignoredPaths } = compareModelBytes(verified, model, options);
  return {
    valid: true,
    subjectName: verified.subjectName,
    rootDigest: verified.rootDigest,
    keyHint: keyHint(verified.publicKey),
    algorithm: verified.publicKey.algorithm,
    certificate: verified.certificate,
    checkedAt: verified.checkedAt,
    ignoredPaths,
    files,
  };
}
