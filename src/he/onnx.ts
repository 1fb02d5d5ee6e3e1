/**
 * ONNX import for linear models: turns an ONNX `ModelProto` as skl2onnx writes it for a
 * scikit-learn `LogisticRegression` (binary or multinomial) or `LinearRegression` / `Ridge`,
 * optionally preceded by a `StandardScaler`, into the equivalent validated
 * `confide/linear-model@1` {@link LinearModel}.
 *
 * Specs followed: the protobuf wire format (https://protobuf.dev/programming-guides/encoding/)
 * and the message definitions of `onnx/onnx.proto` (field numbers are cited next to each decoder);
 * operator semantics from the ONNX-ML operator docs (`ai.onnx.ml` LinearClassifier,
 * LinearRegressor, Scaler, Normalizer, ZipMap). The graph shapes accepted are the ones
 * skl2onnx's converters emit (`skl2onnx/operator_converters/linear_classifier.py`,
 * `linear_regressor.py`, `scaler_op.py`, `zip_map.py`).
 *
 * What is accepted, exactly:
 * - one graph input: a float (or double) tensor of shape `[N, d]`;
 * - at most one `ai.onnx.ml` `Scaler` before the model (ONNX computes `(x - offset) * scale`, so
 *   confide's `scaler.mean = offset` and `scaler.scale = 1 / scale`; a scale of 0 is refused);
 * - exactly one `ai.onnx.ml` `LinearClassifier` or `LinearRegressor`:
 *   - 2 classes, `post_transform = LOGISTIC`, two coefficient rows where row 0 is the negation of
 *     row 1 (skl2onnx's binary form) → `binary-classification` with row 1 and intercept 1;
 *   - 3 or more classes with `post_transform = SOFTMAX` (multinomial) → `multiclass-classification`;
 *   - `LinearRegressor` with `targets = 1` and `post_transform = NONE` → `regression`;
 * - after the model, only nodes that format the output without changing what confide's client
 *   link (sigmoid / softmax / identity) computes: `Normalizer` with `norm = L1` on probabilities
 *   (they already sum to 1 for the accepted classifiers, so it is the identity), `ZipMap` (turns
 *   the probability matrix into per-row maps; its labels must match the classifier's), `Cast` of
 *   the label (skl2onnx casts int64 labels to int64) or of scores to float/double, and `Identity`.
 *
 * Refused, with `HE_ONNX_UNSUPPORTED_OP` naming the operator and domain: every other operator
 * (tree ensembles, `Imputer`, `Binarizer`, `MatMul`, …), and supported operators used in a way
 * confide cannot reproduce (one-vs-rest `LOGISTIC` multiclass, raw-score classifiers with
 * `post_transform = NONE`, multi-target regression, `Normalizer` L2/MAX, a Scaler after the model).
 * Malformed bytes (truncated, hostile lengths, groups, over-long varints, invalid UTF-8, a graph
 * that does not connect) give `HE_ONNX_INVALID`. Feature-level validation is shared with the JSON
 * format: the result goes through {@link parseLinearModel}, whose `HE_MODEL_INVALID` errors pass
 * through unchanged.
 *
 * Three modules: `onnx-wire.ts` reads the protobuf wire format (bounded: every repeated field is
 * capped, input at most {@link MAX_ONNX_BYTES}, so hostile input costs linear time and memory),
 * `onnx-proto.ts` decodes the onnx.proto messages above, and this one interprets the graph. They
 * are tested against files written by Python `onnx` (test/vectors/onnx).
 *
 * Deliberately not here: external tensor data, `MatMul`/`Add` graphs (skl2onnx's double-precision
 * path), pipelines with more than one input column, and ONNX writing.
 *
 * @module
 */

import { ConfideArgumentError, HeError } from '../errors.ts';
import { assertBytes, assertObject, assertString } from '../internal/assert.ts';
import {
  LINEAR_MODEL_FORMAT,
  type LinearModel,
  MAX_FEATURES,
  MAX_OUTPUTS,
  parseLinearModel,
} from './model.ts';
import {
  Attributes,
  DOUBLE,
  decodeModel,
  FLOAT,
  type ModelInfo,
  type NodeInfo,
  nodeLabel,
} from './onnx-proto.ts';
import { invalid, show, showDomain, unsupported, WireReader } from './onnx-wire.ts';

/** Largest ONNX file accepted, in bytes (64 MiB). */
export const MAX_ONNX_BYTES: number = 64 * 1024 * 1024;

const ML = 'ai.onnx.ml';

type Role = 'classifier' | 'regressor' | 'scaler' | 'normalizer' | 'zipmap' | 'cast' | 'identity';

/** Supported operators, keyed by `domain/op_type` with the default domain written as ''. */
const ROLES: ReadonlyMap<string, Role> = new Map<string, Role>([
  [`${ML}/LinearClassifier`, 'classifier'],
  [`${ML}/LinearRegressor`, 'regressor'],
  [`${ML}/Scaler`, 'scaler'],
  [`${ML}/Normalizer`, 'normalizer'],
  [`${ML}/ZipMap`, 'zipmap'],
  ['/Cast', 'cast'],
  ['/Identity', 'identity'],
]);

/** Options for {@link importOnnxLinearModel}. */
export interface OnnxImportOptions {
  /**
   * Names of the `d` input columns, in order. ONNX has no per-column names (the input is one
   * `[N, d]` tensor), so they default to `f0` … `f{d-1}`, which a CSV or an API caller must then
   * use; pass the training column names instead (the CLI warns when an ONNX model gets none).
   */
  readonly featureNames?: readonly string[] | undefined;
}

// ---------------------------------------------------------------------------------------------
// Graph → LinearModel

function roleOf(node: NodeInfo): Role {
  const role = ROLES.get(`${node.domain}/${node.opType}`);
  if (role === undefined) {
    throw unsupported(
      `unsupported ONNX operator ${show(node.opType)} in domain ${showDomain(node.domain)} (${nodeLabel(node)})`,
    );
  }
  return role;
}

function allFinite(values: readonly number[], what: string, node: NodeInfo): void {
  if (!values.every(Number.isFinite)) throw invalid(`${what} of ${nodeLabel(node)} contains NaN or infinity`);
}

interface ModelPart {
  readonly task: LinearModel['task'];
  readonly coefficients: number[][];
  readonly intercepts: number[];
  readonly classes?: string[];
  readonly d: number;
}

function labelsOf(node: NodeInfo, attrs: Attributes, stringsName: string, intsName: string): string[] {
  const strings = attrs.strings(stringsName);
  const ints = attrs.ints(intsName);
  if ((strings === undefined) === (ints === undefined)) {
    throw invalid(`${nodeLabel(node)} must have exactly one of ${stringsName} and ${intsName}`);
  }
  return strings ? [...strings] : (ints ?? []).map((i) => i.toString());
}

/** Same value up to float32 rounding, relative. */
function negates(a: number, b: number): boolean {
  return Math.abs(a + b) <= 1e-6 * Math.max(Math.abs(a), Math.abs(b));
}

function classifierPart(node: NodeInfo): ModelPart {
  const attrs = new Attributes(node, [
    'coefficients',
    'intercepts',
    'classlabels_strings',
    'classlabels_ints',
    'multi_class',
    'post_transform',
  ]);
  const flat = attrs.floats('coefficients');
  if (!flat || flat.length === 0) throw invalid(`${nodeLabel(node)} has no coefficients`);
  const classes = labelsOf(node, attrs, 'classlabels_strings', 'classlabels_ints');
  if (classes.length < 2)
    throw invalid(`${nodeLabel(node)} has ${classes.length} class label(s), needs 2 or more`);
  const postTransform = attrs.string('post_transform') ?? 'NONE';
  const multiClass = attrs.int('multi_class') ?? 0n;
  if (multiClass !== 0n && multiClass !== 1n)
    throw invalid(`${nodeLabel(node)} has multi_class ${multiClass}`);
  const given = attrs.floats('intercepts') ?? [];
  const rows = given.length > 0 ? given.length : classes.length;
  if (flat.length % rows !== 0) {
    throw invalid(`${nodeLabel(node)} has ${flat.length} coefficients, not a whole number of ${rows} rows`);
  }
  allFinite(flat, 'coefficients', node);
  allFinite(given, 'intercepts', node);
  const d = flat.length / rows;
  const intercepts = given.length > 0 ? [...given] : new Array<number>(rows).fill(0);
  const matrix = Array.from({ length: rows }, (_, r) => flat.slice(r * d, (r + 1) * d));

  if (classes.length === 2) {
    if (rows !== 2) {
      throw unsupported(
        `${nodeLabel(node)} is binary with ${rows} coefficient row(s); confide imports the two-row form ` +
          'skl2onnx writes for LogisticRegression (row 0 = -row 1)',
      );
    }
    if (postTransform !== 'LOGISTIC') {
      throw unsupported(
        `${nodeLabel(node)} is binary with post_transform ${show(postTransform)}; confide applies a sigmoid to ` +
          'binary scores, which matches only LOGISTIC (LinearSVC, RidgeClassifier or the raw_scores option ' +
          'give NONE: raw decision scores with no probability)',
      );
    }
    const [neg, pos] = matrix as [number[], number[]];
    const [negB, posB] = intercepts as [number, number];
    if (!pos.every((w, j) => negates(w, neg[j] as number)) || !negates(posB, negB)) {
      throw unsupported(
        `${nodeLabel(node)} is binary but coefficient row 0 is not the negation of row 1, so it is not a ` +
          'logistic regression as skl2onnx writes it',
      );
    }
    return { task: 'binary-classification', coefficients: [pos], intercepts: [posB], classes, d };
  }

  if (rows !== classes.length) {
    throw invalid(`${nodeLabel(node)} has ${rows} coefficient rows for ${classes.length} classes`);
  }
  if (postTransform === 'LOGISTIC') {
    throw unsupported(
      `${nodeLabel(node)} has ${classes.length} classes with post_transform "LOGISTIC": that is one-vs-rest ` +
        'logistic regression (a sigmoid per class, then L1-normalised), while confide applies softmax to ' +
        'multiclass scores, which gives different probabilities (the arg-max label agrees); refit with ' +
        'multinomial LogisticRegression (the default lbfgs solver) and export again',
    );
  }
  if (postTransform !== 'SOFTMAX') {
    throw unsupported(
      `${nodeLabel(node)} has ${classes.length} classes with post_transform ${show(postTransform)}; confide's ` +
        'client applies softmax, which matches only SOFTMAX (multinomial logistic regression)',
    );
  }
  return { task: 'multiclass-classification', coefficients: matrix, intercepts, classes, d };
}

function regressorPart(node: NodeInfo): ModelPart {
  const attrs = new Attributes(node, ['coefficients', 'intercepts', 'post_transform', 'targets']);
  const targets = attrs.int('targets') ?? 1n;
  if (targets < 1n) throw invalid(`${nodeLabel(node)} has targets ${targets}`);
  if (targets !== 1n) {
    throw unsupported(`${nodeLabel(node)} has ${targets} targets; confide models have one regression output`);
  }
  const postTransform = attrs.string('post_transform') ?? 'NONE';
  if (postTransform !== 'NONE') {
    throw unsupported(`${nodeLabel(node)} has post_transform ${show(postTransform)}; regression needs NONE`);
  }
  const coefficients = attrs.floats('coefficients');
  if (!coefficients || coefficients.length === 0) throw invalid(`${nodeLabel(node)} has no coefficients`);
  const intercepts = attrs.floats('intercepts') ?? [];
  if (intercepts.length > 1)
    throw invalid(`${nodeLabel(node)} has ${intercepts.length} intercepts for 1 target`);
  allFinite(coefficients, 'coefficients', node);
  allFinite(intercepts, 'intercepts', node);
  return {
    task: 'regression',
    coefficients: [[...coefficients]],
    intercepts: [intercepts[0] ?? 0],
    d: coefficients.length,
  };
}

function scalerPart(node: NodeInfo, d: number): { mean: number[]; scale: number[] } {
  const attrs = new Attributes(node, ['offset', 'scale']);
  const broadcast = (name: string): number[] => {
    const values = attrs.floats(name);
    if (!values || values.length === 0) throw invalid(`${nodeLabel(node)} has no ${name}`);
    if (values.length !== 1 && values.length !== d) {
      throw invalid(
        `${nodeLabel(node)} has ${values.length} ${name} values for ${d} features (needs 1 or ${d})`,
      );
    }
    allFinite(values, name, node);
    return values.length === d ? [...values] : new Array<number>(d).fill(values[0] as number);
  };
  const mean = broadcast('offset');
  const onnxScale = broadcast('scale');
  const zero = onnxScale.indexOf(0);
  if (zero >= 0) {
    throw unsupported(
      `${nodeLabel(node)} has scale 0 for feature ${zero}, which erases that feature; confide's scaler divides ` +
        'by a non-zero scale (drop the constant feature before exporting)',
    );
  }
  return { mean, scale: onnxScale.map((s) => 1 / s) };
}

type ValueKind = 'label' | 'scores' | 'map' | 'prediction';

/** Checks one node after the model and returns the kind of value it produces. */
function formatNode(
  node: NodeInfo,
  role: Role,
  kind: ValueKind,
  classes: readonly string[] | undefined,
): ValueKind {
  const refuse = (why: string) => unsupported(`${nodeLabel(node)} ${why}`);
  if (node.outputs.length !== 1)
    throw invalid(`${nodeLabel(node)} has ${node.outputs.length} outputs, expected 1`);
  if (role === 'identity') return kind;
  if (role === 'cast') {
    const to = new Attributes(node, []).int('to');
    if (to === undefined) throw invalid(`${nodeLabel(node)} has no "to" attribute`);
    if (kind === 'label') return kind;
    if ((kind === 'scores' || kind === 'prediction') && (to === BigInt(FLOAT) || to === BigInt(DOUBLE)))
      return kind;
    throw refuse(`casts the model's ${kind} to type ${to}, which is not output formatting`);
  }
  if (role === 'normalizer') {
    if (kind !== 'scores')
      throw refuse(`normalises the model's ${kind}; only class probabilities may be normalised`);
    const norm = new Attributes(node, ['norm']).string('norm') ?? 'MAX';
    if (norm !== 'L1') {
      throw refuse(
        `uses norm ${show(norm)}, which changes the probabilities; only L1 (the identity here) is accepted`,
      );
    }
    return 'scores';
  }
  if (role === 'zipmap') {
    if (kind !== 'scores') throw refuse(`zips the model's ${kind}; only class probabilities may be zipped`);
    const attrs = new Attributes(node, ['classlabels_strings', 'classlabels_int64s']);
    const labels = labelsOf(node, attrs, 'classlabels_strings', 'classlabels_int64s');
    if (!classes || labels.length !== classes.length || labels.some((l, i) => l !== classes[i])) {
      throw invalid(`${nodeLabel(node)} labels do not match the classifier's class labels`);
    }
    return 'map';
  }
  throw refuse(`follows the model and changes its outputs; only output formatting may follow`);
}

function checkFeatureNames(value: unknown): readonly string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_FEATURES) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `options.featureNames must be a non-empty array of at most ${MAX_FEATURES} names`,
    );
  }
  const seen = new Set<string>();
  value.forEach((name, i) => {
    assertString(name, `options.featureNames[${i}]`, 256);
    if (seen.has(name)) {
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        `options.featureNames[${i}] repeats an earlier name`,
        { fields: [`options.featureNames[${i}]`] },
      );
    }
    seen.add(name);
  });
  return [...(value as string[])];
}

function toLinearModel(model: ModelInfo, featureNames: readonly string[] | undefined): LinearModel {
  if (model.irVersion === undefined) throw invalid('ModelProto has no ir_version (field 1)');
  if (model.irVersion < 1n) throw invalid(`ir_version ${model.irVersion} is not a valid IR version`);
  if (model.irVersion < 3n) {
    throw unsupported(`ir_version ${model.irVersion} predates operator-set imports (IR 3)`);
  }
  const graph = model.graph;
  if (!graph) throw invalid('ModelProto has no graph (field 7)');
  if (graph.nodes.length === 0) throw invalid('the graph has no nodes');

  // 1. Every operator must be one we know; refuse the first one we do not.
  const roles = new Map<NodeInfo, Role>(graph.nodes.map((n) => [n, roleOf(n)]));
  for (const node of graph.nodes) {
    if (!model.opsets.has(node.domain)) {
      throw invalid(
        `${nodeLabel(node)} uses domain ${showDomain(node.domain)}, which opset_import does not import`,
      );
    }
  }

  // 2. Exactly one model node.
  const modelNodes = graph.nodes.filter((n) => roles.get(n) === 'classifier' || roles.get(n) === 'regressor');
  const modelNode = modelNodes[0];
  if (!modelNode) throw unsupported('the graph has no LinearClassifier or LinearRegressor node');
  if (modelNodes.length > 1)
    throw unsupported(`the graph has ${modelNodes.length} model nodes, expected one`);
  const isClassifier = roles.get(modelNode) === 'classifier';

  // 3. Exactly one real graph input: a float tensor [N, d].
  const realInputs = graph.inputs.filter((v) => !graph.initializers.has(v.name));
  const input = realInputs[0];
  if (!input) throw invalid('the graph has no input');
  if (realInputs.length > 1) {
    throw unsupported(
      `the graph has ${realInputs.length} inputs (${realInputs.map((v) => show(v.name)).join(', ')}); ` +
        'confide imports models with one [N, d] float tensor input',
    );
  }
  if (input.kind === 'missing' || input.elemType === undefined)
    throw invalid(`input ${show(input.name)} has no type`);
  if (input.kind !== 'tensor' || (input.elemType !== FLOAT && input.elemType !== DOUBLE)) {
    throw unsupported(
      `input ${show(input.name)} is not a float or double tensor (element type ${input.elemType}); ` +
        'confide imports models whose input is one [N, d] float tensor',
    );
  }
  if (input.dims !== undefined && input.dims.length !== 2) {
    throw unsupported(
      `input ${show(input.name)} has rank ${input.dims.length}; confide imports [N, d] inputs`,
    );
  }

  // 4. Single assignment: each value produced once, never over an input or initializer.
  const producers = new Map<string, NodeInfo>();
  for (const node of graph.nodes) {
    for (const out of node.outputs) {
      if (out === '') throw invalid(`${nodeLabel(node)} has an unnamed output`);
      if (producers.has(out) || out === input.name || graph.initializers.has(out)) {
        throw invalid(`value ${show(out)} is assigned more than once`);
      }
      producers.set(out, node);
    }
  }

  // 5. Walk back from the model's input to the graph input through Identity and at most one Scaler.
  if (modelNode.inputs.length !== 1) {
    throw invalid(`${nodeLabel(modelNode)} has ${modelNode.inputs.length} inputs, expected 1`);
  }
  const upstream = new Set<NodeInfo>();
  let scalerNode: NodeInfo | undefined;
  let value = modelNode.inputs[0] as string;
  while (value !== input.name) {
    const producer = producers.get(value);
    if (!producer) {
      if (graph.initializers.has(value)) {
        throw unsupported(`the model reads the constant ${show(value)} instead of the graph input`);
      }
      throw invalid(`value ${show(value)} is neither the graph input nor produced by any node`);
    }
    if (upstream.has(producer) || producer === modelNode) throw invalid('the graph has a cycle');
    const role = roles.get(producer);
    if (role === 'scaler') {
      if (scalerNode) throw unsupported('the graph has two Scaler nodes before the model');
      scalerNode = producer;
    } else if (role !== 'identity') {
      throw unsupported(
        `${nodeLabel(producer)} computes the model's input; only a Scaler may precede the model`,
      );
    }
    if (producer.inputs.length !== 1 || producer.outputs.length !== 1) {
      throw invalid(`${nodeLabel(producer)} must have exactly one input and one output`);
    }
    upstream.add(producer);
    value = producer.inputs[0] as string;
  }

  // 6. The model's parameters.
  const part = isClassifier ? classifierPart(modelNode) : regressorPart(modelNode);
  const d = part.d;
  if (d > MAX_FEATURES || part.coefficients.length > MAX_OUTPUTS) {
    throw new HeError(
      'HE_MODEL_INVALID',
      `invalid linear model: ${d} features × ${part.coefficients.length} outputs exceeds the limits ` +
        `(${MAX_FEATURES} features, ${MAX_OUTPUTS} outputs)`,
      { fields: ['coefficients'] },
    );
  }
  const declared = input.dims?.[1]?.value;
  if (declared !== undefined && declared !== d) {
    throw invalid(
      `input ${show(input.name)} has ${declared} columns but the model has ${d} coefficients per row`,
    );
  }

  // 7. Everything after the model must be output formatting.
  const kinds = new Map<string, ValueKind>();
  const expectedOutputs = isClassifier ? 2 : 1;
  if (modelNode.outputs.length !== expectedOutputs) {
    throw invalid(
      `${nodeLabel(modelNode)} has ${modelNode.outputs.length} outputs, expected ${expectedOutputs}`,
    );
  }
  if (isClassifier) {
    kinds.set(modelNode.outputs[0] as string, 'label');
    kinds.set(modelNode.outputs[1] as string, 'scores');
  } else kinds.set(modelNode.outputs[0] as string, 'prediction');
  const pending = graph.nodes.filter((n) => n !== modelNode && !upstream.has(n));
  for (let progress = true; progress && pending.length > 0; ) {
    progress = false;
    for (let k = 0; k < pending.length; ) {
      const node = pending[k] as NodeInfo;
      const kind = node.inputs.length === 1 ? kinds.get(node.inputs[0] as string) : undefined;
      if (kind === undefined) {
        k++;
        continue;
      }
      kinds.set(node.outputs[0] as string, formatNode(node, roles.get(node) as Role, kind, part.classes));
      pending.splice(k, 1);
      progress = true;
    }
  }
  const stray = pending[0];
  if (stray) {
    throw unsupported(`${nodeLabel(stray)} neither prepares the model's input nor formats its outputs`);
  }
  if (graph.outputs.length === 0) throw invalid('the graph has no outputs');
  for (const out of graph.outputs) {
    if (kinds.has(out.name)) continue;
    if (producers.has(out.name) || out.name === input.name) {
      throw unsupported(`graph output ${show(out.name)} is not computed from the model's outputs`);
    }
    throw invalid(`graph output ${show(out.name)} is not produced by any node`);
  }

  // 8. Shared validation.
  if (featureNames !== undefined && featureNames.length !== d) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `options.featureNames has ${featureNames.length} names but the model has ${d} features`,
      { fields: ['options.featureNames'] },
    );
  }
  return parseLinearModel({
    format: LINEAR_MODEL_FORMAT,
    task: part.task,
    features: featureNames ? [...featureNames] : Array.from({ length: d }, (_, j) => `f${j}`),
    coefficients: part.coefficients,
    intercepts: part.intercepts,
    ...(part.classes ? { classes: part.classes } : {}),
    ...(scalerNode ? { scaler: scalerPart(scalerNode, d) } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Cheap sniff: does this look like an ONNX `ModelProto`? True when the bytes start with the key of
 * field 1 (`ir_version`, varint: byte `0x08`) followed by a terminated varint. A `true` answer
 * does not mean the model will import; a JSON model (starting with `{`) always gives `false`.
 *
 * @param bytes - the file contents
 * @returns whether the bytes start like an ONNX model
 * @throws {@link ConfideArgumentError} `INVALID_ARGUMENT` if `bytes` is not a `Uint8Array`
 *
 * @example
 * ```ts
 * isOnnx(new Uint8Array([0x08, 0x08])); // true
 * isOnnx(new TextEncoder().encode('{"format":"confide/linear-model@1"}')); // false
 * ```
 */
export function isOnnx(bytes: Uint8Array): boolean {
  assertBytes(bytes, 'bytes');
  if (bytes.length < 2 || bytes[0] !== 0x08) return false;
  const end = Math.min(bytes.length, 11);
  for (let i = 1; i < end; i++) if (((bytes[i] as number) & 0x80) === 0) return true;
  return false;
}

/**
 * Imports a linear model from ONNX bytes as skl2onnx writes them (see the module documentation
 * for exactly which graphs are accepted).
 *
 * @param bytes - the `.onnx` file contents (at most {@link MAX_ONNX_BYTES})
 * @param options - optional feature names (ONNX has none; the default is `f0` … `f{d-1}`)
 * @returns the validated, frozen model
 * @throws {@link ConfideArgumentError} `INVALID_ARGUMENT` for a non-`Uint8Array`, bad options, or
 *   `featureNames` whose length differs from the model's feature count
 * @throws {@link HeError} `HE_ONNX_INVALID` for malformed bytes or an inconsistent graph;
 *   `HE_ONNX_UNSUPPORTED_OP` naming the operator (and domain) confide cannot import;
 *   `HE_MODEL_INVALID` when the imported parameters fail the linear-model validation
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * const model = importOnnxLinearModel(readFileSync('model.onnx'), { featureNames: ['age', 'income'] });
 * console.log(model.task, model.classes);
 * ```
 */
export function importOnnxLinearModel(bytes: Uint8Array, options: OnnxImportOptions = {}): LinearModel {
  assertBytes(bytes, 'bytes');
  assertObject(options, 'options');
  const featureNames =
    options.featureNames === undefined ? undefined : checkFeatureNames(options.featureNames);
  if (bytes.length === 0) throw invalid('the input is empty');
  if (bytes.length > MAX_ONNX_BYTES) {
    throw invalid(`the input is ${bytes.length} bytes, more than the ${MAX_ONNX_BYTES}-byte limit`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const model = decodeModel(new WireReader(bytes, view, 0, bytes.length, 'ModelProto'));
  return toLinearModel(model, featureNames);
}
