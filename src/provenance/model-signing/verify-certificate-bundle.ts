/**
 * Certificate-mode verification of OpenSSF model_signing v1 bundles (steps 1–7), the same code in
 * Node and browsers: the bundle carries an `x509CertificateChain` (leaf first, then
 * intermediates); the verifier is given trust anchors (CA certificates, PEM) and accepts the
 * signature when `pki/path.ts` validates a path from the leaf to an anchor (RFC 5280 rules
 * and model_signing's leaf profile, each refusal with its own code) and the DSSE signature verifies
 * with the leaf's key (the rest of the steps are those of key mode, `verify-bundle.ts`).
 *
 * Certificates are parsed by PKI.js (`x509.ts`); nothing here needs `node:crypto`. Asynchronous
 * because certificate signatures are checked with WebCrypto.
 *
 * Deliberately not here: revocation (CRL/OCSP), keyless (Fulcio/Rekor) bundles
 * (`keyless/verify-bundle.ts`), the legacy v0.2 format, reading files (step 8 is `verify-model-disk.ts` on
 * disk and `verify-model.ts` on bytes).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertString } from '../../internal/assert.ts';
import { fromBase64 } from '../common/bytes.ts';
import { certificatePublicKey, type PublicKey } from '../common/keys.ts';
import { VerificationError } from '../errors.ts';
import { validateCertificatePath } from '../pki/path.ts';
import { parseCertificate, pemCertificates, type X509Fields } from '../pki/x509.ts';
import { parseModelBundle, type VerifiedModelBundle, verifyParsedModelBundle } from './verify-bundle.ts';

const MAX_CHAIN = 10;

/** Summary of the certificate that signed, for reports. */
export interface SigningCertificateInfo {
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** SHA-256 fingerprint, colon-separated hex as OpenSSL prints it. */
  readonly fingerprint256: string;
}

/** A bundle verified in certificate mode (steps 1–7). */
export interface CertificateVerifiedModelBundle extends VerifiedModelBundle {
  readonly certificate: SigningCertificateInfo;
  readonly publicKey: PublicKey;
  /** The instant at which the chain was checked. */
  readonly checkedAt: string;
}

/** Options of certificate-mode verification. */
export interface CertificateVerifyOptions {
  /** Check validity at this instant instead of the leaf's notBefore. */
  readonly at?: Date;
}

function info(cert: X509Fields): SigningCertificateInfo {
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    fingerprint256: cert.fingerprint256,
  };
}

/**
 * Runs verification steps 1–7 in certificate mode: the chain in the bundle must lead to one of
 * the trust anchors, and the DSSE signature must verify with the leaf's key.
 *
 * @param trustAnchorsPem PEM text with one or more `CERTIFICATE` blocks (the trusted CAs).
 * @throws {VerificationError} `PROV_KEY_MATERIAL_UNSUPPORTED` (no certificate chain in the
 *   bundle, or a leaf key that is neither EC nor Ed25519), `PROV_CERTIFICATE_INVALID`,
 *   `PROV_CERT_NOT_DER`, the path codes of `pki/path.ts` (`PROV_CERTIFICATE_CHAIN_INVALID`,
 *   `PROV_CERT_*`, `PROV_CERTIFICATE_USAGE`), then the codes of key mode.
 * @throws {ProvenanceError} `PROV_UNSUPPORTED_PLATFORM` without WebCrypto.
 * @example
 * ```ts
 * const verified = await verifyModelBundleWithCertificates(bundleBytes, caPem);
 * verified.certificate.subject; // 'CN=…'
 * ```
 */
export async function verifyModelBundleWithCertificates(
  bundleBytes: Uint8Array | string,
  trustAnchorsPem: string,
  options: CertificateVerifyOptions = {},
): Promise<CertificateVerifiedModelBundle> {
  assertString(trustAnchorsPem, 'trustAnchorsPem', 1 << 22);
  if (options.at !== undefined && !(options.at instanceof Date && Number.isFinite(options.at.getTime()))) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'options.at must be a valid Date');
  }
  const anchors = await Promise.all(
    pemCertificates(trustAnchorsPem).map((der, i) => parseCertificate(der, `trust anchor ${i}`)),
  );
  if (anchors.length === 0) {
    throw new VerificationError('PROV_CERTIFICATE_INVALID', 'no CERTIFICATE block in the trust anchors');
  }
  const bundle = parseModelBundle(bundleBytes);
  const chainJson = bundle.verificationMaterial.x509CertificateChain;
  if (chainJson === undefined) {
    throw new VerificationError(
      'PROV_KEY_MATERIAL_UNSUPPORTED',
      'the bundle carries no x509CertificateChain; use key or keyless verification',
    );
  }
  if (chainJson.certificates.length === 0 || chainJson.certificates.length > MAX_CHAIN) {
    throw new VerificationError(
      'PROV_BUNDLE_MALFORMED',
      'the certificate chain must hold 1 to 10 certificates',
    );
  }
  const chain: X509Fields[] = [];
  for (const [i, c] of chainJson.certificates.entries()) {
    const what = i === 0 ? 'the leaf' : `certificate ${i} of the bundle`;
    chain.push(await parseCertificate(fromBase64(c.rawBytes), what));
  }
  const path = await validateCertificatePath(chain, anchors, options.at);
  const leaf = path.certificates[0] as X509Fields;
  let key: PublicKey;
  try {
    key = certificatePublicKey(leaf.der);
  } catch (cause) {
    throw new VerificationError(
      'PROV_KEY_MATERIAL_UNSUPPORTED',
      'the signing certificate does not hold an EC or Ed25519 key',
      { cause },
    );
  }
  const verified = verifyParsedModelBundle(bundle, key, 'certificate-chain');
  return { ...verified, certificate: info(leaf), publicKey: key, checkedAt: path.at.toISOString() };
}
