/**
 * Key derivation for secure aggregation: HKDF-SHA256 (RFC 5869) over a shared secret, with the
 * session id as salt and `"secagg/v1/" + purpose` as info, so every key is bound to one session
 * and one use (share envelope, pairwise mask, self mask, additive-share seed, ...).
 *
 * Binding the session id into every key is what makes masks differ across sessions for the same
 * key pair (fcp mixes its
 * session id into every PRG key the same way). Implemented with `@noble/hashes` (audited,
 * synchronous, no WebCrypto needed); `test/smpc/kdf.test.ts` cross-checks it against
 * `node:crypto.hkdfSync` and the RFC 5869 test vectors.
 *
 * Deliberately not here: password hashing or any low-entropy input (HKDF assumes a high-entropy
 * secret such as an X25519 output or a random seed), and key caching.
 *
 * @module
 */

import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ConfideArgumentError } from '../../errors.ts';
import { assertBytes, assertInteger } from '../../internal/assert.ts';
import { assertBytesInRange } from '../validate.ts';
import { utf8 } from './encoding.ts';

/** Length of a session id: a SHA-256 digest. */
export const SESSION_ID_LENGTH = 32;

/** Prefix of every HKDF `info` string; the version changes if the derivation ever does. */
export const KDF_INFO_PREFIX = 'secagg/v1/';

/** Purposes: lower-case ASCII letters, digits and `._:/-`, 1–128 characters, starting alphanumeric. */
const PURPOSE = /^[a-z0-9][a-z0-9._:/-]{0,127}$/;

/** What {@link deriveKey} derives a key from. */
export interface DeriveKeyInput {
  /** High-entropy input keying material (an X25519 shared secret or a random seed), 16–1024 bytes. */
  readonly secret: Uint8Array;
  /** The 32-byte session id; used as the HKDF salt. */
  readonly sessionId: Uint8Array;
  /** What the key is for, e.g. `"mask/pairwise"` or `"envelope"`; becomes the HKDF info. */
  readonly purpose: string;
  /** Output length in bytes (default 32, at most 255·32 as RFC 5869 allows). */
  readonly length?: number;
}

/**
 * HKDF-SHA256(ikm = secret, salt = sessionId, info = UTF-8("secagg/v1/" + purpose), L = length).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a short secret, a session id that is not
 *   32 bytes, a purpose outside the allowed alphabet, or a bad length.
 * @example
 * ```ts
 * const key = deriveKey({ secret: shared, sessionId, purpose: 'mask/pairwise' }); // 32 bytes
 * ```
 */
export function deriveKey(input: DeriveKeyInput): Uint8Array {
  const secret = assertBytesInRange(input.secret, 'secret', 16, 1024);
  const sessionId = assertBytes(input.sessionId, 'sessionId', SESSION_ID_LENGTH);
  const length = assertInteger(input.length ?? 32, 'length', 1, 255 * 32);
  if (typeof input.purpose !== 'string' || !PURPOSE.test(input.purpose)) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'purpose must be 1-128 characters of [a-z0-9._:/-] starting with a letter or digit',
    );
  }
  return hkdf(sha256, secret, sessionId, utf8(KDF_INFO_PREFIX + input.purpose), length);
}
