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
 * The protobuf reader is deliberately small and bounded: it decodes only the fields listed above,
 * skips unknown fields, never reads past the end of a message, rejects varints longer than 10 bytes
 * and the group wire types 3 and 4, caps the input at {@link MAX_ONNX_BYTES} and caps every
 * repeated field, so hostile input costs at most linear time and memory. It does not recurse into
 * sub-graphs or tensors it does not need.
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

/** Largest ONNX file accepted, in bytes (64 MiB). */
export const MAX_ONNX_BYTES: number = 64 * 1024 * 1024;

/** A linear model has a handful of nodes; anything much larger is not one. */
const MAX_NODES = 256;
/** Cap on every repeated message or name list (node inputs, attributes, graph inputs, opsets, dims). */
const MAX_REPEATED = 4096;
/** Cap on the floats of one attribute: a full-size coefficient matrix. */
const MAX_FLOATS = MAX_FEATURES * MAX_OUTPUTS;
/** Cap on the ints or strings of one attribute (class labels). */
const MAX_LIST = 65_536;

// Protobuf wire types (encoding spec, "Message Structure").
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

// onnx.proto TensorProto.DataType.
const FLOAT = 1;
const DOUBLE = 11;

// onnx.proto AttributeProto.AttributeType.
const ATTR_UNDEFINED = 0;
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_TENSOR = 4;
const ATTR_GRAPH = 5;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;
const ATTR_STRINGS = 8;

const ATTR_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'UNDEFINED',
  1: 'FLOAT',
  2: 'INT',
  3: 'STRING',
  4: 'TENSOR',
  5: 'GRAPH',
  6: 'FLOATS',
  7: 'INTS',
  8: 'STRINGS',
};

const ML = 'ai.onnx.ml';

/** What confide supports, repeated in every refusal so the user knows what to export instead. */
const SUPPORTED =
  'confide imports ai.onnx.ml LinearClassifier (binary or multinomial logistic regression) and ' +
  'LinearRegressor (one target), optionally preceded by one ai.onnx.ml Scaler and followed only by ' +
  'the output-formatting nodes ai.onnx.ml Normalizer (L1), ai.onnx.ml ZipMap, Cast and Identity';

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
   * `[N, d]` tensor), so they default to `f0` … `f{d-1}`.
   */
  readonly featureNames?: readonly string[] | undefined;
}

// ---------------------------------------------------------------------------------------------
// Errors

function invalid(message: string): HeError {
  return new HeError('HE_ONNX_INVALID', `invalid ONNX model: ${message}`);
}

function unsupported(message: string): HeError {
  return new HeError('HE_ONNX_UNSUPPORTED_OP', `${message}; ${SUPPORTED}`);
}

/** Quotes a string from the file for a message, shortened so hostile names cannot flood logs. */
function show(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

function showDomain(domain: string): string {
  return domain === '' ? 'ai.onnx (the default domain)' : show(domain);
}

// ---------------------------------------------------------------------------------------------
// Protobuf wire-format reader

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A bounded cursor over one message: every read checks the message end first. */
class WireReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #end: number;
  readonly path: string;
  #pos: number;

  constructor(bytes: Uint8Array, view: DataView, start: number, end: number, path: string) {
    this.#bytes = bytes;
    this.#view = view;
    this.#pos = start;
    this.#end = end;
    this.path = path;
  }

  get done(): boolean {
    return this.#pos >= this.#end;
  }

  fail(problem: string): never {
    throw invalid(`${this.path}: ${problem} (at byte ${this.#pos})`);
  }

  /** Reads a varint of at most 10 bytes as two unsigned 32-bit halves. */
  #varint(): [lo: number, hi: number] {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.#pos >= this.#end) this.fail('truncated varint');
      const b = this.#bytes[this.#pos++] as number;
      const bits = b & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (7 * i - 32);
      if (i === 9 && b > 1) this.fail('varint overflows 64 bits');
      if ((b & 0x80) === 0) return [lo >>> 0, hi >>> 0];
    }
    return this.fail('varint longer than 10 bytes');
  }

  /** A varint that must fit in 32 unsigned bits (keys, lengths). */
  uint32(what: string): number {
    const [lo, hi] = this.#varint();
    if (hi !== 0) this.fail(`${what} does not fit in 32 bits`);
    return lo;
  }

  /** A varint read as a signed 64-bit integer (protobuf `int64` / `int32`). */
  int64(): bigint {
    const [lo, hi] = this.#varint();
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
  }

  /** Reads a field key; rejects field 0, groups (wire types 3, 4) and unknown wire types. */
  key(): [field: number, wire: number] {
    const key = this.uint32('field key');
    const field = key >>> 3;
    const wire = key & 7;
    if (field === 0) this.fail('field number 0 is not allowed');
    if (wire === 3 || wire === 4) this.fail('groups (wire types 3 and 4) are not supported');
    if (wire !== VARINT && wire !== I64 && wire !== LEN && wire !== I32)
      this.fail(`unknown wire type ${wire}`);
    return [field, wire];
  }

  expect(wire: number, expected: number, field: string): void {
    if (wire !== expected) this.fail(`field ${field} has wire type ${wire}, expected ${expected}`);
  }

  #length(): number {
    const length = this.uint32('length prefix');
    const left = this.#end - this.#pos;
    if (length > left) this.fail(`length prefix of ${length} bytes points past the end (${left} bytes left)`);
    return length;
  }

  #advance(n: number, what: string): void {
    if (n > this.#end - this.#pos) this.fail(`truncated ${what}`);
    this.#pos += n;
  }

  /** A length-delimited sub-message as its own bounded reader. */
  message(path: string): WireReader {
    const length = this.#length();
    const sub = new WireReader(this.#bytes, this.#view, this.#pos, this.#pos + length, path);
    this.#pos += length;
    return sub;
  }

  bytes(): Uint8Array {
    const length = this.#length();
    const out = this.#bytes.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    return out;
  }

  string(what: string): string {
    const raw = this.bytes();
    try {
      return utf8.decode(raw);
    } catch {
      return this.fail(`${what} is not valid UTF-8`);
    }
  }

  float32(): number {
    if (this.#end - this.#pos < 4) this.fail('truncated fixed32 value');
    const v = this.#view.getFloat32(this.#pos, true);
    this.#pos += 4;
    return v;
  }

  /** Appends a packed run of little-endian float32 values. */
  packedFloats(into: number[], max: number, what: string): void {
    const length = this.#length();
    if (length % 4 !== 0) this.fail(`packed ${what} of ${length} bytes is not a whole number of floats`);
    if (into.length + length / 4 > max) this.fail(`${what} has more than ${max} values`);
    for (let p = this.#pos; p < this.#pos + length; p += 4) into.push(this.#view.getFloat32(p, true));
    this.#pos += length;
  }

  /** Appends a packed run of varint int64 values. */
  packedInt64s(into: bigint[], max: number, what: string): void {
    const sub = this.message(`${this.path}.${what}`);
    while (!sub.done) {
      if (into.length >= max) sub.fail(`${what} has more than ${max} values`);
      into.push(sub.int64());
    }
  }

  skip(wire: number): void {
    if (wire === VARINT) this.#varint();
    else if (wire === I64) this.#advance(8, 'fixed64 value');
    else if (wire === I32) this.#advance(4, 'fixed32 value');
    else if (wire === LEN) this.#advance(this.#length(), 'length-delimited value');
    else this.fail(`wire type ${wire} cannot be skipped`);
  }
}

/** Counts one more element of a repeated field and refuses past the cap. */
function bump(r: WireReader, count: number, max: number, what: string): number {
  if (count >= max) {
    throw unsupported(`${r.path} has more than ${max} ${what}, far more than a linear model needs`);
  }
  return count + 1;
}

// ---------------------------------------------------------------------------------------------
// Decoded onnx.proto subset

interface Dimension {
  /** `dim_value`, or undefined for a symbolic (`dim_param`) or absent dimension. */
  readonly value: number | undefined;
}

interface ValueInfo {
  readonly name: string;
  /** 'tensor' for TypeProto.tensor_type, 'other' for sequence/map/…, 'missing' without a type. */
  readonly kind: 'tensor' | 'other' | 'missing';
  readonly elemType: number | undefined;
  /** Undefined when the tensor type has no shape. */
  readonly dims: readonly Dimension[] | undefined;
}

interface NodeInfo {
  readonly index: number;
  readonly name: string;
  readonly opType: string;
  /** Normalised: 'ai.onnx' is written as ''. */
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Undecoded AttributeProto messages; decoded only for supported nodes. */
  readonly attributes: readonly WireReader[];
}

interface GraphInfo {
  readonly nodes: readonly NodeInfo[];
  readonly initializers: ReadonlySet<string>;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
}

interface ModelInfo {
  readonly irVersion: bigint | undefined;
  readonly opsets: ReadonlyMap<string, bigint>;
  readonly graph: GraphInfo | undefined;
}

interface Attribute {
  readonly name: string;
  /** The declared AttributeProto.type, or the one implied by the field present (IR < 2). */
  readonly type: number;
  readonly f: number | undefined;
  readonly i: bigint | undefined;
  readonly s: Uint8Array | undefined;
  readonly floats: readonly number[];
  readonly ints: readonly bigint[];
  readonly strings: readonly Uint8Array[];
}

function normaliseDomain(domain: string): string {
  return domain === 'ai.onnx' ? '' : domain;
}

/** ModelProto: ir_version = 1, graph = 7, opset_import = 8. */
function decodeModel(r: WireReader): ModelInfo {
  let irVersion: bigint | undefined;
  let graph: GraphInfo | undefined;
  const opsets = new Map<string, bigint>();
  let opsetCount = 0;
  while (!r.done) {
    const [field, wire] = r.key();
    if (field === 1) {
      r.expect(wire, VARINT, 'ir_version (1)');
      irVersion = r.int64();
    } else if (field === 7) {
      r.expect(wire, LEN, 'graph (7)');
      if (graph) r.fail('graph (7) appears twice');
      graph = decodeGraph(r.message('ModelProto.graph'));
    } else if (field === 8) {
      r.expect(wire, LEN, 'opset_import (8)');
      opsetCount = bump(r, opsetCount, MAX_REPEATED, 'opset imports');
      const sub = r.message(`ModelProto.opset_import[${opsetCount - 1}]`);
      const [domain, version] = decodeOpset(sub);
      if (opsets.has(domain)) sub.fail(`domain ${showDomain(domain)} is imported twice`);
      opsets.set(domain, version);
    } else r.skip(wire);
  }
  return { irVersion, opsets, graph };
}

/** OperatorSetIdProto: domain = 1, version = 2. */
function decodeOpset(r: WireReader): [domain: string, version: bigint] {
  let domain = '';
  let version: bigint | undefined;
  while (!r.done) {
    const [field, wire] = r.key();
    if (field === 1) {
      r.expect(wire, LEN, 'domain (1)');
      domain = r.string('domain');
    } else if (field === 2) {
      r.expect(wire, VARINT, 'version (2)');
      version = r.int64();
    } else r.skip(wire);
  }
  if (version === undefined || version < 1n) r.fail('an opset import needs a version of at least 1');
  return [normaliseDomain(domain), version];
}

/** GraphProto: node = 1, initializer = 5, input = 11, output = 12. */
function decodeGraph(r: WireReader): GraphInfo {
  const nodes: NodeInfo[] = [];
  const initializers = new Set<string>();
  const inputs: ValueInfo[] = [];
  const outputs: ValueInfo[] = [];
  let initializerCount = 0;
  while (!r.done) {
    const [field, wire] = r.key();
    if (field === 1) {
      r.expect(wire, LEN, 'node (1)');
      bump(r, nodes.length, MAX_NODES, 'nodes');
      nodes.push(decodeNode(r.message(`GraphProto.node[${nodes.length}]`), nodes.length));
    } else if (field === 5) {
      r.expect(wire, LEN, 'initializer (5)');
      initializerCount = bump(r, initializerCount, MAX_REPEATED, 'initializers');
      initializers.add(decodeTensorName(r.message(`GraphProto.initializer[${initializerCount - 1}]`)));
    } else if (field === 11 || field === 12) {
      const list = field === 11 ? inputs : outputs;
      const what = field === 11 ? 'input' : 'output';
      r.expect(wire, LEN, `${what} (${field})`);
      bump(r, list.length, MAX_REPEATED, `graph ${what}s`);
      list.push(decodeValueInfo(r.message(`GraphProto.${what}[${list.length}]`)));
    } else r.skip(wire);
  }
  return { nodes, initializers, inputs, outputs };
}

/** NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5, domain = 7. */
function decodeNode(r: WireReader, index: number): NodeInfo {
  const inputs: string[] = [];
  const outputs: string[] = [];
  const attributes: WireReader[] = [];
  let name = '';
  let opType = '';
  let domain = '';
  while (!r.done) {
    const [field, wire] = r.key();
    if (field === 1 || field === 2) {
      const list = field === 1 ? inputs : outputs;
      const what = field === 1 ? 'input' : 'output';
      r.expect(wire, LEN, `${what} (${field})`);
      bump(r, list.length, MAX_REPEATED, `node ${what}s`);
      list.push(r.string(what));
    } else if (field === 3) {
      r.expect(wire, LEN, 'name (3)');
      name = r.string('name');
    } else if (field === 4) {
      r.expect(wire, LEN, 'op_type (4)');
      opType = r.string('op_type');
    } else if (field === 5) {
      r.expect(wire, LEN, 'attribute (5)');
      bump(r, attributes.length, MAX_REPEATED, 'attributes');
      attributes.push(r.message(`${r.path}.attribute[${attributes.length}]`));
    } else if (field === 7) {
      r.expect(wire, LEN, 'domain (7)');
      domain = r.string('domain');
    } else r.skip(wire);
  }
  if (opType === '') r.fail('a node has no op_type');
  return { index, name, opType, domain: normaliseDomain(domain), inputs, outputs, attributes };
}

/** TensorProto: only name = 8 is needed (to tell initializers from real graph inputs). */
function decodeTensorName(r: WireReader): string {
  let name = '';
  while (!r.done) {
    const [field, wire] = r.key();
    if (field === 8) {
      r.expect(wire, LEN, 'name (8)');
      name = r.string('name');
    } else r.skip(wire);
  }
  return name;
}

/** ValueInfoProto: name = 1, type = 2 (TypeProto). */
function decodeValueInfo(r: WireReader): ValueInfo {
  let name = '';
  let type: Omit<ValueInfo, 'name'> = { kind: 'missing', elemType: undefined, dims: undefined };
  while (!r.done) {
    const [field, wire] = r.key();
    if (field === 1) {
      r.expect(wire, LEN, 'name (1)');
      name = r.string('name');
    } else if (field === 2) {
      r.expect(wire, LEN, 'type (2)');
      type = decodeType(r.message(`${r.path}.type`));
    } else r.skip(wire);
  }
  if (name === '') r.fail('a graph input or output has no name');
  return { name, ...type };
}

/** TypeProto: tensor_type = 1; sequence_type = 4, map_type = 5 and others count as 'other'. */
function decodeType(r: WireReader): Omit<ValueInfo, 'name'> {
  let result: Omit<ValueInfo, 'name'> = { kind: 'missing', elemType: undefined, dims: undefined };
  while (!r.done) {
    const [field, wire] = r.key();
    if (field === 1) {
      r.expect(wire, LEN, 'tensor_type (1)');
      result = decodeTensorType(r.message(`${r.path}.tensor_type`));
    } else if (field === 6)
      r.skip(wire); // denotation
    else {
      r.skip(wire);
      result = { kind: 'other', elemType: undefined, dims: undefined };
    }
  }
  return result;
}

/** TypeProto.Tensor: elem_type = 1, shape = 2 (TensorShapeProto: dim = 1). */
function decodeTensorType(r: WireReader): Omit<ValueInfo, 'name'> {
  let elemType: number | undefined;
  let dims: Dimension[] | undefined;
  while (!r.done) {
    const [field, wire] = r.key();
    if (field === 1) {
      r.expect(wire, VARINT, 'elem_type (1)');
      const v = r.int64();
      elemType = v >= 0n && v <= 0xffffn ? Number(v) : -1;
    } else if (field === 2) {
      r.expect(wire, LEN, 'shape (2)');
      dims = [];
      const shape = r.message(`${r.path}.shape`);
      while (!shape.done) {
        const [f, w] = shape.key();
        if (f === 1) {
          shape.expect(w, LEN, 'dim (1)');
          bump(shape, dims.length, MAX_REPEATED, 'dimensions');
          dims.push(decodeDimension(shape.message(`${shape.path}.dim[${dims.length}]`)));
        } else shape.skip(w);
      }
    } else r.skip(wire);
  }
  return { kind: 'tensor', elemType, dims };
}

/** TensorShapeProto.Dimension: dim_value = 1, dim_param = 2. */
function decodeDimension(r: WireReader): Dimension {
  let value: number | undefined;
  while (!r.done) {
    const [field, wire] = r.key();
    if (field === 1) {
      r.expect(wire, VARINT, 'dim_value (1)');
      const v = r.int64();
      if (v < 0n || v > 0x7fffffffn) r.fail('dim_value must be between 0 and 2^31 - 1');
      value = Number(v);
    } else if (field === 2) {
      r.expect(wire, LEN, 'dim_param (2)');
      r.string('dim_param');
      value = undefined;
    } else r.skip(wire);
  }
  return { value };
}

/**
 * AttributeProto: name = 1, f = 2, i = 3, s = 4, t = 5, g = 6, floats = 7, ints = 8,
 * strings = 9, type = 20. Repeated numeric fields are accepted packed or not (onnx.proto is
 * proto2, so writers normally emit them unpacked).
 */
function decodeAttribute(r: WireReader): Attribute {
  let name = '';
  let declared: number | undefined;
  let f: number | undefined;
  let i: bigint | undefined;
  let s: Uint8Array | undefined;
  let implied = ATTR_UNDEFINED;
  const floats: number[] = [];
  const ints: bigint[] = [];
  const strings: Uint8Array[] = [];
  while (!r.done) {
    const [field, wire] = r.key();
    switch (field) {
      case 1:
        r.expect(wire, LEN, 'name (1)');
        name = r.string('name');
        break;
      case 2:
        r.expect(wire, I32, 'f (2)');
        f = r.float32();
        implied = ATTR_FLOAT;
        break;
      case 3:
        r.expect(wire, VARINT, 'i (3)');
        i = r.int64();
        implied = ATTR_INT;
        break;
      case 4:
        r.expect(wire, LEN, 's (4)');
        s = r.bytes();
        implied = ATTR_STRING;
        break;
      case 5:
        r.skip(wire);
        implied = ATTR_TENSOR;
        break;
      case 6:
        r.skip(wire);
        implied = ATTR_GRAPH;
        break;
      case 7:
        if (wire === LEN) r.packedFloats(floats, MAX_FLOATS, 'floats');
        else {
          r.expect(wire, I32, 'floats (7)');
          if (floats.length >= MAX_FLOATS) r.fail(`floats has more than ${MAX_FLOATS} values`);
          floats.push(r.float32());
        }
        implied = ATTR_FLOATS;
        break;
      case 8:
        if (wire === LEN) r.packedInt64s(ints, MAX_LIST, 'ints');
        else {
          r.expect(wire, VARINT, 'ints (8)');
          if (ints.length >= MAX_LIST) r.fail(`ints has more than ${MAX_LIST} values`);
          ints.push(r.int64());
        }
        implied = ATTR_INTS;
        break;
      case 9:
        r.expect(wire, LEN, 'strings (9)');
        if (strings.length >= MAX_LIST) r.fail(`strings has more than ${MAX_LIST} values`);
        strings.push(r.bytes());
        implied = ATTR_STRINGS;
        break;
      case 20: {
        r.expect(wire, VARINT, 'type (20)');
        const t = r.int64();
        declared = t >= 0n && t <= 64n ? Number(t) : -1;
        break;
      }
      default:
        r.skip(wire);
    }
  }
  if (name === '') r.fail('an attribute has no name');
  return { name, type: declared ?? implied, f, i, s, floats, ints, strings };
}

// ---------------------------------------------------------------------------------------------
// Attribute access with type checks

function nodeLabel(node: NodeInfo): string {
  const where = node.name === '' ? `#${node.index}` : show(node.name);
  return `${node.domain === '' ? '' : `${node.domain}.`}${node.opType} node ${where}`;
}

class Attributes {
  readonly #node: NodeInfo;
  readonly #byName = new Map<string, Attribute>();

  constructor(node: NodeInfo, known: readonly string[]) {
    this.#node = node;
    for (const r of node.attributes) {
      const a = decodeAttribute(r);
      if (this.#byName.has(a.name)) throw invalid(`${nodeLabel(node)} has attribute ${show(a.name)} twice`);
      if (known.length > 0 && !known.includes(a.name)) {
        throw unsupported(
          `${nodeLabel(node)} has attribute ${show(a.name)}, which confide does not understand ` +
            `(it reads ${known.join(', ')})`,
        );
      }
      this.#byName.set(a.name, a);
    }
  }

  #get(name: string, type: number): Attribute | undefined {
    const a = this.#byName.get(name);
    if (!a) return undefined;
    const listType = type === ATTR_FLOATS || type === ATTR_INTS || type === ATTR_STRINGS;
    if (a.type !== type && !(listType && a.type === ATTR_UNDEFINED)) {
      throw invalid(
        `attribute ${show(name)} of ${nodeLabel(this.#node)} has type ` +
          `${ATTR_TYPE_NAMES[a.type] ?? a.type}, expected ${ATTR_TYPE_NAMES[type]}`,
      );
    }
    return a;
  }

  floats(name: string): readonly number[] | undefined {
    return this.#get(name, ATTR_FLOATS)?.floats;
  }

  ints(name: string): readonly bigint[] | undefined {
    return this.#get(name, ATTR_INTS)?.ints;
  }

  strings(name: string): readonly string[] | undefined {
    const a = this.#get(name, ATTR_STRINGS);
    return a?.strings.map((raw) => this.#utf8(name, raw));
  }

  int(name: string): bigint | undefined {
    const a = this.#get(name, ATTR_INT);
    if (a && a.i === undefined)
      throw invalid(`attribute ${show(name)} of ${nodeLabel(this.#node)} has no value`);
    return a?.i;
  }

  string(name: string): string | undefined {
    const a = this.#get(name, ATTR_STRING);
    if (!a) return undefined;
    if (a.s === undefined) throw invalid(`attribute ${show(name)} of ${nodeLabel(this.#node)} has no value`);
    return this.#utf8(name, a.s);
  }

  #utf8(name: string, raw: Uint8Array): string {
    try {
      return utf8.decode(raw);
    } catch {
      throw invalid(`attribute ${show(name)} of ${nodeLabel(this.#node)} is not valid UTF-8`);
    }
  }
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
