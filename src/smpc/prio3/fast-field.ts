/**
 * Faster byte conversions for the Prio3 instance, with the same outputs as the library's:
 * {@link FastField128} (`@divviup/field`'s Field128 with `encode`/`decode` reading and writing
 * 64-bit words, where the library goes byte by byte through bigint powers of 256) and
 * {@link FastTurboShake128} (`@divviup/xof`'s XofTurboShake128 with `nextVec` squeezing all the
 * bytes of a vector at once and decoding them the same way). Both keep the spec's semantics
 * (draft-irtf-cfrg-vdaf-08 §6.1.2 little-endian encoding, §6.2 `next_vec` rejection sampling: an
 * element is drawn from `encodedSize` bytes of the stream, masked to the modulus' bit length, and
 * redrawn from the next bytes while not below the modulus), so reports stay interoperable; the
 * draft's test vectors in `test/smpc/prio3/vdaf.test.ts` run through them.
 *
 * Deliberately not here: the field arithmetic itself (the library's bigint `mod`, the FFT).
 *
 * @module
 */

import { type Field, Field128 } from '@divviup/field';
import { type XofConstructor, XofTurboShake128 } from '@divviup/xof';

/** The library's TurboSHAKE128 XOF as the concrete class it is at run time. */
const TurboShakeBase = XofTurboShake128 as unknown as {
  readonly seedSize: number;
  new (
    seed: Uint8Array,
    dst: Uint8Array,
    binder: Uint8Array,
  ): {
    next(length: number): Promise<Uint8Array>;
    nextVec(field: Field, length: number): Promise<bigint[]>;
  };
};

/** Little-endian 16-byte words → bigints (no range check). */
function readWords(bytes: Uint8Array, count: number, offset = 0): bigint[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Array<bigint>(count);
  for (let i = 0; i < count; i++) {
    const at = offset + 16 * i;
    out[i] = (view.getBigUint64(at + 8, true) << 64n) | view.getBigUint64(at, true);
  }
  return out;
}

const MASK64 = (1n << 64n) - 1n;

/** Field128 with word-wise `encode` and `decode` (the same bytes and errors as the library's). */
export class FastField128 extends Field128 {
  override encode(data: bigint[]): Uint8Array {
    const out = new Uint8Array(16 * data.length);
    const view = new DataView(out.buffer);
    for (let i = 0; i < data.length; i++) {
      const x = data[i] as bigint;
      if (x < 0n || x >= 1n << 128n) throw new Error(`Integer ${x} too large for 16 byte array.`);
      view.setBigUint64(16 * i, x & MASK64, true);
      view.setBigUint64(16 * i + 8, x >> 64n, true);
    }
    return out;
  }

  override decode(encoded: Uint8Array): bigint[] {
    if (encoded.length % 16 !== 0)
      throw new Error(`could not decode, expected ${encoded.length} to be a multiple of 16`);
    const out = readWords(encoded, encoded.length / 16);
    for (const n of out)
      if (n >= this.modulus) throw new Error('decoded an element that is not in the field');
    return out;
  }
}

/** XofTurboShake128 whose `nextVec` squeezes a vector's bytes at once (Field128 only; else the library's). */
class TurboShake128 extends TurboShakeBase {
  override async nextVec(field: Field, length: number): Promise<bigint[]> {
    if (field.encodedSize !== 16 || field.modulus >= 1n << 128n || field.modulus < 1n << 127n)
      return super.nextVec(field, length);
    const out: bigint[] = [];
    // The modulus has 128 bits, so the mask to its bit length keeps all 16 bytes.
    let words = readWords(await this.next(16 * length), length);
    for (;;) {
      for (const w of words) if (w < field.modulus && out.length < length) out.push(w);
      if (out.length === length) return out;
      words = readWords(await this.next(16), 1);
    }
  }
}

/** XofTurboShake128 with the faster `nextVec` (statics inherited: `seedSize`, `expandIntoVec`, …). */
export const FastTurboShake128 = TurboShake128 as unknown as XofConstructor;
