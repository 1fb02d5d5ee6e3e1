/**
 * Ed25519 signing (RFC 8032) for the signing side only: `node:crypto` where the host has it,
 * `@noble/curves` elsewhere. Kept out of `keys.ts`, which the browser verifier loads and which
 * must neither sign nor name a Node built-in.
 *
 * Deliberately not here: verification (`model-signing/verify-bundle.ts`), ECDSA (`sign.ts`).
 *
 * @module
 */

import { ed25519 } from '@noble/curves/ed25519.js';
import { ProvenanceError } from '../errors.ts';
import { toBase64 } from './bytes.ts';
import { type PrivateKey, privateKeySecret } from './keys.ts';

type NodeCrypto = typeof import('node:crypto');
const nodeCrypto: NodeCrypto | undefined = (() => {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    return proc?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
  } catch {
    return undefined;
  }
})();
/** Native Ed25519 keys, made once per key (from its JWK, RFC 8037). */
const nativeKeys = new WeakMap<PrivateKey, ReturnType<NodeCrypto['createPrivateKey']>>();

/**
 * An Ed25519 signature (RFC 8032: deterministic, so the same 64 bytes from either
 * implementation): `node:crypto` where the host has it (about ten times faster than the JS
 * implementation; the receipt log signs one checkpoint per commit), else `@noble/curves`.
 */
export function ed25519Sign(key: PrivateKey, message: Uint8Array): Uint8Array {
  const secret = privateKeySecret(key);
  if (key.algorithm !== 'ed25519') throw new ProvenanceError('PROV_KEY_INVALID', 'not an Ed25519 key');
  if (nodeCrypto === undefined) return ed25519.sign(message, secret);
  let native = nativeKeys.get(key);
  if (native === undefined) {
    const b64url = (bytes: Uint8Array) =>
      toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    native = nodeCrypto.createPrivateKey({
      key: { kty: 'OKP', crv: 'Ed25519', d: b64url(secret), x: b64url(key.publicKey.bytes) },
      format: 'jwk',
    });
    nativeKeys.set(key, native);
  }
  const sig = nodeCrypto.sign(null, message, native);
  return new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength);
}
