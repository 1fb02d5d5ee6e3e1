/**
 * What the `he` commands need to know about a model's inputs that the model file may not say:
 * the names of an ONNX model's columns (`--feature-names a,b,c` or `--feature-names @names.txt`;
 * `he serve --feature-names ID=…` per model) and the input bound the keys are planned for
 * (`--input-bound auto --in data.csv`).
 *
 * ONNX stores one `[N, d]` tensor and no column names; the importer then names the columns
 * `f0` … `f{d-1}`. The CLI never does so silently: loading an ONNX model without names prints one
 * warning line on stderr naming the flag and the count of inputs.
 *
 * The automatic input bound is the power of two at or above 1.25 × the largest |value| the data
 * reaches after the model's scaler (the raw value for a model without one). It is part of the plan
 * stored in the evaluation keys the server receives, hence the coarse rounding.
 *
 * Deliberately not here: the importer (`he/onnx.ts`) and the parameter planner (`he/params.ts`),
 * which these only feed.
 *
 * @module
 */

import { InvalidArgumentError } from 'commander';
import { HeError } from '../errors.ts';
import { parseCsv, rowsForModel } from '../he/csv.ts';
import { loadModel } from '../he/load-model.ts';
import { type LinearModel, standardize } from '../he/model.ts';
import { isOnnx } from '../he/onnx.ts';
import { DEFAULT_INPUT_BOUND } from '../he/params.ts';
import { createIo } from './io.ts';

/** Reads and writes of the `he` commands report `HE_*` codes. */
const { readBytes, readText } = createIo('HE');

/** Longest feature name the model format accepts. */
const MAX_NAME_LENGTH = 256;

/** Margin of `--input-bound auto` over the largest |value| of the data. */
export const AUTO_BOUND_MARGIN = 1.25;

/** Splits `a,b,c`, or the lines (and commas) of `@file` with `#` comments, into trimmed names. */
async function nameList(value: string, flag: string, maxBytes: number | undefined): Promise<string[]> {
  const fromFile = value.startsWith('@');
  const text = fromFile ? await readText(value.slice(1), `${flag} file`, { kind: 'csv', maxBytes }) : value;
  const names = text
    .split(/\r?\n/)
    .filter((line) => !(fromFile && line.trimStart().startsWith('#')))
    .flatMap((line) => line.split(','))
    .map((n) => n.trim());
  const cleaned = fromFile ? names.filter((n) => n !== '') : names;
  if (cleaned.length === 0 || cleaned.some((n) => n === '')) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      `${flag} must list one non-empty name per model input, comma-separated or one per line in @FILE`,
    );
  }
  const seen = new Set<string>();
  for (const n of cleaned) {
    if (n.length > MAX_NAME_LENGTH) {
      throw new HeError(
        'HE_PARAMETERS_INVALID',
        `${flag} has a name longer than ${MAX_NAME_LENGTH} characters`,
      );
    }
    if (seen.has(n)) throw new HeError('HE_PARAMETERS_INVALID', `${flag} names "${n}" twice`);
    seen.add(n);
  }
  return cleaned;
}

function warnUnnamed(path: string, count: number, prefix: string): void {
  const last = count - 1;
  process.stderr.write(
    `confide: warning: ${path} is ONNX, which stores no column names, so its ${count} input${count === 1 ? ' is' : 's are'} named f0${last > 0 ? `…f${last}` : ''} and CSV columns must carry those names; name them in training order with ${prefix}NAME1,NAME2,… (${count} names) or ${prefix}@names.txt (one per line)\n`,
  );
}

/**
 * Reads a model file (confide/linear-model@1 JSON or ONNX), applying `featureNames` (the value of
 * `--feature-names`) to an ONNX model and warning on stderr when an ONNX model gets none.
 *
 * @param prefix - how the user gives names to this model: `--feature-names ` or `--feature-names ID=`
 * @throws {@link HeError} `HE_PARAMETERS_INVALID` for names given to a JSON model or a bad list
 */
export async function readModelFile(
  path: string,
  what: string,
  featureNames: string | undefined,
  maxBytes: number | undefined,
  prefix = '--feature-names ',
): Promise<LinearModel> {
  const flag = prefix.trim();
  const bytes = await readBytes(path, what, { kind: 'model', maxBytes });
  const onnx = isOnnx(bytes);
  if (featureNames !== undefined && !onnx) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      `${flag} is for ONNX models only: ${path} is not ONNX, and a confide/linear-model JSON file names its features itself`,
    );
  }
  const unnamed = loadModel(bytes);
  const count = unnamed.features.length;
  if (featureNames === undefined) {
    if (onnx) warnUnnamed(path, count, prefix);
    return unnamed;
  }
  const names = await nameList(featureNames, flag, maxBytes);
  if (names.length !== count) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      `${flag} gives ${names.length} name${names.length === 1 ? '' : 's'} but ${path} has ${count} inputs: give one name per input, in training order`,
    );
  }
  return loadModel(bytes, { featureNames: names });
}

/**
 * Parses one `he serve --feature-names ID=LIST` (or `ID=@FILE`) value; repeatable. A commander
 * option parser, so a malformed value is a usage error naming the flag.
 */
export function collectServeFeatureNames(value: string, previous: Map<string, string>): Map<string, string> {
  const eq = value.indexOf('=');
  if (eq < 1 || eq === value.length - 1) {
    throw new InvalidArgumentError('expected ID=NAME1,NAME2,… or ID=@FILE, with ID a --model id');
  }
  const id = value.slice(0, eq);
  if (previous.has(id)) throw new InvalidArgumentError(`the names of model ${id} are given twice`);
  return new Map(previous).set(id, value.slice(eq + 1));
}

/**
 * The power of two at or above `x`: the bound travels to the server inside the evaluation keys, so
 * it reveals only which power of two the data's largest value falls under, at a cost of at most
 * one bit of modulus.
 */
function powerOfTwoAbove(x: number): number {
  if (!(x > 0)) return 1;
  return 2 ** Math.ceil(Math.log2(x));
}

/** The largest |value| of the data after the model's scaler, and the bound `auto` derives from it. */
export interface DataBound {
  readonly path: string;
  readonly rows: number;
  readonly largest: number;
  readonly bound: number;
}

/**
 * Reads a CSV (columns matched by the model's feature names, as `he encrypt` does) and measures
 * the largest |value| of a feature after the model's scaler.
 */
export async function measureInputBound(
  path: string,
  model: LinearModel,
  maxBytes: number | undefined,
): Promise<DataBound> {
  const rows = rowsForModel(parseCsv(await readText(path, 'CSV', { kind: 'csv', maxBytes })), model);
  let largest = 0;
  for (const row of rows) {
    for (const v of standardize(model, row)) largest = Math.max(largest, Math.abs(v));
  }
  return { path, rows: rows.length, largest, bound: powerOfTwoAbove(AUTO_BOUND_MARGIN * largest) };
}

/** The input bound `he keygen` plans for, from `--input-bound` and `--in`. */
export interface InputBoundChoice {
  /** Undefined: the library's default ({@link DEFAULT_INPUT_BOUND}). */
  readonly inputBound: number | undefined;
  /** The bound actually planned for. */
  readonly planned: number;
  readonly auto: boolean;
  readonly data: DataBound | undefined;
}

/**
 * Resolves `--input-bound X|auto` with `--in FILE`: `auto` needs `--in`; with `--in`, data beyond
 * the bound is refused now rather than at encryption.
 *
 * @throws {@link HeError} `HE_PARAMETERS_INVALID`
 */
export async function resolveInputBound(
  flag: string | undefined,
  inPath: string | undefined,
  model: LinearModel,
  maxBytes: number | undefined,
): Promise<InputBoundChoice> {
  const auto = flag === 'auto';
  if (auto && inPath === undefined) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      '--input-bound auto needs --in data.csv: the bound is computed from the data the keys will encrypt',
    );
  }
  let given: number | undefined;
  if (flag !== undefined && !auto) {
    given = Number(flag);
    if (!Number.isFinite(given) || given <= 0) {
      throw new HeError(
        'HE_PARAMETERS_INVALID',
        `--input-bound must be a positive number or auto, got "${flag}"`,
      );
    }
  }
  const data = inPath === undefined ? undefined : await measureInputBound(inPath, model, maxBytes);
  const inputBound = auto ? data?.bound : given;
  const planned = inputBound ?? DEFAULT_INPUT_BOUND;
  if (data && data.largest > planned) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      `the data in ${data.path} reaches |x| = ${data.largest.toPrecision(3)} after the model's scaler, beyond --input-bound ${planned}: it could not be encrypted under these keys; pass --input-bound auto (${data.bound}) or a larger bound`,
    );
  }
  return { inputBound, planned, auto, data };
}

/**
 * Adds to a `HE_PLAN_INFEASIBLE` refusal of `he keygen` what the input bound has to do with it and
 * which bound would do; any other error is returned unchanged.
 */
export function explainInfeasible(error: unknown, model: LinearModel, choice: InputBoundChoice): unknown {
  if (!(error instanceof HeError) || error.code !== 'HE_PLAN_INFEASIBLE') return error;
  const { planned, data } = choice;
  const after = model.scaler ? "after the model's scaler" : '(this model has no scaler: raw values)';
  let hint: string;
  if (choice.auto || (data && data.bound >= planned)) {
    const source = data
      ? `the data in ${data.path} reaches |x| = ${data.largest.toPrecision(3)} ${after}`
      : '';
    hint = `${source}${source ? ', so a' : 'A'} smaller input bound would not hold the data: lower --precision-bits, or standardize the features (a StandardScaler before the model) so the weights shrink`;
  } else if (data) {
    hint = `the data in ${data.path} reaches |x| = ${data.largest.toPrecision(3)} ${after}, so --input-bound auto --in ${data.path} (${data.bound}) may fit where ${planned} does not`;
  } else {
    hint = `--input-bound (now ${planned}) is the largest |value| of a feature ${after}; if your data stays well below it, pass --input-bound auto --in data.csv to plan for your data (the power of two above 1.25 × its largest |value|)`;
  }
  return new HeError('HE_PLAN_INFEASIBLE', `${error.message}; ${hint}`, { cause: error });
}
