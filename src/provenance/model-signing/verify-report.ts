/**
 * One entry point that verifies a model on disk in any trust mode and always answers with a
 * {@link ModelVerificationReport} (`model-report.ts`): `trust` is `{ publicKey }` (key mode),
 * `{ certificateAuthorities, at? }` (certificate mode) or `{ trustedRoot, identity, issuer }`
 * (keyless). A verification failure is a report with `valid: false` and the code; only errors
 * that are not verification outcomes (an unreadable model, an unusable trusted root) are thrown.
 * Node only (reads the disk through `verify.ts`, `certificate.ts`, `keyless.ts`).
 *
 * Deliberately not here: the verification steps themselves (those modules), printing.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertString } from '../../internal/assert.ts';
import type { PublicKey } from '../common/keys.ts';
import { verifyModelBundleKeyless } from './keyless/verify-bundle.ts';
import { type ModelOutcome, type ModelVerificationReport, modelVerificationReport } from './report.ts';
import { verifyModelBundleWithCertificates } from './verify-certificate-disk.ts';
import { type VerifyModelOptions, verifyModelBundle, verifyModelFiles } from './verify-disk.ts';

/** How a model bundle is trusted. */
export type ModelTrust =
  | { readonly publicKey: PublicKey }
  | { readonly certificateAuthorities: string; readonly at?: Date }
  | { readonly trustedRoot: string | object; readonly identity: string; readonly issuer: string };

/**
 * Verifies a model (file or directory) against a model_signing bundle and reports every check,
 * the signer and what was not checked.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a `trust` of no known form;
 *   {@link ProvenanceError} when the model cannot be read or the trusted root is unusable.
 * @example
 * ```ts
 * const report = await verifyModelReport('models/resnet', readFileSync('model.sig'), { publicKey }, {
 *   signaturePath: 'models/resnet/model.sig',
 * });
 * report.valid; report.checks; report.notChecked;
 * ```
 */
export async function verifyModelReport(
  modelPath: string,
  bundleBytes: Uint8Array | string,
  trust: ModelTrust,
  options: VerifyModelOptions = {},
): Promise<ModelVerificationReport> {
  assertString(modelPath, 'modelPath');
  if (typeof trust !== 'object' || trust === null)
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'trust must be { publicKey }, { certificateAuthorities } or { trustedRoot, identity, issuer }',
    );
  let mode: ModelOutcome['mode'];
  let steps1to7: () => Promise<NonNullable<ModelOutcome['bundle']>>;
  let key: PublicKey | undefined;
  if ('publicKey' in trust) {
    mode = 'key';
    key = trust.publicKey;
    const k = key;
    steps1to7 = async () => verifyModelBundle(bundleBytes, k);
  } else if ('certificateAuthorities' in trust) {
    mode = 'certificate';
    const at = trust.at;
    steps1to7 = async () =>
      verifyModelBundleWithCertificates(
        bundleBytes,
        trust.certificateAuthorities,
        at === undefined ? {} : { at },
      );
  } else if ('trustedRoot' in trust) {
    mode = 'keyless';
    steps1to7 = () =>
      verifyModelBundleKeyless(bundleBytes, trust.trustedRoot, {
        identity: trust.identity,
        issuer: trust.issuer,
      });
  } else {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'trust must be { publicKey }, { certificateAuthorities } or { trustedRoot, identity, issuer }',
    );
  }
  const base = { mode, ...(key === undefined ? {} : { key }) };
  let bundle: NonNullable<ModelOutcome['bundle']>;
  try {
    bundle = await steps1to7();
  } catch (error) {
    return modelVerificationReport(modelPath, { ...base, error });
  }
  try {
    const files = await verifyModelFiles(modelPath, bundle, options);
    return modelVerificationReport(modelPath, { ...base, bundle, files });
  } catch (error) {
    return modelVerificationReport(modelPath, { ...base, bundle, error });
  }
}
