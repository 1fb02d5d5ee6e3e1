import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateAgreementKeyPair, sharedSecret } from '../../src/smpc/primitives/ka.ts';
import {
  applyMask,
  pairwiseMaskKey,
  pairwiseMaskSign,
  selfMaskKey,
} from '../../src/smpc/primitives/masking.ts';
import { expandPrg } from '../../src/smpc/primitives/prg.ts';
import { createRing, ringSum } from '../../src/smpc/primitives/ring.ts';
import { expectCode, expectCodeAsync } from './helpers.ts';

describe('pairwise mask sign', () => {
  it('is antisymmetric for any distinct ids, numeric or not (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, unit: 'binary' }),
        fc.string({ minLength: 1, unit: 'binary' }),
        (a, b) => {
          fc.pre(a !== b);
          expect(pairwiseMaskSign(a, b)).toBe(-pairwiseMaskSign(b, a) as 1 | -1);
        },
      ),
    );
    expect(pairwiseMaskSign('9', '10')).toBe(-1); // byte order, not numeric
    expect(pairwiseMaskSign('\uFFFD', '😀')).toBe(1); // UTF-8 order, not UTF-16
  });

  it('refuses equal ids instead of letting both sides add', () => {
    expectCode(() => pairwiseMaskSign('x', 'x'), 'SMPC_ROSTER_INVALID');
  });
});

describe('masks', () => {
  it('pairwise masks of a complete graph cancel in the sum; self masks are removed exactly (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 2, maxLength: 6 }),
        fc.integer({ min: 1, max: 32 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 32, max: 128 }),
        async (ids, bits, length, chunk) => {
          const ring = createRing(bits);
          const sessionId = randomBytes(32);
          const keys = await Promise.all(ids.map(() => generateAgreementKeyPair()));
          const inputs = ids.map(() =>
            crypto.getRandomValues(new Uint32Array(length)).map((v) => v & ring.mask),
          );
          const seeds = ids.map(() => randomBytes(32));
          const masked: Uint32Array[] = [];
          for (const [u, id] of ids.entries()) {
            const y = Uint32Array.from(inputs[u] as Uint32Array);
            await applyMask(y, selfMaskKey(seeds[u] as Uint8Array, sessionId), { ring, sign: 1, chunk });
            for (const [v, peer] of ids.entries()) {
              if (v === u) continue;
              const secret = await sharedSecret(
                (keys[u] as { secretKey: Uint8Array }).secretKey,
                (keys[v] as { publicKey: Uint8Array }).publicKey,
              );
              await applyMask(y, pairwiseMaskKey(secret, sessionId), {
                ring,
                sign: pairwiseMaskSign(id, peer),
                chunk,
              });
            }
            masked.push(y);
          }
          const total = ringSum(masked, ring);
          for (const seed of seeds) await applyMask(total, selfMaskKey(seed, sessionId), { ring, sign: -1 });
          expect(Array.from(total)).toEqual(Array.from(ringSum(inputs, ring)));
        },
      ),
      { numRuns: 10 },
    );
  });

  it('a masked vector reveals nothing without the self mask: it equals input + uniform PRG output', async () => {
    const ring = createRing(32);
    const key = selfMaskKey(randomBytes(32), randomBytes(32));
    const y = await applyMask(new Uint32Array(1000), key, { ring, sign: 1 });
    expect(Array.from(y)).toEqual(Array.from(await expandPrg(key, { modulus: 2 ** 32, length: 1000 })));
  });

  it('masking a sub-range with `start` equals the same slice of a full masking (split unmasking)', async () => {
    const ring = createRing(20);
    const key = randomBytes(32);
    const full = await applyMask(new Uint32Array(1000), key, { ring, sign: -1, chunk: 64 });
    const part = await applyMask(new Uint32Array(300), key, { ring, sign: -1, start: 500, chunk: 7 });
    expect(Array.from(part)).toEqual(Array.from(full.subarray(500, 800)));
  });

  it('keys differ by session, purpose and vector name', () => {
    const secret = randomBytes(32);
    const s1 = randomBytes(32);
    const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
    const base = hexOf(pairwiseMaskKey(secret, s1));
    expect(hexOf(pairwiseMaskKey(secret, randomBytes(32)))).not.toBe(base);
    expect(hexOf(selfMaskKey(secret, s1))).not.toBe(base);
    expect(hexOf(pairwiseMaskKey(secret, s1, 'layer1'))).not.toBe(base);
    expect(hexOf(pairwiseMaskKey(secret, s1, 'layer1'))).not.toBe(
      hexOf(pairwiseMaskKey(secret, s1, 'layer2')),
    );
  });

  it('validates arguments', async () => {
    const ring = createRing(8);
    expectCode(() => pairwiseMaskKey(randomBytes(32), randomBytes(32), 'Bad Name'), 'INVALID_ARGUMENT');
    expectCode(() => selfMaskKey(randomBytes(16), randomBytes(32)), 'INVALID_ARGUMENT');
    await expectCodeAsync(
      applyMask(Uint32Array.of(300), randomBytes(32), { ring, sign: 1 }),
      'SMPC_RING_MISMATCH',
    );
    await expectCodeAsync(
      applyMask(Uint32Array.of(3), randomBytes(32), { ring, sign: 0 as 1 }),
      'INVALID_ARGUMENT',
    );
    await expectCodeAsync(
      applyMask(Uint32Array.of(3), randomBytes(32), { ring, sign: 1, chunk: 0 }),
      'INVALID_ARGUMENT',
    );
  });
});

describe('applyMasks', () => {
  it('equals applying the masks one by one, whatever the concurrency, and stops at the first failure', async () => {
    const { applyMask, applyMasks } = await import('../../src/smpc/primitives/masking.ts');
    const { createRing } = await import('../../src/smpc/primitives/ring.ts');
    const ring = createRing(20);
    const keys = Array.from({ length: 9 }, (_, i) => new Uint8Array(32).fill(i + 1));
    const base = Uint32Array.from({ length: 70_001 }, (_, i) => (i * 7919) & ring.mask);
    const sequential = Uint32Array.from(base);
    for (const [i, key] of keys.entries()) await applyMask(sequential, key, { ring, sign: i % 2 ? -1 : 1 });
    for (const backend of ['node', 'webcrypto', 'noble'] as const) {
      for (const concurrency of [1, 3, 16]) {
        const out = Uint32Array.from(base);
        await applyMasks(
          out,
          keys.map((key, i) => ({ key: i % 3 ? key : async () => key, sign: i % 2 ? -1 : (1 as const) })),
          { ring, concurrency, chunk: 10_000, backend },
        );
        expect(Array.from(out), `${backend} ${concurrency}`).toEqual(Array.from(sequential));
      }
    }
    let started = 0;
    const failing = [
      { key: async () => Promise.reject(new Error('boom')), sign: 1 as const },
      ...keys.map((key) => ({
        key: async () => {
          started++;
          return key;
        },
        sign: 1 as const,
      })),
    ];
    await expect(
      applyMasks(Uint32Array.from(base), failing, { ring, concurrency: 1, backend: 'webcrypto' }),
    ).rejects.toThrow('boom');
    expect(started).toBe(0);
  });

  it('on node:crypto, adds in groups (sums equal across group edges) and no group starts after a failure', async () => {
    const { applyMask, applyMasks, MASK_GROUP } = await import('../../src/smpc/primitives/masking.ts');
    const { createRing } = await import('../../src/smpc/primitives/ring.ts');
    const ring = createRing(32);
    const count = 2 * MASK_GROUP + 3;
    const keys = Array.from({ length: count }, () => new Uint8Array(randomBytes(32)));
    const base = crypto.getRandomValues(new Uint32Array(5_003));
    const sequential = Uint32Array.from(base);
    for (const [i, key] of keys.entries()) {
      await applyMask(sequential, key, { ring, sign: i % 5 ? 1 : -1, start: 11, backend: 'noble' });
    }
    const out = Uint32Array.from(base);
    await applyMasks(
      out,
      keys.map((key, i) => ({ key: async () => key, sign: i % 5 ? 1 : (-1 as const) })),
      { ring, start: 11, chunk: 1_000, backend: 'node' },
    );
    expect(Array.from(out)).toEqual(Array.from(sequential));
    let started = 0;
    const failing = keys.map((key, i) => ({
      key: async () => {
        started++;
        if (i === 1) throw new Error('boom');
        return key;
      },
      sign: 1 as const,
    }));
    await expect(applyMasks(Uint32Array.from(base), failing, { ring, backend: 'node' })).rejects.toThrow(
      'boom',
    );
    expect(started).toBe(MASK_GROUP);
  });
});
