/**
 * Certificate-mode verification of OpenSSF model_signing v1 bundles against a model on disk:
 * steps 1–7 by `certificate-bundle.ts` (the one certificate path validator, shared with
 * `confide/provenance/verify`), then step 8, the file comparison of key mode (`verify.ts`).
 *
 * Deliberately not here: the path rules (`certificate-path.ts`), hosts without a filesystem
 * (`verifyModelBytesWithCertificates` of `verify-bytes.ts` compares files given as bytes).
 *
 * @module
 */

import { assertString } from '../../internal/assert.ts';
import { keyHint } from '../common/keys.ts';
import {
  type CertificateModelVerificationResult,
  type CertificateVerifyOptions,
  verifyModelBundleWithCertificates,
} from './verify-certificate-bundle.ts';
import { type VerifyModelOptions, verifyModelFiles } from './verify-disk.ts';

export {
  type CertificateModelVerificationResult,
  type CertificateVerifiedModelBundle,
  type CertificateVerifyOptions,
  type SigningCertificateInfo,
  verifyModelBundleWithCertificates,
} from './verify-certificate-bundle.ts';

/**
 * Verifies a model against a certificate-mode bundle: {@link verifyModelBundleWithCertificates}
 * then the file comparison of key mode.
 *
 * @throws {VerificationError} with the code of the failing step; {@link ProvenanceError} when the
 *   model cannot be read.
 */
export async function verifyModelWithCertificates(
  modelPath: string,
  bundleBytes: Uint8Array | string,
  trustAnchorsPem: string,
  options: VerifyModelOptions & CertificateVerifyOptions = {},
): Promise<CertificateModelVerificationResult> {
  assertString(modelPath, 'modelPath');
  const verified = await verifyModelBundleWithCertificates(bundleBytes, trustAnchorsPem, options);
  const { files, ignoredPaths } = await verifyModelFiles(modelPath, verified, options);
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
