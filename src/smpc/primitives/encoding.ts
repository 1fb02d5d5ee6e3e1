/**
 * Byte encodings shared by the KDF, envelope, commitment and share formats: UTF-8, big-endian
 * integers, and length-prefixed concatenation (`BE32(len) ‖ bytes`, repeated), which is
 * injective, so two different field tuples never encode to the same bytes. All formats in
 * `test/vectors/smpc/README.md` are built from these three pieces.
 *
 * UTF-8, concatenation, hex and constant-time equality are the package's one byte layer
 * (`src/internal/bytes.ts`), re-exported here for the protocol modules.
 *
 * Deliberately not here: base64 for transport (the message layer's job).
 *
 * @module
 */

import { concatBytes, toHex } from '../../internal/bytes.ts';

export { concatBytes, equalBytes, utf8 } from '../../internal/bytes.ts';

/** `value` as 4 big-endian bytes (`value` must be an integer in [0, 2^32)). */
export function u32be(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, false);
  return out;
}

/** `BE32(len(p)) ‖ p` for every part, concatenated: an injective encoding of a tuple of byte strings. */
export function lengthPrefixed(...parts: readonly Uint8Array[]): Uint8Array {
  const framed: Uint8Array[] = [];
  for (const p of parts) framed.push(u32be(p.length), p);
  return concatBytes(...framed);
}

/** Big-endian bytes of a non-negative bigint, left-padded to `length` bytes. */
export function bigintToBytes(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** The non-negative bigint whose big-endian bytes are `bytes`. */
export function bytesToBigint(bytes: Uint8Array): bigint {
  // One hex parse instead of a shift per byte (several times faster for field elements).
  return bytes.length === 0 ? 0n : BigInt(`0x${toHex(bytes)}`);
}

/** Lower-case hex of `bytes` (for test vectors and logs of public data only). */
export { toHex } from '../../internal/bytes.ts';
