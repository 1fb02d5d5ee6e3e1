/**
 * Linear models as confide scores them: the `confide/linear-model@1` JSON format, its validator,
 * the plaintext reference scorer and the client-side link functions (sigmoid, softmax).
 *
 * The format mirrors scikit-learn's estimators so exporting is one line of Python:
 * `coefficients` is `coef_` (outputs × features; one row for regression and binary
 * classification), `intercepts` is `intercept_`, `classes` is `classes_` (for binary tasks
 * `classes[1]` is the positive class) and the optional `scaler` is a fitted `StandardScaler`
 * (`x' = (x - mean) / scale`), applied by the client before encryption.
 *
 * Validation collects every wrong field into one {@link HeError} (`HE_MODEL_INVALID`) whose
 * `fields` lists the paths, so a user fixes an export in one pass.
 *
 * Deliberately not here: ONNX parsing (`onnx.ts`), anything encrypted.
 *
 * @module
 */

import { HeError } from '../errors.ts';
import { sha256, toHex, utf8 } from '../internal/bytes.ts';

/** What a linear model predicts. */
export type LinearTask = 'regression' | 'binary-classification' | 'multiclass-classification';

/** The standard scaler the client applies before encryption: `x' = (x - mean) / scale`. */
export interface StandardScaler {
  readonly mean: readonly number[];
  readonly scale: readonly number[];
}

/** A validated `confide/linear-model@1` model. */
export interface LinearModel {
  readonly format: 'confide/linear-model@1';
  readonly task: LinearTask;
  /** Feature names in coefficient order. */
  readonly features: readonly string[];
  /** outputs × features. */
  readonly coefficients: readonly (readonly number[])[];
  /** One per output. */
  readonly intercepts: readonly number[];
  /** Class labels; for binary tasks `classes[1]` is the positive class. */
  readonly classes?: readonly string[];
  readonly scaler?: StandardScaler;
}

/** The model format identifier this version reads and writes. */
export const LINEAR_MODEL_FORMAT = 'confide/linear-model@1';

const TASKS: readonly LinearTask[] = ['regression', 'binary-classification', 'multiclass-classification'];

/** Largest model we accept: bounded so hostile files cannot make us allocate without limit. */
export const MAX_FEATURES = 4096;
/** Largest number of outputs (classes) we accept. */
export const MAX_OUTPUTS = 1024;

function finiteArray(value: unknown, path: string, length: number | undefined, problems: string[]): number[] {
  if (!Array.isArray(value)) {
    problems.push(`${path} must be an array of numbers`);
    return [];
  }
  if (length !== undefined && value.length !== length) {
    problems.push(`${path} must have ${length} entries (one per feature), has ${value.length}`);
  }
  const out: number[] = [];
  value.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) problems.push(`${path}[${i}] must be a finite number`);
    else out.push(v);
  });
  return out;
}

/**
 * Validates a parsed `confide/linear-model@1` object and returns it as a frozen {@link LinearModel}.
 *
 * @param value - the parsed JSON
 * @returns the model, deep-frozen
 * @throws {@link HeError} `HE_MODEL_INVALID` naming every wrong field in `fields`
 */
export function parseLinearModel(value: unknown): LinearModel {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HeError(
      'HE_MODEL_INVALID',
      'the model must be a JSON object in the confide/linear-model@1 format',
    );
  }
  const v = value as Record<string, unknown>;
  const problems: string[] = [];
  const fields: string[] = [];
  const note = (field: string, message: string) => {
    fields.push(field);
    problems.push(message);
  };

  if (v.format !== LINEAR_MODEL_FORMAT) {
    note('format', `format must be "${LINEAR_MODEL_FORMAT}", got ${JSON.stringify(v.format) ?? 'nothing'}`);
  }
  const task = v.task as LinearTask;
  if (!TASKS.includes(task)) note('task', `task must be one of ${TASKS.join(', ')}`);

  const features: string[] = [];
  if (!Array.isArray(v.features) || v.features.length === 0 || v.features.length > MAX_FEATURES) {
    note('features', `features must be a non-empty array of at most ${MAX_FEATURES} names`);
  } else {
    const seen = new Set<string>();
    v.features.forEach((f, i) => {
      if (typeof f !== 'string' || f.length === 0 || f.length > 256) {
        note(`features[${i}]`, `features[${i}] must be a non-empty name of at most 256 characters`);
      } else if (seen.has(f)) {
        note(`features[${i}]`, `features[${i}] "${f}" appears twice`);
      } else {
        seen.add(f);
        features.push(f);
      }
    });
  }
  const d = Array.isArray(v.features) ? v.features.length : 0;

  const coefficients: number[][] = [];
  if (!Array.isArray(v.coefficients) || v.coefficients.length === 0 || v.coefficients.length > MAX_OUTPUTS) {
    note(
      'coefficients',
      `coefficients must be a non-empty array (outputs × features) of at most ${MAX_OUTPUTS} rows`,
    );
  } else {
    v.coefficients.forEach((row, i) => {
      const before = problems.length;
      const parsed = finiteArray(row, `coefficients[${i}]`, d, problems);
      if (problems.length > before) fields.push(`coefficients[${i}]`);
      coefficients.push(parsed);
    });
  }
  const outputs = coefficients.length;

  const beforeIntercepts = problems.length;
  const intercepts = finiteArray(v.intercepts, 'intercepts', undefined, problems);
  if (problems.length > beforeIntercepts) fields.push('intercepts');
  else if (outputs > 0 && intercepts.length !== outputs) {
    note(
      'intercepts',
      `intercepts must have one entry per coefficient row (${outputs}), has ${intercepts.length}`,
    );
  }

  if (task === 'regression' || task === 'binary-classification') {
    if (outputs > 1) note('coefficients', `a ${task} model has exactly one coefficient row, got ${outputs}`);
  } else if (task === 'multiclass-classification' && outputs > 0 && outputs < 3) {
    note('coefficients', `a multiclass model has one coefficient row per class (at least 3), got ${outputs}`);
  }

  let classes: string[] | undefined;
  if (v.classes !== undefined) {
    if (!Array.isArray(v.classes) || v.classes.some((c) => typeof c !== 'string' || c.length === 0)) {
      note('classes', 'classes must be an array of non-empty strings');
    } else {
      classes = [...(v.classes as string[])];
      if (new Set(classes).size !== classes.length) note('classes', 'classes must not repeat a label');
      if (task === 'regression') note('classes', 'a regression model has no classes');
      if (task === 'binary-classification' && classes.length !== 2) {
        note('classes', `a binary model has exactly 2 classes, got ${classes.length}`);
      }
      if (task === 'multiclass-classification' && classes.length !== outputs) {
        note(
          'classes',
          `a multiclass model has one class per coefficient row (${outputs}), got ${classes.length}`,
        );
      }
    }
  }

  let scaler: StandardScaler | undefined;
  if (v.scaler !== undefined) {
    if (typeof v.scaler !== 'object' || v.scaler === null || Array.isArray(v.scaler)) {
      note('scaler', 'scaler must be an object with mean and scale arrays');
    } else {
      const s = v.scaler as Record<string, unknown>;
      const before = problems.length;
      const mean = finiteArray(s.mean, 'scaler.mean', d, problems);
      if (problems.length > before) fields.push('scaler.mean');
      const beforeScale = problems.length;
      const scale = finiteArray(s.scale, 'scaler.scale', d, problems);
      if (problems.length > beforeScale) fields.push('scaler.scale');
      scale.forEach((x, i) => {
        if (x === 0) note(`scaler.scale[${i}]`, `scaler.scale[${i}] must not be 0`);
      });
      scaler = { mean, scale };
    }
  }

  const known = new Set(['format', 'task', 'features', 'coefficients', 'intercepts', 'classes', 'scaler']);
  for (const key of Object.keys(v)) {
    if (!known.has(key)) note(key, `unknown field "${key}" (the format has ${[...known].join(', ')})`);
  }

  if (problems.length > 0) {
    throw new HeError(
      'HE_MODEL_INVALID',
      `invalid linear model: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`,
      {
        fields: [...new Set(fields)],
      },
    );
  }
  const model: LinearModel = {
    format: LINEAR_MODEL_FORMAT,
    task,
    features: Object.freeze(features),
    coefficients: Object.freeze(coefficients.map((r) => Object.freeze(r))),
    intercepts: Object.freeze(intercepts),
    ...(classes ? { classes: Object.freeze(classes) } : {}),
    ...(scaler
      ? { scaler: Object.freeze({ mean: Object.freeze(scaler.mean), scale: Object.freeze(scaler.scale) }) }
      : {}),
  };
  return Object.freeze(model);
}

/**
 * What a client needs of a model to prepare inputs and read scores: everything but the weights.
 * A client can hold this instead of the model, so the weights stay with the server.
 */
export interface ModelInterface {
  readonly format: 'confide/linear-model@1';
  readonly task: LinearTask;
  readonly features: readonly string[];
  /** Scores per sample (1 for regression and binary classification). */
  readonly outputs: number;
  readonly classes?: readonly string[];
  readonly scaler?: StandardScaler;
}

/** The number of scores the model produces per sample (1 for regression and binary). */
export function outputCount(model: LinearModel | ModelInterface): number {
  return 'outputs' in model ? model.outputs : model.coefficients.length;
}

/** The weight-free interface of a model. */
export function modelInterface(model: LinearModel | ModelInterface): ModelInterface {
  return Object.freeze({
    format: LINEAR_MODEL_FORMAT,
    task: model.task,
    features: model.features,
    outputs: outputCount(model),
    ...(model.classes ? { classes: model.classes } : {}),
    ...(model.scaler ? { scaler: model.scaler } : {}),
  });
}

/**
 * Validates a model interface read back from a file (the same rules as the full format, with
 * `outputs` in place of the weights).
 *
 * @throws {@link HeError} `HE_MODEL_INVALID`
 */
export function parseModelInterface(value: unknown): ModelInterface {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HeError('HE_MODEL_INVALID', 'the model interface must be an object');
  }
  const { outputs, ...rest } = value as Record<string, unknown>;
  if (typeof outputs !== 'number' || !Number.isInteger(outputs) || outputs < 1 || outputs > MAX_OUTPUTS) {
    throw new HeError(
      'HE_MODEL_INVALID',
      `the model interface needs outputs, an integer from 1 to ${MAX_OUTPUTS}`,
    );
  }
  const features = Array.isArray(rest.features) ? rest.features : [];
  // Reuse the full validator with placeholder weights of the right shape.
  const model = parseLinearModel({
    ...rest,
    coefficients: Array.from({ length: outputs }, () => features.map(() => 1)),
    intercepts: new Array(outputs).fill(0),
  });
  return modelInterface(model);
}

/** Class labels, defaulting to "0", "1", … when the model names none. */
export function classLabels(model: LinearModel | ModelInterface): readonly string[] {
  if (model.classes) return model.classes;
  if (model.task === 'binary-classification') return ['0', '1'];
  return Array.from({ length: outputCount(model) }, (_, i) => String(i));
}

/** Applies the model's scaler to one row (in place of a copy); returns the row unchanged without a scaler. */
export function standardize(model: LinearModel | ModelInterface, row: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(row);
  const s = model.scaler;
  if (s)
    for (let j = 0; j < out.length; j++)
      out[j] = ((out[j] as number) - (s.mean[j] as number)) / (s.scale[j] as number);
  return out;
}

/**
 * The plaintext reference: raw scores (logits for classifiers), one array of `outputs` per row.
 * This is what the encrypted pipeline must reproduce.
 */
export function scorePlaintext(model: LinearModel, rows: readonly ArrayLike<number>[]): Float64Array[] {
  return rows.map((row) => {
    const x = standardize(model, row);
    return Float64Array.from(model.coefficients, (w, c) => {
      let acc = model.intercepts[c] as number;
      for (let j = 0; j < w.length; j++) acc += (w[j] as number) * (x[j] as number);
      return acc;
    });
  });
}

/** The logistic function, computed without overflow for large |z|. */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** Softmax of one score vector, shifted by the maximum for numerical safety. */
export function softmax(scores: ArrayLike<number>): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < scores.length; i++) max = Math.max(max, scores[i] as number);
  const out = Float64Array.from({ length: scores.length }, (_, i) => Math.exp((scores[i] as number) - max));
  const total = out.reduce((a, b) => a + b, 0);
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / total;
  return out;
}

/** One prediction, shaped by task. */
export type Prediction =
  | { readonly task: 'regression'; readonly prediction: number }
  | {
      readonly task: 'binary-classification';
      readonly score: number;
      readonly probability: number;
      readonly label: string;
    }
  | {
      readonly task: 'multiclass-classification';
      readonly label: string;
      readonly probabilities: readonly number[];
    };

/**
 * {@link predictFromScores} for many rows at once, resolving the labels once (decryption of a
 * full batch produces thousands of rows).
 */
export function predictAllFromScores(
  model: LinearModel | ModelInterface,
  scores: readonly ArrayLike<number>[],
): Prediction[] {
  const labels = classLabels(model);
  if (model.task === 'regression') {
    return scores.map((s) => ({ task: 'regression', prediction: s[0] as number }));
  }
  if (model.task === 'binary-classification') {
    const [negative, positive] = labels as [string, string];
    return scores.map((s) => {
      const score = s[0] as number;
      const probability = sigmoid(score);
      return {
        task: 'binary-classification',
        score,
        probability,
        label: probability >= 0.5 ? positive : negative,
      };
    });
  }
  return scores.map((s) => predictFromScores(model, s));
}

/**
 * Turns raw scores into predictions: identity for regression, sigmoid for binary (probability
 * of `classes[1]`, label by the 0.5 threshold), softmax and arg-max for multiclass.
 * This runs on the client after decryption; the server never applies a link function.
 */
export function predictFromScores(
  model: LinearModel | ModelInterface,
  scores: ArrayLike<number>,
): Prediction {
  const labels = classLabels(model);
  if (model.task === 'regression') return { task: 'regression', prediction: scores[0] as number };
  if (model.task === 'binary-classification') {
    const score = scores[0] as number;
    const probability = sigmoid(score);
    return {
      task: 'binary-classification',
      score,
      probability,
      label: labels[probability >= 0.5 ? 1 : 0] as string,
    };
  }
  const probabilities = softmax(scores);
  let best = 0;
  for (let i = 1; i < probabilities.length; i++)
    if ((probabilities[i] as number) > (probabilities[best] as number)) best = i;
  return {
    task: 'multiclass-classification',
    label: labels[best] as string,
    probabilities: [...probabilities],
  };
}

/** Largest L1 norm of a coefficient row and largest |intercept|: what the planner bounds scores with. */
export function weightBounds(model: LinearModel): { weightL1: number; interceptBound: number } {
  let weightL1 = 0;
  for (const row of model.coefficients)
    weightL1 = Math.max(
      weightL1,
      row.reduce((a, w) => a + Math.abs(w), 0),
    );
  const interceptBound = model.intercepts.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
  return { weightL1, interceptBound };
}

/** Upper bounds on a model's weights: what parameter planning needs besides the interface. */
export interface WeightBounds {
  /** At least the largest L1 norm of a coefficient row. */
  readonly weightL1: number;
  /** At least the largest |intercept|. */
  readonly interceptBound: number;
}

function powerOfTwoAtLeast(x: number): number {
  if (!(x > 0)) return 0;
  let p = 2 ** Math.ceil(Math.log2(x));
  while (p < x) p *= 2; // guard against log2 rounding down
  return p;
}

/**
 * The weight bounds a server publishes beside a model's interface (`GET /v1/models`), so a client
 * holding no weights can plan parameters: {@link weightBounds} rounded up to powers of two, which
 * discloses only the order of magnitude of the weights (a client scoring chosen inputs learns far
 * more from its own results).
 */
export function publishedWeightBounds(model: LinearModel): WeightBounds {
  const { weightL1, interceptBound } = weightBounds(model);
  return { weightL1: powerOfTwoAtLeast(weightL1), interceptBound: powerOfTwoAtLeast(interceptBound) };
}

/**
 * The model's canonical JSON text: fields in the format's order, numbers in ECMAScript's
 * shortest round-trip form. Its SHA-256 is the model digest that results are bound to.
 */
export function canonicalModelJson(model: LinearModel): string {
  return JSON.stringify({
    format: model.format,
    task: model.task,
    features: model.features,
    coefficients: model.coefficients,
    intercepts: model.intercepts,
    ...(model.classes ? { classes: model.classes } : {}),
    ...(model.scaler ? { scaler: { mean: model.scaler.mean, scale: model.scaler.scale } } : {}),
  });
}

/**
 * The part of a model the client must agree on with the server to prepare inputs and read
 * scores: task, feature order, outputs, classes and scaler. Batches carry its digest; the server refuses a
 * batch prepared for another interface.
 */
export function canonicalInterfaceJson(model: LinearModel | ModelInterface): string {
  return JSON.stringify({
    format: LINEAR_MODEL_FORMAT,
    task: model.task,
    features: model.features,
    outputs: outputCount(model),
    ...(model.classes ? { classes: model.classes } : {}),
    ...(model.scaler ? { scaler: { mean: model.scaler.mean, scale: model.scaler.scale } } : {}),
  });
}

/** SHA-256 (hex) of {@link canonicalModelJson}: identifies exactly which model scored a result. */
export function modelDigest(model: LinearModel): string {
  return toHex(sha256(utf8(canonicalModelJson(model))));
}

/** SHA-256 (hex) of {@link canonicalInterfaceJson}. */
export function modelInterfaceDigest(model: LinearModel | ModelInterface): string {
  return toHex(sha256(utf8(canonicalInterfaceJson(model))));
}
