import { randomBytes } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import {
  assertPublicKey,
  generateAgreementKeyPair,
  KA_BACKENDS,
  publicKeyFromSecret,
  sharedSecret,
  sharedSecretsOf,
  webCryptoHasX25519,
} from '../../src/smpc/primitives/ka.ts';
import { expectCode, expectCodeAsync, hex, toHex } from './helpers.ts';

const P = 2n ** 255n - 19n;
function le(u: bigint): Uint8Array {
  const out = new Uint8Array(32);
  let v = u;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

// RFC 7748 §5.2 (function X25519) and §6.1 (Diffie-Hellman), typed from the RFC.
const RFC7748_52 = [
  {
    k: 'a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
    u: 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
    out: 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
  },
  {
    k: '4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d',
    u: 'e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493',
    out: '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
  },
];
const ALICE = {
  sk: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  pk: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
};
const BOB = {
  sk: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
  pk: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
};
const SHARED = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

// Low-order u-coordinates (RFC 7748 §6.1, libsodium blocklist), canonical and non-canonical encodings.
const LOW_ORDER: readonly [string, Uint8Array][] = [
  ['0', le(0n)],
  ['1', le(1n)],
  ['p-1', le(P - 1n)],
  ['order-8 a', le(325606250916557431795983626356110631294008115727848805560023387167927233504n)],
  ['order-8 b', le(39382357235489614581723060781553021112529911719440698176882885853963445705823n)],
  ['p (≡ 0)', le(P)],
  ['p+1 (≡ 1)', le(P + 1n)],
  [
    '0 with top bit set',
    (() => {
      const b = le(0n);
      b[31] = 0x80;
      return b;
    })(),
  ],
];

describe('X25519', () => {
  it('WebCrypto X25519 is available in this Node (so both backends are really exercised)', async () => {
    expect(await webCryptoHasX25519()).toBe(true);
  });

  for (const backend of KA_BACKENDS) {
    describe(`backend ${backend}`, () => {
      it.each(RFC7748_52.map((v, i) => [i, v] as const))('RFC 7748 §5.2 vector %i', async (_, v) => {
        expect(toHex(await sharedSecret(hex(v.k), hex(v.u), { backend }))).toBe(v.out);
      });

      it('RFC 7748 §6.1 Diffie-Hellman', async () => {
        expect(toHex(await sharedSecret(hex(ALICE.sk), hex(BOB.pk), { backend }))).toBe(SHARED);
        expect(toHex(await sharedSecret(hex(BOB.sk), hex(ALICE.pk), { backend }))).toBe(SHARED);
      });

      it.each(LOW_ORDER)('rejects the low-order point %s', async (_, pk) => {
        await expectCodeAsync(sharedSecret(hex(ALICE.sk), pk, { backend }), 'SMPC_LOW_ORDER_POINT');
      });

      it('generates key pairs whose public key matches the secret and which agree', async () => {
        const a = await generateAgreementKeyPair({ backend });
        const b = await generateAgreementKeyPair({ backend });
        expect(a.publicKey.length).toBe(32);
        expect(a.secretKey.length).toBe(32);
        expect(toHex(publicKeyFromSecret(a.secretKey))).toBe(toHex(a.publicKey));
        expect(toHex(a.secretKey)).not.toBe(toHex(b.secretKey));
        const ab = await sharedSecret(a.secretKey, b.publicKey, { backend });
        const ba = await sharedSecret(b.secretKey, a.publicKey, { backend: 'noble' });
        expect(toHex(ab)).toBe(toHex(ba));
      });
    });
  }

  it('derives RFC 7748 §6.1 public keys from secret keys', () => {
    expect(toHex(publicKeyFromSecret(hex(ALICE.sk)))).toBe(ALICE.pk);
    expect(toHex(publicKeyFromSecret(hex(BOB.sk)))).toBe(BOB.pk);
  });

  it('publicKeyFromSecret (node:crypto here) equals @noble/curves for random and unclamped secret keys', () => {
    const keys = [
      new Uint8Array(32).fill(0xff),
      new Uint8Array(32),
      ...Array.from({ length: 64 }, () => randomBytes(32)),
    ];
    for (const sk of keys) expect(toHex(publicKeyFromSecret(sk))).toBe(toHex(x25519.getPublicKey(sk)));
  });

  it('assertPublicKey accepts a valid key and rejects bad shapes and low-order points', () => {
    expect(assertPublicKey(hex(BOB.pk))).toBeInstanceOf(Uint8Array);
    expectCode(() => assertPublicKey(new Uint8Array(31)), 'INVALID_ARGUMENT');
    expectCode(() => assertPublicKey('de9e' as unknown), 'INVALID_ARGUMENT');
    for (const [, pk] of LOW_ORDER) expectCode(() => assertPublicKey(pk), 'SMPC_LOW_ORDER_POINT');
  });

  it('validates the secret key and backend', async () => {
    await expectCodeAsync(sharedSecret(new Uint8Array(31), hex(BOB.pk)), 'INVALID_ARGUMENT');
    await expectCodeAsync(
      sharedSecret(hex(ALICE.sk), hex(BOB.pk), { backend: 'openssl' as 'noble' }),
      'INVALID_ARGUMENT',
    );
  });
});

describe('sharedSecretsOf', () => {
  it('agrees like sharedSecret with every peer, on both backends, and refuses a low-order peer', async () => {
    const me = await generateAgreementKeyPair();
    const peers = await Promise.all([1, 2, 3].map(() => generateAgreementKeyPair()));
    for (const backend of ['auto', 'noble'] as const) {
      const agree = sharedSecretsOf(me.secretKey, { backend });
      for (const p of peers) {
        expect(await agree(p.publicKey)).toEqual(
          await sharedSecret(p.secretKey, me.publicKey, { backend: 'noble' }),
        );
      }
      await expectCodeAsync(agree(new Uint8Array(32)), 'SMPC_LOW_ORDER_POINT');
    }
    expect(() => sharedSecretsOf(new Uint8Array(31))).toThrow(/secretKey/);
  });
});
