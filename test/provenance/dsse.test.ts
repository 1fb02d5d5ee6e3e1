import { p256 } from '@noble/curves/nist.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, fromHex, toBase64, utf8 } from '../../src/provenance/common/bytes.ts';
import {
  assertEnvelope,
  createEnvelope,
  envelopePayload,
  isEnvelope,
  preAuthEncoding,
} from '../../src/provenance/common/dsse.ts';
import { readVectorText } from './vectors.ts';

const vector = JSON.parse(readVectorText('dsse/pae-hello-world.json'));

describe('DSSE PAE against the protocol.md test vector', () => {
  it('encodes the spec example exactly', () => {
    const pae = preAuthEncoding(vector.payloadType, fromBase64(vector.payload));
    expect(Buffer.from(pae).toString('hex')).toBe(vector.pae_hex);
    expect(new TextDecoder().decode(pae)).toBe(vector.pae);
  });

  it('the spec signature (raw r||s) verifies over our PAE with the spec key, and fails on another body', () => {
    assertEnvelope(vector.envelope);
    const pae = preAuthEncoding(vector.envelope.payloadType, envelopePayload(vector.envelope));
    const pub = fromHex(`04${vector.derived.x_hex}${vector.derived.y_hex}`);
    const sig = fromBase64(vector.envelope.signatures[0].sig);
    expect(p256.verify(sig, pae, pub, { format: 'compact' })).toBe(true);
    expect(p256.verify(sig, preAuthEncoding(vector.payloadType, utf8('hello worle')), pub)).toBe(false);
  });

  it('counts bytes, not characters', () => {
    const pae = preAuthEncoding('t/é', utf8('ü'));
    expect(new TextDecoder().decode(pae)).toBe('DSSEv1 4 t/é 2 ü');
  });
});

describe('DSSE envelope shape', () => {
  it('round-trips createEnvelope and accepts keyid "", null or absent', () => {
    const env = createEnvelope('x/y', utf8('body'), [{ sig: new Uint8Array([1, 2, 3]) }]);
    expect(env).toEqual({
      payload: 'Ym9keQ==',
      payloadType: 'x/y',
      signatures: [{ sig: 'AQID', keyid: '' }],
    });
    expect(isEnvelope(env)).toBe(true);
    expect(isEnvelope({ ...env, signatures: [{ sig: 'AQID', keyid: null }] })).toBe(true);
    expect(isEnvelope({ ...env, signatures: [{ sig: 'AQID' }] })).toBe(true);
  });

  it('reports every invalid field', () => {
    expect(() =>
      assertEnvelope({ payload: 'not base64!', payloadType: 1, signatures: [{ sig: '' }, 3] }),
    ).toThrow(
      expect.objectContaining({
        code: 'PROV_ENVELOPE_INVALID',
        fields: [
          'envelope.payloadType',
          'envelope.payload',
          'envelope.signatures[0].sig',
          'envelope.signatures[1]',
        ],
      }),
    );
    expect(isEnvelope({ payload: '', payloadType: 'a', signatures: [] })).toBe(false);
    expect(isEnvelope(null)).toBe(false);
  });
});

describe('strict base64', () => {
  it('round-trips every length and accepts the URL-safe alphabet and missing padding', () => {
    for (let n = 0; n < 40; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
      const text = toBase64(bytes);
      expect(text).toBe(Buffer.from(bytes).toString('base64'));
      expect(fromBase64(text)).toEqual(bytes);
      expect(fromBase64(text.replace(/=+$/, '').replaceAll('+', '-').replaceAll('/', '_'))).toEqual(bytes);
    }
  });

  it('agrees with Node for arbitrary bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const text = toBase64(bytes);
        expect(text).toBe(Buffer.from(bytes).toString('base64'));
        expect(fromBase64(text)).toEqual(bytes);
      }),
    );
  });

  it.each(['A', 'AB=C', 'AQ= =', 'AQ\n==', 'AR==', '****'])('refuses %j', (text) => {
    expect(() => fromBase64(text)).toThrow(expect.objectContaining({ code: 'PROV_BASE64_INVALID' }));
  });
});
