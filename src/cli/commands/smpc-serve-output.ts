/**
 * What `confide smpc serve` and `confide smpc join` print and write about a round, in the user's
 * units: the decoded sum and mean (floats) beside the ring lanes for `--output-dir`; the
 * distributed-DP noise as the standard deviation of the decoded mean and sum per coordinate (input
 * units), not only the local σ² in quantized units; and the server's closing summary (rounds
 * completed, aborted and interrupted, clients seen, time). No logic the library lacks: decoding is
 * `dequantize` / `decodeNoisySum` of `confide/smpc`.
 *
 * The DP figures follow from the plan: each client adds discrete Gaussian noise of variance
 * ≤ σ² (`localVariance`, quantized units²) per coordinate, so the sum of k survivors carries
 * noise of standard deviation ≈ √k·σ / scale in input units, and their mean √k·σ / (scale·k) =
 * σ / (scale·√k). Rounding noise (at most 1 quantized unit per client and coordinate) is not
 * included.
 *
 * @module
 */

import { type DpPlan, decodeNoisySum, dequantize, quantizationParams } from '../../smpc/index.ts';

/** Standard deviation per coordinate of the DP noise in the decoded sum and mean of `survivors`. */
export function dpNoiseStd(plan: DpPlan, survivors: number): { sum: number; mean: number } {
  const k = Math.max(1, survivors);
  const sigma = Math.sqrt(plan.localVariance) / plan.scale; // one client's noise, input units
  return { sum: sigma * Math.sqrt(k), mean: sigma / Math.sqrt(k) };
}

function figure(x: number): string {
  return x.toPrecision(3);
}

/** The server's line about its DP plan, in quantized and in input units. */
export function describeDpPlan(plan: DpPlan): string {
  const worst = dpNoiseStd(plan, plan.minSurvivors);
  const expected = dpNoiseStd(plan, plan.expectedClients);
  return (
    `differential privacy: target ε = ${plan.epsilon}, δ = ${plan.delta} over ${plan.rounds} rounds with ≥ ` +
    `${plan.minSurvivors} survivors; local noise σ² = ${plan.localVariance} quantized units² ` +
    `(σ = ${figure(Math.sqrt(plan.localVariance) / plan.scale)} input units per client and coordinate); ` +
    `noise std of the decoded mean per coordinate ≈ ${figure(expected.mean)} input units with ${plan.expectedClients} ` +
    `inputs, ${figure(worst.mean)} with ${plan.minSurvivors}\n`
  );
}

/** A round's sum decoded into input units: the sum of the inputs and their mean. */
export interface DecodedRound {
  readonly sum: number[];
  readonly mean: number[];
  /** With a DP plan: the noise's standard deviation per coordinate, input units. */
  readonly noiseStd: { readonly sum: number; readonly mean: number } | null;
}

/**
 * Decodes `lanes`: with a DP plan by `decodeNoisySum` (its noisy mean, times the survivors for the
 * sum); else with `valueBits`/`clip` by `dequantize` (the sum, divided for the mean); else null.
 */
export function decodeRound(
  lanes: Uint32Array,
  survivors: number,
  ringBits: number,
  flags: { readonly valueBits?: number | undefined; readonly clip?: number | undefined },
  dp: DpPlan | undefined,
): DecodedRound | null {
  const k = Math.max(1, survivors);
  if (dp !== undefined) {
    const mean = Array.from(decodeNoisySum(lanes, dp, survivors));
    return { sum: mean.map((v) => v * k), mean, noiseStd: dpNoiseStd(dp, survivors) };
  }
  if (flags.valueBits === undefined || flags.clip === undefined) return null;
  const params = quantizationParams({ valueBits: flags.valueBits, clipLInf: flags.clip, ringBits });
  const sum = Array.from(dequantize(lanes, params));
  return { sum, mean: sum.map((v) => v / k), noiseStd: null };
}

/** The `--output-dir` file of a round: the ring lanes, and beside them the decoded floats. */
export function roundFile(
  roundId: string,
  ringBits: number,
  lanes: Uint32Array,
  survivors: number,
  decoded: DecodedRound | null,
): string {
  const record = {
    roundId,
    ringBits,
    lanes: Array.from(lanes),
    ...(decoded === null
      ? {}
      : {
          survivors,
          decodedSum: decoded.sum,
          decodedMean: decoded.mean,
          ...(decoded.noiseStd === null
            ? {}
            : { dpNoiseStdSum: decoded.noiseStd.sum, dpNoiseStdMean: decoded.noiseStd.mean }),
        }),
  };
  return `${JSON.stringify(record)}\n`;
}

/** The server's books for its closing summary. */
export class ServeSummary {
  readonly #started = performance.now();
  readonly #seen = new Set<string>();
  #completed = 0;
  readonly #aborted: string[] = [];
  #interrupted = 0;

  /** A client authenticated. */
  clientSeen(id: string): void {
    this.#seen.add(id);
  }

  /** A round ended; `interrupted`: aborted by this server's own shutdown. */
  round(status: 'completed' | 'aborted', code: string | undefined, interrupted: boolean): void {
    if (status === 'completed') this.#completed++;
    else if (interrupted) this.#interrupted++;
    else this.#aborted.push(code ?? 'SMPC_ABORTED');
  }

  /** Rounds that aborted for a reason other than the shutdown. */
  get aborted(): number {
    return this.#aborted.length;
  }

  /** The code of the last such abort, if any. */
  get lastAbortCode(): string | undefined {
    return this.#aborted.at(-1);
  }

  /** Rounds that ran (completed, aborted or interrupted). */
  get ran(): number {
    return this.#completed + this.#aborted.length + this.#interrupted;
  }

  /** One line: `summary: …`. */
  line(requested: number, stoppedBy: string | null): string {
    const codes = [...new Set(this.#aborted)];
    const ids = [...this.#seen].sort();
    const shown = ids.slice(0, 10).join(', ') + (ids.length > 10 ? ', …' : '');
    const ran = this.#completed + this.#aborted.length + this.#interrupted;
    return (
      `summary: ${this.#completed} of ${requested} rounds completed, ${this.#aborted.length} aborted` +
      (codes.length > 0 ? ` (${codes.join(', ')})` : '') +
      (this.#interrupted > 0 ? `, ${this.#interrupted} interrupted by the shutdown` : '') +
      (ran < requested ? `, ${requested - ran} not started` : '') +
      `; ${ids.length} clients seen${ids.length > 0 ? ` (${shown})` : ''}; ` +
      `${((performance.now() - this.#started) / 1000).toFixed(1)} s` +
      (stoppedBy === null ? '' : `; stopped by ${stoppedBy}, shut down cleanly`) +
      '\n'
    );
  }
}
