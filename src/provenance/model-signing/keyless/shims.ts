/**
 * Stand-ins for the three Node built-ins the Sigstore JS verifier (`@sigstore/verify` 3.x,
 * `@sigstore/core` 3.x, `@sigstore/protobuf-specs`) touches, so that the maintained verifier runs
 * **unchanged** in browsers: the `Buffer` global, `crypto` (`createPublicKey`, `createHash`,
 * `verify`, `timingSafeEqual`) and `util.isDeepStrictEqual`. Only the browser build of
 * `confide/provenance/verify` uses this module (`tsup.config.ts` aliases `crypto` and `util` to
 * it and injects `Buffer`); Node keeps its own built-ins.
 *
 * The crypto is `@noble/curves` and `@noble/hashes`, which are synchronous, as `crypto.verify` must
 * be (the Sigstore code calls it without `await`). The behaviour follows Node where the verifier
 * depends on it: `verify(undefined, …)` with an EC key hashes with SHA-256 whatever the curve (as
 * OpenSSL's default digest does), ECDSA signatures are DER with high-S accepted, Ed25519 takes no
 * digest, `timingSafeEqual` throws for different lengths, `Buffer#slice` is a view.
 *
 * Deliberately not here: RSA (noble has none and WebCrypto is asynchronous): an RSA key loads,
 * so a trusted root that lists one still parses, but never verifies anything; the public-good
 * Sigstore instance signs with ECDSA and Ed25519 only. Everything of `Buffer` the verifier does not
 * call (numeric readers and writers, `write`, `fill` with strings, `utf16le`); signing; private keys.
 *
 * @module
 */

import { ed25519 } from '@noble/curves/ed25519.js';
import { sha224, sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { equalBytes, fromBase64 } from '../../common/bytes.ts';
import { ecdsaCurve, type PublicKey, parsePublicKeyDer, parsePublicKeyPem } from '../../common/keys.ts';
import { ProvenanceError } from '../../errors.ts';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

function normaliseEncoding(encoding: unknown): string {
  return typeof encoding === 'string' ? encoding.toLowerCase().replace('-', '') : 'utf8';
}

/**
 * Node decodes base64 leniently: URL-safe letters accepted, other characters skipped, padding
 * optional, and the first `=` ends the data.
 */
function decodeBase64Lenient(text: string): Uint8Array {
  const end = text.indexOf('=');
  const clean = (end === -1 ? text : text.slice(0, end))
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .replace(/[^A-Za-z0-9+/]/g, '');
  const usable = clean.length % 4 === 1 ? clean.slice(0, -1) : clean;
  return usable.length === 0
    ? new Uint8Array(0)
    : fromBase64(usable.padEnd(Math.ceil(usable.length / 4) * 4, '='));
}

/** Node stops at the first pair that is not hex. */
function decodeHexLenient(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i + 1 < text.length; i += 2) {
    const pair = text.slice(i, i + 2);
    if (!/^[0-9a-fA-F]{2}$/.test(pair)) break;
    out.push(Number.parseInt(pair, 16));
  }
  return Uint8Array.from(out);
}

function encodeString(text: string, encoding: string): Uint8Array {
  switch (encoding) {
    case 'utf8':
      return utf8Encoder.encode(text);
    case 'base64':
    case 'base64url':
      return decodeBase64Lenient(text);
    case 'hex':
      return decodeHexLenient(text);
    case 'ascii':
    case 'latin1':
    case 'binary':
      return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
    default:
      throw new TypeError(`Unknown encoding: ${encoding}`);
  }
}

/** One character per byte (masked), without spreading large arrays into arguments. */
function binaryString(bytes: Uint8Array, mask: number): string {
  let out = '';
  for (const b of bytes) out += String.fromCharCode(b & mask);
  return out;
}

/**
 * The part of Node's `Buffer` the Sigstore verifier uses: a `Uint8Array` with `from`, `alloc`,
 * `concat`, `isBuffer`, `toString(encoding)`, `equals`, `copy`, `readBigInt64BE`, and `slice` as a
 * view.
 */
export class Buffer extends Uint8Array<ArrayBuffer> {
  /** As Node: a string with an encoding, an `ArrayBuffer` (shared, not copied), or bytes (copied). */
  static override from(value: unknown, encoding?: unknown, thisArg?: unknown): Buffer {
    if (typeof value === 'string') return Buffer.copyOf(encodeString(value, normaliseEncoding(encoding)));
    if (value instanceof ArrayBuffer) return new Buffer(value);
    if (typeof encoding === 'function') {
      const mapped = Uint8Array.from(
        value as ArrayLike<number>,
        encoding as (v: number, k: number) => number,
        thisArg,
      );
      return Buffer.copyOf(mapped);
    }
    return Buffer.copyOf(Uint8Array.from(value as ArrayLike<number>));
  }

  private static copyOf(bytes: Uint8Array): Buffer {
    const out = new Buffer(new ArrayBuffer(bytes.length));
    out.set(bytes);
    return out;
  }

  static override of(...items: number[]): Buffer {
    return Buffer.copyOf(Uint8Array.of(...items));
  }

  static alloc(size: number): Buffer {
    return new Buffer(new ArrayBuffer(size));
  }

  static concat(list: readonly Uint8Array[], totalLength?: number): Buffer {
    const length = totalLength ?? list.reduce((n, b) => n + b.length, 0);
    const out = new Buffer(new ArrayBuffer(length));
    let offset = 0;
    for (const b of list) {
      if (offset >= length) break;
      out.set(b.subarray(0, length - offset), offset);
      offset += Math.min(b.length, length - offset);
    }
    return out;
  }

  static isBuffer(value: unknown): value is Buffer {
    return value instanceof Buffer;
  }

  override toString(encoding?: string, start = 0, end = this.length): string {
    const bytes = this.subarray(start, end);
    switch (normaliseEncoding(encoding)) {
      case 'utf8':
        return utf8Decoder.decode(bytes);
      case 'base64':
        return btoa(binaryString(bytes, 0xff));
      case 'hex':
        return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
      case 'ascii':
        return binaryString(bytes, 0x7f);
      case 'latin1':
      case 'binary':
        return binaryString(bytes, 0xff);
      default:
        throw new TypeError(`Unknown encoding: ${String(encoding)}`);
    }
  }

  equals(other: Uint8Array): boolean {
    return this.length === other.length && this.every((b, i) => b === other[i]);
  }

  copy(target: Uint8Array, targetStart = 0, sourceStart = 0, sourceEnd = this.length): number {
    const part = this.subarray(sourceStart, Math.min(sourceEnd, sourceStart + target.length - targetStart));
    target.set(part, targetStart);
    return part.length;
  }

  /** A signed big-endian 64-bit integer (SCT timestamps). */
  readBigInt64BE(offset = 0): bigint {
    if (offset < 0 || offset + 8 > this.length) throw new RangeError('readBigInt64BE out of range');
    return new DataView(this.buffer, this.byteOffset, this.byteLength).getBigInt64(offset, false);
  }

  /** A view, as Node's `Buffer#slice` (a `Uint8Array#slice` would copy). */
  override slice(start?: number, end?: number): Buffer {
    return this.subarray(start, end) as Buffer;
  }
}

const HASHES = { sha224, sha256, sha384, sha512 } as const;
type HashName = keyof typeof HASHES;

function hashFunction(algorithm: string): (typeof HASHES)[HashName] {
  const name = algorithm.toLowerCase().replace(/^rsa-/, '').replace('-', '');
  const hash = (HASHES as Record<string, (typeof HASHES)[HashName] | undefined>)[name];
  if (hash === undefined) throw new TypeError(`Invalid digest: ${algorithm}`);
  return hash;
}

/** What `createPublicKey` returns: a parsed key, or a key of a type this stand-in cannot use. */
export interface ShimKeyObject {
  readonly type: 'public';
  readonly asymmetricKeyType: 'ec' | 'ed25519' | 'unsupported';
  readonly key: PublicKey | undefined;
}

/**
 * `crypto.createPublicKey` for SPKI (DER or PEM) EC and Ed25519 keys. Malformed keys throw, as in
 * Node; keys of other types (RSA, `pkcs1`) load as unusable keys that never verify.
 */
export function createPublicKey(
  input:
    | string
    | Uint8Array
    | { readonly key: string | Uint8Array; readonly format?: string; readonly type?: string },
): ShimKeyObject {
  const spec = typeof input === 'string' || input instanceof Uint8Array ? { key: input } : input;
  const unsupported: ShimKeyObject = { type: 'public', asymmetricKeyType: 'unsupported', key: undefined };
  if (spec.type !== undefined && spec.type !== 'spki') return unsupported;
  try {
    const key =
      typeof spec.key === 'string'
        ? spec.format === 'der'
          ? parsePublicKeyDer(decodeBase64Lenient(spec.key))
          : parsePublicKeyPem(spec.key)
        : parsePublicKeyDer(spec.key);
    return { type: 'public', asymmetricKeyType: key.algorithm === 'ed25519' ? 'ed25519' : 'ec', key };
  } catch (error) {
    if (error instanceof ProvenanceError && error.code === 'PROV_KEY_UNSUPPORTED') return unsupported;
    throw error;
  }
}

/** `crypto.createHash` for the SHA-2 family. */
export function createHash(algorithm: string): {
  update(data: Uint8Array | string, encoding?: string): ReturnType<typeof createHash>;
  digest(encoding?: string): Buffer | string;
} {
  const state = hashFunction(algorithm).create();
  const hash = {
    update(data: Uint8Array | string, encoding?: string) {
      state.update(typeof data === 'string' ? encodeString(data, normaliseEncoding(encoding)) : data);
      return hash;
    },
    digest(encoding?: string): Buffer | string {
      const out = Buffer.from(state.digest());
      return encoding === undefined ? out : out.toString(encoding);
    },
  };
  return hash;
}

/**
 * `crypto.verify(algorithm, data, key, signature)`: ECDSA (DER, high-S accepted, SHA-256 when no
 * digest is named, as Node) and Ed25519 (no digest). False for keys this stand-in cannot use.
 */
export function verify(
  algorithm: string | null | undefined,
  data: Uint8Array,
  key: ShimKeyObject,
  signature: Uint8Array,
): boolean {
  const publicKey = key.key;
  if (publicKey === undefined) return false;
  if (publicKey.algorithm === 'ed25519') {
    if (algorithm !== undefined && algorithm !== null) throw new TypeError('Ed25519 takes no digest');
    return ed25519.verify(signature, data, publicKey.bytes);
  }
  const digest = hashFunction(algorithm ?? 'sha256')(data);
  return ecdsaCurve(publicKey.algorithm).verify(signature, digest, publicKey.bytes, {
    prehash: false,
    format: 'der',
    lowS: false,
  });
}

/** `crypto.timingSafeEqual`: throws for different lengths, as Node. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) throw new RangeError('Input buffers must have the same byte length');
  return equalBytes(a, b);
}

/** `util.isDeepStrictEqual` for the values the verifier compares (plain data, bytes, dates). */
export function isDeepStrictEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Date) return a.getTime() === (b as Date).getTime();
  if (ArrayBuffer.isView(a)) {
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = b as ArrayBufferView;
    const z = new Uint8Array(y.buffer, y.byteOffset, y.byteLength);
    return x.length === z.length && x.every((v, i) => v === z[i]);
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every(
    (k) =>
      Object.hasOwn(b, k) &&
      isDeepStrictEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}

/** The `crypto` module's default export, for `require('crypto')` through esModuleInterop. */
export default { createPublicKey, createHash, verify, timingSafeEqual };
