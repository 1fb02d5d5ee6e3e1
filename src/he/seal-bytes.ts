/**
 * The gate in front of SEAL's deserializer: checks the 16-byte SEAL header of an untrusted
 * object against what the parameters allow, and inflates zstd bodies ourselves under a size cap
 * before SEAL sees them.
 *
 * node-seal 7 bundles SEAL 4.1, which predates SEAL 4.3.3/4.4.0's hardening of
 * `Serialization::Load` against hostile input (decompression bombs, oversized dimensions). So
 * nothing reaches SEAL unless: the magic is `0xA15E`, the header is 16 bytes, the version is 4.x,
 * the compression mode is none or zstd, the reserved bytes are zero, the declared size equals the
 * bytes present, and the (inflated) size is at most the largest object of that kind the
 * parameters can produce. zstd bodies are inflated with Node's zlib under that cap and re-wrapped
 * as uncompressed SEAL bytes; where no bounded inflater exists (browsers), compressed objects
 * are refused unless the caller allows SEAL to inflate them itself.
 *
 * SEAL header (SEAL `serialization.h`): u16 magic, u8 header size, u8 major, u8 minor,
 * u8 compression mode, u16 reserved, u64 total size, all little-endian.
 *
 * @module
 */

import { HeError } from '../errors.ts';

const SEAL_MAGIC = 0xa15e;
const SEAL_HEADER_BYTES = 16;
const COMPR_NONE = 0;
const COMPR_ZSTD = 2;

type ZstdInflate = (data: Uint8Array, options: { maxOutputLength: number }) => Uint8Array;

const zstdInflate: ZstdInflate | undefined = (() => {
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    ?.getBuiltinModule;
  try {
    const zlib = get?.('node:zlib') as { zstdDecompressSync?: ZstdInflate } | undefined;
    return typeof zlib?.zstdDecompressSync === 'function' ? zlib.zstdDecompressSync : undefined;
  } catch {
    return undefined;
  }
})();

/** Whether this runtime can inflate zstd under a cap (Node ≥ 22.15). */
export const canInflateZstd: boolean = zstdInflate !== undefined;

/**
 * Checks one SEAL object and returns bytes that are safe to hand to SEAL's loader.
 *
 * @param item - untrusted SEAL bytes from a container
 * @param maxRawBytes - the largest uncompressed size an object of this kind can have under the parameters
 * @param what - a label for messages ("ciphertext 3")
 */
export function admitSealObject(item: Uint8Array, maxRawBytes: number, what: string): Uint8Array {
  if (item.length < SEAL_HEADER_BYTES) {
    throw new HeError(
      'HE_CONTAINER_TRUNCATED',
      `${what} is ${item.length} bytes, shorter than a SEAL header`,
    );
  }
  const view = new DataView(item.buffer, item.byteOffset, item.byteLength);
  const magic = view.getUint16(0, true);
  const headerSize = view.getUint8(2);
  const major = view.getUint8(3);
  const mode = view.getUint8(5);
  const reserved = view.getUint16(6, true);
  const size = view.getBigUint64(8, true);
  if (magic !== SEAL_MAGIC || headerSize !== SEAL_HEADER_BYTES || major !== 4 || reserved !== 0) {
    throw new HeError('HE_CONTAINER_MALFORMED', `${what} does not start with a SEAL 4 header`);
  }
  if (size !== BigInt(item.length)) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `${what} declares ${size} bytes but ${item.length} are present`,
    );
  }
  if (mode === COMPR_NONE) {
    if (item.length > maxRawBytes) {
      throw new HeError(
        'HE_CONTAINER_TOO_LARGE',
        `${what} is ${item.length} bytes; these parameters allow at most ${maxRawBytes}`,
      );
    }
    return item;
  }
  if (mode !== COMPR_ZSTD) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `${what} uses SEAL compression mode ${mode}; confide accepts none and zstd only`,
    );
  }
  if (item.length > maxRawBytes) {
    throw new HeError(
      'HE_CONTAINER_TOO_LARGE',
      `${what} is ${item.length} bytes compressed; these parameters allow at most ${maxRawBytes}`,
    );
  }
  if (!zstdInflate) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `${what} is zstd-compressed and this runtime has no bounded zstd inflater; save it uncompressed`,
    );
  }
  let body: Uint8Array;
  try {
    body = zstdInflate(item.subarray(SEAL_HEADER_BYTES), {
      maxOutputLength: maxRawBytes - SEAL_HEADER_BYTES,
    });
  } catch (error) {
    // Node reports the cap with ERR_BUFFER_TOO_LARGE (a RangeError); anything else is a damaged stream.
    const tooLarge =
      (error as { code?: unknown } | null)?.code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError;
    throw tooLarge
      ? new HeError(
          'HE_CONTAINER_TOO_LARGE',
          `${what} inflates to more than the ${maxRawBytes} bytes these parameters allow`,
          {
            cause: error,
          },
        )
      : new HeError('HE_CONTAINER_MALFORMED', `${what} has a damaged zstd body`, { cause: error });
  }
  const out = new Uint8Array(SEAL_HEADER_BYTES + body.length);
  out.set(item.subarray(0, SEAL_HEADER_BYTES));
  out.set(body, SEAL_HEADER_BYTES);
  const outView = new DataView(out.buffer);
  outView.setUint8(5, COMPR_NONE);
  outView.setBigUint64(8, BigInt(out.length), true);
  return out;
}

/**
 * Largest uncompressed SEAL sizes for one polynomial-based object: `polys` polynomials of
 * `n` coefficients over `primes` primes at 8 bytes each, plus generous room for SEAL's
 * metadata (parms id, scale, flags, seeds).
 */
export function maxSealBytes(n: number, primes: number, polys: number): number {
  return SEAL_HEADER_BYTES + polys * n * primes * 8 + 4096;
}
