import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  encryptPrivateKeyPem,
  isEncryptedPrivateKeyPem,
  parsePrivateKeyPemWithPassword,
} from '../../src/provenance/common/key-encryption.ts';
import {
  generateKeyPair,
  keyFingerprints,
  parsePrivateKeyPem,
  parsePublicKeyPem,
  publicKeysEqual,
  publicKeyToPem,
} from '../../src/provenance/common/keys.ts';

const dir = mkdtempSync(join(tmpdir(), 'confide-keyenc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('encrypted PKCS#8 (PBES2)', () => {
  for (const algorithm of ['ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'ed25519'] as const) {
    it(`${algorithm}: round trip, and OpenSSL decrypts what confide wrote to the same key`, () => {
      const key = generateKeyPair(algorithm);
      const pem = encryptPrivateKeyPem(key, 'pässword'); // UTF-8 bytes, as OpenSSL takes them
      expect(isEncryptedPrivateKeyPem(pem)).toBe(true);
      expect(publicKeysEqual(parsePrivateKeyPemWithPassword(pem, 'pässword').publicKey, key.publicKey)).toBe(
        true,
      );
      writeFileSync(join(dir, 'k.pem'), pem);
      writeFileSync(join(dir, 'pw'), 'pässword');
      expect(openssl('pkey', '-in', 'k.pem', '-passin', 'file:pw', '-pubout')).toBe(
        publicKeyToPem(key.publicKey),
      );
      // Fresh salt and IV every time.
      expect(encryptPrivateKeyPem(key, 'pässword')).not.toBe(pem);
    });
  }

  it('wrong, missing and empty passwords are coded; messages carry neither the password nor key bytes', () => {
    const pem = encryptPrivateKeyPem(generateKeyPair(), 'right');
    let wrong: { code: string; message: string } | undefined;
    try {
      parsePrivateKeyPemWithPassword(pem, 'secret-guess');
    } catch (e) {
      wrong = e as { code: string; message: string };
    }
    expect(wrong?.code).toBe('PROV_KEY_PASSWORD');
    expect(wrong?.message).not.toContain('secret-guess');
    expect(() => parsePrivateKeyPemWithPassword(pem)).toThrow(
      expect.objectContaining({ code: 'PROV_KEY_ENCRYPTED' }),
    );
    expect(() => parsePrivateKeyPem(pem)).toThrow(expect.objectContaining({ code: 'PROV_KEY_ENCRYPTED' }));
    expect(() => parsePrivateKeyPemWithPassword(pem, '')).toThrow(
      expect.objectContaining({ code: 'PROV_KEY_PASSWORD' }),
    );
    expect(() => encryptPrivateKeyPem(generateKeyPair(), new Uint8Array())).toThrow(
      expect.objectContaining({ code: 'PROV_KEY_PASSWORD' }),
    );
    // A damaged ciphertext is refused the same way (PBES2 cannot tell it from a wrong password).
    const lines = pem.split('\n');
    lines[3] = `${(lines[3] as string).slice(0, 10)}${(lines[3] as string)[10] === 'A' ? 'B' : 'A'}${(lines[3] as string).slice(11)}`;
    expect(() => parsePrivateKeyPemWithPassword(lines.join('\n'), 'right')).toThrow(
      expect.objectContaining({ code: 'PROV_KEY_PASSWORD' }),
    );
  });

  it('reads what OpenSSL encrypts: PKCS#8 with PBKDF2 or scrypt, and legacy Proc-Type SEC1', () => {
    writeFileSync(join(dir, 'pw'), 'hunter2');
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'plain.pem');
    const expected = parsePublicKeyPem(openssl('pkey', '-in', 'plain.pem', '-pubout'));
    const variants = [
      openssl('pkcs8', '-topk8', '-in', 'plain.pem', '-passout', 'file:pw', '-v2', 'aes-256-cbc'),
      openssl('pkcs8', '-topk8', '-in', 'plain.pem', '-passout', 'file:pw', '-scrypt'),
      openssl('ec', '-in', 'plain.pem', '-aes256', '-passout', 'file:pw'),
    ];
    expect(variants[2]).toContain('Proc-Type: 4,ENCRYPTED');
    for (const pem of variants) {
      expect(isEncryptedPrivateKeyPem(pem)).toBe(true);
      expect(publicKeysEqual(parsePrivateKeyPemWithPassword(pem, 'hunter2').publicKey, expected)).toBe(true);
    }
    // An unencrypted key is parsed as before, with or without a password.
    expect(
      publicKeysEqual(
        parsePrivateKeyPemWithPassword(readFileSync(join(dir, 'plain.pem'), 'utf8')).publicKey,
        expected,
      ),
    ).toBe(true);
  });
});

describe('keyFingerprints', () => {
  it('sha256Spki is the SHA-256 of the DER SPKI as OpenSSL writes it; sha256Pem the model_signing hint', () => {
    const key = generateKeyPair('ecdsa-p384');
    writeFileSync(join(dir, 'pub.pem'), publicKeyToPem(key.publicKey));
    const der = execFileSync('openssl', ['pkey', '-pubin', '-in', 'pub.pem', '-outform', 'DER'], {
      cwd: dir,
    });
    const hex = execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: der, encoding: 'utf8' }).split(
      ' ',
    )[0];
    const pemHex = execFileSync('openssl', ['dgst', '-sha256', '-r', 'pub.pem'], {
      cwd: dir,
      encoding: 'utf8',
    }).split(' ')[0];
    expect(keyFingerprints(key.publicKey)).toEqual({ sha256Spki: hex, sha256Pem: pemHex });
    expect(() => keyFingerprints({} as never)).toThrow(expect.objectContaining({ code: 'PROV_KEY_INVALID' }));
  });
});
