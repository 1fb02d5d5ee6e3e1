/**
 * The one byte layer of the package: SHA-256 (Node's native hash when present, `@noble/hashes`
 * in browsers), hex, concatenation and UTF-8 (`@noble/hashes/utils`), constant-time equality
 * (`@noble/ciphers/utils`), CSPRNG bytes, and a bounds-checked little-endian reader/writer for
 * binary formats. Every module imports these names from here; there is no second hex decoder or
 * equality.
 *
 * Contracts: {@link fromHex} throws a coded error on anything that is not hex (use
 * {@link tryFromHex} where bad input is an expected case); {@link equalBytes} takes time that
 * depends only on the lengths, never on where the bytes differ.
 *
 * The reader never reads past its end: every read checks the remaining length first and throws
 * the error the caller chose (so each format reports truncation with its own code).
 *
 * @module
 */

import { equalBytes as nobleEqualBytes } from '@noble/ciphers/utils.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, concatBytes as nobleConcatBytes } from '@noble/hashes/utils.js';
import { ConfideArgumentError } from '../errors.ts';

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
  return bytesToHex(bytes);
}

/**
 * Bytes of a lowercase or uppercase hex string of even length.
 *
 * @param what - names the value in the error message (e.g. `'identity key'`).
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` when `hex` is not a string of hex digit pairs.
 */
export function fromHex(hex: string, what = 'the value'): Uint8Array {
  const bytes = tryFromHex(hex);
  if (bytes === undefined) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `${what} must be hex (pairs of the digits 0-9, a-f), got ${typeof hex === 'string' ? `${hex.length} characters` : typeof hex}`,
    );
  }
  return bytes;
}

/** Bytes of a hex string as {@link fromHex}, or `undefined` when it is not hex. */
export function tryFromHex(hex: string): Uint8Array | undefined {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  return hexToBytes(hex);
}

/** `length` bytes from the platform CSPRNG (`crypto.getRandomValues`). */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  // getRandomValues fills at most 65536 bytes per call.
  for (let i = 0; i < length; i += 65536)
    crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
  return out;
}

/**
 * Equality of two byte arrays in time that depends only on their lengths (not on where they
 * differ): for digests, keys, tokens and MACs.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return nobleEqualBytes(a, b);
}

/** The concatenation of `parts`, in a new array. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  return nobleConcatBytes(...parts);
}

const utf8Encoder = new TextEncoder();
const strictUtf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 encoding of a string. */
export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Decodes UTF-8, returning `undefined` for malformed input instead of replacing characters. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8Decoder.decode(bytes);
  } catch {
    return undefined;
  }
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
