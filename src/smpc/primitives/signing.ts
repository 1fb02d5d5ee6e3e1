/**
 * Ed25519 (RFC 8032, via `@noble/curves`) signatures for the `active` profile of SecAgg
 * (Bonawitz et al., CCS'17 §4: signed key advertisements and the ConsistencyCheck round).
 *
 * Two statements are ever signed, each with its own domain-separation label so a signature on one
 * can never be replayed as the other:
 * - an advertisement: LP("secagg/v1/advertise") ‖ LP(paramsDigest) ‖ LP(UTF-8 id) ‖ LP(c_PK) ‖ LP(s_PK) —
 *   binds a client's two X25519 keys to its long-term identity and to this round's parameters, so
 *   a server cannot substitute keys or invent clients;
 * - a survivor set: LP("secagg/v1/consistency") ‖ LP(sessionId) ‖ BE32(count) ‖ LP(UTF-8 id)… in
 *   canonical id order — the U3 a client saw; clients reveal shares only after seeing t signatures
 *   on the same set, so a server cannot show different survivor sets to different clients.
 *
 * Identity keys are long-term and distributed out of band (a PKI, or configuration); the server
 * never gets to choose them. Verification is strict RFC 8032 (`zip215: false`): non-canonical
 * encodings are rejected, and so are the trivial signatures that small-order public keys admit
 * under the more lenient ZIP-215 rules (`test/smpc/protocol-active.test.ts` checks both).
 *
 * Deliberately not here: key distribution, revocation, and signing anything else.
 *
 * @module
 */

import { ed25519 } from '@noble/curves/ed25519.js';
import { assertBytes } from '../../internal/assert.ts';
import { concatBytes, lengthPrefixed, u32be, utf8 } from './encoding.ts';
import { randomBytes } from './random.ts';
import { compareIds } from './session.ts';

/** Length of an Ed25519 signature. */
export const SIGNATURE_LENGTH = 64;
/** Length of Ed25519 secret and public keys. */
export const IDENTITY_KEY_LENGTH = 32;

/** A long-term Ed25519 identity. The secret key is secret. */
export interface Identity {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

/** A fresh Ed25519 identity from the CSPRNG. */
export function generateIdentity(): Identity {
  const secretKey = randomBytes(IDENTITY_KEY_LENGTH);
  return { secretKey, publicKey: ed25519.getPublicKey(secretKey) };
}

/** The public key of an Ed25519 secret key. */
export function identityPublicKey(secretKey: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(assertBytes(secretKey, 'secretKey', IDENTITY_KEY_LENGTH));
}

/** The bytes an advertisement signature covers. */
export function advertisementStatement(
  paramsDigest: Uint8Array,
  id: string,
  encryptionKey: Uint8Array,
  maskingKey: Uint8Array,
): Uint8Array {
  return lengthPrefixed(utf8('secagg/v1/advertise'), paramsDigest, utf8(id), encryptionKey, maskingKey);
}

/** The bytes a survivor-set signature covers (ids in canonical order, whatever order is given). */
export function survivorsStatement(sessionId: Uint8Array, survivors: readonly string[]): Uint8Array {
  const sorted = [...survivors].sort(compareIds);
  return concatBytes(
    lengthPrefixed(utf8('secagg/v1/consistency'), sessionId),
    u32be(sorted.length),
    lengthPrefixed(...sorted.map(utf8)),
  );
}

/** Signs `statement` with an Ed25519 secret key. */
export function signStatement(statement: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return ed25519.sign(statement, assertBytes(secretKey, 'secretKey', IDENTITY_KEY_LENGTH));
}

/** Whether `signature` is a valid Ed25519 signature on `statement` by `publicKey` (never throws on bad input bytes). */
export function verifyStatement(
  signature: Uint8Array,
  statement: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_LENGTH) return false;
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== IDENTITY_KEY_LENGTH) return false;
  try {
    // Strict RFC 8032 verification: noble's default (ZIP-215) accepts an all-zero signature under
    // the all-zero (small-order) public key, which must never count as a valid signature here.
    return ed25519.verify(signature, statement, publicKey, { zip215: false });
  } catch {
    return false;
  }
}
