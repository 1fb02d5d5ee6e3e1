/**
 * `verifyModel` of the Node entry (`confide/provenance`): the one implementation of
 * `verify-model.ts`, with step 8 over files on disk (`{ path }`) as well as over bytes
 * (`{ files }`). On disk the model is re-hashed by `hashModel` (`hash.ts`, the same manifest
 * builder as `hashModelBytes`), with the signature file left out when it lies inside the model,
 * then compared by `compareManifest` exactly as bytes are.
 *
 * Deliberately not here: steps 1–7 (`verify-model.ts` picks them by trust mode), the report
 * (`report.ts`), printing.
 *
 * @module
 */

import { hashModel, relativeInside } from './hash.ts';
import type { ModelVerificationReport } from './report.ts';
import {
  compareManifest,
  type FileComparison,
  recomputation,
  type VerifiedModelBundle,
} from './verify-bundle.ts';
import { type ModelPathSource, type ModelSource, type ModelTrust, verifyModelWith } from './verify-model.ts';

/**
 * Step 8 on disk: re-hashes the model as the verified manifest's serialization says and compares
 * every file. Ignores the recorded `ignore_paths`, the caller's paths, the signature file when it
 * is inside the model, and (by default) the git paths at the root.
 *
 * @throws {VerificationError} `PROV_MANIFEST_UNSUPPORTED`, `PROV_MANIFEST_PATH_INVALID`,
 *   `PROV_FILE_*`; {@link ProvenanceError} when the model cannot be read.
 */
async function compareModelFiles(
  source: ModelPathSource,
  verified: VerifiedModelBundle,
): Promise<FileComparison> {
  const { method, shardSize, ignorePaths: bundleAndCaller } = recomputation(verified, source.ignorePaths);
  const extra: string[] = [];
  if (source.signaturePath !== undefined) {
    const rel = await relativeInside(source.path, source.signaturePath);
    if (rel !== undefined) extra.push(rel);
  }
  const ignorePaths = [...new Set([...bundleAndCaller, ...extra])];
  const manifest = await hashModel(source.path, {
    method,
    ...(shardSize === undefined ? {} : { shardSize }),
    ignorePaths,
    ignoreGitPaths: source.ignoreGitPaths ?? true,
    allowSymlinks: source.allowSymlinks ?? false,
    ...(source.backend === undefined ? {} : { backend: source.backend }),
    ...(source.signal === undefined ? {} : { signal: source.signal }),
    ...(source.onProgress === undefined ? {} : { onProgress: source.onProgress }),
  });
  return compareManifest(verified, manifest, ignorePaths);
}

/**
 * Verifies a model, as files on disk (`{ path }`) or as bytes (`{ files }`), against a
 * model_signing v1 bundle in any trust mode, and reports every check, the signer and what was not
 * checked. A failed verification is a report with `valid: false` and the failing code.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a source or trust of no known form;
 *   {@link ProvenanceError} when the model cannot be read or the trusted root is unusable.
 * @example
 * ```ts
 * const report = await verifyModel(
 *   { path: 'models/resnet', signaturePath: 'models/resnet/model.sig' },
 *   readFileSync('models/resnet/model.sig'),
 *   { publicKey: parsePublicKeyPem(pem) },
 * );
 * report.valid; report.checks; report.notChecked;
 * ```
 */
export function verifyModel(
  source: ModelSource,
  bundle: Uint8Array | string,
  trust: ModelTrust,
): Promise<ModelVerificationReport> {
  return verifyModelWith(source, bundle, trust, compareModelFiles);
}
