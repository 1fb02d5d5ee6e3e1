/**
 * The one certificate path builder and validator of confide (Node and browsers alike), over the
 * certificates PKI.js parses (`x509.ts`).
 *
 * Path building follows OpenSSF model_signing's certificate verifier: leaf → the intermediates in
 * the order the bundle lists them → a given trust anchor; at each step the anchors are tried
 * first. "Issued by" is: the issuer's subject equals the certificate's issuer byte for byte, the
 * authority key identifier (when both are present) equals the issuer's subject key identifier,
 * and the issuer's key verifies the signature over the `tbsCertificate` as received.
 *
 * Validation (RFC 5280 §6.1 where it applies to this setting), one error code per rule:
 * every certificate of the bundle is DER (`PROV_CERT_NOT_DER`, in `x509.ts`), X.509 v3
 * (`PROV_CERT_VERSION`), signed with a supported algorithm (`PROV_CERT_ALGORITHM_UNSUPPORTED`)
 * named identically inside and outside the signed part (`PROV_CERT_ALGORITHM_MISMATCH`), has each
 * extension once (`PROV_CERT_DUPLICATE_EXTENSION`) and no critical extension this code does not
 * process (`PROV_CERT_CRITICAL_EXTENSION`: processed are basicConstraints, keyUsage,
 * extendedKeyUsage, the key identifiers and subjectAltName; nameConstraints and the policy
 * extensions are not, so a path that marks them critical is refused); every intermediate is a CA
 * (`PROV_CERT_NOT_CA`); every issuer, the anchor included, allows keyCertSign when it has a
 * keyUsage (`PROV_CERT_KEY_USAGE`) and its pathLenConstraint holds (`PROV_CERT_PATH_LEN`, counting
 * the non-self-issued intermediates below it, as §6.1.4 (l)–(m) and OpenSSL do); every certificate
 * of the path and the anchor is valid at the verification time (`PROV_CERT_EXPIRED`,
 * `PROV_CERT_NOT_YET_VALID`). The signing leaf follows the profile of model_signing plus RFC 5280:
 * a keyUsage must include digitalSignature (`PROV_CERT_KEY_USAGE`), an extendedKeyUsage must
 * include codeSigning or anyExtendedKeyUsage (`PROV_CERT_EXT_KEY_USAGE`), and one of
 * digitalSignature / codeSigning must be asserted (`PROV_CERTIFICATE_USAGE`, model_signing's rule).
 *
 * The verification time is the caller's `at`, or else the leaf's notBefore: model_signing bundles
 * carry no trusted signing time, and model_signing checks the chain at that instant too.
 *
 * Crypto: certificate signatures are verified by PKI.js over WebCrypto (RSA PKCS#1 v1.5, RSA-PSS,
 * ECDSA; `crypto.subtle`, which Node and secure browser contexts have), and Ed25519 ones by
 * `@noble/curves`, which PKI.js does not cover. Two backends, the same in every runtime. A
 * signature that verified is remembered for its exact (certificate, issuer) bytes, by SHA-256 (the
 * last 256 pairs): the same bytes verify the same way, and bundles repeat their intermediates.
 *
 * Recorded deviations: the leaf may assert cA TRUE (model_signing's own test leaf does; RFC 5280
 * does not forbid it for a key that signs), the trust anchor need not carry basicConstraints (RFC
 * 5280 §6.1.1 (d): an anchor is a name and a key), names are compared byte for byte (no RFC 4518
 * folding). Deliberately not here: revocation (CRL/OCSP), name constraints and certificate
 * policies (refused when critical, ignored otherwise), path building over several candidate
 * orders.
 *
 * @module
 */

import { ed25519 } from '@noble/curves/ed25519.js';
import type { CryptoEngine } from 'pkijs';
import { equalBytes } from '../common/bytes.ts';
import { certificatePublicKey } from '../common/keys.ts';
import { ProvenanceError, VerificationError, type VerificationErrorCode } from '../errors.ts';
import { EXTENSION, KEY_USAGE, loadPki, type X509Fields } from './x509.ts';

const OID_ED25519 = '1.3.101.112';
const OID_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
const OID_ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';

/**
 * Signature algorithms PKI.js verifies with WebCrypto (RFC 4055, RFC 5758, RFC 8017). SHA-1 is not
 * among them (chosen-prefix collisions on it are practical, though OpenSSL still accepts it), nor
 * SHA-224 (WebCrypto has none).
 */
const WEBCRYPTO_SIGNATURES = new Set([
  '1.2.840.113549.1.1.11', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12', // sha384WithRSAEncryption
  '1.2.840.113549.1.1.13', // sha512WithRSAEncryption
  '1.2.840.113549.1.1.10', // RSASSA-PSS
  '1.2.840.10045.4.3.2', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3', // ecdsa-with-SHA384
  '1.2.840.10045.4.3.4', // ecdsa-with-SHA512
]);

/** Extensions whose criticality this validator honours (the rest, when critical, are refused). */
const PROCESSED = new Set<string>([
  EXTENSION.basicConstraints,
  EXTENSION.keyUsage,
  EXTENSION.extKeyUsage,
  EXTENSION.subjectKeyId,
  EXTENSION.authorityKeyId,
  EXTENSION.subjectAltName,
]);

/** A validated path. */
export interface CertificatePath {
  /** Leaf first, then the intermediates that were used (the anchor excluded). */
  readonly certificates: readonly X509Fields[];
  readonly anchor: X509Fields;
  /** The instant the path was validated at. */
  readonly at: Date;
}

function fail(code: VerificationErrorCode, message: string): never {
  throw new VerificationError(code, message);
}

const described = (cert: X509Fields, what: string) => `${what} ('${cert.subject.replace(/\n/g, ', ')}')`;

let engine: CryptoEngine | undefined;
async function webCrypto(): Promise<CryptoEngine> {
  const crypto = globalThis.crypto;
  if (crypto?.subtle === undefined) {
    throw new ProvenanceError(
      'PROV_UNSUPPORTED_PLATFORM',
      'certificate signatures need WebCrypto (crypto.subtle; pages must be served over https or from localhost)',
    );
  }
  if (engine === undefined) {
    const { CryptoEngine } = await loadPki();
    engine = new CryptoEngine({ name: 'confide', crypto });
  }
  return engine;
}

/** The profile every certificate of the bundle must meet on its own. */
function checkProfile(cert: X509Fields, what: string): void {
  if (cert.version !== 2)
    fail('PROV_CERT_VERSION', `${described(cert, what)} is not an X.509 v3 certificate`);
  if (!WEBCRYPTO_SIGNATURES.has(cert.signatureAlgorithm) && cert.signatureAlgorithm !== OID_ED25519) {
    fail(
      'PROV_CERT_ALGORITHM_UNSUPPORTED',
      `${described(cert, what)} is signed with ${cert.signatureAlgorithm}; RSA, RSA-PSS, ECDSA (SHA-2) and Ed25519 are supported`,
    );
  }
  if (!cert.algorithmsMatch) {
    fail(
      'PROV_CERT_ALGORITHM_MISMATCH',
      `${described(cert, what)} names another signature algorithm inside tbsCertificate than outside it`,
    );
  }
  const seen = new Set<string>();
  for (const { oid, critical } of cert.extensions) {
    if (seen.has(oid))
      fail('PROV_CERT_DUPLICATE_EXTENSION', `${described(cert, what)} has extension ${oid} twice`);
    seen.add(oid);
    if (critical && !PROCESSED.has(oid)) {
      const name = oid === EXTENSION.nameConstraints ? 'nameConstraints' : oid;
      fail(
        'PROV_CERT_CRITICAL_EXTENSION',
        `${described(cert, what)} has the critical extension ${name}, which this verifier does not process`,
      );
    }
  }
}

/** Name and key-identifier match (OpenSSL's X509_check_issued without the keyUsage part). */
function namesIssuer(cert: X509Fields, issuer: X509Fields): boolean {
  if (!equalBytes(cert.issuerDer, issuer.subjectDer)) return false;
  return (
    cert.authorityKeyId === undefined ||
    issuer.subjectKeyId === undefined ||
    equalBytes(cert.authorityKeyId, issuer.subjectKeyId)
  );
}

/**
 * Pairs (certificate, issuer) whose signature verified recently, by the SHA-256 of both DER
 * encodings: the same bytes verify the same way, and bundles repeat their intermediates.
 */
const verifiedPairs = new Set<string>();
const CACHE_SIZE = 256;

/** Whether `issuer`'s key verifies the signature of `cert`. */
async function signedBy(cert: X509Fields, issuer: X509Fields): Promise<boolean> {
  const pair = `${cert.fingerprint256}/${issuer.fingerprint256}`;
  if (verifiedPairs.has(pair)) return true;
  const valid = await verifySignature(cert, issuer);
  if (valid) {
    verifiedPairs.add(pair);
    if (verifiedPairs.size > CACHE_SIZE) verifiedPairs.delete(verifiedPairs.values().next().value as string);
  }
  return valid;
}

async function verifySignature(cert: X509Fields, issuer: X509Fields): Promise<boolean> {
  try {
    if (cert.signatureAlgorithm === OID_ED25519) {
      const key = certificatePublicKey(issuer.der);
      const signature = new Uint8Array(cert.parsed.signatureValue.valueBlock.valueHexView);
      return key.algorithm === 'ed25519' && ed25519.verify(signature, cert.parsed.tbsView, key.bytes);
    }
    return await cert.parsed.verify(issuer.parsed, await webCrypto());
  } catch (error) {
    if (error instanceof ProvenanceError && error.code === 'PROV_UNSUPPORTED_PLATFORM') throw error;
    return false;
  }
}

/** Builds leaf → intermediates (bundle order) → anchor; returns the certificates used and the anchor. */
async function build(
  chain: readonly X509Fields[],
  anchors: readonly X509Fields[],
): Promise<{ path: X509Fields[]; anchor: X509Fields }> {
  const leaf = chain[0] as X509Fields;
  const path = [leaf];
  let current = leaf;
  for (let i = 1; ; i++) {
    let badSignature = false;
    for (const anchor of anchors) {
      if (!namesIssuer(current, anchor)) continue;
      if (await signedBy(current, anchor)) return { path, anchor };
      badSignature = true;
    }
    const next = chain[i];
    const what = i === 1 ? 'the leaf' : `certificate ${i - 1} of the bundle`;
    if (next === undefined) {
      if (badSignature) {
        fail('PROV_CERT_SIGNATURE_INVALID', `the trust anchor's signature on ${what} does not verify`);
      }
      fail(
        'PROV_CERTIFICATE_CHAIN_INVALID',
        `the certificate '${leaf.subject}' does not chain to a trusted anchor`,
      );
    }
    if (!namesIssuer(current, next)) {
      fail(
        'PROV_CERTIFICATE_CHAIN_INVALID',
        `certificate ${i} of the bundle did not issue certificate ${i - 1}`,
      );
    }
    if (!(await signedBy(current, next))) {
      fail(
        'PROV_CERT_SIGNATURE_INVALID',
        `the signature of certificate ${i} of the bundle on ${what} does not verify`,
      );
    }
    path.push(next);
    current = next;
  }
}

function checkIssuers(path: readonly X509Fields[], anchor: X509Fields): void {
  const issuers = [...path.slice(1), anchor];
  issuers.forEach((issuer, k) => {
    const isAnchor = k === issuers.length - 1;
    const what = isAnchor ? 'the trust anchor' : `certificate ${k + 1} of the bundle`;
    if (!isAnchor && issuer.basicConstraints?.ca !== true) {
      fail(
        'PROV_CERT_NOT_CA',
        `${described(issuer, what)} issued a certificate but is not a CA (basicConstraints cA)`,
      );
    }
    if (issuer.keyUsage !== undefined && issuer.keyUsage[KEY_USAGE.keyCertSign] !== true) {
      fail(
        'PROV_CERT_KEY_USAGE',
        `${described(issuer, what)} issued a certificate but its keyUsage lacks keyCertSign`,
      );
    }
    const pathLen = issuer.basicConstraints?.pathLen;
    // Intermediates below this issuer (path[1..k]), self-issued ones not counted (RFC 5280 §6.1.4 (l)).
    const below = path.slice(1, k + 1).filter((c) => !equalBytes(c.subjectDer, c.issuerDer)).length;
    if (pathLen !== undefined && below > pathLen) {
      fail(
        'PROV_CERT_PATH_LEN',
        `${described(issuer, what)} allows ${pathLen} intermediate CA(s) below it (pathLenConstraint); the path has ${below}`,
      );
    }
  });
}

function checkValidity(certificates: readonly X509Fields[], at: Date): void {
  for (const cert of certificates) {
    if (at.getTime() < cert.notBefore.getTime()) {
      fail(
        'PROV_CERT_NOT_YET_VALID',
        `'${cert.subject}' is not valid before ${cert.notBefore.toISOString()} (checked at ${at.toISOString()})`,
      );
    }
    if (at.getTime() > cert.notAfter.getTime()) {
      fail(
        'PROV_CERT_EXPIRED',
        `'${cert.subject}' expired at ${cert.notAfter.toISOString()} (checked at ${at.toISOString()})`,
      );
    }
  }
}

function checkSigningLeaf(leaf: X509Fields): void {
  const digitalSignature = leaf.keyUsage?.[KEY_USAGE.digitalSignature] === true;
  if (leaf.keyUsage !== undefined && !digitalSignature) {
    fail('PROV_CERT_KEY_USAGE', `the signing certificate's keyUsage lacks digitalSignature`);
  }
  const eku = leaf.extKeyUsage;
  const codeSigning = eku?.includes(OID_CODE_SIGNING) === true;
  if (eku !== undefined && !codeSigning && !eku.includes(OID_ANY_EXTENDED_KEY_USAGE)) {
    fail(
      'PROV_CERT_EXT_KEY_USAGE',
      `the signing certificate's extendedKeyUsage does not include codeSigning`,
    );
  }
  if (!digitalSignature && !codeSigning) {
    fail('PROV_CERTIFICATE_USAGE', 'the signing certificate allows neither digitalSignature nor codeSigning');
  }
}

/**
 * Builds and validates the path from the bundle's leaf to one of the trust anchors (see the module
 * comment for every rule and its code).
 *
 * @param chain The bundle's certificates, leaf first, parsed by `parseCertificate` (1 or more).
 * @param anchors The trust anchors, parsed.
 * @param at The verification time; the leaf's notBefore when omitted.
 * @throws {VerificationError} with the code of the first rule broken.
 * @throws {ProvenanceError} `PROV_UNSUPPORTED_PLATFORM` without WebCrypto.
 */
export async function validateCertificatePath(
  chain: readonly X509Fields[],
  anchors: readonly X509Fields[],
  at?: Date,
): Promise<CertificatePath> {
  const leaf = chain[0];
  if (leaf === undefined) fail('PROV_CERTIFICATE_CHAIN_INVALID', 'the certificate chain is empty');
  chain.forEach((cert, i) => {
    checkProfile(cert, i === 0 ? 'the leaf' : `certificate ${i} of the bundle`);
  });
  const when = at ?? leaf.notBefore;
  const { path, anchor } = await build(chain, anchors);
  checkIssuers(path, anchor);
  checkValidity([...path, anchor], when);
  checkSigningLeaf(leaf);
  return { certificates: path, anchor, at: when };
}
