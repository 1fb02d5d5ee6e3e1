/**
 * The model-poisoning hospital of the federated example (`examples/federated-hospitals`), written
 * as an attacker would: it skips its own clipping and submits an update `factor` times over the
 * federation's L2 norm bound, pointing against its honest update (a model-reversal attack).
 *
 * - {@link poisonedUpdate}: the float update −factor · bound · Δ/‖Δ‖.
 * - {@link poisonedSecAggLanes}: that update packed as `quantizeWeighted` would pack it, but
 *   without clipping — SecAgg+ sums whatever ring integers it is given, and cannot tell.
 * - {@link cheatingPrio3Shard}: a Prio3 report of an `l2` round that claims the bound holds (it
 *   encodes the slack modulo 2^normBits instead of refusing) — with an honest proof of a false
 *   statement, which the aggregators' FLP check rejects.
 *
 * Demo code: not exported from any package entry.
 *
 * @module
 */

import { Field128 } from '@divviup/field';
import { Prio3 } from '@divviup/prio3';
import { FlpGeneric } from '@divviup/prio3/dist/genericFlp.js';
import { XofTurboShake128 } from '@divviup/xof';
import { BoundedL2VecSum } from '../smpc/prio3/circuits.ts';
import { type Prio3Report, shardReport } from '../smpc/prio3/client.ts';
import { PRIO3_L2_ID, type Prio3Params, type Prio3Vdaf } from '../smpc/prio3/vdaf.ts';

/** −factor · bound · Δ/‖Δ‖ (or along the first axis when Δ = 0). */
export function poisonedUpdate(update: ArrayLike<number>, bound: number, factor: number): Float64Array {
  let sq = 0;
  for (let i = 0; i < update.length; i++) sq += (update[i] as number) ** 2;
  const norm = Math.sqrt(sq);
  const out = new Float64Array(update.length);
  if (norm === 0) out[0] = -factor * bound;
  else for (let i = 0; i < out.length; i++) out[i] = (-factor * bound * (update[i] as number)) / norm;
  return out;
}

/**
 * `quantizeWeighted`'s layout ([w′·M, w′·x·M/c]) for `values`, unclipped and rounded to nearest, as
 * 32-bit ring lanes.
 */
export function poisonedSecAggLanes(
  values: ArrayLike<number>,
  weight: number,
  settings: { readonly maxWeight: number; readonly valueBits: number; readonly clipLInf: number },
): Uint32Array {
  const m = 2 ** (settings.valueBits - 1) - 1;
  const wn = weight / settings.maxWeight;
  const out = new Uint32Array(values.length + 1);
  out[0] = Math.round(wn * m) >>> 0;
  for (let i = 0; i < values.length; i++)
    out[i + 1] = Math.round((wn * (values[i] as number) * m) / settings.clipLInf) >>> 0;
  return out;
}

/** A report of an `l2` round that lies about the slack, so an over-bound vector gets a proof. */
export function cheatingPrio3Shard(
  params: Prio3Params,
  measurement: readonly number[],
): Promise<Prio3Report> {
  const bound = BigInt(params.normBound as string);
  const circuit = new BoundedL2VecSum(
    new Field128(),
    params.length,
    params.bits,
    bound,
    Math.ceil(Math.sqrt(params.length * params.bits + bound.toString(2).length)),
    Math.ceil(Math.sqrt(params.length)),
  );
  const half = 2 ** (params.bits - 1);
  circuit.encode = (m: readonly number[]) => {
    const bits: bigint[] = [];
    let sq = 0n;
    for (const raw of m) {
      const v = Math.max(-half, Math.min(half - 1, raw));
      sq += BigInt(v) * BigInt(v);
      for (let j = 0; j < params.bits; j++) bits.push(BigInt(((v + half) >> j) & 1));
    }
    const slack = (bound - sq) & ((1n << BigInt(circuit.normBits)) - 1n);
    for (let j = 0; j < circuit.normBits; j++) bits.push((slack >> BigInt(j)) & 1n);
    return bits;
  };
  const vdaf = new Prio3(XofTurboShake128, new FlpGeneric(circuit), 2, 1, PRIO3_L2_ID) as Prio3Vdaf;
  return shardReport(vdaf, measurement);
}
