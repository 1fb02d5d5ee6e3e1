import { hkdfSync, randomBytes } from 'node:crypto';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deriveKey, KDF_INFO_PREFIX } from '../../src/smpc/primitives/kdf.ts';
import { expectCode, hex, loadVectors, toHex } from './helpers.ts';

interface KdfVectors {
  cases: { secret: string; sessionId: string; purpose: string; length: number; okm: string }[];
}

describe('HKDF primitive (RFC 5869 Appendix A)', () => {
  // The library function deriveKey is built on; vectors typed from RFC 5869 A.1 and A.3.
  it('A.1 basic test case', () => {
    const okm = hkdf(
      sha256,
      hex('0b'.repeat(22)),
      hex('000102030405060708090a0b0c'),
      hex('f0f1f2f3f4f5f6f7f8f9'),
      42,
    );
    expect(toHex(okm)).toBe(
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    );
  });
  it('A.3 zero-length salt and info', () => {
    const okm = hkdf(sha256, hex('0b'.repeat(22)), new Uint8Array(0), new Uint8Array(0), 42);
    expect(toHex(okm)).toBe(
      '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
    );
  });
});

describe('deriveKey', () => {
  const vectors = loadVectors<KdfVectors>('kdf.json');

  it.each(vectors.cases.map((c, i) => [i, c] as const))(
    'matches known-answer vector %i (pyca/cryptography)',
    (_, c) => {
      const okm = deriveKey({
        secret: hex(c.secret),
        sessionId: hex(c.sessionId),
        purpose: c.purpose,
        length: c.length,
      });
      expect(toHex(okm)).toBe(c.okm);
    },
  );

  it('equals node:crypto hkdfSync with salt = session id and info = secagg/v1/purpose', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 80 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.stringMatching(/^[a-z0-9][a-z0-9._:/-]{0,40}$/),
        fc.integer({ min: 1, max: 200 }),
        (secret, sessionId, purpose, length) => {
          const ours = deriveKey({ secret, sessionId, purpose, length });
          const theirs = new Uint8Array(
            hkdfSync('sha256', secret, sessionId, KDF_INFO_PREFIX + purpose, length),
          );
          expect(toHex(ours)).toBe(toHex(theirs));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('separates purposes and sessions', () => {
    const secret = randomBytes(32);
    const s1 = randomBytes(32);
    const s2 = randomBytes(32);
    const a = toHex(deriveKey({ secret, sessionId: s1, purpose: 'mask/pairwise' }));
    expect(toHex(deriveKey({ secret, sessionId: s1, purpose: 'mask/self' }))).not.toBe(a);
    expect(toHex(deriveKey({ secret, sessionId: s2, purpose: 'mask/pairwise' }))).not.toBe(a);
    expect(toHex(deriveKey({ secret, sessionId: s1, purpose: 'mask/pairwise' }))).toBe(a);
  });

  it('validates arguments at the edge', () => {
    const ok = { secret: new Uint8Array(32), sessionId: new Uint8Array(32), purpose: 'envelope' };
    expectCode(() => deriveKey({ ...ok, secret: new Uint8Array(15) }), 'INVALID_ARGUMENT');
    expectCode(() => deriveKey({ ...ok, sessionId: new Uint8Array(31) }), 'INVALID_ARGUMENT');
    expectCode(() => deriveKey({ ...ok, purpose: '' }), 'INVALID_ARGUMENT');
    expectCode(() => deriveKey({ ...ok, purpose: 'Upper' }), 'INVALID_ARGUMENT');
    expectCode(() => deriveKey({ ...ok, purpose: 'a b' }), 'INVALID_ARGUMENT');
    expectCode(() => deriveKey({ ...ok, length: 0 }), 'INVALID_ARGUMENT');
    expectCode(() => deriveKey({ ...ok, length: 255 * 32 + 1 }), 'INVALID_ARGUMENT');
    expectCode(() => deriveKey({ ...ok, secret: 'secret' as unknown as Uint8Array }), 'INVALID_ARGUMENT');
    expect(deriveKey({ ...ok, length: 64 }).length).toBe(64);
  });
});
