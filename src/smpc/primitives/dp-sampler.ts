/**
 * Exact samplers for the discrete Gaussian N_Z(0, σ²) and its building blocks, following
 * Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020,
 * arXiv 2004.00010), §5:
 * - Algorithm 1: Bernoulli(exp(−γ)) for a rational γ ≥ 0 (von Neumann's trick: count K until a
 *   Bernoulli(γ/K) fails, return whether K is odd; γ > 1 splits into ⌊γ⌋ draws of exp(−1) and one
 *   of exp(−(γ − ⌊γ⌋))).
 * - Algorithm 2: the discrete Laplace with scale t (P[x] ∝ exp(−|x|/t)), via a geometric variable
 *   built from uniform integers below t and Bernoulli(exp(−1)) draws.
 * - Algorithm 3: the discrete Gaussian by rejection from the discrete Laplace with t = ⌊σ⌋ + 1,
 *   accepting with probability exp(−(|Y| − σ²/t)² / (2σ²)).
 *
 * Everything is integer arithmetic on exact rationals: σ² = p/q with p, q positive integers (a
 * `number` argument is converted exactly from its binary64 value, so 0.1 means
 * 3602879701896397 / 2^55, not 1/10), every Bernoulli(a/b) is "a uniform integer below b is less
 * than a", and uniform integers come from the injectable {@link RandomSource} by masked rejection
 * (draw ⌈L/8⌉ bytes big-endian, keep the low L = bitlength(m − 1) bits, retry if ≥ m). There is no
 * floating point in the sampling path. Two interchangeable engines run the same algorithm: a
 * `number` engine used while every intermediate integer is below 2^53 (where doubles are exact
 * integers and `%` is exact), and a `bigint` engine otherwise; both consume the random bytes
 * identically, so they return the same samples from the same bytes (the tests check this).
 *
 * The output does not depend on timing, but the running time does depend on the sample (the
 * rejection loops): these samplers are not constant time, as CKS note for theirs.
 *
 * Deliberately not here: the privacy accounting (`dp-accounting.ts`), the client pipeline
 * (`dp.ts`), and any floating-point approximation of the distribution (the tests compute the exact
 * pmf in floats only to check the samples).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertInteger } from '../../internal/assert.ts';
import { SmpcError } from '../errors.ts';
import { drawBytes, type RandomSource, resolveRandom } from './random.ts';

/** A positive rational p/q in lowest terms. */
export interface Rational {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

/** A variance: a positive finite number (converted exactly) or a rational of positive bigints. */
export type VarianceInput = number | bigint | { readonly numerator: bigint; readonly denominator: bigint };

/** Largest variance {@link sampleDiscreteGaussianVector} accepts: σ ≤ 2^20, so |x| < 2^31 beyond doubt. */
export const MAX_INT32_VARIANCE = 2 ** 40;

/** Largest number of samples one vector call produces. */
export const MAX_SAMPLES = 1 << 28;

/** Bytes fetched from the source at a time; the buffer never outlives one public call. */
const BUFFER_BYTES = 4096;
const SAFE = Number.MAX_SAFE_INTEGER;
/** Below this, a² for the acceptance exponent stays under 2^53. */
const SQRT_SAFE = 94_906_265;

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

function bitLength(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

/**
 * The exact rational value of a positive variance.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` unless the value is a positive finite number,
 * a positive bigint, or `{ numerator, denominator }` with positive bigints.
 * @example
 * ```ts
 * toRational(2.5); // { numerator: 5n, denominator: 2n }
 * ```
 */
export function toRational(value: VarianceInput, label = 'variance'): Rational {
  let p: bigint;
  let q: bigint;
  if (typeof value === 'number') {
    if (!(Number.isFinite(value) && value > 0)) {
      throw new ConfideArgumentError('INVALID_ARGUMENT', `${label} must be a positive finite number`);
    }
    // A binary64 is m·2^e exactly; scale by 2 until it is an integer (at most 1074 + 52 steps).
    let m = value;
    let e = 0;
    while (!Number.isInteger(m)) {
      m *= 2;
      e++;
    }
    p = BigInt(m);
    q = 1n << BigInt(e);
  } else if (typeof value === 'bigint') {
    p = value;
    q = 1n;
  } else if (
    typeof value === 'object' &&
    value !== null &&
    typeof value.numerator === 'bigint' &&
    typeof value.denominator === 'bigint'
  ) {
    p = value.numerator;
    q = value.denominator;
  } else {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `${label} must be a number, a bigint or { numerator, denominator } with bigints`,
    );
  }
  if (p <= 0n || q <= 0n) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', `${label} must be positive`);
  }
  const g = gcd(p, q);
  return { numerator: p / g, denominator: q / g };
}

/**
 * Uniform integers from a byte source by masked rejection. One definition of how bytes become
 * integers, shared by both engines, so the same bytes give the same integers whatever the width.
 */
class Uniform {
  private buffer: Uint8Array = new Uint8Array(0);
  private offset = 0;
  private readonly source: RandomSource;

  constructor(source: RandomSource) {
    this.source = source;
  }

  private byte(): number {
    if (this.offset === this.buffer.length) {
      this.buffer = drawBytes(this.source, BUFFER_BYTES);
      this.offset = 0;
    }
    return this.buffer[this.offset++] as number;
  }

  /** Uniform on [0, m) for an integer 1 ≤ m ≤ 2^53. */
  below(m: number): number {
    if (m === 1) return 0;
    // bit length of m − 1, exact for m − 1 < 2^53
    const bits =
      m - 1 < 2 ** 31 ? 32 - Math.clz32(m - 1) : 32 + (32 - Math.clz32(Math.floor((m - 1) / 2 ** 32)));
    const bytes = (bits + 7) >> 3;
    const topMask = (1 << (bits - 8 * (bytes - 1))) - 1;
    for (;;) {
      let x = this.byte() & topMask;
      for (let i = 1; i < bytes; i++) x = x * 256 + this.byte();
      if (x < m) return x;
    }
  }

  /** Uniform on [0, m) for any integer m ≥ 1 (the same bytes as {@link below} for m ≤ 2^53). */
  belowBig(m: bigint): bigint {
    if (m <= 1n) return 0n;
    const bits = bitLength(m - 1n);
    const bytes = (bits + 7) >> 3;
    const topMask = (1 << (bits - 8 * (bytes - 1))) - 1;
    for (;;) {
      let x = BigInt(this.byte() & topMask);
      for (let i = 1; i < bytes; i++) x = (x << 8n) | BigInt(this.byte());
      if (x < m) return x;
    }
  }
}

/** The exact sampler for one σ² = p/q, with the number engine when it is safe. */
class DiscreteGaussian {
  private readonly p: bigint;
  private readonly q: bigint;
  private readonly t: bigint;
  /** 2·p·q·t², the denominator of every acceptance exponent. */
  private readonly denominator: bigint;
  private readonly fast: { p: number; q: number; t: number; d: number; maxAbs: number } | null;

  private readonly uniform: Uniform;

  constructor(variance: Rational, uniform: Uniform) {
    this.uniform = uniform;
    this.p = variance.numerator;
    this.q = variance.denominator;
    this.t = floorSqrt(this.p / this.q) + 1n; // ⌊√σ²⌋ + 1 = ⌊σ⌋ + 1
    this.denominator = 2n * this.p * this.q * this.t * this.t;
    // The Bernoulli(γ/K) loop multiplies the denominator by K; a product past 2^53 falls back to
    // bigint inside the loop, so the number engine only needs the denominator itself to be safe.
    this.fast =
      this.denominator <= 2n ** 52n
        ? {
            p: Number(this.p),
            q: Number(this.q),
            t: Number(this.t),
            d: Number(this.denominator),
            maxAbs: Math.floor(SAFE / Number(this.q * this.t)),
          }
        : null;
  }

  /** One sample (Algorithm 3). */
  sample(): number | bigint {
    return this.fast === null ? this.sampleBig() : this.sampleFast(this.fast);
  }

  // ----- number engine: every value below is an integer < 2^53, so doubles are exact -----

  private bernoulliRatio(n: number, m: number): boolean {
    // Bernoulli(n/m) for 0 ≤ n ≤ m: a uniform integer below m is below n.
    return m <= SAFE ? this.uniform.below(m) < n : this.uniform.belowBig(BigInt(m)) < BigInt(n);
  }

  /** Bernoulli(exp(−n/d)) for 0 ≤ n ≤ d (Algorithm 1, γ ∈ [0, 1]). */
  private bernoulliExpUnit(n: number, d: number): boolean {
    let k = 1;
    for (;;) {
      const dk = d * k;
      const hit =
        dk <= SAFE ? this.uniform.below(dk) < n : this.uniform.belowBig(BigInt(d) * BigInt(k)) < BigInt(n);
      if (!hit) break;
      k++;
    }
    return k % 2 === 1;
  }

  /** Bernoulli(exp(−n/d)) for n ≥ 0 (Algorithm 1 with the integer part split off). */
  private bernoulliExp(n: number, d: number): boolean {
    const r = n % d;
    const whole = (n - r) / d;
    for (let i = 0; i < whole; i++) if (!this.bernoulliExpUnit(1, 1)) return false;
    return this.bernoulliExpUnit(r, d);
  }

  /** Discrete Laplace with scale t (Algorithm 2), returning a signed integer. */
  private laplaceFast(t: number): number {
    for (;;) {
      const negative = this.bernoulliRatio(1, 2);
      // Geometric(1 − e^(−1/t)): u uniform below t accepted w.p. e^(−u/t), then v ~ Geometric(1 − e^(−1)).
      let u: number;
      do u = this.uniform.below(t);
      while (!this.bernoulliExpUnit(u, t));
      let v = 0;
      while (this.bernoulliExpUnit(1, 1)) v++;
      const magnitude = v * t + u;
      if (negative && magnitude === 0) continue; // so that 0 is not counted twice
      return negative ? -magnitude : magnitude;
    }
  }

  private sampleFast(f: { p: number; q: number; t: number; d: number; maxAbs: number }): number | bigint {
    for (;;) {
      const y = this.laplaceFast(f.t);
      const abs = Math.abs(y);
      // γ = (|y| − σ²/t)² / (2σ²) = (|y|·q·t − p)² / (2·p·q·t²)
      const a = abs <= f.maxAbs ? abs * f.q * f.t - f.p : SAFE;
      if (Math.abs(a) < SQRT_SAFE) {
        if (this.bernoulliExp(a * a, f.d)) return y;
      } else {
        const ab = BigInt(abs) * this.q * this.t - this.p;
        if (this.bernoulliExpBig(ab * ab, this.denominator)) return y;
      }
    }
  }

  // ----- bigint engine: the same algorithm, for variances whose integers exceed 2^53 -----

  private bernoulliExpUnitBig(n: bigint, d: bigint): boolean {
    let k = 1n;
    while (this.uniform.belowBig(d * k) < n) k++;
    return k % 2n === 1n;
  }

  /** @internal */
  bernoulliExpBig(n: bigint, d: bigint): boolean {
    const whole = n / d;
    for (let i = 0n; i < whole; i++) if (!this.bernoulliExpUnitBig(1n, 1n)) return false;
    return this.bernoulliExpUnitBig(n % d, d);
  }

  /** @internal */
  laplaceBig(t: bigint): bigint {
    for (;;) {
      const negative = this.uniform.belowBig(2n) < 1n;
      let u: bigint;
      do u = this.uniform.belowBig(t);
      while (!this.bernoulliExpUnitBig(u, t));
      let v = 0n;
      while (this.bernoulliExpUnitBig(1n, 1n)) v++;
      const magnitude = v * t + u;
      if (negative && magnitude === 0n) continue;
      return negative ? -magnitude : magnitude;
    }
  }

  private sampleBig(): bigint {
    for (;;) {
      const y = this.laplaceBig(this.t);
      const abs = y < 0n ? -y : y;
      const a = abs * this.q * this.t - this.p;
      if (this.bernoulliExpBig(a * a, this.denominator)) return y;
    }
  }

  usesNumberEngine(): boolean {
    return this.fast !== null;
  }

  /** Forces the bigint engine (tests compare the two engines on the same bytes). */
  sampleWithBigints(): bigint {
    return this.sampleBig();
  }
}

/** ⌊√n⌋ for n ≥ 0 (Newton's method on bigints). */
function floorSqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((bitLength(n) >> 1) + 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

function sampler(variance: VarianceInput, random: RandomSource | undefined): DiscreteGaussian {
  const source = resolveRandom(random);
  return new DiscreteGaussian(toRational(variance), new Uniform(source));
}

/**
 * One exact sample from the discrete Gaussian N_Z(0, σ²): P[x] ∝ exp(−x²/(2σ²)) on the integers.
 *
 * @param variance σ² as a number (converted exactly), bigint or `{ numerator, denominator }`.
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a variance that is not positive and finite.
 * @example
 * ```ts
 * sampleDiscreteGaussian({ numerator: 10n ** 12n, denominator: 3n }); // e.g. -412877n
 * ```
 */
export function sampleDiscreteGaussian(variance: VarianceInput): bigint;
/** @internal With a byte source in place of the platform CSPRNG: tests only. */
export function sampleDiscreteGaussian(variance: VarianceInput, random?: RandomSource): bigint;
export function sampleDiscreteGaussian(variance: VarianceInput, random?: RandomSource): bigint {
  const s = sampler(variance, random).sample();
  return typeof s === 'bigint' ? s : BigInt(s);
}

/**
 * `length` independent exact samples of N_Z(0, σ²) in an `Int32Array`, for σ² ≤ 2^40 (so σ ≤
 * 2^20 and a sample outside the int32 range would be a 2^11σ event; it is refused, never
 * truncated). The hot path of {@link privatize}: ~10^5 samples take well under a second.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a bad variance or length.
 * @throws {SmpcError} `SMPC_DP_SAMPLE_OUT_OF_RANGE` if a sample does not fit (never observed).
 * @example
 * ```ts
 * const noise = sampleDiscreteGaussianVector(2.5, 100_000);
 * ```
 */
export function sampleDiscreteGaussianVector(
  variance: VarianceInput,
  length: number,
  options: {
    /** @internal Tests only: not in the published declarations. */
    readonly random?: RandomSource;
  } = {},
): Int32Array {
  const n = assertInteger(length, 'length', 0, MAX_SAMPLES);
  const v = toRational(variance);
  if (v.numerator > BigInt(MAX_INT32_VARIANCE) * v.denominator) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `variance must be at most 2^40 for an Int32Array of samples (use sampleDiscreteGaussianBigVector)`,
    );
  }
  const s = sampler(v, options.random);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const raw = s.sample();
    const x = typeof raw === 'bigint' ? Number(raw) : raw;
    if (x > 2147483647 || x < -2147483648) {
      throw new SmpcError(
        'SMPC_DP_SAMPLE_OUT_OF_RANGE',
        'a discrete Gaussian sample does not fit in 32 bits',
      );
    }
    out[i] = x;
  }
  return out;
}

/**
 * `length` independent exact samples of N_Z(0, σ²) as a `BigInt64Array`, for any variance below
 * 2^120 (σ < 2^60, so samples fit in 64 bits beyond doubt; one that does not is refused).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a bad variance or length.
 * @throws {SmpcError} `SMPC_DP_SAMPLE_OUT_OF_RANGE` if a sample does not fit (never observed).
 */
export function sampleDiscreteGaussianBigVector(
  variance: VarianceInput,
  length: number,
  options: {
    /** @internal Tests only: not in the published declarations. */
    readonly random?: RandomSource;
  } = {},
): BigInt64Array {
  const n = assertInteger(length, 'length', 0, MAX_SAMPLES);
  const v = toRational(variance);
  if (v.numerator >= 2n ** 120n * v.denominator) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'variance must be below 2^120');
  }
  const s = sampler(v, options.random);
  const out = new BigInt64Array(n);
  const limit = 2n ** 63n;
  for (let i = 0; i < n; i++) {
    const raw = s.sample();
    const x = typeof raw === 'bigint' ? raw : BigInt(raw);
    if (x >= limit || x < -limit) {
      throw new SmpcError(
        'SMPC_DP_SAMPLE_OUT_OF_RANGE',
        'a discrete Gaussian sample does not fit in 64 bits',
      );
    }
    out[i] = x;
  }
  return out;
}

/**
 * The sub-samplers and the bigint engine, exposed for the distribution tests only (not exported
 * from `confide/smpc`).
 *
 * @internal
 */
export const samplerInternals = {
  /** One engine over one byte stream: its sub-samplers, the public path and the bigint path. */
  engine(variance: VarianceInput, random: RandomSource) {
    const g = new DiscreteGaussian(toRational(variance), new Uniform(random));
    return {
      /** Bernoulli(exp(−n/d)) for n ≥ 0, d ≥ 1 (Algorithm 1). */
      bernoulliExp: (n: bigint, d: bigint): boolean => g.bernoulliExpBig(n, d),
      /** Discrete Laplace with scale t (Algorithm 2). */
      laplace: (t: bigint): bigint => g.laplaceBig(t),
      /** Algorithm 3 on whichever engine the public functions would use. */
      sample: (): bigint => BigInt(g.sample()),
      /** Algorithm 3 on the bigint engine only. */
      sampleWithBigints: (): bigint => g.sampleWithBigints(),
      /** Whether the number engine is in use for this variance. */
      fast: g.usesNumberEngine(),
    };
  },
  floorSqrt,
};
