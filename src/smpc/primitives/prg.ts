/**
 * The mask generator: a keyed PRG that expands a 32-byte key into a vector of integers uniform
 * modulo any m in [2, 2^32], with random access (any coordinate range is computed without the
 * prefix, so unmasking can be split across workers and machines).
 *
 * Two ciphers, chosen per session and never mixed: `aes-256-ctr` (the default) and `chacha20`
 * (RFC 8439, the faster choice when no hardware AES is reachable from JS). Backends, all giving the
 * same stream byte for byte (tests compare them): `node` (`node:crypto`'s OpenSSL ciphers,
 * synchronous, AES-NI; about 2.5× WebCrypto's AES in Node, which copies and hops threads per call),
 * `webcrypto` (AES only; browsers) and `noble` (`@noble/ciphers`, pure JS). `auto` takes the first
 * one the runtime has, in that order. This follows fcp's `aes_ctr_prng.cc` (AES-256-CTR,
 * zero IV); keys come from `kdf.ts`, so they already bind session id
 * and purpose.
 *
 * Stream layout (normative; see `test/vectors/smpc/README.md`). "Stream j" is the keystream of
 * - AES-256-CTR with the initial 16-byte counter block BE64(j) ‖ BE64(0), the low 64 bits
 *   incrementing per block (WebCrypto `length: 64`);
 * - ChaCha20 (RFC 8439) with nonce 0x00000000 ‖ BE64(j) and initial block counter 0.
 *
 * If m = 2^b: coordinate i is LE32(stream0[4i .. 4i+4]) & (2^b − 1). If m is not a power of two
 * (rejection sampling, as fcp does for general moduli): let T = 2^32 − (2^32 mod m). For attempt
 * j = 0, 1, …, read the 16 bytes streamj[16i .. 16i+16] as four LE32 candidates r0..r3; the
 * coordinate is rk mod m for the first rk < T. If all four are rejected, go to attempt j + 1. Every
 * candidate is accepted with probability > 1/2, so an attempt fails with probability < 1/16, and
 * the output is exactly uniform.
 *
 * {@link addPrg} adds a stream into a ring vector (power-of-two moduli) chunk by chunk, reading
 * the keystream lanes in place: with the `node` backend one cipher runs across every chunk and no
 * mask vector is ever allocated (the client's and the server's hot loop).
 *
 * Deliberately not here: key derivation (`kdf.ts`), ring arithmetic in general (`ring.ts`), and a
 * synchronous API (WebCrypto is asynchronous; one async call per range is cheap next to the
 * expansion itself).
 *
 * @module
 */

import { ctr } from '@noble/ciphers/aes.js';
import { chacha20 } from '@noble/ciphers/chacha.js';
import { ConfideArgumentError } from '../../errors.ts';
import { assertBytes, assertInteger, assertOneOf } from '../../internal/assert.ts';
import { SmpcError } from '../errors.ts';

/** The PRG ciphers; both are cryptographic, the choice is part of the session parameters. */
export const PRG_ALGORITHMS = ['aes-256-ctr', 'chacha20'] as const;
/** One of {@link PRG_ALGORITHMS}. */
export type PrgAlgorithm = (typeof PRG_ALGORITHMS)[number];

/**
 * Where the cipher runs: `auto` prefers `node:crypto` (OpenSSL), then WebCrypto (AES only), then
 * `@noble/ciphers`.
 */
export const PRG_BACKENDS = ['auto', 'node', 'webcrypto', 'noble'] as const;
/** One of {@link PRG_BACKENDS}. */
export type PrgBackend = (typeof PRG_BACKENDS)[number];

/** Length of a PRG key in bytes. */
export const PRG_KEY_LENGTH = 32;

/** Largest coordinate index + 1 a stream addresses (keeps ChaCha20's 32-bit block counter in range). */
export const MAX_PRG_COORDINATES = 2 ** 32;

/** Largest number of coordinates expanded in one call (1 GiB of keystream at most). */
export const MAX_PRG_LENGTH = 2 ** 26;

/** Rejection attempts before giving up: each fails with probability < 2^-4, so 64 fail < 2^-256. */
const MAX_ATTEMPTS = 64;

const TWO_POW_32 = 2 ** 32;

/** Typed arrays use the platform's byte order; the stream is little-endian by definition. */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** What to expand. */
export interface PrgOptions {
  /** The modulus m, an integer in [2, 2^32]; powers of two use masking, others rejection sampling. */
  readonly modulus: number;
  /** Number of coordinates to produce. */
  readonly length: number;
  /** Index of the first coordinate (default 0). */
  readonly start?: number;
  /** Cipher (default `aes-256-ctr`). */
  readonly algorithm?: PrgAlgorithm;
  /** Backend (default `auto`). `webcrypto` with `chacha20` is unavailable. */
  readonly backend?: PrgBackend;
}

function zeroCopy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

/**
 * One zero-filled buffer, grown as needed and never written after that: every cipher here reads
 * its input (WebCrypto copies it when called) and writes a fresh output, so the plaintext of the
 * keystream need not be allocated per call (it was most of the garbage of a masking step).
 */
let zeroBuffer = new Uint8Array(0);
function zeros(length: number): Uint8Array<ArrayBuffer> {
  if (zeroBuffer.length < length) zeroBuffer = new Uint8Array(Math.max(length, 2 * zeroBuffer.length));
  return zeroBuffer.subarray(0, length);
}

/**
 * The imported WebCrypto key of each raw key object still alive, with a copy of the bytes it
 * was imported from (a caller may reuse a buffer for another key): `applyMask` expands one key in
 * many chunks, and an import costs about as much as expanding 64 KiB.
 */
const importedKeys = new WeakMap<
  Uint8Array,
  { readonly bytes: Uint8Array; readonly key: Promise<CryptoKey> }
>();
function importAesKey(subtle: SubtleCrypto, raw: Uint8Array): Promise<CryptoKey> {
  const hit = importedKeys.get(raw);
  if (hit?.bytes.every((b, i) => b === raw[i])) return hit.key;
  const bytes = zeroCopy(raw);
  const key = subtle.importKey('raw', bytes, { name: 'AES-CTR' }, false, ['encrypt']);
  importedKeys.set(raw, { bytes, key });
  key.catch(() => importedKeys.delete(raw));
  return key;
}

type NodeCipher = { update(data: Uint8Array): Uint8Array };
type NodeCrypto = { createCipheriv(algorithm: string, key: Uint8Array, iv: Uint8Array): NodeCipher };

/** `node:crypto` where the runtime has it (Node, Deno, Bun); undefined in browsers. */
const nodeCrypto: NodeCrypto | undefined = (
  globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;

/** Whether `node:crypto` has each cipher (Bun's BoringSSL has no raw ChaCha20; FIPS builds may refuse it). */
const nodeCipherSupport = new Map<PrgAlgorithm, boolean>();
function nodeHasCipher(algorithm: PrgAlgorithm): boolean {
  let ok = nodeCipherSupport.get(algorithm);
  if (ok === undefined) {
    try {
      nodeCrypto?.createCipheriv(
        algorithm === 'chacha20' ? 'chacha20' : 'aes-256-ctr',
        new Uint8Array(32),
        new Uint8Array(16),
      );
      ok = nodeCrypto !== undefined;
    } catch {
      ok = false;
    }
    nodeCipherSupport.set(algorithm, ok);
  }
  return ok;
}

/** Whether to use `node:crypto` for `algorithm` under `backend`; throws when `node` is forced but missing. */
function useNode(backend: PrgBackend, algorithm: PrgAlgorithm): boolean {
  if (backend === 'node' && !nodeHasCipher(algorithm)) {
    throw new SmpcError('SMPC_BACKEND_UNAVAILABLE', `node:crypto has no ${algorithm} in this runtime`);
  }
  return (backend === 'node' || backend === 'auto') && nodeHasCipher(algorithm);
}

/**
 * A reader of stream j from byte `offset` on through OpenSSL: each call returns the next `length`
 * bytes (a fresh buffer). One cipher serves every call, so a long stream pays one key schedule.
 */
function nodeStreamReader(
  algorithm: PrgAlgorithm,
  key: Uint8Array,
  j: number,
  offset: number,
): (length: number) => Uint8Array {
  const c = nodeCrypto as NodeCrypto;
  const iv = new Uint8Array(16);
  const view = new DataView(iv.buffer);
  let cipher: NodeCipher;
  let skip: number;
  if (algorithm === 'chacha20') {
    // OpenSSL's IV is LE32(block counter) ‖ the RFC 8439 nonce (0x00000000 ‖ BE64(j)).
    const first = Math.floor(offset / 64);
    skip = offset % 64;
    view.setUint32(0, first, true);
    view.setUint32(8, Math.floor(j / TWO_POW_32), false);
    view.setUint32(12, j >>> 0, false);
    cipher = c.createCipheriv('chacha20', key, iv);
  } else {
    // The 128-bit counter OpenSSL increments equals WebCrypto's `length: 64` low half: the low 64
    // bits start below 2^33 and never wrap within MAX_PRG_COORDINATES.
    const first = Math.floor(offset / 16);
    skip = offset % 16;
    view.setUint32(0, Math.floor(j / TWO_POW_32), false);
    view.setUint32(4, j >>> 0, false);
    view.setUint32(8, Math.floor(first / TWO_POW_32), false);
    view.setUint32(12, first >>> 0, false);
    cipher = c.createCipheriv('aes-256-ctr', key, iv);
  }
  if (skip > 0) cipher.update(zeros(skip));
  return (length) => cipher.update(zeros(length));
}

function subtleOrUndefined(): SubtleCrypto | undefined {
  const c = globalThis.crypto as Crypto | undefined;
  return c?.subtle;
}

/** Bytes [offset, offset + length) of stream j (see the module doc for the layout). */
async function streamBytes(
  algorithm: PrgAlgorithm,
  backend: PrgBackend,
  key: Uint8Array,
  j: number,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  if (useNode(backend, algorithm)) {
    return nodeStreamReader(algorithm, key, j, offset)(length);
  }
  if (algorithm === 'chacha20') {
    if (backend === 'webcrypto') {
      throw new SmpcError(
        'SMPC_BACKEND_UNAVAILABLE',
        'WebCrypto has no ChaCha20; use backend "noble" or "auto"',
      );
    }
    const first = Math.floor(offset / 64);
    const skip = offset % 64;
    const nonce = new Uint8Array(12);
    const view = new DataView(nonce.buffer);
    view.setUint32(4, Math.floor(j / TWO_POW_32), false);
    view.setUint32(8, j >>> 0, false);
    const blocks = Math.ceil((skip + length) / 64);
    const ks = chacha20(key, nonce, zeros(blocks * 64), undefined, first);
    return ks.subarray(skip, skip + length);
  }
  const first = Math.floor(offset / 16);
  const skip = offset % 16;
  const counter = new Uint8Array(16);
  const view = new DataView(counter.buffer);
  view.setUint32(0, Math.floor(j / TWO_POW_32), false);
  view.setUint32(4, j >>> 0, false);
  view.setUint32(8, Math.floor(first / TWO_POW_32), false);
  view.setUint32(12, first >>> 0, false);
  const plaintext = zeros(Math.ceil((skip + length) / 16) * 16);
  const subtle = backend === 'noble' ? undefined : subtleOrUndefined();
  if (subtle === undefined) {
    if (backend === 'webcrypto') {
      throw new SmpcError(
        'SMPC_BACKEND_UNAVAILABLE',
        'WebCrypto (crypto.subtle) is not available in this runtime',
      );
    }
    return ctr(key, counter)
      .encrypt(plaintext)
      .subarray(skip, skip + length);
  }
  let cryptoKey: CryptoKey;
  let ks: ArrayBuffer;
  try {
    cryptoKey = await importAesKey(subtle, key);
    ks = await subtle.encrypt({ name: 'AES-CTR', counter, length: 64 }, cryptoKey, plaintext);
  } catch (cause) {
    if (backend === 'webcrypto') {
      throw new SmpcError('SMPC_BACKEND_UNAVAILABLE', 'WebCrypto AES-CTR failed', { cause });
    }
    return ctr(key, counter)
      .encrypt(plaintext)
      .subarray(skip, skip + length);
  }
  return new Uint8Array(ks, skip, length);
}

function readU32le(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset] as number) |
      ((bytes[offset + 1] as number) << 8) |
      ((bytes[offset + 2] as number) << 16) |
      ((bytes[offset + 3] as number) << 24)) >>>
    0
  );
}

/**
 * Expands `key` into `length` integers uniform modulo `modulus`, starting at coordinate `start`.
 * The output for a range equals the same slice of any longer expansion.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a key that is not 32 bytes or a bad range.
 * @throws {SmpcError} `SMPC_BACKEND_UNAVAILABLE` when the forced backend is missing.
 * @example
 * ```ts
 * const mask = await expandPrg(key, { modulus: 2 ** 32, length: 1000 });
 * const tail = await expandPrg(key, { modulus: 2 ** 32, start: 900, length: 100 }); // = mask.subarray(900)
 * ```
 */
export async function expandPrg(key: Uint8Array, options: PrgOptions): Promise<Uint32Array> {
  assertBytes(key, 'key', PRG_KEY_LENGTH);
  const modulus = assertInteger(options.modulus, 'modulus', 2, TWO_POW_32);
  const length = assertInteger(options.length, 'length', 0, MAX_PRG_LENGTH);
  const start = assertInteger(options.start ?? 0, 'start', 0, MAX_PRG_COORDINATES - length);
  const algorithm = assertOneOf(options.algorithm ?? 'aes-256-ctr', 'algorithm', PRG_ALGORITHMS);
  const backend = assertOneOf(options.backend ?? 'auto', 'backend', PRG_BACKENDS);
  if (length === 0) return new Uint32Array(0);

  const bits = Math.log2(modulus);
  if (Number.isInteger(bits) && 2 ** bits === modulus) {
    const mask = bits === 32 ? -1 : modulus - 1;
    const bytes = await streamBytes(algorithm, backend, key, 0, 4 * start, 4 * length);
    if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) {
      // The keystream buffer is fresh and ours: read its lanes in place instead of copying.
      const lanes = new Uint32Array(bytes.buffer, bytes.byteOffset, length);
      if (bits !== 32) for (let i = 0; i < length; i++) lanes[i] = (lanes[i] as number) & mask;
      return lanes;
    }
    const out = new Uint32Array(length);
    for (let i = 0; i < length; i++) out[i] = readU32le(bytes, 4 * i) & mask;
    return out;
  }

  const out = new Uint32Array(length);
  const threshold = TWO_POW_32 - (TWO_POW_32 % modulus);
  let pending: number[] | undefined; // undefined: every coordinate (attempt 0)
  for (let j = 0; pending === undefined || pending.length > 0; j++) {
    if (j >= MAX_ATTEMPTS) {
      throw new SmpcError('SMPC_PRG_EXHAUSTED', `rejection sampling failed ${MAX_ATTEMPTS} times in a row`);
    }
    const lo = pending === undefined ? 0 : (pending[0] as number);
    const hi = pending === undefined ? length - 1 : (pending[pending.length - 1] as number);
    const bytes = await streamBytes(algorithm, backend, key, j, 16 * (start + lo), 16 * (hi - lo + 1));
    const next: number[] = [];
    const count = pending === undefined ? length : pending.length;
    for (let p = 0; p < count; p++) {
      const idx = pending === undefined ? p : (pending[p] as number);
      const base = 16 * (idx - lo);
      let accepted = false;
      for (let k = 0; k < 4; k++) {
        const r = readU32le(bytes, base + 4 * k);
        if (r < threshold) {
          out[idx] = r % modulus;
          accepted = true;
          break;
        }
      }
      if (!accepted) next.push(idx);
    }
    pending = next;
  }
  return out;
}

/** What {@link addPrg} adds. */
export interface AddPrgOptions {
  /** The modulus 2^b, 2 ≤ 2^b ≤ 2^32 (a ring's modulus); other moduli are refused. */
  readonly modulus: number;
  /** +1 adds the stream, −1 subtracts it. */
  readonly sign: 1 | -1;
  /** Coordinate index of `target[0]` in the stream (default 0). */
  readonly start?: number;
  /** Cipher (default `aes-256-ctr`). */
  readonly algorithm?: PrgAlgorithm;
  /** Backend (default `auto`). */
  readonly backend?: PrgBackend;
  /** Coordinates per keystream read (default 2^16): bounds the memory beside `target`. */
  readonly chunk?: number;
}

/** Default coordinates per keystream read of {@link addPrg}. */
export const DEFAULT_PRG_CHUNK = 1 << 16;

/** target[i] ← target[i] ± lanes[i] mod 2^b, for b ≤ 32 (`& mask` is exact, see `ring.ts`). */
function addLanes(target: Uint32Array, lanes: Uint32Array, mask: number, sign: 1 | -1): void {
  const n = target.length;
  if (sign === 1)
    for (let i = 0; i < n; i++) target[i] = ((target[i] as number) + (lanes[i] as number)) & mask;
  else for (let i = 0; i < n; i++) target[i] = ((target[i] as number) - (lanes[i] as number)) & mask;
}

/**
 * Adds (sign +1) or subtracts (sign −1) PRG(key) over coordinates [start, start + target.length)
 * into `target`, mod `modulus` (a power of two), in place; returns `target`. Equal to adding
 * `expandPrg(key, { modulus, start, length })` lane by lane, without allocating it: the keystream
 * is read in chunks and its lanes added where they lie. Lanes of `target` must be reduced
 * (callers check; `masking.ts` does).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a bad key, modulus (not a power of two) or range.
 * @throws {SmpcError} `SMPC_BACKEND_UNAVAILABLE` when the forced backend is missing.
 * @example
 * ```ts
 * await addPrg(y, key, { modulus: 2 ** 32, sign: 1 }); // y += PRG(key)
 * ```
 */
export async function addPrg(
  target: Uint32Array,
  key: Uint8Array,
  options: AddPrgOptions,
): Promise<Uint32Array> {
  if (!(target instanceof Uint32Array)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'target must be a Uint32Array');
  }
  assertBytes(key, 'key', PRG_KEY_LENGTH);
  const modulus = assertInteger(options.modulus, 'modulus', 2, TWO_POW_32);
  const bits = Math.log2(modulus);
  if (!Number.isInteger(bits)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'addPrg needs a power-of-two modulus (a ring 2^b)');
  }
  if (options.sign !== 1 && options.sign !== -1) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'sign must be 1 or -1');
  }
  const length = target.length;
  const start = assertInteger(options.start ?? 0, 'start', 0, MAX_PRG_COORDINATES - length);
  const algorithm = assertOneOf(options.algorithm ?? 'aes-256-ctr', 'algorithm', PRG_ALGORITHMS);
  const backend = assertOneOf(options.backend ?? 'auto', 'backend', PRG_BACKENDS);
  const chunk = assertInteger(options.chunk ?? DEFAULT_PRG_CHUNK, 'chunk', 1, MAX_PRG_LENGTH);
  const mask = bits === 32 ? -1 : modulus - 1;
  const sign = options.sign;
  if (useNode(backend, algorithm)) {
    const read = nodeStreamReader(algorithm, key, 0, 4 * start);
    for (let offset = 0; offset < length; offset += chunk) {
      const n = Math.min(chunk, length - offset);
      const bytes = read(4 * n);
      const lanes =
        LITTLE_ENDIAN && bytes.byteOffset % 4 === 0
          ? new Uint32Array(bytes.buffer, bytes.byteOffset, n)
          : Uint32Array.from({ length: n }, (_, i) => readU32le(bytes, 4 * i));
      addLanes(target.subarray(offset, offset + n), lanes, mask, sign);
    }
    return target;
  }
  for (let offset = 0; offset < length; offset += chunk) {
    const n = Math.min(chunk, length - offset);
    const lanes = await expandPrg(key, { modulus, start: start + offset, length: n, algorithm, backend });
    addLanes(target.subarray(offset, offset + n), lanes, mask, sign);
  }
  return target;
}

/** Whether `backend` resolves to `node:crypto` for `algorithm` here (synchronous OpenSSL ciphers). */
export function prgRunsOnNodeCrypto(
  backend: PrgBackend = 'auto',
  algorithm: PrgAlgorithm = 'aes-256-ctr',
): boolean {
  return (backend === 'auto' || backend === 'node') && nodeHasCipher(algorithm);
}

/** One stream for {@link addPrgMany}. */
export interface PrgTerm {
  readonly key: Uint8Array;
  readonly sign: 1 | -1;
}

/**
 * Adds every term's stream into `target` like {@link addPrg} one by one, but with the loops
 * swapped where `node:crypto` runs: one cipher per term stays open and, chunk by chunk of
 * coordinates, every term's keystream is added while that chunk of `target` is in cache (one pass
 * over `target` instead of one per term). Elsewhere it calls {@link addPrg} per term.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` as {@link addPrg} does, for any term.
 */
export async function addPrgMany(
  target: Uint32Array,
  terms: readonly PrgTerm[],
  options: Omit<AddPrgOptions, 'sign'>,
): Promise<Uint32Array> {
  if (!Array.isArray(terms)) throw new ConfideArgumentError('INVALID_ARGUMENT', 'terms must be an array');
  const backend = assertOneOf(options.backend ?? 'auto', 'backend', PRG_BACKENDS);
  const algorithm = assertOneOf(options.algorithm ?? 'aes-256-ctr', 'algorithm', PRG_ALGORITHMS);
  if (!prgRunsOnNodeCrypto(backend, algorithm) || terms.length <= 1) {
    for (const t of terms) await addPrg(target, t.key, { ...options, sign: t.sign });
    return target;
  }
  // Validate every term (and the shared options) before touching target.
  for (const t of terms) await addPrg(new Uint32Array(0), t.key, { ...options, sign: t.sign });
  if (!(target instanceof Uint32Array)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'target must be a Uint32Array');
  }
  const length = target.length;
  const start = assertInteger(options.start ?? 0, 'start', 0, MAX_PRG_COORDINATES - length);
  const chunk = assertInteger(options.chunk ?? DEFAULT_PRG_CHUNK, 'chunk', 1, MAX_PRG_LENGTH);
  const bits = Math.log2(options.modulus);
  const mask = bits === 32 ? -1 : options.modulus - 1;
  const readers = terms.map((t) => nodeStreamReader(algorithm, t.key, 0, 4 * start));
  for (let offset = 0; offset < length; offset += chunk) {
    const n = Math.min(chunk, length - offset);
    const slice = target.subarray(offset, offset + n);
    for (let k = 0; k < readers.length; k++) {
      const bytes = (readers[k] as (length: number) => Uint8Array)(4 * n);
      const lanes =
        LITTLE_ENDIAN && bytes.byteOffset % 4 === 0
          ? new Uint32Array(bytes.buffer, bytes.byteOffset, n)
          : Uint32Array.from({ length: n }, (_, i) => readU32le(bytes, 4 * i));
      addLanes(slice, lanes, mask, (terms[k] as PrgTerm).sign);
    }
  }
  return target;
}
