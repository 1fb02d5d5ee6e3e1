// reconstructSecretAudited names the shares that disagree with the reconstructed polynomial, and a
// share envelope holding a value outside F_p is refused by its recipient (so an honest holder never
// reveals one, and the server may blame whoever does).
import { describe, expect, it } from 'vitest';
import {
  reconstructSecret,
  reconstructSecretAudited,
  SHAMIR_PRIME,
  splitSecret,
} from '../../src/smpc/primitives/shamir.ts';
import { decodePayload, encodePayload, isFieldElement } from '../../src/smpc/protocol/shares.ts';
import { expectCode } from './helpers.ts';

const context = new TextEncoder().encode('audit-test');

function bigToBytes(v: bigint): Uint8Array {
  return Uint8Array.from({ length: 33 }, (_, i) => Number((v >> BigInt(8 * (32 - i))) & 0xffn));
}

describe('reconstructSecretAudited', () => {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const { shares, commitment } = splitSecret(secret, { threshold: 3, shareCount: 6, context });

  it('names nothing when the first t shares match (no extra work on the common path)', () => {
    const r = reconstructSecretAudited(shares, { threshold: 3, commitment, context });
    expect(r.secret).toEqual(secret);
    expect(r.inconsistent).toEqual([]);
  });

  it('names the corrupted shares when spares recover the secret', () => {
    const bad = shares.map((s) =>
      s.index === 2 || s.index === 5 ? { ...s, value: s.value.map((b, i) => (i === 32 ? b ^ 1 : b)) } : s,
    );
    const r = reconstructSecretAudited(bad, { threshold: 3, commitment, context });
    expect(r.secret).toEqual(secret);
    expect(r.inconsistent).toEqual([2, 5]);
    expect(reconstructSecret(bad, { threshold: 3, commitment, context })).toEqual(secret);
  });

  it('still refuses an out-of-field value and too few consistent shares', () => {
    const outside = shares.map((s) => (s.index === 1 ? { ...s, value: bigToBytes(SHAMIR_PRIME) } : s));
    expectCode(
      () => reconstructSecretAudited(outside, { threshold: 3, commitment, context }),
      'SMPC_SHARE_MALFORMED',
    );
    const wrong = shares
      .slice(0, 3)
      .map((s) => ({ ...s, value: s.value.map((b, i) => (i === 32 ? b ^ 1 : b)) }));
    expectCode(
      () => reconstructSecretAudited(wrong, { threshold: 3, commitment, context }),
      'SMPC_SHARES_INCONSISTENT',
    );
  });
});

describe('share envelopes with values outside the field', () => {
  it('isFieldElement is exact at p', () => {
    expect(isFieldElement(bigToBytes(SHAMIR_PRIME - 1n))).toBe(true);
    expect(isFieldElement(bigToBytes(SHAMIR_PRIME))).toBe(false);
    expect(isFieldElement(new Uint8Array(32))).toBe(false);
  });

  it('decodePayload refuses them with SMPC_SHARE_MALFORMED (the recipient complains about the sender)', () => {
    const ok = new Uint8Array(33);
    const payload = {
      from: 'a',
      to: 'b',
      index: 1,
      selfMaskShare: ok,
      maskingKeyShare: bigToBytes(SHAMIR_PRIME),
    };
    expectCode(() => decodePayload(encodePayload(payload)), 'SMPC_SHARE_MALFORMED');
    expect(decodePayload(encodePayload({ ...payload, maskingKeyShare: ok })).index).toBe(1);
  });
});
