/**
 * The plaintext half of federated averaging (McMahan et al., AISTATS 2017, "Communication-Efficient
 * Learning of Deep Networks from Decentralized Data", FedAvg) for the binary logistic regression of
 * `train.ts`, as the `examples/federated-hospitals` example runs it over secure aggregation:
 *
 * - a deterministic split of a data set into a held-out test set and one shard per hospital;
 * - a statistics round: each hospital encodes its row count, Σx and Σx² per feature as exact
 *   fixed-point ring lanes, so the *secure sum* of those vectors gives the pooled standard scaler
 *   (the same one central training would fit) without any hospital revealing its own statistics;
 * - local training: a few Newton steps of `trainLogistic` warm-started from the global model, with
 *   the L2 penalty scaled by the shard's share of the pooled rows (so the shards' objectives add up
 *   to the central one), returning the update (local − global) as one flat vector;
 * - the server's FedAvg step: global + the weighted mean update;
 * - the round payload: the global model as JSON bytes.
 *
 * Fixed-point statistics (why limbs): Σx² of the largest feature reaches ~10^10 while the smallest
 * feature's variance is ~10^-5, far beyond one 32-bit lane. Each sum becomes V = round(v · 2^30),
 * split into two 24-bit low limbs and a signed top limb (V = t · 2^48 + m · 2^24 + l); lane-wise
 * sums mod 2^32 stay exact for up to 255 hospitals (8 spare bits per lane absorb the carries), and
 * recombining in BigInt keeps every bit.
 *
 * Deliberately not here: quantization and clipping of the update (the caller uses `quantizeWeighted`
 * from `confide/smpc`), transport, differential privacy, and any defence against a hospital that
 * lies about its update or its row count (secure aggregation hides inputs; it does not vet them).
 *
 * @module
 */

import { ConfideArgumentError } from '../errors.ts';
import { type LinearModel, parseLinearModel, type StandardScaler, scorePlaintext } from '../he/model.ts';
import type { Dataset } from './dataset.ts';
import { trainLogistic } from './train.ts';

/** Fractional bits of the statistics round's fixed point: 2^-30 ≈ 10^-9 resolution per sum. */
const STAT_FRACTION_BITS = 30n;
/** Width of the two low limbs; the 8 bits above each absorb carries of up to 255 summands. */
const LIMB_BITS = 24n;
const LIMB = 1n << LIMB_BITS;
const LIMBS = 3;
const MAX_STAT_SUMMANDS = 255;
/** |fixed-point value| bound: the signed top limb stays below 2^23, so 255 of them cannot wrap. */
const MAX_FIXED = 1n << (2n * LIMB_BITS + 23n);

function assertDataset(data: Dataset, label: string): void {
  if (
    typeof data !== 'object' ||
    data === null ||
    !Array.isArray(data.x) ||
    !Array.isArray(data.y) ||
    data.x.length !== data.y.length ||
    !Array.isArray(data.features) ||
    data.features.length === 0
  ) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `${label} must be { features, x, y } with one target per row and at least one feature`,
    );
  }
}

function assertCount(value: number, label: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', `${label} must be an integer in [${min}, ${max}]`);
  }
  return value;
}

function subset(data: Dataset, rows: readonly number[]): Dataset {
  return {
    features: data.features,
    x: rows.map((i) => data.x[i] as readonly number[]),
    y: rows.map((i) => data.y[i] as number),
  };
}

/** A data set split for federated training. */
export interface FederatedSplit {
  /** Every `testEvery`-th row (rows `testEvery − 1`, `2·testEvery − 1`, …), evaluated centrally. */
  readonly test: Dataset;
  /** All other rows, pooled: what central training sees. */
  readonly train: Dataset;
  /** `train` cut into contiguous blocks, one per hospital. */
  readonly shards: readonly Dataset[];
}

/**
 * Splits a data set deterministically: every `testEvery`-th row is held out as the test set (as
 * `confide demo` does), and the remaining rows are cut, in file order and without stratification,
 * into contiguous blocks of unequal size (block h gets a share proportional to h + 4), so hospitals
 * differ in size and in their label mix.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a malformed data set, a bad count, or too
 *   few rows for every hospital to get at least two.
 * @example
 * ```ts
 * const { shards, test } = splitFederated(datasetFromCsv(csv), { hospitals: 8 });
 * ```
 */
export function splitFederated(
  data: Dataset,
  options: { readonly hospitals: number; readonly testEvery?: number },
): FederatedSplit {
  assertDataset(data, 'data');
  const hospitals = assertCount(options.hospitals, 'hospitals', 1, MAX_STAT_SUMMANDS);
  const testEvery = assertCount(options.testEvery ?? 5, 'testEvery', 2, 1000);
  const trainRows: number[] = [];
  const testRows: number[] = [];
  data.x.forEach((_, i) => {
    (i % testEvery === testEvery - 1 ? testRows : trainRows).push(i);
  });
  if (trainRows.length < 2 * hospitals) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `${trainRows.length} training rows cannot give each of ${hospitals} hospitals two rows: use fewer hospitals`,
    );
  }
  const weights = Array.from({ length: hospitals }, (_, h) => h + 4);
  const total = weights.reduce((a, b) => a + b, 0);
  const shards: Dataset[] = [];
  let start = 0;
  let cumulative = 0;
  for (let h = 0; h < hospitals; h++) {
    cumulative += weights[h] as number;
    const end = h === hospitals - 1 ? trainRows.length : Math.round((trainRows.length * cumulative) / total);
    shards.push(subset(data, trainRows.slice(start, end)));
    start = end;
  }
  return { test: subset(data, testRows), train: subset(data, trainRows), shards };
}

/** Lanes of a statistics vector for `d` features: the count, then 3 limbs each of Σx and Σx². */
export function statisticsLength(d: number): number {
  return 1 + 2 * LIMBS * assertCount(d, 'features', 1, 4096);
}

function pushFixed(out: Uint32Array, at: number, v: number): void {
  // v · 2^30 is exact in binary floating point, and BigInt of an integral double is exact.
  const fixed = BigInt(Math.round(v * 2 ** Number(STAT_FRACTION_BITS)));
  if (fixed >= MAX_FIXED || -fixed >= MAX_FIXED) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'a feature sum is too large for the statistics round');
  }
  let rest = fixed;
  for (let k = 0; k < LIMBS - 1; k++) {
    const limb = ((rest % LIMB) + LIMB) % LIMB;
    out[at + k] = Number(limb);
    rest = (rest - limb) / LIMB;
  }
  out[at + LIMBS - 1] = Number(BigInt.asUintN(32, rest));
}

function readFixed(sum: Uint32Array, at: number): number {
  let value = BigInt.asIntN(32, BigInt(sum[at + LIMBS - 1] as number));
  for (let k = LIMBS - 2; k >= 0; k--) value = value * LIMB + BigInt(sum[at + k] as number);
  return Number(value) / 2 ** Number(STAT_FRACTION_BITS);
}

/**
 * One hospital's input to the statistics round: [n, (Σx_j, Σx_j²) per feature as fixed-point limbs].
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for an empty shard or sums out of range.
 * @example
 * ```ts
 * const lanes = statisticsVector(shard.x); // the ring vector this hospital submits
 * ```
 */
export function statisticsVector(x: readonly (readonly number[])[]): Uint32Array {
  if (!Array.isArray(x) || x.length === 0 || !Array.isArray(x[0])) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'x must be a non-empty array of feature rows');
  }
  const d = (x[0] as readonly number[]).length;
  const out = new Uint32Array(statisticsLength(d));
  out[0] = assertCount(x.length, 'rows', 1, 2 ** 24 - 1);
  for (let j = 0; j < d; j++) {
    let sum = 0;
    let squares = 0;
    for (const row of x) {
      const v = row[j];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new ConfideArgumentError('INVALID_ARGUMENT', `feature ${j} holds a value that is not finite`);
      }
      sum += v;
      squares += v * v;
    }
    pushFixed(out, 1 + 2 * LIMBS * j, sum);
    pushFixed(out, 1 + 2 * LIMBS * j + LIMBS, squares);
  }
  return out;
}

/**
 * Decodes the secure sum of {@link statisticsVector}s into the pooled row count and the standard
 * scaler (population standard deviation, 1 for a constant column, as `fitScaler` does).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` when the sum has the wrong length or no rows.
 */
export function scalerFromStatistics(sum: Uint32Array, d: number): { rows: number; scaler: StandardScaler } {
  if (!(sum instanceof Uint32Array) || sum.length !== statisticsLength(d)) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `sum must be a Uint32Array of ${statisticsLength(d)} lanes`,
    );
  }
  const rows = sum[0] as number;
  if (rows === 0) throw new ConfideArgumentError('INVALID_ARGUMENT', 'the statistics sum counts no rows');
  const mean: number[] = [];
  const scale: number[] = [];
  for (let j = 0; j < d; j++) {
    const m = readFixed(sum, 1 + 2 * LIMBS * j) / rows;
    const variance = readFixed(sum, 1 + 2 * LIMBS * j + LIMBS) / rows - m * m;
    mean.push(m);
    scale.push(variance > 0 ? Math.sqrt(variance) : 1);
  }
  return { rows, scaler: { mean, scale } };
}

/**
 * The starting global model: all-zero weights over the agreed scaler.
 *
 * @throws {HeError} `HE_MODEL_INVALID` when the features and scaler do not match.
 */
export function initialModel(
  features: readonly string[],
  scaler: StandardScaler,
  classes: readonly string[] = ['0', '1'],
): LinearModel {
  return parseLinearModel({
    format: 'confide/linear-model@1',
    task: 'binary-classification',
    features,
    coefficients: [new Array<number>(features.length).fill(0)],
    intercepts: [0],
    classes,
    scaler,
  });
}

/** A binary model's parameters as one vector: the coefficients, then the intercept. */
export function modelVector(model: LinearModel): Float64Array {
  const w = model.coefficients[0] ?? [];
  const out = new Float64Array(w.length + 1);
  out.set(w);
  out[w.length] = model.intercepts[0] ?? 0;
  return out;
}

/** Options of {@link localUpdate}. */
export interface LocalUpdateOptions {
  /** Rows of the whole federation (from the statistics round): scales the L2 penalty. */
  readonly pooledRows: number;
  /** Newton steps from the global model (default 1: more overshoot on small shards and FedAvg diverges). */
  readonly iterations?: number;
  /** The federation's inverse regularisation strength, as `trainLogistic`'s `c` (default 1). */
  readonly c?: number;
}

/**
 * One hospital's local training: Newton steps of `trainLogistic` from the global model on its
 * shard, with penalty (n_h / N) · ½‖w‖²/C so that the hospitals' objectives sum to the central
 * one. Returns the update (local − global) as a {@link modelVector}-shaped vector.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a malformed shard or options.
 */
export function localUpdate(global: LinearModel, shard: Dataset, options: LocalUpdateOptions): Float64Array {
  assertDataset(shard, 'shard');
  const pooled = assertCount(options.pooledRows, 'pooledRows', shard.x.length, Number.MAX_SAFE_INTEGER);
  if (shard.x.length === 0) throw new ConfideArgumentError('INVALID_ARGUMENT', 'the shard has no rows');
  const iterations = assertCount(options.iterations ?? 1, 'iterations', 1, 50);
  const c = options.c ?? 1;
  if (!(c > 0 && Number.isFinite(c)))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'c must be positive');
  const local = trainLogistic(shard.x, shard.y, {
    features: global.features,
    start: global,
    maxIterations: iterations,
    c: (c * pooled) / shard.x.length,
  });
  const before = modelVector(global);
  const after = modelVector(local);
  return after.map((v, i) => v - (before[i] as number));
}

/**
 * The server's FedAvg step: the global model moved by the (weighted) mean update.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` when the update's length does not match.
 */
export function applyUpdate(global: LinearModel, meanUpdate: ArrayLike<number>): LinearModel {
  const v = modelVector(global);
  if (meanUpdate.length !== v.length) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', `the update must have ${v.length} entries`);
  }
  const d = v.length - 1;
  const next = Array.from(v, (x, i) => x + (meanUpdate[i] as number));
  return parseLinearModel({ ...global, coefficients: [next.slice(0, d)], intercepts: [next[d]] });
}

/** Share of rows a binary model labels correctly (score ≥ 0 predicts class 1). */
export function accuracy(model: LinearModel, data: Dataset): number {
  assertDataset(data, 'data');
  if (data.x.length === 0) return Number.NaN;
  const scores = scorePlaintext(model, data.x);
  let correct = 0;
  scores.forEach((s, i) => {
    if (((s[0] as number) >= 0 ? 1 : 0) === data.y[i]) correct++;
  });
  return correct / data.x.length;
}

/** How hospitals train and quantize in a round: set by the server, so both sides agree. */
export interface TrainingSettings {
  /** Newton steps of local training. */
  readonly localSteps: number;
  /** Per-coordinate clip of the update before quantization. */
  readonly clipLInf: number;
  /** Bits per quantized entry. */
  readonly valueBits: number;
  /** The largest row count a hospital may claim as its weight. */
  readonly maxWeight: number;
}

/** The example's defaults: one Newton step, updates clipped to ±4, 16-bit entries, ≤ 200 rows each. */
export const DEFAULT_TRAINING: TrainingSettings = Object.freeze({
  localSteps: 1,
  clipLInf: 4,
  valueBits: 16,
  maxWeight: 200,
});

/** What a round's payload carries: the statistics request, or the global model to train from. */
export type FederatedPayload =
  | { readonly kind: 'statistics' }
  | {
      readonly kind: 'train';
      readonly round: number;
      /** The current global model. */
      readonly model: LinearModel;
      /** Rows of the whole federation, from the statistics round. */
      readonly pooledRows: number;
      readonly settings: TrainingSettings;
    };

/** Encodes a round payload as UTF-8 JSON. */
export function encodePayload(payload: FederatedPayload): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(payload));
}

function parseSettings(value: unknown): TrainingSettings {
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const positive = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x > 0;
  if (
    !Number.isSafeInteger(v.localSteps) ||
    (v.localSteps as number) < 1 ||
    (v.localSteps as number) > 50 ||
    !positive(v.clipLInf) ||
    !Number.isSafeInteger(v.valueBits) ||
    !positive(v.maxWeight)
  ) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'the round payload needs settings { localSteps (1 to 50), clipLInf, valueBits, maxWeight }',
    );
  }
  return {
    localSteps: v.localSteps as number,
    clipLInf: v.clipLInf,
    valueBits: v.valueBits as number,
    maxWeight: v.maxWeight,
  };
}

/**
 * Decodes and validates a round payload (the model through `parseLinearModel`).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for anything else; `HE_MODEL_INVALID` for a bad model.
 */
export function decodePayload(bytes: Uint8Array): FederatedPayload {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'the round payload is not UTF-8 JSON');
  }
  const v = value as Record<string, unknown> | null;
  if (v?.kind === 'statistics') return { kind: 'statistics' };
  if (
    v?.kind === 'train' &&
    Number.isSafeInteger(v.round) &&
    Number.isSafeInteger(v.pooledRows) &&
    (v.pooledRows as number) > 0
  ) {
    return {
      kind: 'train',
      round: v.round as number,
      model: parseLinearModel(v.model),
      pooledRows: v.pooledRows as number,
      settings: parseSettings(v.settings),
    };
  }
  throw new ConfideArgumentError(
    'INVALID_ARGUMENT',
    'the round payload is neither { kind: "statistics" } nor { kind: "train", round, model, pooledRows, settings }',
  );
}
