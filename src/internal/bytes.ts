/**
 * Byte helpers shared by every module: SHA-256 (Node's native hash when present, `@noble/hashes`
 * in browsers), hex, CSPRNG bytes, and a bounds-checked little-endian reader/writer for binary
 * formats.
 *
 * The reader never reads past its end: every read checks the remaining length first and throws
 * the error the caller chose (so each format reports truncation with its own code).
 *
 * @module
 */

import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';

type NodeCrypto = typeof import('node:crypto');

const nodeCrypto: NodeCrypto | undefined = (() => {
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    ?.getBuiltinModule;
  try {
    return get?.('node:crypto') as NodeCrypto | undefined;
  } catch {
    return undefined;
  }
})();

/** SHA-256 of the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  if (nodeCrypto) {
    const hash = nodeCrypto.createHash('sha256');
    for (const part of parts) hash.update(part);
    const out = hash.digest();
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
  const hash = nobleSha256.create();
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** Bytes of a lowercase or uppercase hex string; undefined when it is not hex. */
export function fromHex(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** `length` bytes from the platform CSPRNG (`crypto.getRandomValues`). */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  // getRandomValues fills at most 65536 bytes per call.
  for (let i = 0; i < length; i += 65536)
    crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
  return out;
}

/** Constant-time-ish equality of two byte arrays (leaks only the lengths). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/** UTF-8 encoding of a string. */
export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Appends little-endian fields and byte runs into one buffer. */
export class ByteWriter {
  readonly #chunks: Uint8Array[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  bytes(data: Uint8Array): this {
    this.#chunks.push(data);
    this.#length += data.length;
    return this;
  }

  u8(value: number): this {
    return this.bytes(Uint8Array.of(value));
  }

  u16(value: number): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, value, true);
    return this.bytes(b);
  }

  u32(value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value, true);
    return this.bytes(b);
  }

  u64(value: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(value), true);
    return this.bytes(b);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let offset = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

/** Reads little-endian fields with a bounds check before every read. */
export class ByteReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #onTruncated: (what: string) => Error;
  #offset = 0;

  constructor(bytes: Uint8Array, onTruncated: (what: string) => Error) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#onTruncated = onTruncated;
  }

  get offset(): number {
    return this.#offset;
  }

  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  #need(count: number, what: string): void {
    if (count > this.remaining) throw this.#onTruncated(what);
  }

  bytes(count: number, what: string): Uint8Array {
    this.#need(count, what);
    const out = this.#bytes.subarray(this.#offset, this.#offset + count);
    this.#offset += count;
    return out;
  }

  u8(what: string): number {
    this.#need(1, what);
    return this.#view.getUint8(this.#offset++);
  }

  u16(what: string): number {
    this.#need(2, what);
    const v = this.#view.getUint16(this.#offset, true);
    this.#offset += 2;
    return v;
  }

  u32(what: string): number {
    this.#need(4, what);
    const v = this.#view.getUint32(this.#offset, true);
    this.#offset += 4;
    return v;
  }

  /** A u64 that must fit a safe integer; larger values are reported as `undefined`. */
  u64(what: string): number | undefined {
    this.#need(8, what);
    const v = this.#view.getBigUint64(this.#offset, true);
    this.#offset += 8;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
  }
}
