/**
 * Weighted means through a secure sum: each client packs
 * [w′, w′·x] with w′ = w / maxWeight, quantizes it, and the aggregate [Σw′, Σw′·x] decodes to the
 * weighted mean Σw·x / Σw. This is Flower's `[q_ratio, q_ratio·params]` packing with two
 * deliberate changes: a weight above `maxWeight` (or not positive) is refused, not merely logged,
 * and the weight coordinate has its own scale (w′ ∈ (0, 1] uses the full quantization range), so
 * the weight is not rounded at the values' coarser resolution.
 *
 * Layout: coordinate 0 is round(w′ · M); coordinates 1..d are round(w′ · clip(x) · M / c), with
 * M = 2^(valueBits−1) − 1 and c the clipping bound, both stochastically rounded as in
 * `quantize.ts`, so every entry stays within ±M and `assertSumFits` bounds the sum as before.
 *
 * Deliberately not here: hiding the weights from the server (Σw is revealed by design), DP noise,
 * and choosing maxWeight.
 *
 * @module
 */

import { assertFinite } from '../internal/assert.ts';
import { SmpcError } from './errors.ts';
import { randomBytes } from './primitives/random.ts';
import { createRing, ringToSigned } from './primitives/ring.ts';
import {
  clipVector,
  type QuantizationParams,
  type QuantizeOptions,
  quantizationParams,
  stochasticRound,
} from './quantize.ts';
import { assertOptionalPositive, assertUint32Array } from './validate.ts';

/** Options of {@link quantizeWeighted}. */
export interface WeightedQuantizeOptions extends QuantizeOptions {
  /** The largest weight a client may claim (e.g. a cap on its number of examples). */
  readonly maxWeight: number;
}

/** What decodes a weighted aggregate. */
export interface WeightedParams extends QuantizationParams {
  readonly maxWeight: number;
}

/**
 * Packs and quantizes [w′, w′·x] for a weighted secure sum.
 *
 * @throws {SmpcError} `SMPC_WEIGHT_OUT_OF_RANGE` when the weight is not in (0, maxWeight].
 * @example
 * ```ts
 * const q = quantizeWeighted(update, 120, { maxWeight: 1000, valueBits: 16, clipLInf: 1 });
 * ```
 */
export function quantizeWeighted(
  values: ArrayLike<number>,
  weight: number,
  options: WeightedQuantizeOptions,
): { readonly values: Uint32Array; readonly params: WeightedParams; readonly clipped: boolean } {
  const params = quantizationParams(options);
  const maxWeight = assertOptionalPositive(options.maxWeight, 'maxWeight') ?? Number.NaN;
  const w = assertFinite(weight, 'weight');
  if (!(w > 0 && w <= maxWeight)) {
    throw new SmpcError('SMPC_WEIGHT_OUT_OF_RANGE', `weight must be in (0, maxWeight = ${maxWeight}]`);
  }
  const wn = w / maxWeight;
  const { values: clippedValues, clipped } = clipVector(values, {
    ...(options.clipLInf === undefined ? {} : { clipLInf: options.clipLInf }),
    ...(options.clipL2 === undefined ? {} : { clipL2: options.clipL2 }),
  });
  const scaled = new Float64Array(clippedValues.length + 1);
  scaled[0] = wn * params.maxMagnitude;
  for (let i = 0; i < clippedValues.length; i++)
    scaled[i + 1] = wn * (clippedValues[i] as number) * params.scale;
  const rounded = stochasticRound(scaled, options.random ?? randomBytes);
  const ring = createRing(params.ringBits);
  const m = params.maxMagnitude;
  const out = new Uint32Array(rounded.length);
  for (let i = 0; i < rounded.length; i++)
    out[i] = Math.max(-m, Math.min(m, rounded[i] as number)) & ring.mask;
  return { values: out, params: { ...params, maxWeight }, clipped };
}

/**
 * Decodes the ring sum of packed vectors into the weighted mean Σw·x / Σw and the total weight.
 *
 * @throws {SmpcError} `SMPC_WEIGHT_OUT_OF_RANGE` when the summed weight is not positive.
 */
export function dequantizeWeightedMean(
  sum: Uint32Array,
  params: WeightedParams,
): { readonly mean: Float64Array; readonly totalWeight: number } {
  assertUint32Array(sum, 'sum');
  const signed = ringToSigned(sum, createRing(params.ringBits));
  const totalWeightUnits = signed[0] ?? 0;
  if (!(totalWeightUnits > 0)) {
    throw new SmpcError('SMPC_WEIGHT_OUT_OF_RANGE', 'the aggregate carries no positive weight');
  }
  const wSum = totalWeightUnits / params.maxMagnitude; // Σ w′
  const mean = new Float64Array(signed.length - 1);
  for (let i = 0; i < mean.length; i++) mean[i] = (signed[i + 1] as number) / params.scale / wSum;
  return { mean, totalWeight: wSum * params.maxWeight };
}
