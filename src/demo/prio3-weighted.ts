/**
 * Row-count weighting of the federated example's updates in Prio3 mode, the way the SecAgg+ path
 * weights them (`quantizeWeighted`: the server learns Σ nᵢ·Δᵢ and Σ nᵢ): a hospital with nᵢ rows
 * submits [wᵢ·clip(Δᵢ, L), wᵢ·L] with wᵢ = min(nᵢ, maxWeight)/maxWeight, so the sum gives both the
 * weighted numerator and the total weight, and the weighted mean is Σ wᵢΔᵢ / Σ wᵢ.
 *
 * The norm bound stays meaningful: an honest vector has L2 norm ≤ wᵢ·L·√2 ≤ L·√2 (the round's
 * bound, {@link prio3WeightedBound}), so no report moves the numerator by more than one full-weight
 * update of norm L√2, whatever weight it claims. The weight coordinate itself is bounded only by the
 * norm: a client can claim any weight up to maxWeight (as under SecAgg+, where it is not checked at
 * all) or a negative one, shifting the total weight by at most √2 full-weight clients;
 * {@link prio3WeightedMean} refuses a total weight that is not positive.
 *
 * Demo code: not exported from any package entry. Deliberately not here: the statistics round
 * (the example still runs it over SecAgg+).
 *
 * @module
 */

import { ConfideArgumentError } from '../errors.ts';
import { clipVector } from '../smpc/quantize.ts';

/** The L2 bound of a weighted vector whose update part is clipped to `l2Bound`. */
export function prio3WeightedBound(l2Bound: number): number {
  if (!(l2Bound > 0 && Number.isFinite(l2Bound)))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'l2Bound must be a positive number');
  return l2Bound * Math.SQRT2;
}

/**
 * [w·clip(update, l2Bound), w·l2Bound] with w = min(rows, maxWeight)/maxWeight. With
 * `clip: false` the update is taken as is (for the poisoning attacker of `poison.ts`).
 */
export function prio3WeightedUpdate(
  update: ArrayLike<number>,
  rows: number,
  options: { readonly l2Bound: number; readonly maxWeight: number; readonly clip?: boolean },
): Float64Array {
  const bound = options.l2Bound;
  prio3WeightedBound(bound);
  if (!(Number.isInteger(rows) && rows >= 1))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'rows must be a positive integer');
  if (!(Number.isInteger(options.maxWeight) && options.maxWeight >= 1))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'maxWeight must be a positive integer');
  const w = Math.min(rows, options.maxWeight) / options.maxWeight;
  const values =
    options.clip === false ? Float64Array.from(update) : clipVector(update, { clipL2: bound }).values;
  const out = new Float64Array(values.length + 1);
  for (let i = 0; i < values.length; i++) out[i] = w * (values[i] as number);
  out[values.length] = w * bound;
  return out;
}

/**
 * The weighted mean update and the total weight (in rows) from a Prio3 sum of weighted vectors in
 * quantized units; null when the total weight is not positive (nothing to average).
 */
export function prio3WeightedMean(
  sum: readonly bigint[],
  options: { readonly scale: number; readonly l2Bound: number; readonly maxWeight: number },
): { readonly mean: Float64Array; readonly totalWeight: number } | null {
  if (!Array.isArray(sum) || sum.length < 2)
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'sum must hold the update and the weight');
  const last = Number(sum[sum.length - 1]);
  if (!(last > 0)) return null;
  const mean = new Float64Array(sum.length - 1);
  for (let i = 0; i < mean.length; i++) mean[i] = (Number(sum[i]) * options.l2Bound) / last;
  return { mean, totalWeight: (last / options.scale / options.l2Bound) * options.maxWeight };
}
