/**
 * The one source of secret randomness in `confide/smpc`: `crypto.getRandomValues` (WebCrypto,
 * available in Node ≥ 19, browsers, Deno, Bun and workers), called in chunks of at most 65,536
 * bytes as the WebCrypto spec requires.
 *
 * A {@link RandomSource} is injectable wherever randomness is consumed, so known-answer tests and
 * reproducible simulations can supply a deterministic stream. Production code should never pass
 * one: the default is the platform CSPRNG.
 *
 * Deliberately not here: `Math.random` (never used for anything in this module), seeding, or any
 * home-made generator.
 *
 * @module
 */

import { SmpcError } from '../errors.ts';

/** Returns `length` bytes of randomness. Must be a CSPRNG unless used in tests. */
export type RandomSource = (length: number) => Uint8Array;

/** WebCrypto's per-call limit on `getRandomValues` (W3C WebCrypto §10.1.1). */
const MAX_CHUNK = 65_536;

/**
 * Fills a fresh buffer with `length` bytes from the platform CSPRNG.
 *
 * @throws {SmpcError} `SMPC_BACKEND_UNAVAILABLE` when `crypto.getRandomValues` is missing.
 * @example
 * ```ts
 * const seed = randomBytes(32);
 * ```
 */
export function randomBytes(length: number): Uint8Array {
  const c = globalThis.crypto;
  if (c === undefined || typeof c.getRandomValues !== 'function') {
    throw new SmpcError(
      'SMPC_BACKEND_UNAVAILABLE',
      'crypto.getRandomValues is not available in this runtime',
    );
  }
  const out = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += MAX_CHUNK) {
    c.getRandomValues(out.subarray(offset, Math.min(length, offset + MAX_CHUNK)));
  }
  return out;
}

/** Calls `source` and checks it returned exactly `length` bytes (a broken source must not pass silently). */
export function drawBytes(source: RandomSource, length: number): Uint8Array {
  const bytes = source(length);
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new SmpcError(
      'SMPC_BACKEND_UNAVAILABLE',
      `random source returned the wrong number of bytes (wanted ${length})`,
    );
  }
  return bytes;
}
