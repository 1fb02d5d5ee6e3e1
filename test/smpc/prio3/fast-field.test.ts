// The faster byte conversions give exactly the library's outputs: Field128 encode/decode and
// TurboSHAKE128 next_vec (including a rejected draw), compared against @divviup's own code.
import { randomBytes } from 'node:crypto';
import { Field128 } from '@divviup/field';
import { XofTurboShake128 } from '@divviup/xof';
import { describe, expect, it } from 'vitest';
import { FastField128, FastTurboShake128 } from '../../../src/smpc/prio3/fast-field.ts';

const lib = new Field128();
const fast = new FastField128();
const dst = Uint8Array.of(1, 2, 3);

describe('FastField128', () => {
  it('encodes and decodes like Field128', () => {
    const xs = [0n, 1n, lib.modulus - 1n, (1n << 64n) - 1n, 1n << 64n, ...lib.fillRandom(200)];
    const bytes = fast.encode(xs);
    expect(Buffer.from(bytes).equals(Buffer.from(lib.encode(xs)))).toBe(true);
    expect(fast.decode(bytes)).toEqual(lib.decode(bytes));
    expect(fast.decode(bytes)).toEqual(xs);
  });

  it('refuses what Field128 refuses', () => {
    const over = new Uint8Array(16).fill(0xff);
    expect(() => lib.decode(over)).toThrow();
    expect(() => fast.decode(over)).toThrow(/not in the field/);
    expect(() => fast.decode(new Uint8Array(15))).toThrow(/multiple of 16/);
    expect(() => fast.encode([1n << 128n])).toThrow();
  });
});

describe('FastTurboShake128', () => {
  it('expands seeds into the same vectors as XofTurboShake128', async () => {
    for (const length of [1, 7, 300]) {
      const seed = randomBytes(16);
      const binder = randomBytes(5);
      const a = await XofTurboShake128.expandIntoVec(lib, seed, dst, binder, length);
      const b = await FastTurboShake128.expandIntoVec(lib, seed, dst, binder, length);
      expect(b).toEqual(a);
    }
    expect(FastTurboShake128.seedSize).toBe(XofTurboShake128.seedSize);
  });

  it('redraws a value not below the modulus from the next bytes, as the library does', async () => {
    // A scripted stream: element 2 draws 2^128 − 1 (rejected) and takes the next 16 bytes.
    const blocks = [
      fast.encode([5n]),
      fast.encode([6n]),
      new Uint8Array(16).fill(0xff),
      fast.encode([7n]),
      fast.encode([8n]),
    ];
    const stream = Buffer.concat(blocks);
    const scripted = (Base: typeof FastTurboShake128) => {
      const x = new Base(randomBytes(16), dst, Uint8Array.of());
      let at = 0;
      x.next = async (n: number) => {
        const out = stream.subarray(at, at + n);
        at += n;
        return new Uint8Array(out);
      };
      return x;
    };
    const library = scripted(XofTurboShake128);
    const ours = scripted(FastTurboShake128);
    const want = await library.nextVec(lib, 4);
    expect(want).toEqual([5n, 6n, 7n, 8n]);
    expect(await ours.nextVec(lib, 4)).toEqual(want);
  });
});
