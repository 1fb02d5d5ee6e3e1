/**
 * Key agreement: X25519 (RFC 7748) through WebCrypto where the runtime has it (Node ≥ 20, recent
 * browsers; about 10× faster) and `@noble/curves` otherwise. Both backends compute the same
 * function; the choice is invisible to peers.
 *
 * Keys are raw 32-byte strings (RFC 7748 §5 encoding) so they can live in serialisable protocol
 * state. Every peer public key is checked before use: the five low-order u-coordinates of
 * Curve25519 and their non-canonical encodings (u + p) are refused up front (RFC 7748 §6.1),
 * and an all-zero shared secret is refused as well, on either
 * backend.
 *
 * Deliberately not here: hashing the shared secret into keys (`kdf.ts` does that with the session
 * id), signatures (Ed25519 identity keys belong to the active-security profile), and P-256.
 *
 * @module
 */

import { x25519 } from '@noble/curves/ed25519.js';
import { assertBytes, assertOneOf } from '../../internal/assert.ts';
import { SmpcError } from '../errors.ts';
import { bytesToBigint, concatBytes } from './encoding.ts';
import { randomBytes } from './random.ts';

/** Length of X25519 public keys, secret keys and shared secrets. */
export const X25519_KEY_LENGTH = 32;

/** Backends: `auto` prefers WebCrypto and falls back to `@noble/curves`. */
export const KA_BACKENDS = ['auto', 'webcrypto', 'noble'] as const;
/** One of {@link KA_BACKENDS}. */
export type KaBackend = (typeof KA_BACKENDS)[number];

/** An X25519 key pair as raw bytes. The secret key is secret: never log or send it. */
export interface AgreementKeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

const P = 2n ** 255n - 19n;

/** u-coordinates of order dividing 8 on Curve25519 or its twist (RFC 7748 §6.1; libsodium's list). */
const LOW_ORDER_U: ReadonlySet<bigint> = new Set([
  0n,
  1n,
  P - 1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
]);

/** PKCS#8 prefix of an X25519 private key (RFC 8410 §7): the 32 raw bytes follow it. */
const PKCS8_PREFIX = Uint8Array.of(
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
);

function toArrayBuffer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

function decodeU(publicKey: Uint8Array): bigint {
  const le = Uint8Array.from(publicKey).reverse();
  le[0] = (le[0] as number) & 0x7f; // RFC 7748 §5: mask the top bit
  return bytesToBigint(le) % P;
}

/**
 * Asserts a 32-byte X25519 public key that is not of low order, and returns it.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` unless it is a 32-byte `Uint8Array`.
 * @throws {SmpcError} `SMPC_LOW_ORDER_POINT` for a low-order point (in any encoding).
 */
export function assertPublicKey(publicKey: unknown, label = 'publicKey'): Uint8Array {
  const pk = assertBytes(publicKey, label, X25519_KEY_LENGTH);
  if (LOW_ORDER_U.has(decodeU(pk))) {
    throw new SmpcError('SMPC_LOW_ORDER_POINT', `${label} is a low-order X25519 point (RFC 7748 §6.1)`);
  }
  return pk;
}

let webCryptoSupport: Promise<boolean> | undefined;

/** Whether this runtime's WebCrypto does X25519 (probed once, memoised). */
export function webCryptoHasX25519(): Promise<boolean> {
  webCryptoSupport ??= (async () => {
    const subtle = (globalThis.crypto as Crypto | undefined)?.subtle;
    if (subtle === undefined) return false;
    try {
      await subtle.generateKey({ name: 'X25519' }, true, ['deriveBits']);
      return true;
    } catch {
      return false;
    }
  })();
  return webCryptoSupport;
}

async function useWebCrypto(backend: KaBackend): Promise<boolean> {
  if (backend === 'noble') return false;
  const ok = await webCryptoHasX25519();
  if (!ok && backend === 'webcrypto') {
    throw new SmpcError('SMPC_BACKEND_UNAVAILABLE', 'WebCrypto X25519 is not available in this runtime');
  }
  return ok;
}

type NodeKeyObject = { export(options: { format: 'der'; type: 'spki' }): Uint8Array };
type NodeKeys = {
  createPrivateKey(options: { key: Uint8Array; format: 'der'; type: 'pkcs8' }): NodeKeyObject;
  createPublicKey(key: NodeKeyObject): NodeKeyObject;
};

/** `node:crypto` where the runtime has it (Node, Deno, Bun); undefined in browsers. */
const nodeKeys: NodeKeys | undefined = (
  globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.('node:crypto') as NodeKeys | undefined;

/**
 * The public key of a 32-byte X25519 secret key (RFC 7748 §6.1: X25519(sk, 9)).
 * Synchronous: `node:crypto` (OpenSSL, about 40× faster) where the runtime has it, else
 * `@noble/curves`; the same function (the RFC 7748 vectors pass on both).
 */
export function publicKeyFromSecret(secretKey: Uint8Array): Uint8Array {
  assertBytes(secretKey, 'secretKey', X25519_KEY_LENGTH);
  if (nodeKeys !== undefined) {
    const key = nodeKeys.createPrivateKey({
      key: concatBytes(PKCS8_PREFIX, secretKey),
      format: 'der',
      type: 'pkcs8',
    });
    const spki = nodeKeys.createPublicKey(key).export({ format: 'der', type: 'spki' });
    return Uint8Array.from(spki.subarray(spki.length - X25519_KEY_LENGTH));
  }
  return x25519.getPublicKey(secretKey);
}

/**
 * A fresh X25519 key pair from the platform CSPRNG.
 *
 * @example
 * ```ts
 * const { publicKey, secretKey } = await generateAgreementKeyPair();
 * ```
 */
export async function generateAgreementKeyPair(
  options: { readonly backend?: KaBackend } = {},
): Promise<AgreementKeyPair> {
  const backend = assertOneOf(options.backend ?? 'auto', 'backend', KA_BACKENDS);
  if (await useWebCrypto(backend)) {
    const subtle = (globalThis.crypto as Crypto).subtle;
    const pair = (await subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
    const publicKey = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
    const pkcs8 = new Uint8Array(await subtle.exportKey('pkcs8', pair.privateKey));
    return { publicKey, secretKey: pkcs8.slice(pkcs8.length - X25519_KEY_LENGTH) };
  }
  const secretKey = randomBytes(X25519_KEY_LENGTH);
  return { publicKey: x25519.getPublicKey(secretKey), secretKey };
}

/**
 * The X25519 shared secret of `secretKey` and a peer's `publicKey`, after rejecting low-order
 * points. Feed it to `deriveKey`, never use it as a key directly.
 *
 * @throws {SmpcError} `SMPC_LOW_ORDER_POINT` for a low-order peer key or an all-zero result.
 * @example
 * ```ts
 * const s = await sharedSecret(alice.secretKey, bob.publicKey); // equals sharedSecret(bob.secretKey, alice.publicKey)
 * ```
 */
export async function sharedSecret(
  secretKey: Uint8Array,
  publicKey: Uint8Array,
  options: { readonly backend?: KaBackend } = {},
): Promise<Uint8Array> {
  assertBytes(secretKey, 'secretKey', X25519_KEY_LENGTH);
  assertPublicKey(publicKey, 'publicKey');
  return sharedSecretsOf(secretKey, options)(publicKey);
}

/**
 * {@link sharedSecret} of one secret key with many peers: the secret key is imported into WebCrypto
 * once, on first use, so each further agreement costs one public-key import and one derivation
 * (the server's unmask step agrees each dropped client's key with all its surviving neighbours).
 * The same checks and errors as {@link sharedSecret}, per call.
 *
 * @example
 * ```ts
 * const agree = sharedSecretsOf(dropped.secretKey);
 * const secrets = await Promise.all(peers.map((p) => agree(p.publicKey)));
 * ```
 */
export function sharedSecretsOf(
  secretKey: Uint8Array,
  options: { readonly backend?: KaBackend } = {},
): (publicKey: Uint8Array) => Promise<Uint8Array> {
  assertBytes(secretKey, 'secretKey', X25519_KEY_LENGTH);
  const backend = assertOneOf(options.backend ?? 'auto', 'backend', KA_BACKENDS);
  let imported: Promise<CryptoKey> | undefined;
  return async (publicKey) => {
    assertPublicKey(publicKey, 'publicKey');
    let secret: Uint8Array;
    if (await useWebCrypto(backend)) {
      const subtle = (globalThis.crypto as Crypto).subtle;
      try {
        imported ??= subtle.importKey(
          'pkcs8',
          toArrayBuffer(concatBytes(PKCS8_PREFIX, secretKey)),
          { name: 'X25519' },
          false,
          ['deriveBits'],
        );
        const priv = await imported;
        const pub = await subtle.importKey('raw', toArrayBuffer(publicKey), { name: 'X25519' }, false, []);
        secret = new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: pub }, priv, 256));
      } catch (cause) {
        throw new SmpcError('SMPC_LOW_ORDER_POINT', 'X25519 key agreement failed for this public key', {
          cause,
        });
      }
    } else {
      try {
        secret = x25519.getSharedSecret(secretKey, publicKey);
      } catch (cause) {
        throw new SmpcError('SMPC_LOW_ORDER_POINT', 'X25519 key agreement failed for this public key', {
          cause,
        });
      }
    }
    let acc = 0;
    for (const b of secret) acc |= b;
    if (acc === 0)
      throw new SmpcError('SMPC_LOW_ORDER_POINT', 'X25519 shared secret is all zero (RFC 7748 §6.1)');
    return secret;
  };
}
