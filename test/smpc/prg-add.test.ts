import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addPrg, expandPrg, PRG_ALGORITHMS } from '../../src/smpc/primitives/prg.ts';
import { expectCodeAsync, hex, loadVectors } from './helpers.ts';

interface Case {
  algorithm: (typeof PRG_ALGORITHMS)[number];
  key: string;
  modulus: number;
  start: number;
  length: number;
  output: number[];
}

const vectors = loadVectors<{ cases: Case[] }>('prg.json');

/** (a ± b) mod 2^b with BigInt: an independent statement of the ring addition. */
function reference(target: Uint32Array, mask: Uint32Array, modulus: number, sign: 1 | -1): number[] {
  const m = BigInt(modulus);
  return Array.from(target, (t, i) =>
    Number((((BigInt(t) + BigInt(sign) * BigInt(mask[i] as number)) % m) + m) % m),
  );
}

describe('addPrg', () => {
  const pow2 = vectors.cases.filter((c) => Number.isInteger(Math.log2(c.modulus)));

  it('the vectors have power-of-two cases of both ciphers', () => {
    expect(new Set(pow2.map((c) => c.algorithm))).toEqual(new Set(PRG_ALGORITHMS));
  });

  for (const backend of ['node', 'noble', 'auto'] as const) {
    it.each(pow2.map((c, i) => [i, c] as const))(
      `adds the known-answer stream %i into zeros, backend ${backend}`,
      async (_, c) => {
        const out = await addPrg(new Uint32Array(c.length), hex(c.key), {
          modulus: c.modulus,
          sign: 1,
          start: c.start,
          algorithm: c.algorithm,
          backend,
        });
        expect(Array.from(out)).toEqual(c.output);
      },
    );
  }

  it('equals target ± expandPrg for random rings, ranges, chunks, signs and backends (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...PRG_ALGORITHMS),
        fc.constantFrom('node', 'noble', 'auto'),
        fc.integer({ min: 1, max: 32 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 0, max: 700 }),
        fc.integer({ min: 1, max: 300 }),
        fc.constantFrom(1 as const, -1 as const),
        async (algorithm, backend, bits, start, length, chunk, sign) => {
          const modulus = 2 ** bits;
          const key = randomBytes(32);
          const target = crypto.getRandomValues(new Uint32Array(length)).map((x) => x % modulus);
          const mask = await expandPrg(key, { modulus, start, length, algorithm, backend: 'noble' });
          const expected = reference(target, mask, modulus, sign);
          await addPrg(target, key, { modulus, sign, start, chunk, algorithm, backend });
          expect(Array.from(target)).toEqual(expected);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('the node backend gives the WebCrypto AES stream at m = 2^20 lanes across chunk edges', async () => {
    const key = randomBytes(32);
    const length = (1 << 18) + 5;
    const a = await addPrg(new Uint32Array(length), key, {
      modulus: 2 ** 32,
      sign: 1,
      start: 3,
      backend: 'node',
    });
    const b = await expandPrg(key, { modulus: 2 ** 32, start: 3, length, backend: 'webcrypto' });
    expect(a.every((x, i) => x === b[i])).toBe(true);
  });

  it('validates its arguments', async () => {
    const key = randomBytes(32);
    await expectCodeAsync(addPrg(new Uint32Array(4), key, { modulus: 12345, sign: 1 }), 'INVALID_ARGUMENT');
    await expectCodeAsync(
      addPrg(new Uint32Array(4), key, { modulus: 2 ** 32, sign: 2 as 1 }),
      'INVALID_ARGUMENT',
    );
    await expectCodeAsync(
      addPrg(new Uint32Array(4), key.subarray(1), { modulus: 2 ** 32, sign: 1 }),
      'INVALID_ARGUMENT',
    );
    await expectCodeAsync(
      addPrg([1, 2] as unknown as Uint32Array, key, { modulus: 2 ** 32, sign: 1 }),
      'INVALID_ARGUMENT',
    );
    await expectCodeAsync(
      addPrg(new Uint32Array(4), key, { modulus: 2 ** 32, sign: 1, backend: 'openssl' as 'node' }),
      'INVALID_ARGUMENT',
    );
  });
});
