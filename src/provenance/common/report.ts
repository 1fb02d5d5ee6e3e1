/**
 * Verification reports an auditor can act on, in the manner of `cosign verify`: every check that
 * ran with its result, who signed (a key fingerprint labelled with its form, or a certificate's
 * subject/issuer/serial, or a keyless identity and issuer), and what was **not** checked. The
 * verifiers build these (`model-report.ts`, `lineage-verify.ts`, `log-verify.ts`) so the CLI and a
 * browser show the same content; {@link formatVerificationReport} is the one human rendering.
 *
 * Key fingerprints name their form, because two are in use: `SHA256-SPKI` is the lowercase hex
 * SHA-256 of the DER SubjectPublicKeyInfo (the RFC 6962 key ID; what lineage policies and DSSE
 * `keyid`s written by confide use; `openssl pkey -pubin -outform DER | sha256sum`), and
 * `SHA256-PEM` is the SHA-256 of the key's PEM text (the v1.1 model_signing `hint`).
 *
 * Pure and synchronous; runs in browsers. Deliberately not here: any verification logic.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { type KeyAlgorithm, keyFingerprints, type PublicKey } from './keys.ts';

/** One check a verifier performed. */
export interface VerificationCheck {
  /** What was checked, e.g. `DSSE signature`. */
  readonly name: string;
  readonly ok: boolean;
  /** What was found (on failure: the error message). */
  readonly detail: string;
  /** The error code when `ok` is false. */
  readonly code?: string;
}

/** A key fingerprint and the form it was computed over. */
export interface KeyFingerprint {
  readonly form: 'SHA256-SPKI' | 'SHA256-PEM';
  readonly value: string;
}

/** Who signed, as far as the verifier established it. */
export type SignerDescription =
  | {
      readonly kind: 'public-key';
      /** The name the trust configuration gives the key (lineage policies), when it has one. */
      readonly name?: string;
      readonly algorithm: KeyAlgorithm;
      readonly fingerprints: readonly KeyFingerprint[];
    }
  | {
      readonly kind: 'certificate';
      readonly subject: string;
      readonly issuer: string;
      readonly serialNumber: string;
      readonly notBefore: string;
      readonly notAfter: string;
      /** SHA-256 of the certificate's DER, as OpenSSL prints it. */
      readonly certificateFingerprint: string;
      readonly algorithm: KeyAlgorithm;
      readonly fingerprints: readonly KeyFingerprint[];
    }
  | {
      readonly kind: 'keyless';
      /** The certificate's subject alternative name (checked equal to the expected identity). */
      readonly identity: string;
      /** The OIDC issuer recorded by Fulcio (checked equal to the expected issuer). */
      readonly issuer: string;
      readonly algorithm: KeyAlgorithm;
      readonly fingerprints: readonly KeyFingerprint[];
    }
  | {
      readonly kind: 'note-key';
      /** The signed-note key name (the log origin). */
      readonly name: string;
      /** The 4-byte C2SP note key ID, hex. */
      readonly noteKeyId: string;
      readonly algorithm: KeyAlgorithm;
      readonly fingerprints: readonly KeyFingerprint[];
    };

/** The report every verifier returns: what ran, who signed, what was not checked. */
export interface VerificationReport {
  readonly valid: boolean;
  /** `OK` or the code of the first failure. */
  readonly code: string;
  /** What was verified (a model path, attestation files, a log proof). */
  readonly subject: string;
  readonly checks: readonly VerificationCheck[];
  /** The signers established (empty when verification failed before a signature was accepted). */
  readonly signers: readonly SignerDescription[];
  /** What this verification did not establish; an auditor should weigh each. */
  readonly notChecked: readonly string[];
}

/**
 * The fingerprints of a public key, each labeled with its form: `SHA256-SPKI` always, and
 * `SHA256-PEM` (the model_signing hint) when `withPemText`. Internal: the public helper is
 * `keyFingerprints` (`keys.ts`), which gives both forms.
 */
export function labeledFingerprints(key: PublicKey, withPemText = false): KeyFingerprint[] {
  const { sha256Spki, sha256Pem } = keyFingerprints(key);
  const der: KeyFingerprint = { form: 'SHA256-SPKI', value: sha256Spki };
  return withPemText ? [der, { form: 'SHA256-PEM', value: sha256Pem }] : [der];
}

function signerLines(s: SignerDescription): string[] {
  const fps = s.fingerprints.map((f) => `  key fingerprint (${f.form}): ${f.value}`);
  switch (s.kind) {
    case 'public-key':
      return [`- public key${s.name === undefined ? '' : ` '${s.name}'`} (${s.algorithm})`, ...fps];
    case 'certificate':
      return [
        `- certificate subject: ${s.subject}`,
        `  issuer: ${s.issuer}`,
        `  serial: ${s.serialNumber}`,
        `  valid: ${s.notBefore} to ${s.notAfter}`,
        `  certificate fingerprint (sha256-cert-der): ${s.certificateFingerprint}`,
        `  key: ${s.algorithm}`,
        ...fps,
      ];
    case 'keyless':
      return [
        `- keyless identity: ${s.identity}`,
        `  OIDC issuer: ${s.issuer}`,
        `  key: ${s.algorithm}`,
        ...fps,
      ];
    case 'note-key':
      return [`- note key '${s.name}' (note key ID ${s.noteKeyId}, ${s.algorithm})`, ...fps];
  }
}

/**
 * The human rendering of a report, one line per element, as the CLI prints it:
 * the verdict, `Checks:` (`[ok]`/`[FAILED]` lines), `Signed by:`, `Not checked:`.
 *
 * @example
 * ```ts
 * for (const line of formatVerificationReport(report)) console.log(line);
 * ```
 */
export function formatVerificationReport(report: VerificationReport): string[] {
  if (
    typeof report !== 'object' ||
    report === null ||
    !Array.isArray(report.checks) ||
    !Array.isArray(report.signers) ||
    !Array.isArray(report.notChecked)
  )
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'report must be a VerificationReport');
  const lines = [
    `Verification of ${report.subject}: ${report.valid ? 'VALID' : `NOT VALID (${report.code})`}`,
    'Checks:',
  ];
  for (const c of report.checks)
    lines.push(
      `  [${c.ok ? 'ok' : 'FAILED'}] ${c.name}: ${c.detail}${c.ok || c.code === undefined ? '' : ` (${c.code})`}`,
    );
  lines.push('Signed by:');
  if (report.signers.length === 0) lines.push('  (no signer established)');
  for (const s of report.signers) lines.push(...signerLines(s).map((l) => `  ${l}`));
  lines.push('Not checked:');
  if (report.notChecked.length === 0) lines.push('  (nothing listed)');
  for (const n of report.notChecked) lines.push(`  - ${n}`);
  return lines;
}
