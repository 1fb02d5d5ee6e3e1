/**
 * Small, deterministic plaintext trainers for the demo, tests and benchmarks: L2-regularised
 * logistic regression (Newton's method, as scikit-learn's `lbfgs`/`newton-cg` converge to),
 * multinomial logistic regression (gradient descent on the softmax loss) and ridge regression
 * (normal equations). Features are standardised first and the fitted scaler is part of the
 * returned `confide/linear-model@1` model.
 *
 * The binary trainer can also warm-start from a model (its scaler kept, not refitted) for a bounded
 * number of Newton steps: that is one federated client's local training in the
 * `examples/federated-hospitals` example, where every hospital must standardise with the one scaler
 * the federation agreed on and start from the current global weights.
 *
 * Deliberately not here: anything encrypted, model selection, sparse data. These exist so the demo
 * has a real model to score, not to compete with scikit-learn.
 *
 * @module
 */

import { ConfideArgumentError } from '../errors.ts';
import { type LinearModel, parseLinearModel } from '../he/model.ts';

/** Fits a standard scaler: column means and (population) standard deviations, 1 for constant columns. */
export function fitScaler(x: readonly (readonly number[])[]): { mean: number[]; scale: number[] } {
  const d = (x[0] as readonly number[]).length;
  const mean = new Array<number>(d).fill(0);
  for (const row of x)
    for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) + (row[j] as number) / x.length;
  const scale = new Array<number>(d).fill(0);
  for (const row of x)
    for (let j = 0; j < d; j++)
      scale[j] = (scale[j] as number) + ((row[j] as number) - (mean[j] as number)) ** 2 / x.length;
  return { mean, scale: scale.map((v) => (v > 0 ? Math.sqrt(v) : 1)) };
}

function standardizeAll(
  x: readonly (readonly number[])[],
  s: { mean: number[]; scale: number[] },
): number[][] {
  return x.map((row) => row.map((v, j) => (v - (s.mean[j] as number)) / (s.scale[j] as number)));
}

/** Solves A z = b for symmetric positive-definite A (Cholesky). */
function solveSpd(a: number[][], b: number[]): number[] {
  const n = b.length;
  const l = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = (a[i] as number[])[j] as number;
      for (let k = 0; k < j; k++)
        sum -= ((l[i] as number[])[k] as number) * ((l[j] as number[])[k] as number);
      (l[i] as number[])[j] =
        i === j ? Math.sqrt(Math.max(sum, 1e-12)) : sum / ((l[j] as number[])[j] as number);
    }
  }
  const y = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    let sum = b[i] as number;
    for (let k = 0; k < i; k++) sum -= ((l[i] as number[])[k] as number) * (y[k] as number);
    y[i] = sum / ((l[i] as number[])[i] as number);
  }
  const z = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let sum = y[i] as number;
    for (let k = i + 1; k < n; k++) sum -= ((l[k] as number[])[i] as number) * (z[k] as number);
    z[i] = sum / ((l[i] as number[])[i] as number);
  }
  return z;
}

/** Options shared by the trainers. */
export interface TrainOptions {
  readonly features: readonly string[];
  /** Inverse regularisation strength, as scikit-learn's `C` (default 1); for ridge, alpha = 1/C. */
  readonly c?: number;
}

/** Options of {@link trainLogistic}. */
export interface LogisticOptions extends TrainOptions {
  readonly classes?: readonly string[];
  /**
   * Warm start: begin at this binary model's weights and standardise with its scaler (not refitted).
   * Its features must be `features`, in order.
   */
  readonly start?: LinearModel;
  /** Newton steps at most (default 50; training stops earlier once a step is below 1e-10). */
  readonly maxIterations?: number;
}

/**
 * Binary logistic regression with an L2 penalty ½‖w‖²/C (intercept unpenalised), by Newton's method.
 * `y` holds 0/1 labels; classes are `['0', '1']` unless given (or taken from `start`).
 */
export function trainLogistic(
  x: readonly (readonly number[])[],
  y: readonly number[],
  options: LogisticOptions,
): LinearModel {
  const start = options.start;
  const d = options.features.length;
  if (
    start !== undefined &&
    (start.task !== 'binary-classification' ||
      start.features.length !== d ||
      start.features.some((f, j) => f !== options.features[j]))
  ) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'start must be a binary-classification model over the same features, in the same order',
    );
  }
  const scaler = start?.scaler
    ? { mean: [...start.scaler.mean], scale: [...start.scaler.scale] }
    : start
      ? { mean: new Array<number>(d).fill(0), scale: new Array<number>(d).fill(1) }
      : fitScaler(x);
  const z = standardizeAll(x, scaler);
  const lambda = 1 / (options.c ?? 1);
  const iterations = options.maxIterations ?? 50;
  // w[d] is the intercept
  let w = start
    ? [...(start.coefficients[0] as readonly number[]), start.intercepts[0] as number]
    : new Array<number>(d + 1).fill(0);
  for (let iter = 0; iter < iterations; iter++) {
    const grad = new Array<number>(d + 1).fill(0);
    const hess = Array.from({ length: d + 1 }, () => new Array<number>(d + 1).fill(0));
    z.forEach((row, i) => {
      let t = w[d] as number;
      for (let j = 0; j < d; j++) t += (w[j] as number) * (row[j] as number);
      const p = 1 / (1 + Math.exp(-t));
      const r = p - (y[i] as number);
      const s = p * (1 - p);
      const xi = [...row, 1];
      for (let a = 0; a <= d; a++) {
        grad[a] = (grad[a] as number) + r * (xi[a] as number);
        const ha = hess[a] as number[];
        for (let b = 0; b <= a; b++) ha[b] = (ha[b] as number) + s * (xi[a] as number) * (xi[b] as number);
      }
    });
    for (let a = 0; a <= d; a++) {
      for (let b = 0; b < a; b++) (hess[b] as number[])[a] = (hess[a] as number[])[b] as number;
      if (a < d) {
        grad[a] = (grad[a] as number) + lambda * (w[a] as number);
        (hess[a] as number[])[a] = ((hess[a] as number[])[a] as number) + lambda;
      }
    }
    const step = solveSpd(hess, grad);
    w = w.map((v, a) => v - (step[a] as number));
    if (Math.max(...step.map(Math.abs)) < 1e-10) break;
  }
  return parseLinearModel({
    format: 'confide/linear-model@1',
    task: 'binary-classification',
    features: options.features,
    coefficients: [w.slice(0, d)],
    intercepts: [w[d]],
    classes: options.classes ?? start?.classes ?? ['0', '1'],
    scaler,
  });
}

/** Multinomial logistic regression (softmax) with an L2 penalty, by gradient descent with momentum. */
export function trainMultinomial(
  x: readonly (readonly number[])[],
  y: readonly number[],
  options: TrainOptions & { classes: readonly string[] },
): LinearModel {
  const scaler = fitScaler(x);
  const z = standardizeAll(x, scaler);
  const d = options.features.length;
  const k = options.classes.length;
  const lambda = 1 / (options.c ?? 1);
  const w = Array.from({ length: k }, () => new Array<number>(d + 1).fill(0));
  const velocity = Array.from({ length: k }, () => new Array<number>(d + 1).fill(0));
  const rate = 1 / z.length;
  for (let iter = 0; iter < 2000; iter++) {
    const grad = Array.from({ length: k }, () => new Array<number>(d + 1).fill(0));
    z.forEach((row, i) => {
      const logits = w.map((wc) => row.reduce((acc, v, j) => acc + v * (wc[j] as number), wc[d] as number));
      const max = Math.max(...logits);
      const exps = logits.map((l) => Math.exp(l - max));
      const total = exps.reduce((a, b) => a + b, 0);
      for (let c = 0; c < k; c++) {
        const r = (exps[c] as number) / total - (y[i] === c ? 1 : 0);
        const gc = grad[c] as number[];
        for (let j = 0; j < d; j++) gc[j] = (gc[j] as number) + r * (row[j] as number);
        gc[d] = (gc[d] as number) + r;
      }
    });
    for (let c = 0; c < k; c++) {
      for (let j = 0; j <= d; j++) {
        const g =
          ((grad[c] as number[])[j] as number) + (j < d ? lambda * ((w[c] as number[])[j] as number) : 0);
        const v = 0.9 * ((velocity[c] as number[])[j] as number) - rate * g;
        (velocity[c] as number[])[j] = v;
        (w[c] as number[])[j] = ((w[c] as number[])[j] as number) + v;
      }
    }
  }
  return parseLinearModel({
    format: 'confide/linear-model@1',
    task: 'multiclass-classification',
    features: options.features,
    coefficients: w.map((wc) => wc.slice(0, d)),
    intercepts: w.map((wc) => wc[d]),
    classes: options.classes,
    scaler,
  });
}

/** Ridge regression (alpha = 1/C, intercept unpenalised) on standardised features, closed form. */
export function trainRidge(
  x: readonly (readonly number[])[],
  y: readonly number[],
  options: TrainOptions,
): LinearModel {
  const scaler = fitScaler(x);
  const z = standardizeAll(x, scaler);
  const d = options.features.length;
  const alpha = 1 / (options.c ?? 1);
  const meanY = y.reduce((a, b) => a + b, 0) / y.length;
  const a = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  const b = new Array<number>(d).fill(0);
  z.forEach((row, i) => {
    const t = (y[i] as number) - meanY;
    for (let p = 0; p < d; p++) {
      b[p] = (b[p] as number) + (row[p] as number) * t;
      for (let q = 0; q < d; q++)
        (a[p] as number[])[q] = ((a[p] as number[])[q] as number) + (row[p] as number) * (row[q] as number);
    }
  });
  for (let p = 0; p < d; p++) (a[p] as number[])[p] = ((a[p] as number[])[p] as number) + alpha;
  const w = solveSpd(a, b);
  return parseLinearModel({
    format: 'confide/linear-model@1',
    task: 'regression',
    features: options.features,
    coefficients: [w],
    intercepts: [meanY],
    scaler,
  });
}
