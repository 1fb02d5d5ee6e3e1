/**
 * The one source of secret randomness in `confide/smpc`: `crypto.getRandomValues` (WebCrypto,
 * available in Node ≥ 19, browsers, Deno, Bun and workers), called in chunks of at most 65,536
 * bytes as the WebCrypto spec requires.
 *
 * A {@link RandomSource} is injectable wherever randomness is consumed, so known-answer tests and
 * reproducible simulations can supply a deterministic stream, but only one marked by
 * {@link injectableRandom}, which no public entry exports and which records its sources in a
 * module-private `WeakSet` (a property mark could be forged by a Proxy answering any key): a caller
 * of the published API cannot pass one, and the `random` options are left out of the published
 * types.
 *
 * Deliberately not here: `Math.random` (never used for anything in this module), seeding, or any
 * home-made generator.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
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

/** Sources that may replace the CSPRNG (made by {@link injectableRandom}); never exported. */
const INJECTABLE = new WeakSet<RandomSource>();

/**
 * Marks `source` as one that may replace the platform CSPRNG: for known-answer tests and the
 * simulator's seeded inputs only. Not exported from any public entry.
 * @internal
 */
export function injectableRandom(source: RandomSource): RandomSource {
  const marked = (length: number): Uint8Array => source(length);
  INJECTABLE.add(marked);
  return marked;
}

/**
 * The source a `random` option names: the platform CSPRNG when it is undefined, else a source
 * marked by {@link injectableRandom}.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for anything else (a public caller cannot
 *   replace the CSPRNG).
 */
export function resolveRandom(value: unknown, label = 'random'): RandomSource {
  if (value === undefined || value === randomBytes) return randomBytes;
  // Identity in a private WeakSet: a Proxy cannot pass for a member (it is another object).
  if (typeof value === 'function' && INJECTABLE.has(value as RandomSource)) return value as RandomSource;
  throw new ConfideArgumentError(
    'INVALID_ARGUMENT',
    `${label} cannot be replaced: secrets come from crypto.getRandomValues; remove the ${label} option`,
  );
}
