/**
 * Fixed-point quantization of real-valued updates into ring vectors, and back: clip (L2, then
 * L∞), scale, round stochastically, encode signed integers in Z_{2^b}; and the overflow bound that
 * makes a sum of n such vectors decode exactly.
 *
 * Follows the discretisation step of TFF's `DistributedDpSumFactory` / Flower's `quantization.py`
 * with two deliberate changes: the encoding is centred (signed values, no +c shift, so no offset
 * to undo after summing), and the rounding randomness comes from a CSPRNG (`crypto`), not NumPy.
 *
 * Definitions (used in `test/vectors/smpc/README.md` too):
 * - `valueBits` v: every quantized entry q satisfies |q| ≤ M = 2^(v−1) − 1.
 * - `bound` c: the clipping bound on every coordinate, min(clipLInf, clipL2) (after L2 clipping
 *   every coordinate is at most the L2 bound). The scale is s = M / c, so q = round(s·x).
 * - Stochastic rounding: q = ⌊y⌋ + [u < y − ⌊y⌋] with u uniform on [0, 1) at 53-bit resolution,
 *   so E[q] = y up to 2^-53; results are then clamped to [−M, M] against floating-point error.
 * - A sum of n entries lies in [−nM, nM] and decodes exactly from Z_{2^b} iff n·M ≤ 2^(b−1) − 1.
 *   The rule of thumb b ≥ ⌈log2 n⌉ + v implies it; {@link assertSumFits} checks the exact bound.
 *
 * Deliberately not here: DP noise, random rotation, modular clipping, weighting (the caller packs
 * [w, w·x] itself), and any check that a *malicious* client clipped — only honest clients do, so
 * the aggregate's norm is what a server can monitor.
 *
 * @module
 */

import { ConfideArgumentError } from '../errors.ts';
import { assertInteger } from '../internal/assert.ts';
import { SmpcError } from './errors.ts';
import { drawBytes, type RandomSource, randomBytes, resolveRandom } from './primitives/random.ts';
import { createRing, DEFAULT_RING_BITS, type Ring, ringToSigned } from './primitives/ring.ts';
import { assertFiniteVector, assertOptionalPositive, assertUint32Array } from './validate.ts';

/** Largest supported `valueBits`: quantized magnitudes stay below 2^30, exact in doubles. */
export const MAX_VALUE_BITS = 31;

/** How to quantize one vector. */
export interface QuantizeOptions {
  /** Bits per quantized entry including the sign (2 ≤ v ≤ 31): |q| ≤ 2^(v−1) − 1. */
  readonly valueBits: number;
  /** Per-coordinate clip to [−c, c]. At least one of `clipLInf`, `clipL2` is required. */
  readonly clipLInf?: number;
  /** Scale the whole vector down to L2 norm at most this. Applied before `clipLInf`. */
  readonly clipL2?: number;
  /** Ring width b (default 32); must be at least `valueBits`. */
  readonly ringBits?: number;
  /**
   * Randomness for stochastic rounding; defaults to the platform CSPRNG. Tests only: not in the
   * published declarations.
   * @internal
   */
  readonly random?: RandomSource;
}

/** The parameters that decode a (summed) quantized vector. */
export interface QuantizationParams {
  /** Multiply reals by this to get quantized units: M / bound. */
  readonly scale: number;
  /** Largest magnitude of one quantized entry, M = 2^(valueBits−1) − 1. */
  readonly maxMagnitude: number;
  /** Clipping bound c on every coordinate. */
  readonly bound: number;
  readonly valueBits: number;
  readonly ringBits: number;
}

/** The result of {@link quantize}. */
export interface QuantizedVector extends QuantizationParams {
  /** The encoded vector in Z_{2^ringBits}. */
  readonly values: Uint32Array;
  /** Whether clipping changed the input (a signal for monitoring clipping rates). */
  readonly clipped: boolean;
}

/**
 * Derives {@link QuantizationParams} from the options, validating them.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for missing bounds or out-of-range bits.
 */
export function quantizationParams(options: QuantizeOptions): QuantizationParams {
  const valueBits = assertInteger(options.valueBits, 'valueBits', 2, MAX_VALUE_BITS);
  const ringBits = createRing(options.ringBits ?? DEFAULT_RING_BITS).bits;
  if (ringBits < valueBits) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `ringBits (${ringBits}) must be at least valueBits (${valueBits})`,
    );
  }
  const lInf = assertOptionalPositive(options.clipLInf, 'clipLInf');
  const l2 = assertOptionalPositive(options.clipL2, 'clipL2');
  if (lInf === undefined && l2 === undefined) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'at least one of clipLInf and clipL2 is required');
  }
  const bound = Math.min(lInf ?? Number.POSITIVE_INFINITY, l2 ?? Number.POSITIVE_INFINITY);
  const maxMagnitude = 2 ** (valueBits - 1) - 1;
  return { scale: maxMagnitude / bound, maxMagnitude, bound, valueBits, ringBits };
}

/**
 * Clips a vector: first scales it to L2 norm at most `clipL2`, then clamps every coordinate to
 * [−clipLInf, clipLInf]. Returns a new `Float64Array` and whether anything changed.
 *
 * @example
 * ```ts
 * clipVector([3, 4], { clipL2: 1 }).values; // Float64Array [0.6, 0.8]
 * ```
 */
export function clipVector(
  values: ArrayLike<number>,
  bounds: { readonly clipLInf?: number; readonly clipL2?: number },
): { values: Float64Array; clipped: boolean } {
  const v = assertFiniteVector(values, 'values');
  const lInf = assertOptionalPositive(bounds.clipLInf, 'clipLInf');
  const l2 = assertOptionalPositive(bounds.clipL2, 'clipL2');
  const out = Float64Array.from(v);
  let clipped = false;
  if (l2 !== undefined) {
    let sq = 0;
    for (const x of out) sq += x * x;
    const norm = Math.sqrt(sq);
    if (norm > l2) {
      const f = l2 / norm;
      for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) * f;
      clipped = true;
    }
  }
  if (lInf !== undefined) {
    for (let i = 0; i < out.length; i++) {
      const x = out[i] as number;
      if (x > lInf) {
        out[i] = lInf;
        clipped = true;
      } else if (x < -lInf) {
        out[i] = -lInf;
        clipped = true;
      }
    }
  }
  return { values: out, clipped };
}

/** 2^-53: one unit of the 53-bit uniform used for rounding. */
const TWO_POW_MINUS_53 = 2 ** -53;

/**
 * Rounds each y to ⌊y⌋ or ⌊y⌋ + 1 with probability equal to its fractional part, using 53-bit
 * uniforms drawn from `random` (8 bytes per entry). Unbiased up to 2^-53 per entry.
 */
export function stochasticRound(values: ArrayLike<number>, random: RandomSource = randomBytes): Float64Array {
  const v = assertFiniteVector(values, 'values');
  const source = resolveRandom(random);
  const out = new Float64Array(v.length);
  const CHUNK = 8192;
  for (let start = 0; start < v.length; start += CHUNK) {
    const n = Math.min(CHUNK, v.length - start);
    const bytes = drawBytes(source, 8 * n);
    const words = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let j = 0; j < n; j++) {
      // 53 uniform bits: 27 from the first word, 26 from the second (as in WebKit's Math.random).
      const hi = words.getUint32(8 * j, true) >>> 5;
      const lo = words.getUint32(8 * j + 4, true) >>> 6;
      const u = (hi * 67_108_864 + lo) * TWO_POW_MINUS_53;
      const y = v[start + j] as number;
      const f = Math.floor(y);
      out[start + j] = u < y - f ? f + 1 : f;
    }
  }
  return out;
}

/**
 * Quantizes a real vector into Z_{2^b}: clip, scale by M / c, round stochastically with the
 * CSPRNG, clamp to [−M, M], encode centred (negative q as 2^b + q).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for non-finite entries or bad options.
 * @example
 * ```ts
 * const q = quantize([0.5, -0.25], { valueBits: 16, clipLInf: 1 });
 * dequantize(q.values, q); // ≈ Float64Array [0.5, -0.25] (within 1 / q.scale)
 * ```
 */
export function quantize(values: ArrayLike<number>, options: QuantizeOptions): QuantizedVector {
  const params = quantizationParams(options);
  const { values: clippedValues, clipped } = clipVector(values, {
    ...(options.clipLInf === undefined ? {} : { clipLInf: options.clipLInf }),
    ...(options.clipL2 === undefined ? {} : { clipL2: options.clipL2 }),
  });
  for (let i = 0; i < clippedValues.length; i++)
    clippedValues[i] = (clippedValues[i] as number) * params.scale;
  const rounded = stochasticRound(clippedValues, options.random ?? randomBytes);
  const ring = createRing(params.ringBits);
  const out = new Uint32Array(rounded.length);
  const m = params.maxMagnitude;
  for (let i = 0; i < rounded.length; i++) {
    const q = Math.max(-m, Math.min(m, rounded[i] as number));
    out[i] = q & ring.mask;
  }
  return { ...params, values: out, clipped };
}

/**
 * Decodes a quantized vector, or the ring sum of several, back to reals: centred representative
 * divided by the scale. Exact for sums as long as {@link assertSumFits} held.
 *
 * @example
 * ```ts
 * const p = quantizationParams({ valueBits: 8, clipLInf: 1 });
 * dequantize(Uint32Array.of(2 ** 32 - 127), p); // Float64Array [-1]
 * ```
 */
export function dequantize(
  values: Uint32Array,
  params: Pick<QuantizationParams, 'scale' | 'ringBits'>,
): Float64Array {
  assertUint32Array(values, 'values');
  const scale = assertOptionalPositive(params.scale, 'scale') ?? 1;
  const signed = ringToSigned(values, createRing(params.ringBits));
  for (let i = 0; i < signed.length; i++) signed[i] = (signed[i] as number) / scale;
  return signed;
}

/**
 * The largest number of quantized vectors whose ring sum still decodes exactly:
 * ⌊(2^(b−1) − 1) / (2^(v−1) − 1)⌋.
 *
 * @example
 * ```ts
 * maxSummands(16, 32); // 65538 (≥ 2^(32−16), the ⌈log2 n⌉ + v rule)
 * ```
 */
export function maxSummands(valueBits: number, ringBits: number = DEFAULT_RING_BITS): number {
  assertInteger(valueBits, 'valueBits', 2, MAX_VALUE_BITS);
  const ring: Ring = createRing(ringBits);
  if (ring.bits < valueBits) return 0;
  return Math.floor((2 ** (ring.bits - 1) - 1) / (2 ** (valueBits - 1) - 1));
}

/**
 * Refuses a configuration whose sum of `summands` quantized vectors could wrap around the ring.
 * Call it when planning a round, before any client quantizes (n = {@link maxSummands} is exact, one more
 * is refused).
 *
 * @throws {SmpcError} `SMPC_OVERFLOW_RISK` when summands · M > 2^(b−1) − 1.
 */
export function assertSumFits(
  summands: number,
  valueBits: number,
  ringBits: number = DEFAULT_RING_BITS,
): void {
  assertInteger(summands, 'summands', 1, Number.MAX_SAFE_INTEGER);
  const max = maxSummands(valueBits, ringBits);
  if (summands > max) {
    throw new SmpcError(
      'SMPC_OVERFLOW_RISK',
      `a sum of ${summands} ${valueBits}-bit values can wrap modulo 2^${ringBits}; at most ${max} fit ` +
        `(use ringBits ≥ ⌈log2 n⌉ + valueBits, or fewer value bits)`,
    );
  }
}
