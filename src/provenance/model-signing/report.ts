/**
 * The {@link VerificationReport} of a model_signing verification, in key, certificate or keyless
 * mode: the eight steps of `verify-bundle.ts` as checks (those that ran, each with its result; on
 * a failure, the failing step carries the code and the later steps are listed as not run), the
 * signer as the bundle established it, and what the mode does not check (trusted timestamps,
 * transparency-log inclusion, revocation, the files when only the bundle was verified).
 *
 * {@link modelVerificationReport} builds it from what a verifier returned or threw, so the Node
 * verifier (`verify-model-disk.ts`), the byte verifier (`verify-model.ts`) and a browser produce the
 * same content. Pure; runs in browsers.
 *
 * Deliberately not here: verifying (this only describes an outcome), printing (`report.ts`).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import type { PublicKey } from '../common/keys.ts';
import {
  labeledFingerprints,
  type SignerDescription,
  type VerificationCheck,
  type VerificationReport,
} from '../common/report.ts';
import { type FileReport, VerificationError } from '../errors.ts';
import type { KeylessVerifiedModelBundle } from './keyless/verify-bundle.ts';
import type { VerifiedModelBundle } from './verify-bundle.ts';
import type { CertificateVerifiedModelBundle } from './verify-certificate-bundle.ts';

/** How the bundle was trusted. */
export type ModelTrustMode = 'key' | 'certificate' | 'keyless';

/**
 * What a model verification produced, step by step: the bundle verifier's result when steps 1–7
 * passed, the file comparison's when step 8 passed, and what was thrown when a step failed.
 */
export interface ModelOutcome {
  readonly mode: ModelTrustMode;
  /** Key mode: the trusted key (the signer once the signature verified). */
  readonly key?: PublicKey;
  /** Steps 1–7 passed: what `verifyModelBundle` (or its certificate/keyless twin) returned. */
  readonly bundle?: VerifiedModelBundle | CertificateVerifiedModelBundle | KeylessVerifiedModelBundle;
  /** Step 8 passed: the per-file comparison. */
  readonly files?: { readonly files: readonly FileReport[]; readonly ignoredPaths: readonly string[] };
  /** What a step threw. */
  readonly error?: unknown;
  /** False when only the bundle was verified, not the files (default true). */
  readonly filesRequested?: boolean;
}

/** A model verification report: the common report plus the model's root and per-file results. */
export interface ModelVerificationReport extends VerificationReport {
  readonly mode: ModelTrustMode;
  readonly rootDigest?: string;
  readonly ignoredPaths?: readonly string[];
  readonly files?: readonly FileReport[];
}

interface Step {
  readonly name: string;
  readonly owns: (code: string) => boolean;
}

const among =
  (...codes: string[]) =>
  (code: string): boolean =>
    codes.includes(code);

const TRUST_STEP: Readonly<Record<ModelTrustMode, Step>> = {
  key: {
    name: 'key material matches the trusted key',
    owns: among('PROV_KEY_MISMATCH', 'PROV_KEY_MATERIAL_UNSUPPORTED'),
  },
  certificate: {
    name: 'certificate chain leads to a trusted CA (validity, CA flags, key usage)',
    owns: (c) => c.startsWith('PROV_CERTIFICATE') || c === 'PROV_KEY_MATERIAL_UNSUPPORTED',
  },
  keyless: {
    name: 'Sigstore: Fulcio chain, transparency-log entry and timestamps, identity and issuer',
    owns: (c) =>
      c.startsWith('PROV_CERTIFICATE') ||
      [
        'PROV_TLOG_INVALID',
        'PROV_TIMESTAMP_INVALID',
        'PROV_IDENTITY_MISMATCH',
        'PROV_KEY_MATERIAL_UNSUPPORTED',
        'PROV_TRUSTED_ROOT_INVALID',
      ].includes(c),
  },
};

function steps(mode: ModelTrustMode): Step[] {
  return [
    { name: 'bundle is JSON', owns: among('PROV_BUNDLE_UNPARSABLE') },
    {
      name: 'bundle structure and media type (Sigstore bundle v0.3)',
      owns: among('PROV_BUNDLE_MALFORMED', 'PROV_BUNDLE_MEDIA_TYPE'),
    },
    TRUST_STEP[mode],
    { name: 'DSSE payload type', owns: among('PROV_PAYLOAD_TYPE') },
    { name: 'DSSE signature over the payload as received', owns: among('PROV_SIGNATURE_INVALID') },
    {
      name: 'in-toto statement and model_signing predicate',
      owns: among(
        'PROV_PAYLOAD_MALFORMED',
        'PROV_STATEMENT_TYPE',
        'PROV_PREDICATE_TYPE',
        'PROV_SUBJECT_INVALID',
        'PROV_MANIFEST_PATH_INVALID',
      ),
    },
    { name: 'root digest recomputed from the signed manifest', owns: among('PROV_ROOT_DIGEST_MISMATCH') },
    {
      name: 'files hashed and compared with the signed manifest',
      owns: (c) => c.startsWith('PROV_FILE_') || c === 'PROV_MANIFEST_UNSUPPORTED',
    },
  ];
}

function notCheckedFor(mode: ModelTrustMode, checkedAt?: string): string[] {
  if (mode === 'key')
    return [
      'trusted timestamp: a key-mode bundle carries none, so when it was signed is unknown',
      'transparency-log inclusion: key-mode bundles are not logged',
      'key revocation or expiry: trust is exactly the public key given',
    ];
  if (mode === 'certificate')
    return [
      'certificate revocation (CRL/OCSP)',
      `trusted timestamp: the chain was checked at ${checkedAt ?? "the leaf's notBefore"}, not at a proven signing time`,
      'transparency-log inclusion',
    ];
  return [
    'certificate revocation (Fulcio certificates are short-lived; the log time bounds their use)',
    'the trusted root itself: used as given, not fetched or checked over TUF',
  ];
}

function bundleDetails(mode: ModelTrustMode, b: ModelOutcome['bundle']): string[] {
  if (b === undefined) return [];
  const c = b as Partial<CertificateVerifiedModelBundle> & Partial<KeylessVerifiedModelBundle>;
  const trust =
    mode === 'key'
      ? `the bundle's key material (${b.keyMaterial}) names the given key`
      : mode === 'certificate'
        ? `leaf '${c.certificate?.subject}' chains to a given CA, checked at ${c.checkedAt}`
        : `identity ${c.identity} from issuer ${c.issuer}; log entry and inclusion verified against the trusted root`;
  return [
    'parsed',
    'Sigstore bundle v0.3',
    trust,
    'application/vnd.in-toto+json',
    "verifies with the signer's key",
    `model_signing v1.0, subject '${b.subjectName}'`,
    b.rootDigest,
  ];
}

function signerOf(outcome: ModelOutcome): SignerDescription | undefined {
  const b = outcome.bundle;
  if (b === undefined) return undefined;
  if (outcome.mode === 'key') {
    const key = outcome.key;
    if (key === undefined) return undefined;
    return { kind: 'public-key', algorithm: key.algorithm, fingerprints: labeledFingerprints(key, true) };
  }
  if (outcome.mode === 'certificate') {
    const { certificate: cert, publicKey } = b as CertificateVerifiedModelBundle;
    return {
      kind: 'certificate',
      subject: cert.subject,
      issuer: cert.issuer,
      serialNumber: cert.serialNumber,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
      certificateFingerprint: cert.fingerprint256,
      algorithm: publicKey.algorithm,
      fingerprints: labeledFingerprints(publicKey, true),
    };
  }
  const k = b as KeylessVerifiedModelBundle;
  return {
    kind: 'keyless',
    identity: k.identity,
    issuer: k.issuer,
    algorithm: k.publicKey.algorithm,
    fingerprints: labeledFingerprints(k.publicKey, true),
  };
}

/**
 * Describes a model verification outcome as a report (module notes). A thrown
 * {@link VerificationError} becomes a report with `valid: false`; anything else thrown is not a
 * verification outcome and is rethrown.
 *
 * @param subject what was verified, for the report (e.g. the model path).
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for an outcome of no known mode, a bundle that
 *   does not match the mode, or neither a bundle nor an error.
 * @example
 * ```ts
 * const bundle = verifyModelBundle(sig, key); // steps 1–7 (throws on failure: pass it as `error`)
 * const report = modelVerificationReport('model.sig', { mode: 'key', key, bundle, filesRequested: false });
 * report.notChecked; // ['trusted timestamp: …', …]
 * ```
 */
export function modelVerificationReport(subject: string, outcome: ModelOutcome): ModelVerificationReport {
  if (typeof outcome !== 'object' || outcome === null || !Object.hasOwn(TRUST_STEP, outcome.mode))
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      "outcome.mode must be 'key', 'certificate' or 'keyless'",
    );
  const { mode, error } = outcome;
  if (error !== undefined && !(error instanceof VerificationError)) throw error;
  const b = outcome.bundle as
    | (Partial<CertificateVerifiedModelBundle> & Partial<KeylessVerifiedModelBundle>)
    | undefined;
  const shapeOk =
    b === undefined ||
    (mode === 'key' && outcome.key !== undefined) ||
    (mode === 'certificate' && b.certificate !== undefined && b.publicKey !== undefined) ||
    (mode === 'keyless' && typeof b.identity === 'string' && b.publicKey !== undefined);
  if (!shapeOk)
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `outcome.bundle is not what a ${mode}-mode verifier returns${mode === 'key' ? ' (or outcome.key is missing)' : ''}`,
    );
  const all = steps(mode);
  const details = bundleDetails(mode, outcome.bundle);
  const filesRequested = outcome.filesRequested ?? true;
  let failed = all.length;
  if (error !== undefined) {
    const at = all.findIndex((s) => s.owns(error.code));
    // A code no step claims: the file step when the bundle verified, else the trust step.
    failed = at >= 0 ? at : outcome.bundle === undefined ? 2 : all.length - 1;
  } else if (outcome.bundle === undefined) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'outcome needs bundle (steps 1–7 passed) or error');
  } else if (outcome.files === undefined && filesRequested) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'outcome needs files, or filesRequested: false');
  }
  const ran = error === undefined && outcome.files === undefined ? all.length - 1 : failed;
  const checks: VerificationCheck[] = all
    .slice(0, ran)
    .map((s, i) => ({ name: s.name, ok: true, detail: details[i] ?? 'passed' }));
  if (error !== undefined) {
    checks.push({
      name: all[failed]?.name ?? 'verification',
      ok: false,
      detail: error.message,
      code: error.code,
    });
  } else if (outcome.files !== undefined) {
    const last = all[all.length - 1] as Step;
    checks[all.length - 1] = {
      name: last.name,
      ok: true,
      detail: `${outcome.files.files.length} file(s) match`,
    };
  }
  const skipped = error === undefined ? [] : all.slice(failed + 1).map((s) => s.name);
  const signer = signerOf(outcome);
  const checkedAt = (outcome.bundle as Partial<CertificateVerifiedModelBundle> | undefined)?.checkedAt;
  const files = outcome.files?.files ?? (error instanceof VerificationError ? error.files : undefined);
  return {
    valid: error === undefined,
    code: error === undefined ? 'OK' : error.code,
    subject: String(subject),
    mode,
    checks,
    signers: signer === undefined ? [] : [signer],
    notChecked: [
      ...(skipped.length === 0 ? [] : [`not run after the failure: ${skipped.join('; ')}`]),
      ...(error === undefined && outcome.files === undefined
        ? ['the model files: only the bundle was verified, no file was hashed']
        : []),
      ...notCheckedFor(mode, checkedAt),
    ],
    ...(outcome.bundle === undefined ? {} : { rootDigest: outcome.bundle.rootDigest }),
    ...(outcome.files === undefined ? {} : { ignoredPaths: outcome.files.ignoredPaths }),
    ...(files === undefined ? {} : { files }),
  };
}
