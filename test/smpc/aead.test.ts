import { randomBytes } from 'node:crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { describe, expect, it } from 'vitest';
import {
  ENVELOPE_OVERHEAD,
  type EnvelopeContext,
  envelopeAssociatedData,
  openEnvelope,
  sealEnvelope,
  sealEnvelopeWithNonce,
} from '../../src/smpc/primitives/aead.ts';
import { expectCode, hex, loadVectors, toHex } from './helpers.ts';

interface EnvelopeVectors {
  cases: {
    key: string;
    nonce: string;
    sessionId: string;
    round: number;
    sender: string;
    recipient: string;
    plaintext: string;
    associatedData: string;
    envelope: string;
  }[];
}

const vectors = loadVectors<EnvelopeVectors>('envelope.json');

describe('ChaCha20-Poly1305 primitive (RFC 8439 §2.8.2)', () => {
  it('matches the RFC AEAD test vector', () => {
    const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const nonce = hex('070000004041424344454647');
    const aad = hex('50515253c0c1c2c3c4c5c6c7');
    const pt = new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const sealed = chacha20poly1305(key, nonce, aad).encrypt(pt);
    expect(toHex(sealed.subarray(0, 16))).toBe('d31a8d34648e60db7b86afbc53ef7ec2');
    expect(toHex(sealed.subarray(sealed.length - 16))).toBe('1ae10b594f09e26a7e902ecbd0600691');
  });
});

describe('share envelopes', () => {
  it.each(vectors.cases.map((c, i) => [i, c] as const))(
    'known-answer vector %i (pyca/cryptography)',
    (_, c) => {
      const ctx: EnvelopeContext = {
        sessionId: hex(c.sessionId),
        round: c.round,
        sender: c.sender,
        recipient: c.recipient,
      };
      expect(toHex(envelopeAssociatedData(ctx))).toBe(c.associatedData);
      expect(toHex(sealEnvelopeWithNonce(hex(c.key), hex(c.plaintext), ctx, hex(c.nonce)))).toBe(c.envelope);
      expect(toHex(openEnvelope(hex(c.key), hex(c.envelope), ctx))).toBe(c.plaintext);
    },
  );

  const key = randomBytes(32);
  const ctx: EnvelopeContext = { sessionId: randomBytes(32), round: 1, sender: 'alice', recipient: 'bob' };
  const plaintext = randomBytes(66);

  it('round-trips with fresh nonces and fixed overhead', () => {
    const a = sealEnvelope(key, plaintext, ctx);
    const b = sealEnvelope(key, plaintext, ctx);
    expect(a.length).toBe(plaintext.length + ENVELOPE_OVERHEAD);
    expect(toHex(a)).not.toBe(toHex(b));
    expect(toHex(openEnvelope(key, a, ctx))).toBe(toHex(plaintext));
  });

  it('fails to open under any other session, round, sender or recipient', () => {
    const box = sealEnvelope(key, plaintext, ctx);
    const others: EnvelopeContext[] = [
      { ...ctx, sessionId: randomBytes(32) },
      { ...ctx, round: 2 },
      { ...ctx, sender: 'mallory' },
      { ...ctx, recipient: 'carol' },
      { ...ctx, sender: 'bob', recipient: 'alice' },
      // length-prefixing: moving a character between the ids must not collide
      { ...ctx, sender: 'aliceb', recipient: 'ob' },
    ];
    for (const other of others) expectCode(() => openEnvelope(key, box, other), 'SMPC_AEAD_FAILED');
  });

  it('fails on a wrong key and on every flipped bit position class', () => {
    const box = sealEnvelope(key, plaintext, ctx);
    expectCode(() => openEnvelope(randomBytes(32), box, ctx), 'SMPC_AEAD_FAILED');
    for (const pos of [1, 12, 13, 40, box.length - 1]) {
      const bad = Uint8Array.from(box);
      bad[pos] = (bad[pos] as number) ^ 0x01;
      expectCode(() => openEnvelope(key, bad, ctx), 'SMPC_AEAD_FAILED');
    }
  });

  it('reports malformed envelopes distinctly', () => {
    const box = sealEnvelope(key, plaintext, ctx);
    expectCode(
      () => openEnvelope(key, box.subarray(0, ENVELOPE_OVERHEAD - 1), ctx),
      'SMPC_ENVELOPE_MALFORMED',
    );
    const v2 = Uint8Array.from(box);
    v2[0] = 2;
    expectCode(() => openEnvelope(key, v2, ctx), 'SMPC_ENVELOPE_MALFORMED');
  });

  it('validates arguments at the edge', () => {
    expectCode(() => sealEnvelope(new Uint8Array(16), plaintext, ctx), 'INVALID_ARGUMENT');
    expectCode(() => sealEnvelope(key, plaintext, { ...ctx, round: -1 }), 'INVALID_ARGUMENT');
    expectCode(() => sealEnvelope(key, plaintext, { ...ctx, round: 2 ** 32 }), 'INVALID_ARGUMENT');
    expectCode(() => sealEnvelope(key, plaintext, { ...ctx, sender: '' }), 'INVALID_ARGUMENT');
    expectCode(
      () => sealEnvelope(key, plaintext, { ...ctx, sessionId: new Uint8Array(8) }),
      'INVALID_ARGUMENT',
    );
    expectCode(() => sealEnvelope(key, 'text' as unknown as Uint8Array, ctx), 'INVALID_ARGUMENT');
  });
});
