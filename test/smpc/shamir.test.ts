import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { injectableRandom } from '../../src/smpc/primitives/random.ts';
import {
  commitSecret,
  evaluateShares,
  reconstructSecret,
  SHAMIR_PRIME,
  type ShamirShare,
  splitSecret,
} from '../../src/smpc/primitives/shamir.ts';
import { expectCode, hex, loadVectors, seededRandom, toHex } from './helpers.ts';

interface ShamirVectors {
  prime: string;
  cases: {
    secret: string;
    threshold: number;
    shareCount: number;
    coefficients: string[];
    shares: { index: number; value: string }[];
    context: string;
    commitment: string;
  }[];
}

const vectors = loadVectors<ShamirVectors>('shamir.json');

function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  let base = b % m;
  let x = e;
  while (x > 0n) {
    if (x & 1n) r = (r * base) % m;
    base = (base * base) % m;
    x >>= 1n;
  }
  return r;
}

const context = new TextEncoder().encode('session-1/client-7/self-mask');

describe('Shamir field', () => {
  it('p = 2^256 + 297 is prime (Miller-Rabin, 32 bases), the smallest above 2^256', () => {
    const p = SHAMIR_PRIME;
    expect(BigInt(vectors.prime)).toBe(p);
    expect(p > 2n ** 256n).toBe(true);
    let d = p - 1n;
    let s = 0;
    while ((d & 1n) === 0n) {
      d >>= 1n;
      s++;
    }
    const bases = [2n, 3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n, 41n, 43n, 47n, 53n];
    for (let i = 0; i < 16; i++) bases.push((BigInt(`0x${toHex(randomBytes(32))}`) % (p - 3n)) + 2n);
    for (const a of bases) {
      let x = modPow(a, d, p);
      if (x === 1n || x === p - 1n) continue;
      let composite = true;
      for (let r = 1; r < s; r++) {
        x = (x * x) % p;
        if (x === p - 1n) {
          composite = false;
          break;
        }
      }
      expect(composite, `witness ${a}`).toBe(false);
    }
    // and no smaller odd candidate above 2^256 is prime: each fails Fermat's test to base 3 (base 2
    // would not do: 2^256 + 1 is the Fermat number F8, a base-2 pseudoprime).
    for (let k = 1n; k < 297n; k += 2n) expect(modPow(3n, 2n ** 256n + k - 1n, 2n ** 256n + k)).not.toBe(1n);
  });
});

describe('Shamir known answers (Python generator)', () => {
  it.each(vectors.cases.map((c, i) => [i, c] as const))('case %i', (_, c) => {
    const shares = evaluateShares(
      hex(c.secret),
      c.coefficients.map((h) => BigInt(`0x${h}`)),
      c.shareCount,
    );
    expect(shares.map((s) => ({ index: s.index, value: toHex(s.value) }))).toEqual(c.shares);
    expect(toHex(commitSecret(hex(c.secret), hex(c.context)))).toBe(c.commitment);
    const parsed: ShamirShare[] = c.shares.map((s) => ({ index: s.index, value: hex(s.value) }));
    const opts = { threshold: c.threshold, commitment: hex(c.commitment), context: hex(c.context) };
    expect(toHex(reconstructSecret(parsed, opts))).toBe(c.secret);
    expect(toHex(reconstructSecret(parsed.slice(-c.threshold).reverse(), opts))).toBe(c.secret);
  });
});

describe('splitSecret / reconstructSecret', () => {
  it('reconstruct ∘ split = id for any t-subset (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc
          .integer({ min: 2, max: 12 })
          .chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 2, max: n }))),
        fc.infiniteStream(fc.nat()),
        (secret, [n, t], picks) => {
          const { shares, commitment } = splitSecret(secret, { threshold: t, shareCount: n, context });
          expect(shares.map((s) => s.index)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
          const pool = [...shares];
          const chosen: ShamirShare[] = [];
          const it = picks[Symbol.iterator]();
          while (chosen.length < t)
            chosen.push(pool.splice((it.next().value as number) % pool.length, 1)[0] as ShamirShare);
          expect(toHex(reconstructSecret(chosen, { threshold: t, commitment, context }))).toBe(toHex(secret));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('handles the extreme secrets 0 and 2^256 − 1', () => {
    for (const secret of [new Uint8Array(32), new Uint8Array(32).fill(0xff)]) {
      const { shares, commitment } = splitSecret(secret, { threshold: 3, shareCount: 4, context });
      expect(toHex(reconstructSecret(shares.slice(1), { threshold: 3, commitment, context }))).toBe(
        toHex(secret),
      );
    }
  });

  it('uses the injected randomness deterministically, and fresh coefficients by default', () => {
    const secret = randomBytes(32);
    const a = splitSecret(secret, { threshold: 3, shareCount: 5, context, random: seededRandom('x') });
    const b = splitSecret(secret, { threshold: 3, shareCount: 5, context, random: seededRandom('x') });
    const c = splitSecret(secret, { threshold: 3, shareCount: 5, context });
    expect(a.shares.map((s) => toHex(s.value))).toEqual(b.shares.map((s) => toHex(s.value)));
    expect(toHex((c.shares[0] as ShamirShare).value)).not.toBe(toHex((a.shares[0] as ShamirShare).value));
  });

  it('t − 1 shares are consistent with every secret (each candidate secret has a matching polynomial)', () => {
    // With t = 2, one share y1 = s + a·1 fits any s' via a' = y1 − s'. Check the share is not the secret.
    const secret = randomBytes(32);
    const { shares } = splitSecret(secret, { threshold: 2, shareCount: 3, context });
    for (const s of shares) expect(toHex(s.value.subarray(1))).not.toBe(toHex(secret));
  });

  it('refuses fewer than t shares (SMPC_SHARES_INSUFFICIENT)', () => {
    const { shares, commitment } = splitSecret(randomBytes(32), { threshold: 4, shareCount: 6, context });
    expectCode(
      () => reconstructSecret(shares.slice(0, 3), { threshold: 4, commitment, context }),
      'SMPC_SHARES_INSUFFICIENT',
    );
  });

  it('detects a corrupted share and recovers from spare shares', () => {
    const secret = randomBytes(32);
    const { shares, commitment } = splitSecret(secret, { threshold: 3, shareCount: 6, context });
    const bad = shares.map((s) => ({ index: s.index, value: Uint8Array.from(s.value) }));
    (bad[0] as ShamirShare).value[32] = ((bad[0] as ShamirShare).value[32] as number) ^ 1;
    // exactly t shares with one corrupted: never a wrong secret, always an error
    expectCode(
      () => reconstructSecret(bad.slice(0, 3), { threshold: 3, commitment, context }),
      'SMPC_SHARES_INCONSISTENT',
    );
    // more than t: another subset matches the commitment
    expect(toHex(reconstructSecret(bad, { threshold: 3, commitment, context }))).toBe(toHex(secret));
    // the wrong commitment or context never verifies
    expectCode(
      () => reconstructSecret(shares, { threshold: 3, commitment: randomBytes(32), context }),
      'SMPC_SHARES_INCONSISTENT',
    );
    expectCode(
      () => reconstructSecret(shares, { threshold: 3, commitment, context: new Uint8Array(0) }),
      'SMPC_SHARES_INCONSISTENT',
    );
  });

  it('respects maxSubsets, trying single replacements first', () => {
    const secret = randomBytes(32);
    const { shares, commitment } = splitSecret(secret, { threshold: 2, shareCount: 5, context });
    const bad = shares.map((s) => ({ index: s.index, value: Uint8Array.from(s.value) }));
    (bad[0] as ShamirShare).value[32] = ((bad[0] as ShamirShare).value[32] as number) ^ 1;
    // order: {1,2}, then share 3 replacing share 1 → {3,2}, which is clean
    expectCode(
      () => reconstructSecret(bad, { threshold: 2, commitment, context, maxSubsets: 1 }),
      'SMPC_SHARES_INCONSISTENT',
    );
    expect(toHex(reconstructSecret(bad, { threshold: 2, commitment, context, maxSubsets: 2 }))).toBe(
      toHex(secret),
    );
  });

  it('recovers from several corrupted shares when enough clean ones remain', () => {
    const secret = randomBytes(32);
    const { shares, commitment } = splitSecret(secret, { threshold: 3, shareCount: 10, context });
    const bad = shares.map((s, i) => {
      const value = Uint8Array.from(s.value);
      if (i < 2) value[32] = (value[32] as number) ^ 1; // the first two, so every single replacement fails
      return { index: s.index, value };
    });
    expect(toHex(reconstructSecret(bad, { threshold: 3, commitment, context }))).toBe(toHex(secret));
    // with t = 3 and 8 of 10 shares replaced by random field elements, no clean 3-subset exists:
    // refused, never a wrong secret. (Structured errors such as ±1 can cancel in the Lagrange sum
    // and still yield the true secret, which the commitment then rightly accepts.)
    const mostlyBad = shares.map((s, i) => {
      const value = i < 8 ? Uint8Array.from([0, ...randomBytes(32)]) : Uint8Array.from(s.value);
      return { index: s.index, value };
    });
    expectCode(
      () => reconstructSecret(mostlyBad, { threshold: 3, commitment, context }),
      'SMPC_SHARES_INCONSISTENT',
    );
  });

  it('rejects malformed shares', () => {
    const { shares, commitment } = splitSecret(randomBytes(32), { threshold: 2, shareCount: 3, context });
    const s0 = shares[0] as ShamirShare;
    const opts = { threshold: 2, commitment, context };
    expectCode(() => reconstructSecret([s0, s0], opts), 'SMPC_SHARE_MALFORMED');
    const tooBig = { index: 2, value: new Uint8Array(33).fill(0xff) };
    expectCode(() => reconstructSecret([s0, tooBig], opts), 'SMPC_SHARE_MALFORMED');
    expectCode(() => reconstructSecret([s0, { index: 0, value: s0.value }], opts), 'INVALID_ARGUMENT');
    expectCode(
      () => reconstructSecret([s0, { index: 2, value: new Uint8Array(32) }], opts),
      'INVALID_ARGUMENT',
    );
    expectCode(() => reconstructSecret('shares' as unknown as ShamirShare[], opts), 'INVALID_ARGUMENT');
  });

  it('validates split arguments', () => {
    expectCode(
      () => splitSecret(new Uint8Array(31), { threshold: 2, shareCount: 3, context }),
      'INVALID_ARGUMENT',
    );
    expectCode(
      () => splitSecret(randomBytes(32), { threshold: 1, shareCount: 3, context }),
      'INVALID_ARGUMENT',
    );
    expectCode(
      () => splitSecret(randomBytes(32), { threshold: 4, shareCount: 3, context }),
      'INVALID_ARGUMENT',
    );
    expectCode(
      () => splitSecret(randomBytes(32), { threshold: 2, shareCount: 65_536, context }),
      'INVALID_ARGUMENT',
    );
    expectCode(
      () => splitSecret(randomBytes(32), { threshold: 2, shareCount: 3, context: new Uint8Array(1025) }),
      'INVALID_ARGUMENT',
    );
    expectCode(
      () =>
        splitSecret(randomBytes(32), {
          threshold: 2,
          shareCount: 3,
          context,
          random: injectableRandom(() => new Uint8Array(1)),
        }),
      'SMPC_BACKEND_UNAVAILABLE',
    );
  });
});
