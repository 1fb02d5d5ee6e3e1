/**
 * `verifyModel` of the Node entry (`confide/provenance`): the one implementation of
 * `verify-model.ts`, with step 8 over files on disk (`{ path }`, by `verifyModelFiles` of
 * `verify-disk.ts`) as well as over bytes (`{ files }`).
 *
 * Deliberately not here: the steps, the report (`report.ts`), printing.
 *
 * @module
 */

import type { ModelVerificationReport } from './report.ts';
import { verifyModelFiles } from './verify-disk.ts';
import { type ModelSource, type ModelTrust, verifyModelWith } from './verify-model.ts';

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
  return verifyModelWith(source, bundle, trust, (s, verified) =>
    verifyModelFiles(s.path, verified, {
      ...(s.ignorePaths === undefined ? {} : { ignorePaths: s.ignorePaths }),
      ...(s.signaturePath === undefined ? {} : { signaturePath: s.signaturePath }),
      ...(s.ignoreGitPaths === undefined ? {} : { ignoreGitPaths: s.ignoreGitPaths }),
      ...(s.allowSymlinks === undefined ? {} : { allowSymlinks: s.allowSymlinks }),
      ...(s.backend === undefined ? {} : { backend: s.backend }),
      ...(s.signal === undefined ? {} : { signal: s.signal }),
      ...(s.onProgress === undefined ? {} : { onProgress: s.onProgress }),
    }),
  );
}
