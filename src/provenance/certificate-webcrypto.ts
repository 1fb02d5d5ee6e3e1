/**
 * Certificate-mode verification of OpenSSF model_signing v1 bundles (steps 1–7) without
 * `node:crypto`, for browsers and workers: the same rules, order of checks and codes as
 * `certificate.ts` (which Node uses, with OpenSSL doing the certificate checks), so both reach the
 * same conclusion on the same bundle.
 *
 * Path building follows model_signing's certificate verifier as `certificate.ts` does: leaf →
 * intermediates in bundle order → a given anchor, every certificate valid at the leaf's notBefore
 * (or `at`), intermediates must be CAs, the leaf must allow digitalSignature or codeSigning, then
 * the DSSE signature with the leaf's key (`verify-bundle.ts`). "Issued by" is what OpenSSL's
 * `X509_check_issued` plus `X509_verify` check: the issuer name equals the issuer's subject, the
 * authority key identifier (when both are present) equals the subject key identifier, the issuer's
 * keyUsage (when present) allows keyCertSign, and the signature verifies.
 *
 * The certificate signatures are checked by maintained code: RSA PKCS#1 v1.5 (SHA-1/256/384/512) by
 * WebCrypto, which is why this is asynchronous; ECDSA (DER, high-S accepted, as OpenSSL) and
 * Ed25519 by `@noble/curves`. The certificate fields are read by `x509.ts`.
 *
 * Recorded deviations from OpenSSL: names are matched byte for byte, not after OpenSSL's
 * case and space folding; RSA-PSS and SHA-224 certificate signatures are refused (the chain does
 * not build). The deviation of `certificate.ts` stays: the leaf may assert CA:TRUE, as
 * model_signing's own test leaf does.
 *
 * Deliberately not here: revocation, name constraints, policies; reading files (step 8 is
 * `verify-bytes.ts`).
 *
 * @module
 */

import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { assertString } from '../internal/assert.ts';
import { bytesEqual, fromBase64 } from './bytes.ts';
import type {
  CertificateVerifiedModelBundle,
  CertificateVerifyOptions,
  SigningCertificateInfo,
} from './certificate.ts';
import { children, oidToString, parseDer } from './der.ts';
import { ProvenanceError, VerificationError } from './errors.ts';
import { certificatePublicKey, ecdsaCurve, type PublicKey, parsePublicKeyDer } from './keys.ts';
import { parseModelBundle, verifyParsedModelBundle } from './verify-bundle.ts';
import { fingerprint256, parseCertificate, pemCertificates, type X509Fields } from './x509.ts';

const OID_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
const OID_RSA_KEY = '1.2.840.113549.1.1.1';
const OID_ED25519 = '1.3.101.112';
const MAX_CHAIN = 10;
const KEY_CERT_SIGN = 5;
const DIGITAL_SIGNATURE = 0;

/** RFC 4055 / RFC 8017 sha*WithRSAEncryption → WebCrypto hash names. */
const RSA_SIGNATURES: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.5': 'SHA-1',
  '1.2.840.113549.1.1.11': 'SHA-256',
  '1.2.840.113549.1.1.12': 'SHA-384',
  '1.2.840.113549.1.1.13': 'SHA-512',
};

/** RFC 5758 ecdsa-with-SHA*. */
const ECDSA_SIGNATURES: Readonly<Record<string, (data: Uint8Array) => Uint8Array>> = {
  '1.2.840.10045.4.3.2': sha256,
  '1.2.840.10045.4.3.3': sha384,
  '1.2.840.10045.4.3.4': sha512,
};

function fail(code: VerificationError['code'], message: string): never {
  throw new VerificationError(code, message);
}

function load(der: Uint8Array, what: string): X509Fields {
  try {
    return parseCertificate(der);
  } catch {
    return fail('PROV_CERTIFICATE_INVALID', `${what} is not a valid X.509 certificate`);
  }
}

function spkiAlgorithm(spki: Uint8Array): string | undefined {
  try {
    const algorithm = children(parseDer(spki))[0];
    const oid = algorithm === undefined ? undefined : children(algorithm)[0];
    return oid === undefined ? undefined : oidToString(oid);
  } catch {
    return undefined;
  }
}

/** Whether `issuerSpki` signed `cert`; false for unknown algorithms or mismatched key types. */
async function signatureValid(cert: X509Fields, issuerSpki: Uint8Array): Promise<boolean> {
  const rsaHash = RSA_SIGNATURES[cert.signatureAlgorithm];
  if (rsaHash !== undefined) {
    if (spkiAlgorithm(issuerSpki) !== OID_RSA_KEY) return false;
    const subtle = globalThis.crypto?.subtle;
    if (subtle === undefined) {
      throw new ProvenanceError(
        'PROV_UNSUPPORTED_PLATFORM',
        'RSA certificate signatures need WebCrypto (crypto.subtle; pages must be served over https or from localhost)',
      );
    }
    try {
      const key = await subtle.importKey(
        'spki',
        new Uint8Array(issuerSpki),
        { name: 'RSASSA-PKCS1-v1_5', hash: rsaHash },
        false,
        ['verify'],
      );
      return await subtle.verify(
        'RSASSA-PKCS1-v1_5',
        key,
        new Uint8Array(cert.signature),
        new Uint8Array(cert.tbs),
      );
    } catch {
      return false;
    }
  }
  let key: PublicKey;
  try {
    key = parsePublicKeyDer(issuerSpki);
  } catch {
    return false;
  }
  try {
    if (cert.signatureAlgorithm === OID_ED25519) {
      return key.algorithm === 'ed25519' && ed25519.verify(cert.signature, cert.tbs, key.bytes);
    }
    const hash = ECDSA_SIGNATURES[cert.signatureAlgorithm];
    if (hash === undefined || key.algorithm === 'ed25519') return false;
    return ecdsaCurve(key.algorithm).verify(cert.signature, hash(cert.tbs), key.bytes, {
      prehash: false,
      format: 'der',
      lowS: false,
    });
  } catch {
    return false;
  }
}

/** OpenSSL's X509_check_issued (names, key identifiers, keyCertSign) and then the signature. */
async function issuedBy(cert: X509Fields, issuer: X509Fields): Promise<boolean> {
  if (!bytesEqual(cert.issuerDer, issuer.subjectDer)) return false;
  if (
    cert.authorityKeyId !== undefined &&
    issuer.subjectKeyId !== undefined &&
    !bytesEqual(cert.authorityKeyId, issuer.subjectKeyId)
  ) {
    return false;
  }
  if (issuer.keyUsage !== undefined && issuer.keyUsage[KEY_CERT_SIGN] !== true) return false;
  return signatureValid(cert, issuer.publicKey);
}

/** OpenSSL's X509_check_ca() === 1, which is Node's `X509Certificate#ca`. */
function isCa(cert: X509Fields): boolean {
  return (
    cert.basicConstraintsCa === true && (cert.keyUsage === undefined || cert.keyUsage[KEY_CERT_SIGN] === true)
  );
}

function validAt(cert: X509Fields, at: Date): boolean {
  return cert.notBefore.getTime() <= at.getTime() && at.getTime() <= cert.notAfter.getTime();
}

function info(cert: X509Fields): SigningCertificateInfo {
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    fingerprint256: fingerprint256(cert.der),
  };
}

/**
 * Runs verification steps 1–7 in certificate mode without `node:crypto`: the chain in the bundle
 * must lead to one of the trust anchors, and the DSSE signature must verify with the leaf's key.
 * The same checks and codes as `verifyModelBundleWithCertificates` of `confide/provenance`.
 *
 * @param trustAnchorsPem PEM text with one or more `CERTIFICATE` blocks (the trusted CAs).
 * @throws {VerificationError} `PROV_KEY_MATERIAL_UNSUPPORTED` (no certificate chain in the
 *   bundle, or a leaf key that is neither EC nor Ed25519), `PROV_CERTIFICATE_INVALID`,
 *   `PROV_CERTIFICATE_CHAIN_INVALID`, `PROV_CERTIFICATE_NOT_VALID_AT_TIME`,
 *   `PROV_CERTIFICATE_USAGE`, then the codes of key mode.
 * @throws {ProvenanceError} `PROV_UNSUPPORTED_PLATFORM` when an RSA signature must be checked and
 *   the host has no WebCrypto.
 * @example
 * ```ts
 * const verified = await verifyModelBundleWithCertificatesAsync(bundleBytes, caPem);
 * verified.certificate.subject; // 'CN=…'
 * ```
 */
export async function verifyModelBundleWithCertificatesAsync(
  bundleBytes: Uint8Array | string,
  trustAnchorsPem: string,
  options: CertificateVerifyOptions = {},
): Promise<CertificateVerifiedModelBundle> {
  assertString(trustAnchorsPem, 'trustAnchorsPem', 1 << 22);
  const anchors = pemCertificates(trustAnchorsPem).map((der, i) => load(der, `trust anchor ${i}`));
  if (anchors.length === 0) fail('PROV_CERTIFICATE_INVALID', 'no CERTIFICATE block in the trust anchors');
  const bundle = parseModelBundle(bundleBytes);
  const chainJson = bundle.verificationMaterial.x509CertificateChain;
  if (chainJson === undefined) {
    fail(
      'PROV_KEY_MATERIAL_UNSUPPORTED',
      'the bundle carries no x509CertificateChain; use key or keyless verification',
    );
  }
  const chain = chainJson.certificates.map((c, i) =>
    load(fromBase64(c.rawBytes), `certificate ${i} of the bundle`),
  );
  const leaf = chain[0];
  if (leaf === undefined || chain.length > MAX_CHAIN) {
    fail('PROV_BUNDLE_MALFORMED', 'the certificate chain must hold 1 to 10 certificates');
  }
  const at = options.at ?? leaf.notBefore;

  // Walk leaf → intermediates (in bundle order) until a certificate is issued by an anchor.
  const path: X509Fields[] = [leaf];
  let current = leaf;
  let anchor: X509Fields | undefined;
  for (let i = 1; ; i++) {
    for (const candidate of anchors) {
      if (await issuedBy(current, candidate)) {
        anchor = candidate;
        break;
      }
    }
    if (anchor !== undefined) break;
    const next = chain[i];
    if (next === undefined) {
      fail(
        'PROV_CERTIFICATE_CHAIN_INVALID',
        `the certificate '${leaf.subject}' does not chain to a trusted anchor`,
      );
    }
    if (!isCa(next) || !(await issuedBy(current, next))) {
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
  const digitalSignature = leaf.keyUsage?.[DIGITAL_SIGNATURE];
  const codeSigning = (leaf.extKeyUsage ?? []).includes(OID_CODE_SIGNING);
  if (digitalSignature !== true && !codeSigning) {
    fail('PROV_CERTIFICATE_USAGE', 'the signing certificate allows neither digitalSignature nor codeSigning');
  }
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
  return { ...verified, certificate: info(leaf), publicKey: key, checkedAt: at.toISOString() };
}
