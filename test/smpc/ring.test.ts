import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertRingVector,
  createRing,
  ringAdd,
  ringAddInPlace,
  ringFromIntegers,
  ringNegate,
  ringSub,
  ringSum,
  ringToSigned,
} from '../../src/smpc/primitives/ring.ts';
import { expectCode } from './helpers.ts';

/** A ring width and a few vectors of one length, reduced modulo 2^bits. */
const ringAndVectors = (count: number) =>
  fc
    .integer({ min: 1, max: 32 })
    .chain((bits) =>
      fc
        .integer({ min: 0, max: 40 })
        .chain((len) =>
          fc.tuple(
            fc.constant(bits),
            fc.array(
              fc.array(fc.integer({ min: 0, max: 2 ** bits - 1 }), { minLength: len, maxLength: len }),
              { minLength: count, maxLength: count },
            ),
          ),
        ),
    );

describe('ring Z_2^b', () => {
  it('createRing validates and describes the ring', () => {
    expect(createRing()).toEqual({ bits: 32, modulus: 2 ** 32, mask: -1 });
    expect(createRing(8)).toEqual({ bits: 8, modulus: 256, mask: 255 });
    expectCode(() => createRing(0), 'INVALID_ARGUMENT');
    expectCode(() => createRing(33), 'INVALID_ARGUMENT');
    expectCode(() => createRing(8.5), 'INVALID_ARGUMENT');
  });

  it('add/sub/negate agree with BigInt arithmetic modulo 2^b (property)', () => {
    fc.assert(
      fc.property(ringAndVectors(2), ([bits, [a, b]]) => {
        const r = createRing(bits);
        const m = 2n ** BigInt(bits);
        const va = Uint32Array.from(a as number[]);
        const vb = Uint32Array.from(b as number[]);
        const sum = ringAdd(va, vb, r);
        const diff = ringSub(va, vb, r);
        const neg = ringNegate(va, r);
        for (let i = 0; i < va.length; i++) {
          const x = BigInt(va[i] as number);
          const y = BigInt(vb[i] as number);
          expect(BigInt(sum[i] as number)).toBe((x + y) % m);
          expect(BigInt(diff[i] as number)).toBe((((x - y) % m) + m) % m);
          expect(BigInt(neg[i] as number)).toBe((m - x) % m);
        }
        // (a + b) − b = a, and inputs are not modified by the non-in-place forms
        expect(Array.from(ringSub(sum, vb, r))).toEqual(a);
        expect(Array.from(va)).toEqual(a);
      }),
      { numRuns: 300 },
    );
  });

  it('ringSum is the sum of its inputs in any order (property)', () => {
    fc.assert(
      fc.property(ringAndVectors(4), ([bits, vs]) => {
        const r = createRing(bits);
        const vectors = vs.map((v) => Uint32Array.from(v));
        const forward = ringSum(vectors, r);
        const backward = ringSum([...vectors].reverse(), r);
        expect(Array.from(forward)).toEqual(Array.from(backward));
        const m = 2n ** BigInt(bits);
        for (let i = 0; i < forward.length; i++) {
          const expected = vs.reduce((s, v) => s + BigInt(v[i] as number), 0n) % m;
          expect(BigInt(forward[i] as number)).toBe(expected);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('ringAddInPlace mutates the target and returns it; sign −1 subtracts', () => {
    const r = createRing(4);
    const t = Uint32Array.of(15, 0);
    expect(ringAddInPlace(t, Uint32Array.of(1, 1), r)).toBe(t);
    expect(Array.from(t)).toEqual([0, 1]);
    ringAddInPlace(t, Uint32Array.of(1, 2), r, -1);
    expect(Array.from(t)).toEqual([15, 15]);
  });

  it('signed encoding round-trips on the centred interval', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 32 })
          .chain((bits) =>
            fc.tuple(
              fc.constant(bits),
              fc.array(fc.integer({ min: -(2 ** (bits - 1)), max: 2 ** (bits - 1) - 1 })),
            ),
          ),
        ([bits, xs]) => {
          const r = createRing(bits);
          expect(Array.from(ringToSigned(ringFromIntegers(xs, r), r))).toEqual(xs.map((x) => x + 0));
        },
      ),
    );
    expect(Array.from(ringFromIntegers([-1, 3, 256, -257], createRing(8)))).toEqual([255, 3, 0, 255]);
  });

  it('refuses mismatched lengths and unreduced lanes', () => {
    const r = createRing(8);
    expectCode(() => ringAdd(Uint32Array.of(1), Uint32Array.of(1, 2), r), 'SMPC_RING_MISMATCH');
    expectCode(() => ringAdd(Uint32Array.of(256), Uint32Array.of(1), r), 'SMPC_RING_MISMATCH');
    expectCode(() => ringSum([Uint32Array.of(1), Uint32Array.of(300)], r), 'SMPC_RING_MISMATCH');
    expectCode(() => assertRingVector([1, 2], r, 'v'), 'INVALID_ARGUMENT');
    expectCode(() => ringSum([], r), 'INVALID_ARGUMENT');
    expectCode(() => ringFromIntegers([1.5], r), 'INVALID_ARGUMENT');
    expectCode(
      () => ringAdd(new Int32Array(1) as unknown as Uint32Array, Uint32Array.of(1), r),
      'INVALID_ARGUMENT',
    );
  });
});
