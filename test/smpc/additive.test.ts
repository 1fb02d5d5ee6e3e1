import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  combineAdditive,
  expandSeededShare,
  splitAdditive,
  splitAdditiveSeeded,
} from '../../src/smpc/primitives/additive.ts';
import { createRing, ringSum } from '../../src/smpc/primitives/ring.ts';
import { expectCode, expectCodeAsync, seededRandom } from './helpers.ts';

const vectorIn = (bits: number, maxLength = 30) =>
  fc.array(fc.integer({ min: 0, max: 2 ** bits - 1 }), { maxLength }).map((a) => Uint32Array.from(a));

describe('multi-server additive sharing', () => {
  it('combine ∘ split = id for every ring width and party count (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 32 }).chain((bits) => fc.tuple(fc.constant(bits), vectorIn(bits))),
        fc.integer({ min: 2, max: 8 }),
        ([ringBits, x], parties) => {
          const shares = splitAdditive(x, { parties, ringBits });
          expect(shares.length).toBe(parties);
          for (const s of shares) {
            expect(s.length).toBe(x.length);
            for (const v of s) expect(v).toBeLessThan(2 ** ringBits);
          }
          expect(Array.from(combineAdditive(shares, ringBits))).toEqual(Array.from(x));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('aggregators summing their shares recover exactly the sum of all inputs', () => {
    const ring = createRing(32);
    const clients = 20;
    const parties = 3;
    const inputs = Array.from({ length: clients }, () => crypto.getRandomValues(new Uint32Array(64)));
    const perAggregator: Uint32Array[][] = Array.from({ length: parties }, () => []);
    for (const x of inputs) {
      for (const [p, s] of splitAdditive(x, { parties }).entries()) perAggregator[p]?.push(s);
    }
    const partials = perAggregator.map((shares) => ringSum(shares, ring));
    expect(Array.from(combineAdditive(partials))).toEqual(Array.from(ringSum(inputs, ring)));
  });

  it('any n − 1 shares of the zero vector look uniform (chi-square on bytes)', () => {
    // Shares 1..n−1 are raw CSPRNG output; the last share is −Σ others, also uniform.
    const zero = new Uint32Array(25_000);
    const shares = splitAdditive(zero, { parties: 3, ringBits: 8 });
    for (const s of shares) {
      const counts = new Array<number>(256).fill(0);
      for (const v of s) counts[v] = (counts[v] ?? 0) + 1;
      const e = s.length / 256;
      const chi = counts.reduce((acc, c) => acc + (c - e) ** 2 / e, 0);
      expect(chi).toBeLessThan(377.08); // df 255, p = 1e-6 (scipy chi2.isf)
    }
  });

  it('is deterministic under an injected source and fresh by default', () => {
    const x = Uint32Array.of(1, 2, 3);
    const a = splitAdditive(x, { parties: 2, random: seededRandom('s') });
    const b = splitAdditive(x, { parties: 2, random: seededRandom('s') });
    const c = splitAdditive(x, { parties: 2 });
    expect(Array.from(a[0] ?? [])).toEqual(Array.from(b[0] ?? []));
    expect(Array.from(a[0] ?? [])).not.toEqual(Array.from(c[0] ?? []));
  });

  it('validates arguments', () => {
    expectCode(() => splitAdditive(Uint32Array.of(1), { parties: 1 }), 'INVALID_ARGUMENT');
    expectCode(() => splitAdditive(Uint32Array.of(1), { parties: 65 }), 'INVALID_ARGUMENT');
    expectCode(() => splitAdditive(Uint32Array.of(256), { parties: 2, ringBits: 8 }), 'SMPC_RING_MISMATCH');
    expectCode(() => splitAdditive([1] as unknown as Uint32Array, { parties: 2 }), 'INVALID_ARGUMENT');
    expectCode(() => combineAdditive([Uint32Array.of(1), Uint32Array.of(1, 2)]), 'SMPC_RING_MISMATCH');
  });
});

describe('seeded additive sharing', () => {
  it('leader share plus expanded helper seeds recombine to x (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 32 }).chain((bits) => fc.tuple(fc.constant(bits), vectorIn(bits, 50))),
        fc.integer({ min: 2, max: 5 }),
        fc.constantFrom('aes-256-ctr' as const, 'chacha20' as const),
        async ([ringBits, x], parties, algorithm) => {
          const sessionId = randomBytes(32);
          const { leader, seeds } = await splitAdditiveSeeded(x, { parties, ringBits, sessionId, algorithm });
          expect(seeds.length).toBe(parties - 1);
          const helpers = await Promise.all(
            seeds.map((seed) => expandSeededShare(seed, x.length, { sessionId, ringBits, algorithm })),
          );
          expect(Array.from(combineAdditive([leader, ...helpers], ringBits))).toEqual(Array.from(x));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('binds helper shares to the session id', async () => {
    const seed = randomBytes(32);
    const a = await expandSeededShare(seed, 16, { sessionId: randomBytes(32) });
    const b = await expandSeededShare(seed, 16, { sessionId: randomBytes(32) });
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });

  it('validates arguments', async () => {
    await expectCodeAsync(
      splitAdditiveSeeded(Uint32Array.of(1), { parties: 2, sessionId: new Uint8Array(16) }),
      'INVALID_ARGUMENT',
    );
    await expectCodeAsync(
      expandSeededShare(new Uint8Array(16), 1, { sessionId: randomBytes(32) }),
      'INVALID_ARGUMENT',
    );
  });
});
