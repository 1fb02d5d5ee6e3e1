/**
 * The big-endian field reader and writer under both binary formats of `confide/smpc`: the
 * protocol messages (`protocol/wire.ts`) and the WebSocket frames around them
 * (`transport/frames.ts`). They share the primitives — unsigned integers, length-prefixed UTF-8
 * strings of at most 1024 bytes, counts that can never promise more items than bytes remain — and
 * differ only in their error code and wording, which each format passes in, and in the composite
 * fields each adds in a subclass.
 *
 * Deliberately not here: anything a format defines (field order, type codes, lane packing), and
 * the little-endian reader of the HE containers (`internal/bytes.ts`), a different format.
 *
 * @module
 */

/** Longest string field in either format, in UTF-8 bytes. */
export const MAX_STRING_BYTES = 1024;

/** Appends fields; the parts are concatenated once at the end. */
export class BinaryWriter {
  readonly #parts: Uint8Array[] = [];
  #size = 0;
  raw(bytes: Uint8Array): void {
    this.#parts.push(bytes);
    this.#size += bytes.length;
  }
  u8(value: number): void {
    this.raw(Uint8Array.of(value));
  }
  u16(value: number): void {
    this.raw(Uint8Array.of(value >>> 8, value & 0xff));
  }
  u32(value: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value, false);
    this.raw(b);
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.#size);
    let offset = 0;
    for (const p of this.#parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  }
}

/** Reads fields, checking every length against the bytes that remain. */
export class BinaryReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset = 0;
  readonly #decoder = new TextDecoder('utf-8', { fatal: true });
  /** Throws the format's coded error for `reason`. */
  protected readonly malformed: (reason: string) => never;
  /** What the format calls one unit of input, for messages ("message", "frame"). */
  readonly #unit: string;

  constructor(bytes: Uint8Array, malformed: (reason: string) => never, unit: string) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.malformed = malformed;
    this.#unit = unit;
  }
  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }
  protected need(n: number, what: string): void {
    if (n > this.remaining) this.malformed(`${what} runs past the end`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.#bytes[this.#offset++] as number;
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.#view.getUint16(this.#offset, false);
    this.#offset += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.#view.getUint32(this.#offset, false);
    this.#offset += 4;
    return v;
  }
  /** The next `n` bytes, copied. */
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.#bytes.slice(this.#offset, this.#offset + n);
    this.#offset += n;
    return out;
  }
  /** The next `n` bytes as a view (for callers that copy or decode them at once). */
  protected view(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.#bytes.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    return out;
  }
  /** Everything left, copied. */
  rest(): Uint8Array {
    const out = this.#bytes.slice(this.#offset);
    this.#offset = this.#bytes.length;
    return out;
  }
  /** A u16-length-prefixed UTF-8 string of `min` to {@link MAX_STRING_BYTES} bytes. */
  str(what: string, min = 0): string {
    const n = this.u16(what);
    if (n > MAX_STRING_BYTES) this.malformed(`${what} is longer than ${MAX_STRING_BYTES} bytes`);
    if (n < min) this.malformed(`${what} is empty`);
    const raw = this.take(n, what);
    try {
      return this.#decoder.decode(raw);
    } catch {
      return this.malformed(`${what} is not UTF-8`);
    }
  }
  /** A u32 count of items each at least `minItemBytes` long: never more than the remaining bytes allow. */
  count(what: string, minItemBytes: number): number {
    const n = this.u32(what);
    if (n * minItemBytes > this.remaining) this.malformed(`${what} count exceeds the ${this.#unit}`);
    return n;
  }
  /** A counted list of strings of at least `min` bytes each. */
  ids(what: string, min = 0): string[] {
    const n = this.count(what, 2);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.str(what, min));
    return out;
  }
  end(reason: string): void {
    if (this.remaining !== 0) this.malformed(reason);
  }
}
