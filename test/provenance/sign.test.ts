import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromBase64 } from '../../src/provenance/common/bytes.ts';
import { preAuthEncoding } from '../../src/provenance/common/dsse.ts';
import { ecdsaCurve, generateKeyPair, keyHint } from '../../src/provenance/common/keys.ts';
import { verifyModel, verifyModelBundle } from '../../src/provenance/index.ts';
import { sortResources } from '../../src/provenance/model-signing/manifest.ts';
import {
  keySigner,
  serialiseBundle,
  signEnvelope,
  signModel,
} from '../../src/provenance/model-signing/sign.ts';
import { verifyEnvelope } from '../../src/provenance/model-signing/verify-bundle.ts';
import { readVectorText, vectorPath } from './vectors.ts';

const scratch = mkdtempSync(join(tmpdir(), 'confide-sign-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function model(name: string): string {
  const root = join(scratch, name);
  mkdirSync(join(root, 'sub', 'deep'), { recursive: true });
  mkdirSync(join(root, '.git'), { recursive: true });
  writeFileSync(
    join(root, 'weights.bin'),
    new Uint8Array(70_000).map((_, i) => i & 255),
  );
  writeFileSync(join(root, 'sub', 'config.json'), '{"layers": 3}');
  writeFileSync(join(root, 'sub', 'deep', 'é-ü.txt'), 'unicode name');
  writeFileSync(join(root, 'a-b'), 'sorts after a/…');
  writeFileSync(join(root, '.git', 'HEAD'), 'ref: refs/heads/main');
  writeFileSync(join(root, 'README.md'), 'not signed');
  return root;
}

describe('signing model_signing v1 key-mode bundles', () => {
  for (const algorithm of ['ecdsa-p256', 'ecdsa-p384'] as const) {
    it(`${algorithm}: writes the Python layout, low-S, and verifies`, async () => {
      const root = model(`m-${algorithm}`);
      const key = generateKeyPair(algorithm);
      const sigPath = join(root, 'model.sig');
      const signed = await signModel(root, key, { signaturePath: sigPath, ignorePaths: ['README.md'] });
      writeFileSync(sigPath, signed.bundleJson);

      const bundle = JSON.parse(signed.bundleJson);
      expect(Object.keys(bundle)).toEqual(['mediaType', 'verificationMaterial', 'dsseEnvelope']);
      expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
      expect(bundle.verificationMaterial).toEqual({
        publicKey: { hint: keyHint(key.publicKey) },
        tlogEntries: [],
      });
      expect(Object.keys(bundle.dsseEnvelope)).toEqual(['payload', 'payloadType', 'signatures']);
      expect(bundle.dsseEnvelope.signatures).toHaveLength(1);
      expect(bundle.dsseEnvelope.signatures[0].keyid).toBe('');
      expect(signed.bundleJson).toBe(serialiseBundle(signed.bundle));
      expect(signed.bundleJson).not.toContain('\n');

      const payloadText = new TextDecoder().decode(fromBase64(bundle.dsseEnvelope.payload));
      expect(
        payloadText.startsWith('{\n  "_type": "https://in-toto.io/Statement/v1",\n  "subject": [\n'),
      ).toBe(true);
      expect(payloadText).toContain('\\u00e9-\\u00fc.txt'); // ensure_ascii, as protobuf MessageToJson
      expect(payloadText.endsWith('}')).toBe(true);
      const statement = JSON.parse(payloadText);
      expect(statement.subject[0].name).toBe(`m-${algorithm}`);
      expect(statement.predicate.serialization).toEqual({
        method: 'files',
        hash_type: 'sha256',
        allow_symlinks: false,
        ignore_paths: ['.git', '.gitattributes', '.github', '.gitignore', 'README.md', 'model.sig'],
      });
      const names = statement.predicate.resources.map((r: { name: string }) => r.name);
      expect(names).toEqual(['a-b', 'sub/config.json', 'sub/deep/é-ü.txt', 'weights.bin']);
      expect(sortResources(statement.predicate.resources)).toEqual(statement.predicate.resources);

      const sig = fromBase64(bundle.dsseEnvelope.signatures[0].sig);
      const pae = preAuthEncoding(bundle.dsseEnvelope.payloadType, fromBase64(bundle.dsseEnvelope.payload));
      expect(ecdsaCurve(algorithm).verify(sig, pae, key.publicKey.bytes, { format: 'der', lowS: true })).toBe(
        true,
      );

      const source = { path: root, signaturePath: sigPath };
      const result = await verifyModel(source, signed.bundleJson, { publicKey: key.publicKey });
      expect(result).toMatchObject({ valid: true, code: 'OK' });
      expect(result.rootDigest).toBe(signed.manifest.rootDigest);
      expect(result.files?.map((f) => f.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
      // README.md was ignored by the signer and the verifier honours the recorded ignore
      writeFileSync(join(root, 'README.md'), 'changed');
      await expect(
        verifyModel(source, signed.bundleJson, { publicKey: key.publicKey }),
      ).resolves.toMatchObject({
        valid: true,
      });
    });
  }

  it('is deterministic (RFC 6979): the same model and key give the same bytes', async () => {
    const root = model('det');
    const key = generateKeyPair('ecdsa-p256');
    const a = await signModel(root, key);
    const b = await signModel(root, key);
    expect(a.bundleJson).toBe(b.bundleJson);
  });

  it('signs a single file as resource "."', async () => {
    const root = model('single');
    const key = generateKeyPair('ecdsa-p256');
    const file = join(root, 'weights.bin');
    const signed = await signModel(file, key);
    expect(signed.manifest.resources.map((r) => r.name)).toEqual(['.']);
    await expect(
      verifyModel({ path: file }, signed.bundleJson, { publicKey: key.publicKey }),
    ).resolves.toMatchObject({
      valid: true,
    });
  });

  it('re-signs the model_signing v1.1.0 fixture files to the same manifest Python signed', async () => {
    const dir = join(scratch, 'resign');
    cpSync(vectorPath('oms/model'), dir, { recursive: true });
    const key = generateKeyPair('ecdsa-p384');
    const ours = await signModel(dir, key, { ignorePaths: ['ignore-me'] });
    const pythonBundle = readVectorText('oms/test-vectors/v1.0/valid/key.bundle.json');
    const python = await verifyModelBundle(pythonBundle, {
      publicKey: (await import('../../src/provenance/common/keys.ts')).parsePublicKeyPem(
        readVectorText('model-signing/scripts/tests/keys/certificate/signing-key-pub.pem'),
      ),
    });
    expect(python).toMatchObject({ valid: true, code: 'OK' });
    const statement = JSON.parse(
      new TextDecoder().decode(fromBase64(JSON.parse(pythonBundle).dsseEnvelope.payload)),
    );
    expect(ours.manifest.resources).toEqual(statement.predicate.resources);
    expect(ours.manifest.rootDigest).toBe(python.rootDigest);
  });

  it('refuses to sign an empty model (PROV_MODEL_EMPTY)', async () => {
    const root = join(scratch, 'empty');
    mkdirSync(join(root, '.git'), { recursive: true });
    writeFileSync(join(root, '.git', 'HEAD'), 'x');
    await expect(signModel(root, generateKeyPair('ecdsa-p256'))).rejects.toMatchObject({
      code: 'PROV_MODEL_EMPTY',
    });
  });

  it('refuses Ed25519 for model_signing (it only accepts EC keys) before hashing anything', async () => {
    await expect(signModel(join(scratch, 'nope'), generateKeyPair('ed25519'))).rejects.toMatchObject({
      code: 'PROV_ALGORITHM_UNSUPPORTED',
    });
  });

  it('a statement whose subject digest does not match its resources → PROV_ROOT_DIGEST_MISMATCH', async () => {
    const root = model('inconsistent');
    const key = generateKeyPair('ecdsa-p256');
    const signed = await signModel(root, key);
    const statement = JSON.parse(new TextDecoder().decode(fromBase64(signed.bundle.dsseEnvelope.payload)));
    statement.subject[0].digest.sha256 = '0'.repeat(64);
    const env = await signEnvelope(
      'application/vnd.in-toto+json',
      new TextEncoder().encode(JSON.stringify(statement)),
      keySigner(key),
    );
    const bundle = { ...signed.bundle, dsseEnvelope: env };
    await expect(
      verifyModelBundle(JSON.stringify(bundle), { publicKey: key.publicKey }),
    ).resolves.toMatchObject({
      valid: false,
      code: 'PROV_ROOT_DIGEST_MISMATCH',
    });
    statement.subject[0].digest.sha256 = signed.manifest.rootDigest;
    statement.predicate.resources[0].name = '../escape';
    const env2 = await signEnvelope(
      'application/vnd.in-toto+json',
      new TextEncoder().encode(JSON.stringify(statement)),
      keySigner(key),
    );
    await expect(
      verifyModelBundle(JSON.stringify({ ...signed.bundle, dsseEnvelope: env2 }), {
        publicKey: key.publicKey,
      }),
    ).resolves.toMatchObject({ valid: false, code: 'PROV_MANIFEST_PATH_INVALID' });
  });
});

describe('DSSE envelopes with thresholds', () => {
  it('verifies k-of-n and refuses below the threshold', async () => {
    const k1 = generateKeyPair('ed25519');
    const k2 = generateKeyPair('ecdsa-p256');
    const payload = new TextEncoder().encode('{"x":1}');
    const e1 = await signEnvelope('application/vnd.in-toto+json', payload, keySigner(k1));
    const e2 = await signEnvelope('application/vnd.in-toto+json', payload, keySigner(k2));
    const both = { ...e1, signatures: [...e1.signatures, ...e2.signatures] };
    expect(verifyEnvelope(both, [k1.publicKey, k2.publicKey], { threshold: 2 })).toEqual(payload);
    expect(() => verifyEnvelope(e1, [k1.publicKey, k2.publicKey], { threshold: 2 })).toThrow(
      expect.objectContaining({ code: 'PROV_SIGNATURE_INVALID' }),
    );
    // the same key listed twice is one signer, not two
    expect(() => verifyEnvelope(e1, [k1.publicKey, { ...k1.publicKey }], { threshold: 2 })).toThrow(
      expect.objectContaining({ code: 'PROV_SIGNATURE_INVALID' }),
    );
    expect(() => verifyEnvelope(e1, [k1.publicKey], { threshold: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => verifyEnvelope(e1, [k1.publicKey], { payloadType: 'other' })).toThrow(
      expect.objectContaining({ code: 'PROV_PAYLOAD_TYPE' }),
    );
  });
});
