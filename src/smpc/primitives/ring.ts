/**
 * Vectors over the ring Z_{2^b} (1 ≤ b ≤ 32, default 32), stored one lane per coordinate in a
 * `Uint32Array`. Masked inputs, masks, additive shares and aggregates all live here.
 *
 * Arithmetic is `(x op y) & mask`: JavaScript's `&` converts to a 32-bit two's-complement integer,
 * which is exact modulo 2^32 for every sum or difference of two lanes, and storing into a
 * `Uint32Array` reinterprets it as unsigned. The same expression is therefore correct for every
 * b ≤ 32 (for b = 32 the mask is all ones). Signed values use the centred representative in
 * [-2^(b-1), 2^(b-1)), as in Bonawitz et al. (CCS'17) and TFF's `SecureSumFactory`.
 *
 * Every entry point checks that its operands have the same length and that inputs are reduced
 * (every lane < 2^b); mixing rings is an error, never a silent truncation.
 *
 * Deliberately not here: prime-field vectors (Shamir lives in `shamir.ts` over bigint), moduli
 * that are not powers of two (the PRG supports them; ring arithmetic does not), and any
 * randomness.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertInteger } from '../../internal/assert.ts';
import { SmpcError } from '../errors.ts';
import { assertUint32Array } from '../validate.ts';

/** Largest supported ring width: lanes are 32-bit. */
export const MAX_RING_BITS = 32;

/** Default ring width, as fcp, Flower and TFF use (2^32). */
export const DEFAULT_RING_BITS = 32;

/** A ring Z_{2^bits}. Plain data; create it with {@link createRing}. */
export interface Ring {
  /** Width b in bits, 1 ≤ b ≤ 32. */
  readonly bits: number;
  /** The modulus 2^b as a number (exact: at most 2^32). */
  readonly modulus: number;
  /** The all-ones mask 2^b − 1 as a signed 32-bit value, for `& mask`. */
  readonly mask: number;
}

/**
 * The ring Z_{2^bits}.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` unless `bits` is an integer in [1, 32].
 * @example
 * ```ts
 * const r = createRing(20); // r.modulus === 1048576
 * ```
 */
export function createRing(bits: number = DEFAULT_RING_BITS): Ring {
  assertInteger(bits, 'ring bits', 1, MAX_RING_BITS);
  return Object.freeze({ bits, modulus: 2 ** bits, mask: bits === 32 ? -1 : 2 ** bits - 1 });
}

/** Asserts `value` is a ring vector of `ring` (every lane below the modulus) and returns it. */
export function assertRingVector(value: unknown, ring: Ring, label: string, length?: number): Uint32Array {
  const v = assertUint32Array(value, label, length);
  if (ring.bits === 32) return v;
  const limit = ring.modulus;
  for (let i = 0; i < v.length; i++) {
    if ((v[i] ?? 0) >= limit) {
      throw new SmpcError('SMPC_RING_MISMATCH', `${label}[${i}] is not reduced modulo 2^${ring.bits}`);
    }
  }
  return v;
}

function sameLength(a: Uint32Array, b: Uint32Array, what: string): void {
  if (a.length !== b.length) {
    throw new SmpcError('SMPC_RING_MISMATCH', `${what}: lengths differ (${a.length} and ${b.length})`);
  }
}

/**
 * Adds `source` into `target` in place (target ← target + source mod 2^b) and returns `target`.
 * `sign = -1` subtracts instead. This is the hot loop of masking and unmasking.
 *
 * @throws {SmpcError} `SMPC_RING_MISMATCH` when the lengths differ or an input is not reduced.
 */
export function ringAddInPlace(
  target: Uint32Array,
  source: Uint32Array,
  ring: Ring,
  sign: 1 | -1 = 1,
): Uint32Array {
  assertRingVector(target, ring, 'target');
  assertRingVector(source, ring, 'source');
  sameLength(target, source, 'ringAddInPlace');
  const mask = ring.mask;
  if (sign === 1) {
    for (let i = 0; i < target.length; i++)
      target[i] = ((target[i] as number) + (source[i] as number)) & mask;
  } else {
    for (let i = 0; i < target.length; i++)
      target[i] = ((target[i] as number) - (source[i] as number)) & mask;
  }
  return target;
}

/**
 * a + b mod 2^b as a new vector.
 *
 * @example
 * ```ts
 * const r = createRing(8);
 * ringAdd(Uint32Array.of(250), Uint32Array.of(10), r); // Uint32Array [4]
 * ```
 */
export function ringAdd(a: Uint32Array, b: Uint32Array, ring: Ring): Uint32Array {
  assertRingVector(a, ring, 'a');
  return ringAddInPlace(Uint32Array.from(a), b, ring, 1);
}

/** a − b mod 2^b as a new vector. */
export function ringSub(a: Uint32Array, b: Uint32Array, ring: Ring): Uint32Array {
  assertRingVector(a, ring, 'a');
  return ringAddInPlace(Uint32Array.from(a), b, ring, -1);
}

/** −a mod 2^b as a new vector. */
export function ringNegate(a: Uint32Array, ring: Ring): Uint32Array {
  assertRingVector(a, ring, 'a');
  const out = new Uint32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = -(a[i] as number) & ring.mask;
  return out;
}

/**
 * The sum of one or more vectors of equal length, mod 2^b.
 *
 * @throws {SmpcError} `SMPC_RING_MISMATCH` when lengths differ or an input is not reduced.
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for an empty list.
 */
export function ringSum(vectors: readonly Uint32Array[], ring: Ring): Uint32Array {
  if (!Array.isArray(vectors) || vectors.length === 0) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'vectors must be a non-empty array of Uint32Array');
  }
  const first = assertRingVector(vectors[0], ring, 'vectors[0]');
  const out = Uint32Array.from(first);
  for (let k = 1; k < vectors.length; k++)
    ringAddInPlace(out, assertUint32Array(vectors[k], `vectors[${k}]`), ring);
  return out;
}

/**
 * Reduces signed safe integers into the ring (x mod 2^b, always non-negative).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a non-integer or unsafe entry.
 * @example
 * ```ts
 * ringFromIntegers([-1, 3], createRing(8)); // Uint32Array [255, 3]
 * ```
 */
export function ringFromIntegers(values: ArrayLike<number>, ring: Ring): Uint32Array {
  const out = new Uint32Array(values.length);
  const m = ring.modulus;
  for (let i = 0; i < values.length; i++) {
    const x = assertInteger(values[i], `values[${i}]`, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    out[i] = ((x % m) + m) % m;
  }
  return out;
}

/**
 * The centred (signed) representative of each lane, in [-2^(b-1), 2^(b-1)), as exact integers in
 * a `Float64Array`. Inverse of {@link ringFromIntegers} on that interval.
 */
export function ringToSigned(v: Uint32Array, ring: Ring): Float64Array {
  assertRingVector(v, ring, 'v');
  const half = ring.modulus / 2;
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i] as number;
    out[i] = x >= half ? x - ring.modulus : x;
  }
  return out;
}
