/**
 * Certificate-mode verification of OpenSSF model_signing v1 bundles: the bundle carries an
 * `x509CertificateChain` (leaf first, then intermediates); the verifier is given trust anchors
 * (CA certificates, PEM) and accepts the signature when the chain leads from the leaf to an anchor.
 *
 * Follows model_signing's certificate verifier (`sign_certificate.py`): path leaf →
 * intermediates from the bundle → a given anchor; every certificate must be valid at the
 * **leaf's notBefore** (model_signing has no trusted signing time; pass `at` to choose another
 * instant); intermediates must be CAs; the leaf must allow signing (KeyUsage digitalSignature or
 * ExtendedKeyUsage codeSigning); the DSSE signature is then checked with the leaf's key and the
 * rest of the steps are those of key mode (`verify.ts`).
 *
 * Certificate signatures and issuer/subject matching are checked by OpenSSL through Node's
 * `X509Certificate` (a maintained verifier, not hand-written X.509 code), so this module needs
 * `node:crypto` and throws `PROV_UNSUPPORTED_PLATFORM` without it. Only the KeyUsage bit, which
 * Node does not expose, is read with the small DER reader.
 *
 * Deliberate deviation, recorded: the model_signing test leaf asserts `basicConstraints CA:TRUE`;
 * a strict RFC 5280 end-entity profile would refuse it. Like model_signing and OpenSSL, this
 * verifier does not require CA:FALSE on the leaf.
 *
 * Deliberately not here: revocation (CRL/OCSP), name constraints and policy processing beyond
 * what OpenSSL's signature/issuer checks give, keyless (Fulcio/Rekor) bundles, the legacy v0.2
 * format; hosts without `node:crypto` (`certificate-webcrypto.ts` checks the same chain with
 * WebCrypto, for browsers).
 *
 * @module
 */

import { assertString } from '../internal/assert.ts';
import { fromBase64 } from './bytes.ts';
import { children, oidToString, parseDer, TAG } from './der.ts';
import { type FileReport, ProvenanceError, VerificationError } from './errors.ts';
import { certificatePublicKey, type KeyAlgorithm, keyHint, type PublicKey } from './keys.ts';
import {
  parseModelBundle,
  type VerifiedModelBundle,
  type VerifyModelOptions,
  verifyModelFiles,
  verifyParsedModelBundle,
} from './verify.ts';
import { pemCertificates } from './x509.ts';

type NodeCrypto = typeof import('node:crypto');
type X509 = import('node:crypto').X509Certificate;

const OID_KEY_USAGE = '2.5.29.15';
const OID_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
const MAX_CHAIN = 10;

function x509Class(): NodeCrypto['X509Certificate'] {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const crypto = proc?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
  if (crypto === undefined) {
    throw new ProvenanceError('PROV_UNSUPPORTED_PLATFORM', 'certificate-mode verification needs node:crypto');
  }
  return crypto.X509Certificate;
}

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

function fail(code: VerificationError['code'], message: string): never {
  throw new VerificationError(code, message);
}

function load(X509Certificate: NodeCrypto['X509Certificate'], der: Uint8Array, what: string): X509 {
  try {
    return new X509Certificate(der);
  } catch {
    return fail('PROV_CERTIFICATE_INVALID', `${what} is not a valid X.509 certificate`);
  }
}

function validAt(cert: X509, at: Date): boolean {
  return cert.validFromDate.getTime() <= at.getTime() && at.getTime() <= cert.validToDate.getTime();
}

/** True when `issuer` issued and signed `cert` (names, key identifiers and signature, by OpenSSL). */
function issuedBy(cert: X509, issuer: X509): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** The KeyUsage digitalSignature bit, or undefined when the extension is absent. */
function digitalSignatureBit(der: Uint8Array): boolean | undefined {
  const tbs = children(parseDer(der))[0];
  const fields = tbs === undefined ? [] : children(tbs);
  const extensions = fields.find((f) => f.tag === 0xa3);
  const list = extensions === undefined ? [] : children(children(extensions)[0] ?? extensions);
  for (const ext of list) {
    const parts = children(ext);
    if (parts[0]?.tag !== TAG.OID || oidToString(parts[0]) !== OID_KEY_USAGE) continue;
    const value = parts[parts.length - 1];
    if (value?.tag !== TAG.OCTET_STRING) return false;
    const bits = parseDer(value.content);
    return bits.tag === TAG.BIT_STRING && ((bits.content[1] ?? 0) & 0x80) !== 0;
  }
  return undefined;
}

function info(cert: X509): SigningCertificateInfo {
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    notBefore: cert.validFromDate.toISOString(),
    notAfter: cert.validToDate.toISOString(),
    fingerprint256: cert.fingerprint256,
  };
}

/**
 * Runs verification steps 1–7 in certificate mode: the chain in the bundle must lead to one of
 * the trust anchors, and the DSSE signature must verify with the leaf's key.
 *
 * @param trustAnchorsPem PEM text with one or more `CERTIFICATE` blocks (the trusted CAs).
 * @throws {VerificationError} `PROV_KEY_MATERIAL_UNSUPPORTED` (no certificate chain in the
 *   bundle, or a non-EC leaf key), `PROV_CERTIFICATE_INVALID`, `PROV_CERTIFICATE_CHAIN_INVALID`,
 *   `PROV_CERTIFICATE_NOT_VALID_AT_TIME`, `PROV_CERTIFICATE_USAGE`, then the codes of key mode.
 * @example
 * ```ts
 * const verified = verifyModelBundleWithCertificates(readFileSync('model.sig'), readFileSync('ca.pem', 'utf8'));
 * verified.certificate.subject; // 'CN=…'
 * ```
 */
export function verifyModelBundleWithCertificates(
  bundleBytes: Uint8Array | string,
  trustAnchorsPem: string,
  options: CertificateVerifyOptions = {},
): CertificateVerifiedModelBundle {
  assertString(trustAnchorsPem, 'trustAnchorsPem', 1 << 22);
  const X509Certificate = x509Class();
  const anchors = pemCertificates(trustAnchorsPem).map((der, i) =>
    load(X509Certificate, der, `trust anchor ${i}`),
  );
  if (anchors.length === 0) fail('PROV_CERTIFICATE_INVALID', 'no CERTIFICATE block in the trust anchors');
  const bundle = parseModelBundle(bundleBytes);
  const chainJson = bundle.verificationMaterial.x509CertificateChain;
  if (chainJson === undefined) {
    fail(
      'PROV_KEY_MATERIAL_UNSUPPORTED',
      'the bundle carries no x509CertificateChain; use key or keyless verification',
    );
  }
  const chainDer = chainJson.certificates.map((c) => fromBase64(c.rawBytes));
  const chain = chainDer.map((der, i) => load(X509Certificate, der, `certificate ${i} of the bundle`));
  const leaf = chain[0];
  const leafDer = chainDer[0];
  if (leaf === undefined || leafDer === undefined || chain.length > MAX_CHAIN) {
    fail('PROV_BUNDLE_MALFORMED', 'the certificate chain must hold 1 to 10 certificates');
  }
  const at = options.at ?? leaf.validFromDate;

  // Walk leaf → intermediates (in bundle order) until a certificate is issued by an anchor.
  const path: X509[] = [leaf];
  let current = leaf;
  let anchor: X509 | undefined;
  for (let i = 1; ; i++) {
    anchor = anchors.find((a) => issuedBy(current, a));
    if (anchor !== undefined) break;
    const next = chain[i];
    if (next === undefined) {
      fail(
        'PROV_CERTIFICATE_CHAIN_INVALID',
        `the certificate '${leaf.subject}' does not chain to a trusted anchor`,
      );
    }
    if (!next.ca || !issuedBy(current, next)) {
      fail(
        'PROV_CERTIFICATE_CHAIN_INVALID',
        `certificate ${i} of the bundle did not issue certificate ${i - 1}`,
      );
    }
    path.push(next);
    current = next;
  }
  for (const cert of [...path, anchor]) {
    if (!validAt(cert, at)) {
      fail('PROV_CERTIFICATE_NOT_VALID_AT_TIME', `'${cert.subject}' is not valid at ${at.toISOString()}`);
    }
  }
  let digitalSignature: boolean | undefined;
  try {
    digitalSignature = digitalSignatureBit(leafDer);
  } catch {
    fail('PROV_CERTIFICATE_INVALID', 'the signing certificate has malformed extensions');
  }
  const codeSigning = (leaf.keyUsage ?? []).includes(OID_CODE_SIGNING);
  if (digitalSignature !== true && !codeSigning) {
    fail('PROV_CERTIFICATE_USAGE', 'the signing certificate allows neither digitalSignature nor codeSigning');
  }
  let key: PublicKey;
  try {
    key = certificatePublicKey(leafDer);
  } catch (cause) {
    throw new VerificationError(
      'PROV_KEY_MATERIAL_UNSUPPORTED',
      'the signing certificate does not hold an EC or Ed25519 key',
      {
        cause,
      },
    );
  }
  const verified = verifyParsedModelBundle(bundle, key, 'certificate-chain');
  return { ...verified, certificate: info(leaf), publicKey: key, checkedAt: at.toISOString() };
}

/** A successful certificate-mode model verification. */
export interface CertificateModelVerificationResult {
  readonly valid: true;
  readonly subjectName: string;
  readonly rootDigest: string;
  readonly keyHint: string;
  readonly algorithm: KeyAlgorithm;
  readonly certificate: SigningCertificateInfo;
  readonly checkedAt: string;
  readonly ignoredPaths: readonly string[];
  readonly files: readonly FileReport[];
}

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
  const verified = verifyModelBundleWithCertificates(bundleBytes, trustAnchorsPem, options);
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
