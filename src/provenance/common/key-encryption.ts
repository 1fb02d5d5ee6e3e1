/**
 * Password-protected private keys at rest: RFC 5958 `EncryptedPrivateKeyInfo` (PEM label
 * `ENCRYPTED PRIVATE KEY`) with RFC 8018 PBES2.
 *
 * Writing uses scrypt (RFC 7914 §7, N = 2^14, r = 8, p = 1: the parameters of
 * `openssl pkcs8 -topk8 -scrypt`) and AES-256-CBC, with a fresh random salt and IV, through
 * `node:crypto`; the structure is the one OpenSSL writes, so `openssl pkcs8 -in KEY` decrypts it.
 * Reading hands the PEM to OpenSSL (`crypto.createPrivateKey` with the passphrase), so keys
 * encrypted by OpenSSL, Python `cryptography` or other tools (PBKDF2 or scrypt, AES-CBC) are read
 * too, and legacy `Proc-Type: 4,ENCRYPTED` SEC1 keys.
 *
 * A wrong password and a damaged key both fail with `PROV_KEY_PASSWORD` (PBES2 cannot tell them
 * apart); messages never contain the password or key bytes.
 *
 * Node only (`node:crypto` through `process.getBuiltinModule`); elsewhere `PROV_UNSUPPORTED_PLATFORM`.
 * Deliberately not here: reading passwords from terminals or files (the CLI's job), PKCS#12.
 *
 * @module
 */

import { ProvenanceError } from '../errors.ts';
import { concat, toBase64, utf8 } from './bytes.ts';
import { encodeElement, encodeOid, encodeSequence, TAG } from './der.ts';
import { type PrivateKey, parsePrivateKeyDer, parsePrivateKeyPem, privateKeyToDer } from './keys.ts';

type NodeCrypto = typeof import('node:crypto');

const OID_PBES2 = '1.2.840.113549.1.5.13';
const OID_SCRYPT = '1.3.6.1.4.1.11591.4.11';
const OID_AES_256_CBC = '2.16.840.1.101.3.4.1.42';
/** scrypt cost parameters written: those of `openssl pkcs8 -topk8 -scrypt`. */
export const KEY_SCRYPT_PARAMS = { N: 16384, r: 8, p: 1 } as const;

function nodeCrypto(): NodeCrypto {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const crypto = proc?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
  if (crypto === undefined) {
    throw new ProvenanceError('PROV_UNSUPPORTED_PLATFORM', 'encrypted private keys need node:crypto');
  }
  return crypto;
}

function passwordBytes(password: Uint8Array | string): Uint8Array {
  const bytes = typeof password === 'string' ? utf8(password) : password;
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
    throw new ProvenanceError('PROV_KEY_PASSWORD', 'the password is empty; give a non-empty password');
  }
  if (bytes.length > 1024) {
    throw new ProvenanceError('PROV_KEY_PASSWORD', 'the password is longer than 1024 bytes');
  }
  return bytes;
}

/** A non-negative INTEGER, minimal DER. */
function encodeUnsigned(value: number): Uint8Array {
  const bytes: number[] = [];
  let v = value;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  if ((bytes[0] as number) & 0x80) bytes.unshift(0);
  return encodeElement(TAG.INTEGER, Uint8Array.from(bytes));
}

function toPem(label: string, der: Uint8Array): string {
  const b64 = toBase64(der);
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/**
 * PEM `ENCRYPTED PRIVATE KEY` of a private key: PKCS#8 under PBES2 (scrypt, AES-256-CBC).
 *
 * @throws {ProvenanceError} `PROV_KEY_PASSWORD` (empty password), `PROV_UNSUPPORTED_PLATFORM`.
 * @example
 * ```ts
 * writeFileSync('signer.key', encryptPrivateKeyPem(generateKeyPair(), password), { mode: 0o600 });
 * ```
 */
export function encryptPrivateKeyPem(key: PrivateKey, password: Uint8Array | string): string {
  const pass = passwordBytes(password);
  const crypto = nodeCrypto();
  const salt = crypto.randomBytes(16);
  const iv = crypto.randomBytes(16);
  const { N, r, p } = KEY_SCRYPT_PARAMS;
  const derived = crypto.scryptSync(pass, salt, 32, { N, r, p, maxmem: 256 * N * r });
  const plain = privateKeyToDer(key);
  let encrypted: Uint8Array;
  try {
    const cipher = crypto.createCipheriv('aes-256-cbc', derived, iv);
    encrypted = concat(cipher.update(plain), cipher.final());
  } finally {
    plain.fill(0);
    derived.fill(0);
  }
  const scryptParams = encodeSequence(
    encodeElement(TAG.OCTET_STRING, salt),
    encodeUnsigned(N),
    encodeUnsigned(r),
    encodeUnsigned(p),
    encodeUnsigned(32),
  );
  const algorithm = encodeSequence(
    encodeOid(OID_PBES2),
    encodeSequence(
      encodeSequence(encodeOid(OID_SCRYPT), scryptParams),
      encodeSequence(encodeOid(OID_AES_256_CBC), encodeElement(TAG.OCTET_STRING, iv)),
    ),
  );
  return toPem(
    'ENCRYPTED PRIVATE KEY',
    encodeSequence(algorithm, encodeElement(TAG.OCTET_STRING, encrypted)),
  );
}

/** True when a PEM text holds a password-protected private key (PKCS#8 or legacy OpenSSL). */
export function isEncryptedPrivateKeyPem(pem: string): boolean {
  return /-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(pem) || /Proc-Type:\s*4,ENCRYPTED/.test(pem);
}

/**
 * Parses a PEM private key, decrypting it with `password` when it is password-protected. An
 * unencrypted key is parsed as {@link parsePrivateKeyPem} does (the password is then unused).
 *
 * @throws {ProvenanceError} `PROV_KEY_ENCRYPTED` (protected, no password), `PROV_KEY_PASSWORD`
 *   (wrong password or damaged key), and the codes of {@link parsePrivateKeyDer}.
 */
export function parsePrivateKeyPemWithPassword(pem: string, password?: Uint8Array | string): PrivateKey {
  if (typeof pem !== 'string')
    throw new ProvenanceError('PROV_KEY_INVALID', 'the private key must be PEM text');
  if (!isEncryptedPrivateKeyPem(pem)) return parsePrivateKeyPem(pem);
  if (password === undefined) {
    throw new ProvenanceError(
      'PROV_KEY_ENCRYPTED',
      'the private key is password-protected and no password was given (confide: --password-file FILE or CONFIDE_KEY_PASSWORD)',
    );
  }
  const pass = passwordBytes(password);
  const crypto = nodeCrypto();
  const block =
    /-----BEGIN ENCRYPTED PRIVATE KEY-----[\s\S]*?-----END ENCRYPTED PRIVATE KEY-----/.exec(pem)?.[0] ??
    /-----BEGIN EC PRIVATE KEY-----[\s\S]*?-----END EC PRIVATE KEY-----/.exec(pem)?.[0];
  if (block === undefined) {
    throw new ProvenanceError('PROV_KEY_INVALID', 'no complete encrypted private key PEM block found');
  }
  let der: Uint8Array;
  try {
    // OpenSSL takes the passphrase as bytes; Node accepts any ArrayBufferView here.
    const passphrase = pass as unknown as string;
    const key = crypto.createPrivateKey({ key: block, format: 'pem', passphrase });
    der = new Uint8Array(key.export({ format: 'der', type: 'pkcs8' }));
  } catch {
    // OpenSSL's own error is dropped on purpose: nothing about the secret goes into messages.
    throw new ProvenanceError(
      'PROV_KEY_PASSWORD',
      'the password does not decrypt the private key (wrong password, or a damaged key file)',
    );
  }
  try {
    return parsePrivateKeyDer(der);
  } finally {
    der.fill(0);
  }
}
