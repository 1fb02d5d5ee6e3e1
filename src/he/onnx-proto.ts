/**
 * Decoders for the subset of `onnx/onnx.proto` (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto)
 * the linear-model importer reads: ModelProto, OperatorSetIdProto, GraphProto, NodeProto, the
 * name of TensorProto, ValueInfoProto, TypeProto, TensorShapeProto and AttributeProto. The field
 * numbers are cited next to each decoder; unknown fields are skipped, sub-graphs and tensor data
 * are never decoded. Attributes stay undecoded until {@link Attributes} reads those of a node
 * the importer supports, and are then type-checked by name.
 *
 * Deliberately not here: what the graph means (that is `onnx.ts`), the wire format itself
 * (`onnx-wire.ts`).
 *
 * @module
 */

import { MAX_FEATURES, MAX_OUTPUTS } from './model.ts';
import {
  bump,
  I32,
  invalid,
  LEN,
  show,
  showDomain,
  unsupported,
  utf8,
  VARINT,
  type WireReader,
} from './onnx-wire.ts';

/** A linear model has a handful of nodes; anything much larger is not one. */
export const MAX_NODES = 256;
/** Cap on every repeated message or name list (node inputs, attributes, graph inputs, opsets, dims). */
const MAX_REPEATED = 4096;
/** Cap on the floats of one attribute: a full-size coefficient matrix. */
const MAX_FLOATS = MAX_FEATURES * MAX_OUTPUTS;
/** Cap on the ints or strings of one attribute (class labels). */
const MAX_LIST = 65_536;

// onnx.proto TensorProto.DataType.
export const FLOAT = 1;
export const DOUBLE = 11;

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

// ---------------------------------------------------------------------------------------------
// Decoded onnx.proto subset

export interface Dimension {
  /** `dim_value`, or undefined for a symbolic (`dim_param`) or absent dimension. */
  readonly value: number | undefined;
}

export interface ValueInfo {
  readonly name: string;
  /** 'tensor' for TypeProto.tensor_type, 'other' for sequence/map/…, 'missing' without a type. */
  readonly kind: 'tensor' | 'other' | 'missing';
  readonly elemType: number | undefined;
  /** Undefined when the tensor type has no shape. */
  readonly dims: readonly Dimension[] | undefined;
}

export interface NodeInfo {
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

export interface GraphInfo {
  readonly nodes: readonly NodeInfo[];
  readonly initializers: ReadonlySet<string>;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
}

export interface ModelInfo {
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
export function decodeModel(r: WireReader): ModelInfo {
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

/** How messages name a node: `domain.OpType node "name"` (or `#index` without a name). */
export function nodeLabel(node: NodeInfo): string {
  const where = node.name === '' ? `#${node.index}` : show(node.name);
  return `${node.domain === '' ? '' : `${node.domain}.`}${node.opType} node ${where}`;
}

/** The attributes of one node by name; `known` (when not empty) lists the names allowed. */
export class Attributes {
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
