/**
 * Keyless (Sigstore) verification of a model on disk: steps 1–7 by `keyless-bundle.ts` (offline,
 * against a given `trusted_root.json` and a pinned identity, the Sigstore part by
 * `@sigstore/verify`), then step 8, the file comparison of key mode (`verify.ts`).
 *
 * Deliberately not here: the bundle checks themselves (`keyless-bundle.ts`, shared with browsers);
 * models given as bytes (`verify-bytes.ts`).
 *
 * @module
 */

import { assertString } from '../../../internal/assert.ts';
import { keyHint } from '../../common/keys.ts';
import { type VerifyModelOptions, verifyModelFiles } from '../verify-disk.ts';
import {
  type KeylessIdentity,
  type KeylessModelVerificationResult,
  verifyModelBundleKeyless,
} from './verify-bundle.ts';

export {
  type KeylessIdentity,
  type KeylessModelVerificationResult,
  type KeylessVerifiedModelBundle,
  verifyModelBundleKeyless,
} from './verify-bundle.ts';

/**
 * Verifies a model against a keyless bundle: {@link verifyModelBundleKeyless} then the file
 * comparison of key mode.
 *
 * @throws {VerificationError} with the code of the failing step; {@link ProvenanceError} when the
 *   model cannot be read or the trusted root is invalid.
 */
export async function verifyModelKeyless(
  modelPath: string,
  bundleBytes: Uint8Array | string,
  trustedRoot: string | object,
  expected: KeylessIdentity,
  options: VerifyModelOptions = {},
): Promise<KeylessModelVerificationResult> {
  assertString(modelPath, 'modelPath');
  const verified = await verifyModelBundleKeyless(bundleBytes, trustedRoot, expected);
  const { files, ignoredPaths } = await verifyModelFiles(modelPath, verified, options);
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
