/**
 * Verification of OpenSSF model_signing v1 key-mode bundles against a model on disk (Node): steps
 * 1–7 from `verify-bundle.ts` (re-exported here), then step 8:
 *
 * 8. (with files) re-hash the model with the recorded serialization and compare the full
 *    name → digest map (`PROV_FILE_MODIFIED`, `PROV_FILE_RENAMED`, `PROV_FILE_MISSING`,
 *    `PROV_FILE_EXTRA`, in that order of precedence; the per-file report is in `files`).
 *
 * The steps and their codes are listed in `verify-bundle.ts`. Reading the model goes through
 * `hash.ts`, which loads `node:fs` lazily; browsers verify files given as bytes with
 * `verify-bytes.ts` instead.
 *
 * Deliberately not here: the pure steps (`verify-bundle.ts`), signing (`sign.ts`),
 * certificate-chain validation (`certificate.ts`) and keyless verification (`keyless.ts`).
 *
 * @module
 */

import { assertString } from '../../internal/assert.ts';
import { keyHint, type PublicKey } from '../common/keys.ts';
import type { FileReport } from '../errors.ts';
import { type HashBackend, type HashProgressCallback, hashModel, relativeInside } from './hash.ts';
import {
  checkModelResources,
  type ModelVerificationResult,
  recomputation,
  type VerifiedModelBundle,
  verifyModelBundle,
} from './verify-bundle.ts';

export {
  checkModelResources,
  type KeyMaterialKind,
  type ModelVerificationResult,
  parseModelBundle,
  type VerifiedModelBundle,
  verifyEnvelope,
  verifyModelBundle,
  verifyParsedModelBundle,
  verifySignature,
} from './verify-bundle.ts';

/** Options of {@link verifyModel}. */
export interface VerifyModelOptions {
  /** Extra paths (relative to the model root) to leave out, on top of those recorded in the bundle. */
  readonly ignorePaths?: readonly string[];
  /** Where the signature file is; when it lies inside the model directory it is ignored. */
  readonly signaturePath?: string;
  /** Ignore `.git`, `.gitattributes`, `.github`, `.gitignore` at the root (default true). */
  readonly ignoreGitPaths?: boolean;
  /** Follow file symlinks inside the model (default false: a link is an error). */
  readonly allowSymlinks?: boolean;
  readonly backend?: HashBackend;
  readonly signal?: AbortSignal;
  /** Bytes hashed so far, as {@link hashModel} reports them. */
  readonly onProgress?: HashProgressCallback;
}

/**
 * Verifies a model (file or directory) against a model_signing v1 key-mode bundle: steps 1–8.
 * Ignored: the paths recorded in the bundle's `ignore_paths`, the caller's `ignorePaths`, the
 * signature file when it lies inside the model, and the git paths at the root.
 *
 * @throws {VerificationError} with the code of the failing step; {@link ProvenanceError} when the
 *   model cannot be read (`PROV_PATH_NOT_FOUND`, `PROV_SYMLINK_REFUSED`, …).
 * @example
 * ```ts
 * const result = await verifyModel('models/resnet', readFileSync('models/resnet/model.sig'), key, {
 *   signaturePath: 'models/resnet/model.sig',
 * });
 * result.files.length; // every file checked
 * ```
 */
export async function verifyModel(
  modelPath: string,
  bundleBytes: Uint8Array | string,
  key: PublicKey,
  options: VerifyModelOptions = {},
): Promise<ModelVerificationResult> {
  assertString(modelPath, 'modelPath');
  const verified = verifyModelBundle(bundleBytes, key);
  const { files, ignoredPaths } = await verifyModelFiles(modelPath, verified, options);
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

/**
 * Step 8: re-hashes the model as the verified manifest's serialization says and compares every
 * file. Ignores the recorded `ignore_paths`, the caller's paths, the signature file when it is
 * inside the model, and (by default) the git paths at the root.
 *
 * @throws {VerificationError} `PROV_MANIFEST_UNSUPPORTED`, `PROV_MANIFEST_PATH_INVALID`,
 *   `PROV_FILE_*`; {@link ProvenanceError} when the model cannot be read.
 */
export async function verifyModelFiles(
  modelPath: string,
  verified: VerifiedModelBundle,
  options: VerifyModelOptions = {},
): Promise<{ files: FileReport[]; ignoredPaths: readonly string[] }> {
  assertString(modelPath, 'modelPath');
  const { method, shardSize, ignorePaths: bundleAndCaller } = recomputation(verified, options.ignorePaths);
  const extra: string[] = [];
  if (options.signaturePath !== undefined) {
    const rel = await relativeInside(modelPath, options.signaturePath);
    if (rel !== undefined) extra.push(rel);
  }
  const ignorePaths = [...new Set([...bundleAndCaller, ...extra])];
  const manifest = await hashModel(modelPath, {
    method,
    ...(shardSize === undefined ? {} : { shardSize }),
    ignorePaths,
    ignoreGitPaths: options.ignoreGitPaths ?? true,
    allowSymlinks: options.allowSymlinks ?? false,
    ...(options.backend === undefined ? {} : { backend: options.backend }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
  const files = checkModelResources(verified.resources, manifest.resources);
  return { files, ignoredPaths: manifest.serialization.ignore_paths ?? ignorePaths };
}
