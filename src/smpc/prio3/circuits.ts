/**
 * Validity circuits for Prio3 (draft-irtf-cfrg-vdaf-08, §7, the version `@divviup/prio3` 0.8.0
 * implements), written against that library's generic FLP (`Circuit`, `Gadget`, `FlpGeneric`):
 *
 * - {@link FastParallelMul}: the spec's `ParallelSum(Mul, count)` gadget (same arity, degree,
 *   outputs and gadget polynomial), but its `evalPoly` multiplies through the library's NTT
 *   (`Field.interpolate` over roots of unity) instead of `count` schoolbook products — the
 *   library's version is O(count · p²) and makes FL-sized vectors impractical. The known-answer
 *   tests run the spec's SumVec vectors through it.
 * - {@link SignedSumVec}: the spec's `SumVec` circuit (every coordinate a `bits`-bit integer,
 *   checked bit by bit) on the fast gadget, for signed coordinates in [−2^(bits−1), 2^(bits−1))
 *   stored with an offset of 2^(bits−1).
 * - {@link BoundedL2VecSum}: the same range check plus an L2-norm check, the shape of libprio's
 *   `FixedPointBoundedL2VecSum` (read, not copied): the client also encodes the slack
 *   t = B − Σ zᵢ² in `normBits` bits; the circuit recomputes Σ zᵢ² from the bit-encoded
 *   coordinates with a second gadget and checks Σ zᵢ² + t = B. Both sides are non-negative
 *   integers far below the field modulus (checked at construction), so the field equation is the
 *   integer one and the squared norm is at most B. The two checks are combined with a second
 *   joint-randomness element.
 *
 * Both circuits output the offset coordinates qᵢ = zᵢ + 2^(bits−1) (`truncate` must be linear,
 * with no constant, because it runs on shares); `decode` removes count · 2^(bits−1) and maps the
 * field sum to a signed integer.
 *
 * A circuit's `eval` runs with `this` bound to the library's proof or query wrapper, which
 * copies only own fields: so `eval` reads own fields and module functions, never methods.
 *
 * Deliberately not here: field arithmetic of our own (everything goes through `Field`), fixed-point
 * scaling (callers quantize, see `quantize.ts`), and multiple proofs per report.
 *
 * @module
 */

import type { Field } from '@divviup/field';
import { Circuit } from '@divviup/prio3/dist/circuit.js';
import { Gadget } from '@divviup/prio3/dist/gadget.js';

const BIT_LIMIT = 30;

/** Powers 1, ω, ω², …, ω^(n−1) of a primitive n-th root of unity (n a power of two). */
function rootPowers(field: Field, n: number, inverse: boolean): bigint[] {
  let omega = field.exp(field.generator, field.genOrder / BigInt(n));
  if (inverse) omega = field.exp(omega, field.modulus - 2n);
  const out = new Array<bigint>(n);
  let x = 1n;
  for (let i = 0; i < n; i++) {
    out[i] = x;
    x = field.mul(x, omega);
  }
  return out;
}

/**
 * Σ_{i<count} x_{2i}·x_{2i+1}: `ParallelSum(Mul, count)` with an NTT-based `evalPoly`.
 * Outputs the full gadget polynomial (degree·(p−1)+1 coefficients), as the proof layout expects.
 */
export class FastParallelMul extends Gadget {
  arity: number;
  degree = 2;
  readonly count: number;
  constructor(count: number) {
    super();
    this.count = count;
    this.arity = 2 * count;
  }

  eval(field: Field, input: bigint[]): bigint {
    this.ensureArity(input);
    let sum = 0n;
    for (let i = 0; i < this.count; i++) {
      sum = field.add(sum, field.mul(input[2 * i] as bigint, input[2 * i + 1] as bigint));
    }
    return sum;
  }

  evalPoly(field: Field, inputPolynomial: bigint[][]): bigint[] {
    this.ensurePolyArity(inputPolynomial);
    const p = (inputPolynomial[0] as bigint[]).length;
    const n = 2 * p;
    // Evaluations at the n-th roots: interpolating over the inverse roots is the forward
    // transform divided by n, so multiply by n afterwards (once, on the pointwise products).
    const inverseRoots = rootPowers(field, n, true);
    const forward = (poly: bigint[]): bigint[] => {
      const padded = poly.concat(new Array<bigint>(n - poly.length).fill(0n));
      return field.interpolate(inverseRoots, padded);
    };
    const acc = new Array<bigint>(n).fill(0n);
    for (let i = 0; i < this.count; i++) {
      const a = forward(inputPolynomial[2 * i] as bigint[]);
      const b = forward(inputPolynomial[2 * i + 1] as bigint[]);
      for (let k = 0; k < n; k++)
        acc[k] = field.add(acc[k] as bigint, field.mul(a[k] as bigint, b[k] as bigint));
    }
    const nn = BigInt(n) * BigInt(n);
    const scaled = acc.map((v) => field.mul(v, nn % field.modulus));
    const coefficients = field.interpolate(rootPowers(field, n, false), scaled);
    return coefficients.slice(0, this.degree * (p - 1) + 1);
  }
}

function checkShape(length: number, bits: number, chunkLength: number): void {
  if (!Number.isInteger(length) || length < 1) throw new RangeError('length must be a positive integer');
  if (!Number.isInteger(bits) || bits < 1 || bits > BIT_LIMIT)
    throw new RangeError(`bits must be in [1, ${BIT_LIMIT}]`);
  if (!Number.isInteger(chunkLength) || chunkLength < 1)
    throw new RangeError('chunkLength must be a positive integer');
}

/** r^(i+1)·xᵢ·(xᵢ − 1/shares) summed over bits [from, to) through the gadget's calls (SumVec's range check). */
function rangeCheck(
  field: Field,
  gadget: Gadget,
  chunkLength: number,
  calls: number,
  input: bigint[],
  end: number,
  r: bigint,
  sharesInv: bigint,
): bigint {
  let sum = 0n;
  let power = r;
  let index = 0;
  const args = new Array<bigint>(2 * chunkLength);
  for (let call = 0; call < calls; call++) {
    for (let c = 0; c < chunkLength; c++, index++) {
      const x = index < end ? (input[index] as bigint) : 0n;
      args[2 * c] = field.mul(power, x);
      args[2 * c + 1] = field.sub(x, sharesInv);
      power = field.mul(power, r);
    }
    sum = field.add(sum, gadget.eval(field, args));
  }
  return sum;
}

/** Σ_j 2^j · input[start + j] for j < bits (a linear function of the shares). */
function fromBits(field: Field, input: bigint[], start: number, bits: number): bigint {
  let v = 0n;
  for (let j = bits - 1; j >= 0; j--) v = field.add(field.add(v, v), input[start + j] as bigint);
  return v;
}

function toBits(value: bigint, bits: number): bigint[] {
  const out = new Array<bigint>(bits);
  for (let j = 0; j < bits; j++) out[j] = (value >> BigInt(j)) & 1n;
  return out;
}

function signedDecode(field: Field, output: bigint[], count: number, offset: bigint): bigint[] {
  const p = field.modulus;
  const shift = (((BigInt(count) * offset) % p) + p) % p;
  return output.map((v) => {
    const c = field.sub(v, shift);
    return c > p / 2n ? c - p : c;
  });
}

/** Encodes signed integer coordinates as offset bits, refusing anything out of range. */
function encodeCoordinates(values: readonly number[], length: number, bits: number): bigint[] {
  if (values.length !== length) throw new RangeError(`measurement must have ${length} coordinates`);
  const half = 2 ** (bits - 1);
  const out: bigint[] = [];
  for (const v of values) {
    if (!Number.isInteger(v) || v < -half || v >= half)
      throw new RangeError(`coordinates must be integers in [${-half}, ${half})`);
    out.push(...toBits(BigInt(v + half), bits));
  }
  return out;
}

/** SumVec for signed coordinates in [−2^(bits−1), 2^(bits−1)), on {@link FastParallelMul}. */
export class SignedSumVec extends Circuit<readonly number[], bigint[]> {
  field: Field;
  gadgets: Gadget[];
  gadgetCalls: number[];
  jointRandLen = 1;
  measurementLen: number;
  outputLen: number;
  length: number;
  bits: number;
  chunkLength: number;
  offset: bigint;

  constructor(field: Field, length: number, bits: number, chunkLength: number) {
    super();
    checkShape(length, bits, chunkLength);
    this.field = field;
    this.length = length;
    this.bits = bits;
    this.chunkLength = chunkLength;
    this.offset = 1n << BigInt(bits - 1);
    this.measurementLen = length * bits;
    this.outputLen = length;
    this.gadgets = [new FastParallelMul(chunkLength)];
    this.gadgetCalls = [Math.ceil(this.measurementLen / chunkLength)];
  }

  eval(input: bigint[], jointRand: bigint[], shares: number): bigint {
    this.ensureValidEval(input, jointRand);
    const field = this.field;
    const sharesInv = field.exp(BigInt(shares), field.modulus - 2n);
    return rangeCheck(
      field,
      this.gadgets[0] as Gadget,
      this.chunkLength,
      this.gadgetCalls[0] as number,
      input,
      this.measurementLen,
      jointRand[0] as bigint,
      sharesInv,
    );
  }

  encode(measurement: readonly number[]): bigint[] {
    return encodeCoordinates(measurement, this.length, this.bits);
  }

  truncate(input: bigint[]): bigint[] {
    const out = new Array<bigint>(this.length);
    for (let i = 0; i < this.length; i++) out[i] = fromBits(this.field, input, i * this.bits, this.bits);
    return out;
  }

  decode(output: bigint[], measurementCount: number): bigint[] {
    return signedDecode(this.field, output, measurementCount, this.offset);
  }
}

/**
 * Signed coordinates in [−2^(bits−1), 2^(bits−1)) whose squared L2 norm Σ zᵢ² is at most
 * `normBound` (an integer in the quantized units).
 */
export class BoundedL2VecSum extends Circuit<readonly number[], bigint[]> {
  field: Field;
  gadgets: Gadget[];
  gadgetCalls: number[];
  jointRandLen = 2;
  measurementLen: number;
  outputLen: number;
  length: number;
  bits: number;
  normBits: number;
  normBound: bigint;
  chunkLength: number;
  normChunkLength: number;
  offset: bigint;

  constructor(
    field: Field,
    length: number,
    bits: number,
    normBound: bigint,
    chunkLength: number,
    normChunkLength: number,
  ) {
    super();
    checkShape(length, bits, chunkLength);
    if (!Number.isInteger(normChunkLength) || normChunkLength < 1)
      throw new RangeError('normChunkLength must be a positive integer');
    if (typeof normBound !== 'bigint' || normBound < 1n)
      throw new RangeError('normBound must be a positive bigint');
    const half = 1n << BigInt(bits - 1);
    // The recomputed Σ zᵢ² plus the slack must stay far below the modulus (no wrap-around).
    if (BigInt(length) * half * half + 2n * normBound >= field.modulus / 4n) {
      throw new RangeError('length, bits and normBound are too large for the field');
    }
    this.field = field;
    this.length = length;
    this.bits = bits;
    this.normBound = normBound;
    this.normBits = normBound.toString(2).length;
    this.chunkLength = chunkLength;
    this.normChunkLength = normChunkLength;
    this.offset = half;
    this.measurementLen = length * bits + this.normBits;
    this.outputLen = length;
    this.gadgets = [new FastParallelMul(chunkLength), new FastParallelMul(normChunkLength)];
    this.gadgetCalls = [Math.ceil(this.measurementLen / chunkLength), Math.ceil(length / normChunkLength)];
  }

  eval(input: bigint[], jointRand: bigint[], shares: number): bigint {
    this.ensureValidEval(input, jointRand);
    const field = this.field;
    const sharesInv = field.exp(BigInt(shares), field.modulus - 2n);
    const range = rangeCheck(
      field,
      this.gadgets[0] as Gadget,
      this.chunkLength,
      this.gadgetCalls[0] as number,
      input,
      this.measurementLen,
      jointRand[0] as bigint,
      sharesInv,
    );
    // Σ zᵢ², zᵢ = qᵢ − offset (the constant split evenly over the shares).
    const offsetShare = field.mul(this.offset % field.modulus, sharesInv);
    const square = this.gadgets[1] as Gadget;
    const chunk = this.normChunkLength;
    const args = new Array<bigint>(2 * chunk);
    let sumSquares = 0n;
    let i = 0;
    for (let call = 0; call < (this.gadgetCalls[1] as number); call++) {
      for (let c = 0; c < chunk; c++, i++) {
        const z =
          i < this.length ? field.sub(fromBits(field, input, i * this.bits, this.bits), offsetShare) : 0n;
        args[2 * c] = z;
        args[2 * c + 1] = z;
      }
      sumSquares = field.add(sumSquares, square.eval(field, args));
    }
    const slack = fromBits(field, input, this.length * this.bits, this.normBits);
    const norm = field.sub(
      field.add(sumSquares, slack),
      field.mul(this.normBound % field.modulus, sharesInv),
    );
    return field.add(range, field.mul(jointRand[1] as bigint, norm));
  }

  encode(measurement: readonly number[]): bigint[] {
    const bits = encodeCoordinates(measurement, this.length, this.bits);
    let squares = 0n;
    for (const v of measurement) squares += BigInt(v) * BigInt(v);
    if (squares > this.normBound) throw new RangeError('the measurement is over the L2 norm bound');
    return bits.concat(toBits(this.normBound - squares, this.normBits));
  }

  truncate(input: bigint[]): bigint[] {
    const out = new Array<bigint>(this.length);
    for (let i = 0; i < this.length; i++) out[i] = fromBits(this.field, input, i * this.bits, this.bits);
    return out;
  }

  decode(output: bigint[], measurementCount: number): bigint[] {
    return signedDecode(this.field, output, measurementCount, this.offset);
  }
}
