/**
 * The two slot packings, as pure functions from numbers to slot vectors and back. No SEAL here:
 * `client.ts` encrypts what these produce, `evaluate.ts` encodes the weight vectors.
 *
 * **batch** (SIMD across samples): ciphertext j of a chunk holds feature j of up to `slots`
 * samples (the client writes these columns directly while it validates each value). Scores are Σ_j w_j · ct_j + b, one result ciphertext per output; no rotations, no
 * Galois keys.
 *
 * **single** (one sample per ciphertext): the sample's features fill a power-of-two block that
 * is replicated across every slot. For one output, multiply by the equally replicated weights and
 * rotate-and-sum over the block: every slot then holds the full score, so the client learns the
 * score and nothing else. For several outputs, the diagonal method (Halevi–Shoup, CRYPTO 2014)
 * with baby-step giant-step (Halevi–Shoup, CRYPTO 2018): diagonals are zero outside the first
 * `outputs` slots, so every other slot of the result is an encryption of zero.
 *
 * @module
 */

import { singleLayoutShape } from './params.ts';

/** One sample's features replicated with period `block` across all `slots`. */
export function packSingle(row: Float64Array, block: number, slots: number): Float64Array {
  const out = new Float64Array(slots);
  for (let s = 0; s < slots; s++) {
    const j = s % block;
    out[s] = j < row.length ? (row[j] as number) : 0;
  }
  return out;
}

/** A constant vector (batch-layout weight or bias). */
export function constantVector(value: number, slots: number): Float64Array {
  return new Float64Array(slots).fill(value);
}

/** The single-layout weight vector for a one-output model, replicated like the input. */
export function singleWeights(weights: readonly number[], block: number, slots: number): Float64Array {
  return packSingle(Float64Array.from(weights), block, slots);
}

/** One pre-rotated diagonal for the baby-step giant-step product, or `undefined` when it is all zero. */
export interface Diagonal {
  readonly baby: number;
  readonly giant: number;
  readonly values: Float64Array;
}

/**
 * The diagonals of the outputs × features matrix, each rotated right by its giant step so the
 * giant rotation can be applied once per group (BSGS). Zero diagonals are dropped: multiplying by
 * an all-zero plaintext would give a transparent ciphertext.
 */
export function bsgsDiagonals(
  matrix: readonly (readonly number[])[],
  features: number,
  slots: number,
): Diagonal[] {
  const outputs = matrix.length;
  const { block, baby, giant } = singleLayoutShape(features, outputs);
  const out: Diagonal[] = [];
  for (let g = 0; g < giant; g++) {
    for (let b = 0; b < baby; b++) {
      const i = g * baby + b;
      const shift = g * baby;
      const values = new Float64Array(slots);
      let nonZero = false;
      for (let j = 0; j < outputs; j++) {
        const k = (j + i) % block;
        const w = k < features ? ((matrix[j] as readonly number[])[k] as number) : 0;
        if (w !== 0) nonZero = true;
        values[(j + shift) % slots] = w;
      }
      if (nonZero) out.push({ baby: b, giant: g, values });
    }
  }
  return out;
}

/** The single-layout bias vector: every slot for one output, slot c for output c otherwise. */
export function singleBias(intercepts: readonly number[], slots: number): Float64Array {
  if (intercepts.length === 1) return constantVector(intercepts[0] as number, slots);
  const out = new Float64Array(slots);
  intercepts.forEach((b, c) => {
    out[c] = b;
  });
  return out;
}
