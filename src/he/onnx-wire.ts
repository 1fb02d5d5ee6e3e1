/**
 * The protobuf wire-format reader of the ONNX importer, and the importer's two error kinds.
 *
 * Spec: the protobuf encoding (https://protobuf.dev/programming-guides/encoding/): varints, the
 * four wire types 0, 1, 2, 5, length-delimited sub-messages. The reader is deliberately small and
 * bounded: every read checks the end of its message first, varints longer than 10 bytes and the
 * group wire types 3 and 4 are refused, and {@link bump} caps every repeated field, so hostile
 * input costs at most linear time and memory. It knows no message definitions (that is
 * `onnx-proto.ts`) and never recurses on its own.
 *
 * Errors: `HE_ONNX_INVALID` for malformed bytes ({@link invalid}), `HE_ONNX_UNSUPPORTED_OP` for
 * what is well-formed but not importable ({@link unsupported}, which repeats what confide imports).
 *
 * @module
 */

import { HeError } from '../errors.ts';

// Protobuf wire types (encoding spec, "Message Structure").
export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const I32 = 5;

/** What confide supports, repeated in every refusal so the user knows what to export instead. */
export const SUPPORTED =
  'confide imports ai.onnx.ml LinearClassifier (binary or multinomial logistic regression) and ' +
  'LinearRegressor (one target), optionally preceded by one ai.onnx.ml Scaler and followed only by ' +
  'the output-formatting nodes ai.onnx.ml Normalizer (L1), ai.onnx.ml ZipMap, Cast and Identity';

// ---------------------------------------------------------------------------------------------
// Errors

/** `HE_ONNX_INVALID`: the bytes or the graph are malformed. */
export function invalid(message: string): HeError {
  return new HeError('HE_ONNX_INVALID', `invalid ONNX model: ${message}`);
}

/** `HE_ONNX_UNSUPPORTED_OP`: well-formed, but not a model confide can import. */
export function unsupported(message: string): HeError {
  return new HeError('HE_ONNX_UNSUPPORTED_OP', `${message}; ${SUPPORTED}`);
}

/** Quotes a string from the file for a message, shortened so hostile names cannot flood logs. */
export function show(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

/** A domain for a message, the default one spelled out. */
export function showDomain(domain: string): string {
  return domain === '' ? 'ai.onnx (the default domain)' : show(domain);
}

// ---------------------------------------------------------------------------------------------
// Protobuf wire-format reader

/** Strict UTF-8: invalid bytes throw instead of becoming U+FFFD. */
export const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A bounded cursor over one message: every read checks the message end first. */
export class WireReader {
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
export function bump(r: WireReader, count: number, max: number, what: string): number {
  if (count >= max) {
    throw unsupported(`${r.path} has more than ${max} ${what}, far more than a linear model needs`);
  }
  return count + 1;
}
