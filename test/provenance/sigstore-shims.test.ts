// The browser stand-ins for Node's Buffer, crypto and util (sigstore-shims.ts), checked against the
// real Node built-ins on the same inputs, and against the DSSE spec's signature vector.

import * as nodeCrypto from 'node:crypto';
import { isDeepStrictEqual as nodeDeepEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import * as shim from '../../src/provenance/model-signing/keyless/shims.ts';
import { readVector, readVectorText } from './vectors.ts';

const { Buffer: ShimBuffer } = shim;
const bytes = new Uint8Array(nodeCrypto.randomBytes(300));

describe('Buffer stand-in', () => {
  it('encodes and decodes utf8, base64, hex, ascii and latin1 as Node does', () => {
    const text = 'héllo wörld ✓ \u0000\u007f';
    for (const encoding of ['utf8', 'utf-8', 'base64', 'hex', 'ascii', 'latin1'] as const) {
      expect(ShimBuffer.from(bytes).toString(encoding), encoding).toBe(Buffer.from(bytes).toString(encoding));
      expect([...ShimBuffer.from(text, encoding)], encoding).toEqual([...Buffer.from(text, encoding)]);
    }
    for (const b64 of ['aGVsbG8', 'aGVs bG8=\n', 'a-_b', 'YQ==YQ==']) {
      expect([...ShimBuffer.from(b64, 'base64')], b64).toEqual([...Buffer.from(b64, 'base64')]);
    }
    expect([...ShimBuffer.from('0a1bzz', 'hex')]).toEqual([...Buffer.from('0a1bzz', 'hex')]);
    expect(ShimBuffer.from(bytes).toString('utf8', 3, 40)).toBe(Buffer.from(bytes).toString('utf8', 3, 40));
  });

  it('copies bytes but shares an ArrayBuffer, slices as views, concatenates and compares as Node', () => {
    const source = new Uint8Array([1, 2, 3, 4]);
    const copied = ShimBuffer.from(source);
    source[0] = 9;
    expect(copied[0]).toBe(1);
    const shared = ShimBuffer.from(source.buffer);
    source[1] = 8;
    expect(shared[1]).toBe(8);
    const view = copied.slice(1, 3);
    view[0] = 7;
    expect([...copied]).toEqual([1, 7, 3, 4]);
    expect(view).toBeInstanceOf(ShimBuffer);
    expect([...ShimBuffer.concat([copied, new Uint8Array([5])])]).toEqual([1, 7, 3, 4, 5]);
    expect([...ShimBuffer.concat([copied, copied], 6)]).toEqual([1, 7, 3, 4, 1, 7]);
    expect(copied.equals(new Uint8Array([1, 7, 3, 4]))).toBe(true);
    expect(copied.equals(new Uint8Array([1, 7, 3]))).toBe(false);
    const target = ShimBuffer.alloc(3);
    expect(copied.copy(target, 1)).toBe(2);
    expect([...target]).toEqual([0, 1, 7]);
    const be = ShimBuffer.from([
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0x00, 0x00, 0x01, 0x99, 0x11, 0x22, 0x33, 0x44,
    ]);
    expect(be.readBigInt64BE()).toBe(Buffer.from(be).readBigInt64BE());
    expect(be.readBigInt64BE(8)).toBe(Buffer.from(be).readBigInt64BE(8));
    expect(() => be.readBigInt64BE(9)).toThrow(RangeError);
    expect(ShimBuffer.isBuffer(be)).toBe(true);
    expect(ShimBuffer.isBuffer(new Uint8Array(1))).toBe(false);
  });
});

describe('crypto stand-in', () => {
  it('hashes as createHash does', () => {
    for (const algorithm of ['sha224', 'sha256', 'sha384', 'sha512', 'SHA256']) {
      const ours = shim.createHash(algorithm).update(bytes.subarray(0, 100)).update('tail').digest('hex');
      const node = nodeCrypto
        .createHash(algorithm)
        .update(bytes.subarray(0, 100))
        .update('tail')
        .digest('hex');
      expect(ours, algorithm).toBe(node);
    }
    expect(() => shim.createHash('md5')).toThrow(TypeError);
  });

  it('verifies the DSSE spec signature (P-256, DER) and refuses a changed message', () => {
    const vector = JSON.parse(readVectorText('dsse/pae-hello-world.json'));
    const key = shim.createPublicKey(vector.derived.public_key_pem);
    const pae = new Uint8Array(Buffer.from(vector.pae_hex, 'hex'));
    const sig = new Uint8Array(Buffer.from(vector.derived.sig_der_b64, 'base64'));
    expect(shim.verify(undefined, pae, key, sig)).toBe(true);
    expect(shim.verify('sha256', pae, key, sig)).toBe(true);
    pae[0] = (pae[0] ?? 0) ^ 1;
    expect(shim.verify(undefined, pae, key, sig)).toBe(false);
  });

  it('agrees with crypto.verify on P-384: SHA-256 when no digest is named, whatever the curve', () => {
    const bundle = JSON.parse(
      Buffer.from(readVector('model-signing/scripts/tests/v1.1.0-elliptic-key/model.sig')).toString('utf8'),
    );
    const pem = readVectorText('model-signing/scripts/tests/keys/certificate/signing-key-pub.pem');
    const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
    const type = bundle.dsseEnvelope.payloadType as string;
    const pae = Buffer.concat([
      Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${payload.length} `),
      payload,
    ]);
    const sig = Buffer.from(bundle.dsseEnvelope.signatures[0].sig, 'base64');
    const der = nodeCrypto.createPublicKey(pem).export({ type: 'spki', format: 'der' });
    for (const algorithm of [undefined, 'sha256', 'sha384', 'sha512']) {
      const node = nodeCrypto.verify(algorithm, pae, nodeCrypto.createPublicKey(pem), sig);
      const ours = shim.verify(
        algorithm,
        pae,
        shim.createPublicKey({ key: der, format: 'der', type: 'spki' }),
        sig,
      );
      expect(ours, String(algorithm)).toBe(node);
    }
    expect(shim.verify('sha384', pae, shim.createPublicKey(pem), sig)).toBe(true);
  });

  it('verifies Ed25519 (RFC 8032 test 1) without a digest, and refuses one with a digest', () => {
    const pub = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');
    const sig = Buffer.from(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
      'hex',
    );
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]);
    const key = shim.createPublicKey({ key: spki.toString('base64'), format: 'der', type: 'spki' });
    expect(key.asymmetricKeyType).toBe('ed25519');
    expect(shim.verify(null, new Uint8Array(0), key, sig)).toBe(true);
    expect(shim.verify(undefined, new Uint8Array([1]), key, sig)).toBe(false);
    expect(() => shim.verify('sha256', new Uint8Array(0), key, sig)).toThrow(TypeError);
  });

  it('loads RSA keys as unusable, refuses malformed keys, and compares in constant time as Node', () => {
    const { publicKey } = nodeCrypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
    const rsa = shim.createPublicKey({
      key: publicKey.export({ type: 'spki', format: 'der' }),
      format: 'der',
      type: 'spki',
    });
    expect(rsa.asymmetricKeyType).toBe('unsupported');
    expect(shim.verify('sha256', new Uint8Array(1), rsa, new Uint8Array(64))).toBe(false);
    expect(
      shim.createPublicKey({ key: new Uint8Array(4), format: 'der', type: 'pkcs1' }).asymmetricKeyType,
    ).toBe('unsupported');
    expect(() =>
      shim.createPublicKey({ key: new Uint8Array([0x30, 0x03, 1, 2, 3]), format: 'der', type: 'spki' }),
    ).toThrow();
    expect(shim.timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(shim.timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(() => shim.timingSafeEqual(new Uint8Array([1]), new Uint8Array([1, 2]))).toThrow(RangeError);
    expect(shim.default.verify).toBe(shim.verify);
  });
});

describe('util stand-in', () => {
  it('isDeepStrictEqual agrees with Node on the shapes the verifier compares', () => {
    const d = new Date(1_700_000_000_000);
    const pairs: [unknown, unknown][] = [
      [
        { a: 1, b: [1, 2] },
        { a: 1, b: [1, 2] },
      ],
      [{ a: 1 }, { a: '1' }],
      [{ a: 1 }, { a: 1, b: undefined }],
      [new Uint8Array([1, 2]), new Uint8Array([1, 2])],
      [new Uint8Array([1, 2]), new Uint8Array([1, 3])],
      [{ t: new Date(d) }, { t: new Date(d) }],
      [{ t: d }, { t: new Date(0) }],
      [[1, 2], { 0: 1, 1: 2 }],
      [null, undefined],
      [Number.NaN, Number.NaN],
    ];
    for (const [a, b] of pairs)
      expect(shim.isDeepStrictEqual(a, b), JSON.stringify([a, b])).toBe(nodeDeepEqual(a, b));
  });
});
