/**
 * Signing keys for provenance: parsing and writing PEM/DER public keys (RFC 5280
 * SubjectPublicKeyInfo, RFC 5480 for EC, RFC 8410 for Ed25519) and private keys (RFC 5958
 * PKCS#8, and RFC 5915 SEC1 `EC PRIVATE KEY` on input), key generation, and the model_signing
 * key hint.
 *
 * Supported algorithms: ECDSA over P-256, P-384 and P-521 (SEC1 uncompressed or compressed points
 * on input, uncompressed on output) and Ed25519. model_signing v1 / OMS v1.0 accept only the EC
 * curves; Ed25519 is here for DSSE/in-toto lineage.
 *
 * The key hint written by model_signing v1.1 is the lowercase hex SHA-256 of the **PEM text** of
 * the public key as Python `cryptography` writes it: `-----BEGIN PUBLIC KEY-----\n`, base64 of the
 * DER SPKI in 64-character lines, `-----END PUBLIC KEY-----\n` (not the RFC 6962 hash of the DER).
 *
 * Private key bytes live in a module-private `WeakMap`, so a {@link PrivateKey} can be logged,
 * inspected or JSON-serialised without leaking the secret; only `sign.ts` and the PKCS#8 writer
 * read it. PEM parsing tolerates text before and after the PEM block (certtool writes a dump
 * before it), as OpenSSL does.
 *
 * Fingerprints: confide's canonical key fingerprint is the SHA-256 of the DER
 * SubjectPublicKeyInfo ({@link keyFingerprints} `sha256Spki`, also the lineage `keyid`); the
 * model_signing hint above is shown beside it, labelled, where a bundle carries it.
 *
 * Deliberately not here: password-protected keys (`ENCRYPTED PRIVATE KEY` is refused here with
 * `PROV_KEY_ENCRYPTED`; `key-encryption.ts` reads and writes them with `node:crypto`), RSA,
 * X.509 certificate validation.
 *
 * @module
 */

import { ed25519 } from '@noble/curves/ed25519.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ProvenanceError } from '../errors.ts';
import { equalBytes, fromBase64, toBase64, toHex, utf8 } from './bytes.ts';
import {
  bitStringBytes,
  children,
  type DerElement,
  encodeBitString,
  encodeElement,
  encodeOid,
  encodeSequence,
  encodeSmallInteger,
  oidToString,
  parseDer,
  TAG,
} from './der.ts';

/** Signature algorithms supported for provenance keys. */
export type KeyAlgorithm = 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'ed25519';

/** Algorithms `generateKeyPair` offers (the CLI's `--algorithm`). */
export const GENERATABLE_ALGORITHMS: readonly KeyAlgorithm[] = ['ecdsa-p256', 'ecdsa-p384', 'ed25519'];

/** A public key: its algorithm and its raw bytes (uncompressed SEC1 point, or 32 Ed25519 bytes). */
export interface PublicKey {
  readonly algorithm: KeyAlgorithm;
  readonly bytes: Uint8Array;
}

const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const OID_ED25519 = '1.3.101.112';
const CURVE_OIDS: Readonly<Record<string, KeyAlgorithm>> = {
  '1.2.840.10045.3.1.7': 'ecdsa-p256',
  '1.3.132.0.34': 'ecdsa-p384',
  '1.3.132.0.35': 'ecdsa-p521',
};
const ALGORITHM_CURVE_OID: Readonly<Record<Exclude<KeyAlgorithm, 'ed25519'>, string>> = {
  'ecdsa-p256': '1.2.840.10045.3.1.7',
  'ecdsa-p384': '1.3.132.0.34',
  'ecdsa-p521': '1.3.132.0.35',
};

/** The noble curve object for an ECDSA algorithm. */
export function ecdsaCurve(algorithm: Exclude<KeyAlgorithm, 'ed25519'>): typeof p256 {
  return algorithm === 'ecdsa-p256' ? p256 : algorithm === 'ecdsa-p384' ? p384 : p521;
}

const KNOWN_ALGORITHMS: readonly string[] = ['ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'ed25519'];
const secrets = new WeakMap<PrivateKey, Uint8Array>();

/**
 * A private key. The secret scalar is not a property: it cannot be printed, spread or serialised
 * by accident. `toJSON()` yields only the algorithm and the public key.
 */
export class PrivateKey {
  readonly algorithm: KeyAlgorithm;
  readonly publicKey: PublicKey;

  /** Not for direct use (the published types keep it): use {@link parsePrivateKeyPem} or {@link generateKeyPair}. */
  constructor(algorithm: KeyAlgorithm, secret: Uint8Array) {
    if (!(secret instanceof Uint8Array) || !KNOWN_ALGORITHMS.includes(algorithm)) {
      throw new ProvenanceError('PROV_KEY_INVALID', 'a private key needs a known algorithm and secret bytes');
    }
    this.algorithm = algorithm;
    let pub: Uint8Array;
    try {
      pub =
        algorithm === 'ed25519'
          ? ed25519.getPublicKey(secret)
          : ecdsaCurve(algorithm).getPublicKey(secret, false);
    } catch {
      // noble's own error is dropped on purpose: a message about a secret must not carry it.
      throw new ProvenanceError('PROV_KEY_INVALID', `not a valid ${algorithm} private key`);
    }
    this.publicKey = { algorithm, bytes: pub };
    secrets.set(this, Uint8Array.from(secret));
  }

  toJSON(): { algorithm: KeyAlgorithm; publicKey: string } {
    return { algorithm: this.algorithm, publicKey: toHex(this.publicKey.bytes) };
  }
}

/** @internal The secret bytes of a private key (for `sign.ts` and the PKCS#8 writer only). */
export function privateKeySecret(key: PrivateKey): Uint8Array {
  const secret = secrets.get(key);
  if (secret === undefined) throw new ProvenanceError('PROV_KEY_INVALID', 'not a confide PrivateKey');
  return secret;
}

function invalid(message: string, cause?: unknown): never {
  throw new ProvenanceError('PROV_KEY_INVALID', message, cause === undefined ? {} : { cause });
}

/** Extracts the DER of the first PEM block with one of the given labels. */
function pemBlock(text: string, labels: readonly string[]): { label: string; der: Uint8Array } {
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (const match of text.matchAll(re)) {
    const label = match[1] ?? '';
    if (label === 'ENCRYPTED PRIVATE KEY' && labels.includes('PRIVATE KEY')) {
      throw new ProvenanceError(
        'PROV_KEY_ENCRYPTED',
        'the private key is password-protected: give its password (confide: --password-file FILE or CONFIDE_KEY_PASSWORD)',
      );
    }
    if (!labels.includes(label)) continue;
    const body = (match[2] ?? '').replace(/\s+/g, '');
    return { label, der: fromBase64(body, `PEM ${label} block`) };
  }
  return invalid(`no PEM block labelled ${labels.map((l) => `'${l}'`).join(' or ')} found`);
}

function checkPoint(algorithm: KeyAlgorithm, point: Uint8Array): Uint8Array {
  try {
    if (algorithm === 'ed25519') {
      if (point.length !== 32) invalid('an Ed25519 public key must be 32 bytes');
      ed25519.Point.fromBytes(point);
      return Uint8Array.from(point);
    }
    // Validates the point is on the curve and not the identity; normalises to uncompressed.
    return ecdsaCurve(algorithm).Point.fromBytes(point).toBytes(false);
  } catch (error) {
    if (error instanceof ProvenanceError) throw error;
    return invalid(`the ${algorithm} public key is not a valid curve point`, error);
  }
}

function algorithmFromIdentifier(algId: DerElement): KeyAlgorithm {
  const parts = algId.tag === TAG.SEQUENCE ? children(algId) : [];
  const oid = parts[0] ? oidToString(parts[0]) : '';
  if (oid === OID_ED25519) return 'ed25519';
  if (oid !== OID_EC_PUBLIC_KEY) {
    throw new ProvenanceError('PROV_KEY_UNSUPPORTED', `unsupported key algorithm OID ${oid || '(none)'}`);
  }
  const curveOid = parts[1]?.tag === TAG.OID ? oidToString(parts[1]) : '';
  const algorithm = CURVE_OIDS[curveOid];
  if (algorithm === undefined) {
    throw new ProvenanceError(
      'PROV_KEY_UNSUPPORTED',
      `unsupported EC curve ${curveOid || '(not a named curve)'}`,
    );
  }
  return algorithm;
}

/**
 * Parses a DER SubjectPublicKeyInfo.
 *
 * @throws {ProvenanceError} `PROV_KEY_INVALID` (malformed, or not a curve point),
 *   `PROV_KEY_UNSUPPORTED` (other algorithms or curves).
 */
export function parsePublicKeyDer(der: Uint8Array): PublicKey {
  const spki = parseDer(der);
  const parts = spki.tag === TAG.SEQUENCE ? children(spki) : [];
  const [algId, bits] = parts;
  if (parts.length !== 2 || algId === undefined || bits === undefined) invalid('not a SubjectPublicKeyInfo');
  const algorithm = algorithmFromIdentifier(algId);
  return { algorithm, bytes: checkPoint(algorithm, bitStringBytes(bits)) };
}

/**
 * Parses a PEM public key (`PUBLIC KEY` block; text around the block is ignored).
 *
 * @throws {ProvenanceError} as {@link parsePublicKeyDer}.
 * @example
 * ```ts
 * const key = parsePublicKeyPem(readFileSync('signing-key-pub.pem', 'utf8'));
 * key.algorithm; // 'ecdsa-p384'
 * ```
 */
export function parsePublicKeyPem(pem: string): PublicKey {
  return parsePublicKeyDer(pemBlock(pem, ['PUBLIC KEY']).der);
}

/** DER SubjectPublicKeyInfo of a public key. */
export function publicKeyToDer(key: PublicKey): Uint8Array {
  const algId =
    key.algorithm === 'ed25519'
      ? encodeSequence(encodeOid(OID_ED25519))
      : encodeSequence(encodeOid(OID_EC_PUBLIC_KEY), encodeOid(ALGORITHM_CURVE_OID[key.algorithm]));
  return encodeSequence(algId, encodeBitString(key.bytes));
}

function toPem(label: string, der: Uint8Array): string {
  const b64 = toBase64(der);
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/** PEM SubjectPublicKeyInfo, formatted exactly as OpenSSL and Python `cryptography` write it. */
export function publicKeyToPem(key: PublicKey): string {
  return toPem('PUBLIC KEY', publicKeyToDer(key));
}

/**
 * The model_signing v1.1 key hint: lowercase hex SHA-256 of {@link publicKeyToPem}'s text.
 *
 * @example
 * ```ts
 * keyHint(parsePublicKeyPem(pem)); // 'e8450dec…3f8e' for the model_signing test key
 * ```
 */
export function keyHint(key: PublicKey): string {
  return toHex(sha256(utf8(publicKeyToPem(key))));
}

/** The two fingerprints of a public key, each lowercase hex SHA-256. */
export interface KeyFingerprints {
  /** Canonical: SHA-256 of the DER SubjectPublicKeyInfo (the lineage `keyid`). */
  readonly sha256Spki: string;
  /** SHA-256 of the PEM text as OpenSSL writes it (the model_signing v1.1 key hint). */
  readonly sha256Pem: string;
}

/**
 * Both fingerprint forms of a public key; `sha256Spki` is the canonical one.
 *
 * @example
 * ```ts
 * keyFingerprints(parsePublicKeyPem(pem)).sha256Spki; // equals `openssl pkey -pubin -outform DER | sha256sum`
 * ```
 */
export function keyFingerprints(key: PublicKey): KeyFingerprints {
  if (key === null || typeof key !== 'object' || !(key.bytes instanceof Uint8Array)) {
    throw new ProvenanceError('PROV_KEY_INVALID', 'keyFingerprints needs a public key');
  }
  return { sha256Spki: toHex(sha256(publicKeyToDer(key))), sha256Pem: keyHint(key) };
}

/** True when two public keys are the same algorithm and point. */
export function publicKeysEqual(a: PublicKey, b: PublicKey): boolean {
  return a.algorithm === b.algorithm && equalBytes(a.bytes, b.bytes);
}

function scalarLength(algorithm: KeyAlgorithm): number {
  return algorithm === 'ecdsa-p384' ? 48 : algorithm === 'ecdsa-p521' ? 66 : 32;
}

function ecPrivateKey(sec1: DerElement, fallback: KeyAlgorithm | undefined): PrivateKey {
  const parts = sec1.tag === TAG.SEQUENCE ? children(sec1) : [];
  const d = parts[1];
  if (parts[0]?.tag !== TAG.INTEGER || d?.tag !== TAG.OCTET_STRING) invalid('not an ECPrivateKey');
  let algorithm = fallback;
  const params = parts.find((p) => p.tag === TAG.CONTEXT_0);
  if (params !== undefined) {
    const inner = children(params)[0];
    const fromParams = inner?.tag === TAG.OID ? CURVE_OIDS[oidToString(inner)] : undefined;
    if (fromParams === undefined) throw new ProvenanceError('PROV_KEY_UNSUPPORTED', 'unsupported EC curve');
    if (algorithm !== undefined && algorithm !== fromParams) invalid('conflicting EC curve parameters');
    algorithm = fromParams;
  }
  if (algorithm === undefined || algorithm === 'ed25519') invalid('the EC private key names no curve');
  const size = scalarLength(algorithm);
  if (d.content.length > size) invalid(`the ${algorithm} private scalar is too long`);
  const secret = new Uint8Array(size);
  secret.set(d.content, size - d.content.length);
  let key: PrivateKey;
  try {
    key = new PrivateKey(algorithm, secret);
  } catch {
    return invalid(`the ${algorithm} private scalar is out of range`);
  } finally {
    secret.fill(0);
  }
  const embedded = parts.find((p) => p.tag === TAG.CONTEXT_1);
  const embeddedBits = embedded === undefined ? undefined : children(embedded)[0];
  if (embeddedBits !== undefined) {
    const point = checkPoint(algorithm, bitStringBytes(embeddedBits));
    if (!equalBytes(point, key.publicKey.bytes))
      invalid('the embedded public key does not match the private key');
  }
  return key;
}

/**
 * Parses a DER PKCS#8 PrivateKeyInfo (or OneAsymmetricKey v2) holding an EC or Ed25519 key.
 *
 * @throws {ProvenanceError} `PROV_KEY_INVALID`, `PROV_KEY_UNSUPPORTED`. Messages never contain key bytes.
 */
export function parsePrivateKeyDer(der: Uint8Array): PrivateKey {
  const info = parseDer(der);
  const parts = info.tag === TAG.SEQUENCE ? children(info) : [];
  const [version, algId, octets] = parts;
  if (version?.tag !== TAG.INTEGER || algId === undefined || octets?.tag !== TAG.OCTET_STRING) {
    invalid('not a PKCS#8 PrivateKeyInfo');
  }
  const algorithm = algorithmFromIdentifier(algId);
  const inner = parseDer(octets.content);
  if (algorithm === 'ed25519') {
    if (inner.tag !== TAG.OCTET_STRING || inner.content.length !== 32)
      invalid('not an Ed25519 CurvePrivateKey');
    const key = new PrivateKey('ed25519', inner.content);
    const pub = parts.find((p) => p.tag === 0x81);
    if (pub !== undefined && !equalBytes(pub.content.subarray(1), key.publicKey.bytes)) {
      invalid('the embedded public key does not match the private key');
    }
    return key;
  }
  return ecPrivateKey(inner, algorithm);
}

/**
 * Parses a PEM private key: `PRIVATE KEY` (PKCS#8) or `EC PRIVATE KEY` (SEC1).
 *
 * @throws {ProvenanceError} `PROV_KEY_ENCRYPTED` for `ENCRYPTED PRIVATE KEY` or legacy
 *   `Proc-Type: 4,ENCRYPTED` blocks, `PROV_KEY_INVALID`, `PROV_KEY_UNSUPPORTED`.
 */
export function parsePrivateKeyPem(pem: string): PrivateKey {
  if (/Proc-Type:\s*4,ENCRYPTED/.test(pem)) {
    throw new ProvenanceError(
      'PROV_KEY_ENCRYPTED',
      'the private key is password-protected: give its password (confide: --password-file FILE or CONFIDE_KEY_PASSWORD)',
    );
  }
  const { label, der } = pemBlock(pem, ['PRIVATE KEY', 'EC PRIVATE KEY']);
  try {
    return label === 'PRIVATE KEY' ? parsePrivateKeyDer(der) : ecPrivateKey(parseDer(der), undefined);
  } finally {
    der.fill(0);
  }
}

/** DER PKCS#8 of a private key (EC keys as OpenSSL writes them: curve in the AlgorithmIdentifier, public key embedded). */
export function privateKeyToDer(key: PrivateKey): Uint8Array {
  const secret = privateKeySecret(key);
  if (key.algorithm === 'ed25519') {
    return encodeSequence(
      encodeSmallInteger(0),
      encodeSequence(encodeOid(OID_ED25519)),
      encodeElement(TAG.OCTET_STRING, encodeElement(TAG.OCTET_STRING, secret)),
    );
  }
  const ecPrivate = encodeSequence(
    encodeSmallInteger(1),
    encodeElement(TAG.OCTET_STRING, secret),
    encodeElement(TAG.CONTEXT_1, encodeBitString(key.publicKey.bytes)),
  );
  return encodeSequence(
    encodeSmallInteger(0),
    encodeSequence(encodeOid(OID_EC_PUBLIC_KEY), encodeOid(ALGORITHM_CURVE_OID[key.algorithm])),
    encodeElement(TAG.OCTET_STRING, ecPrivate),
  );
}

/** PEM PKCS#8 (`PRIVATE KEY`) of a private key. Treat the result as secret. */
export function privateKeyToPem(key: PrivateKey): string {
  const der = privateKeyToDer(key);
  try {
    return toPem('PRIVATE KEY', der);
  } finally {
    der.fill(0);
  }
}

/**
 * Generates a key pair from the platform CSPRNG (`crypto.getRandomValues`, through noble).
 *
 * @example
 * ```ts
 * const key = generateKeyPair('ecdsa-p256');
 * publicKeyToPem(key.publicKey); // '-----BEGIN PUBLIC KEY-----\n…'
 * ```
 */
export function generateKeyPair(algorithm: KeyAlgorithm = 'ecdsa-p256'): PrivateKey {
  const secret =
    algorithm === 'ed25519' ? ed25519.utils.randomSecretKey() : ecdsaCurve(algorithm).utils.randomSecretKey();
  try {
    return new PrivateKey(algorithm, secret);
  } finally {
    secret.fill(0);
  }
}

/**
 * The public key inside a DER X.509 certificate (RFC 5280 §4.1: tbsCertificate's
 * subjectPublicKeyInfo). No validation of the certificate itself is done here.
 *
 * @throws {ProvenanceError} `PROV_KEY_INVALID`, `PROV_KEY_UNSUPPORTED`.
 */
export function certificatePublicKey(certDer: Uint8Array): PublicKey {
  const cert = parseDer(certDer);
  const tbs = cert.tag === TAG.SEQUENCE ? children(cert)[0] : undefined;
  const fields = tbs?.tag === TAG.SEQUENCE ? children(tbs) : [];
  const offset = fields[0]?.tag === TAG.CONTEXT_0 ? 1 : 0; // [0] version is optional
  const spki = fields[offset + 5];
  if (spki === undefined) invalid('not an X.509 certificate');
  return parsePublicKeyDer(spki.encoded);
}
