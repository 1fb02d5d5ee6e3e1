import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import { inspect } from 'node:util';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../src/provenance/common/bytes.ts';
import {
  generateKeyPair,
  keyHint,
  PrivateKey,
  parsePrivateKeyPem,
  parsePublicKeyPem,
  privateKeyToPem,
  publicKeyToDer,
  publicKeyToPem,
} from '../../src/provenance/common/keys.ts';
import { signMessage } from '../../src/provenance/model-signing/sign.ts';
import { verifySignature } from '../../src/provenance/model-signing/verify-bundle.ts';
import { readVectorText } from './vectors.ts';

const TEST_KEY = 'model-signing/scripts/tests/keys/certificate/signing-key-pub.pem';

describe('public keys', () => {
  it('parses the model_signing test key (certtool text before the PEM) and computes its hint', () => {
    const key = parsePublicKeyPem(readVectorText(TEST_KEY));
    expect(key.algorithm).toBe('ecdsa-p384');
    expect(keyHint(key)).toBe('e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e');
    expect(toHex(sha256(publicKeyToDer(key)))).toBe(
      'c1e49d63327f85c7e2971aefd30b5a0d1c6b9b5e1a892e7f5fba995adace816d',
    );
  });

  it('re-encodes the DSSE spec key to the exact PEM derived from the spec numbers', () => {
    const vector = JSON.parse(readVectorText('dsse/pae-hello-world.json'));
    const key = parsePublicKeyPem(vector.derived.public_key_pem);
    expect(key.algorithm).toBe('ecdsa-p256');
    expect(toHex(key.bytes)).toBe(`04${vector.derived.x_hex}${vector.derived.y_hex}`);
    expect(publicKeyToPem(key)).toBe(vector.derived.public_key_pem);
  });

  it('refuses garbage, other algorithms and points off the curve', () => {
    expect(() => parsePublicKeyPem('hello')).toThrow(expect.objectContaining({ code: 'PROV_KEY_INVALID' }));
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    expect(() => parsePublicKeyPem(rsa as string)).toThrow(
      expect.objectContaining({ code: 'PROV_KEY_UNSUPPORTED' }),
    );
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    expect(() => parsePublicKeyPem(k1 as string)).toThrow(
      expect.objectContaining({ code: 'PROV_KEY_UNSUPPORTED' }),
    );
    const good = generateKeyPair('ecdsa-p256').publicKey;
    const der = publicKeyToDer(good);
    der[der.length - 1]! ^= 1;
    const pem = `-----BEGIN PUBLIC KEY-----\n${Buffer.from(der).toString('base64')}\n-----END PUBLIC KEY-----\n`;
    expect(() => parsePublicKeyPem(pem)).toThrow(expect.objectContaining({ code: 'PROV_KEY_INVALID' }));
  });
});

describe('private keys interoperate with OpenSSL (node:crypto)', () => {
  for (const [algorithm, nodeArgs, hash] of [
    ['ecdsa-p256', { namedCurve: 'P-256' }, 'sha256'],
    ['ecdsa-p384', { namedCurve: 'P-384' }, 'sha384'],
  ] as const) {
    it(`${algorithm}: our PKCS#8/SPKI load in OpenSSL, OpenSSL's load here, signatures cross-verify`, () => {
      const ours = generateKeyPair(algorithm);
      const pkcs8 = privateKeyToPem(ours);
      expect(pkcs8.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
      const nodePriv = createPrivateKey(pkcs8);
      const nodePub = createPublicKey(publicKeyToPem(ours.publicKey));
      expect(nodePub.export({ type: 'spki', format: 'pem' })).toBe(publicKeyToPem(ours.publicKey));
      expect(createPublicKey(nodePriv).export({ type: 'spki', format: 'pem' })).toBe(
        publicKeyToPem(ours.publicKey),
      );

      const msg = utf8('DSSEv1 3 a/b 2 hi');
      const ourSig = signMessage(ours, msg);
      expect(nodeVerify(hash, msg, nodePub, ourSig)).toBe(true);
      const theirSig = new Uint8Array(nodeSign(hash, msg, nodePriv));
      expect(verifySignature(ours.publicKey, msg, theirSig)).toBe(true);

      const theirs = generateKeyPairSync('ec', nodeArgs);
      const parsed = parsePrivateKeyPem(theirs.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
      const sec1 = parsePrivateKeyPem(theirs.privateKey.export({ type: 'sec1', format: 'pem' }) as string);
      const theirPub = theirs.publicKey.export({ type: 'spki', format: 'pem' }) as string;
      expect(publicKeyToPem(parsed.publicKey)).toBe(theirPub);
      expect(publicKeyToPem(sec1.publicKey)).toBe(theirPub);
      expect(nodeVerify(hash, msg, theirs.publicKey, signMessage(parsed, msg))).toBe(true);
    });
  }

  it('ed25519: PKCS#8 and SPKI round-trip through OpenSSL', () => {
    const ours = generateKeyPair('ed25519');
    const nodePriv = createPrivateKey(privateKeyToPem(ours));
    const msg = utf8('x');
    expect(verifySignature(ours.publicKey, msg, new Uint8Array(nodeSign(null, msg, nodePriv)))).toBe(true);
    expect(
      nodeVerify(null, msg, createPublicKey(publicKeyToPem(ours.publicKey)), signMessage(ours, msg)),
    ).toBe(true);
    const theirs = generateKeyPairSync('ed25519');
    const parsed = parsePrivateKeyPem(theirs.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    expect(publicKeyToPem(parsed.publicKey)).toBe(theirs.publicKey.export({ type: 'spki', format: 'pem' }));
  });

  it('refuses out-of-range secrets without echoing them', () => {
    const zero = new Uint8Array(32);
    expect(() => new PrivateKey('ecdsa-p256', zero)).toThrow(
      expect.objectContaining({ code: 'PROV_KEY_INVALID' }),
    );
    const n = Uint8Array.from(
      Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex'),
    );
    const pem = `-----BEGIN EC PRIVATE KEY-----\n${Buffer.from([0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20, ...n]).toString('base64')}\n-----END EC PRIVATE KEY-----\n`;
    expect(() => parsePrivateKeyPem(pem)).toThrow(expect.objectContaining({ code: 'PROV_KEY_INVALID' }));
    try {
      parsePrivateKeyPem(pem);
    } catch (e) {
      expect(String((e as Error).message)).not.toContain('bce6faada7179e84');
    }
  });

  it('refuses encrypted keys with their own code and never shows the secret', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const encrypted = privateKey.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'pw',
    });
    expect(() => parsePrivateKeyPem(encrypted as string)).toThrow(
      expect.objectContaining({ code: 'PROV_KEY_ENCRYPTED' }),
    );
    const key = generateKeyPair('ecdsa-p256');
    const d = (createPrivateKey(privateKeyToPem(key)).export({ format: 'jwk' }) as { d: string }).d;
    const secretHex = Buffer.from(d, 'base64url').toString('hex');
    const shown = `${JSON.stringify(key)} ${String(key)} ${inspect(key, { showHidden: true, depth: 5 })}`;
    expect(shown).not.toContain(secretHex);
    expect(shown).not.toContain(d);
    expect(Object.keys(key).sort()).toEqual(['algorithm', 'publicKey']);
  });
});

describe('Ed25519 signing through node:crypto', () => {
  it('gives exactly the signatures of @noble/curves (RFC 8032 is deterministic), over every length', async () => {
    const { ed25519 } = await import('@noble/curves/ed25519.js');
    const { generateKeyPair: generate, privateKeySecret } = await import(
      '../../src/provenance/common/keys.ts'
    );
    const { ed25519Sign } = await import('../../src/provenance/common/ed25519-sign.ts');
    for (let k = 0; k < 4; k++) {
      const key = generate('ed25519');
      for (const length of [0, 1, 31, 64, 1000]) {
        const message = crypto.getRandomValues(new Uint8Array(length));
        const native = ed25519Sign(key, message);
        expect(Buffer.from(native).toString('hex')).toBe(
          Buffer.from(ed25519.sign(message, privateKeySecret(key))).toString('hex'),
        );
        expect(ed25519.verify(native, message, key.publicKey.bytes)).toBe(true);
      }
    }
    expect(() => ed25519Sign(generate('ecdsa-p256'), new Uint8Array(1))).toThrow(
      expect.objectContaining({ code: 'PROV_KEY_INVALID' }),
    );
  });
});
