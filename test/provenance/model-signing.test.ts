import {
  chmodSync,
  cpSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { p384 } from '@noble/curves/nist.js';
import { afterAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64, utf8 } from '../../src/provenance/common/bytes.ts';
import { preAuthEncoding } from '../../src/provenance/common/dsse.ts';
import type { PublicKey } from '../../src/provenance/common/keys.ts';
import { parsePublicKeyPem } from '../../src/provenance/common/keys.ts';
import { verifyModel, verifyModelBundle } from '../../src/provenance/index.ts';
import type { ModelVerificationReport } from '../../src/provenance/model-signing/report.ts';
import { cases, readVector, readVectorText, type VectorCase, vectorPath } from './vectors.ts';

const TEST_KEY = parsePublicKeyPem(
  readVectorText('model-signing/scripts/tests/keys/certificate/signing-key-pub.pem'),
);
const SPEC_KEY = parsePublicKeyPem(
  JSON.parse(readVectorText('dsse/pae-hello-world.json')).derived.public_key_pem,
);

const scratch = mkdtempSync(join(tmpdir(), 'confide-ms-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A writable copy of a fixture directory. */
function copyFixture(relative: string, name: string): string {
  const dest = join(scratch, name);
  cpSync(vectorPath(relative), dest, { recursive: true });
  chmodSync(dest, 0o755);
  for (const f of readdirSync(dest)) chmodSync(join(dest, f), 0o644);
  return dest;
}

async function verifyCase(c: VectorCase, extraIgnores = c.extra_ignore_paths ?? []) {
  const model = vectorPath(c.model ?? '');
  const bundlePath = vectorPath(c.bundle);
  const key = c.public_key === undefined ? TEST_KEY : parsePublicKeyPem(readVectorText(c.public_key));
  return verifyModel(
    { path: model, ignorePaths: extraIgnores, signaturePath: bundlePath },
    readVector(c.bundle),
    {
      publicKey: key,
    },
  );
}

/** Steps 1–7 alone, in key mode. */
const verifyBundle = (bundle: Uint8Array | string, key: PublicKey) =>
  verifyModelBundle(bundle, { publicKey: key });

/** The names of the files the report found different from the signed manifest. */
const badFiles = (r: ModelVerificationReport) =>
  (r.files ?? []).filter((f) => f.status !== 'ok').map((f) => f.name);

/** The failed check (the last one run). */
const failed = (r: ModelVerificationReport) => r.checks.find((k) => !k.ok);

const keyCases = cases.cases.filter((c) => c.method === 'key');

describe('cases.json, method key: every case reaches its expected conclusion', () => {
  it('has the five key-mode cases', () => {
    expect(keyCases.map((c) => c.id)).toEqual([
      'model-signing/v0.3.1-elliptic-key',
      'model-signing/v1.0.0-elliptic-key',
      'model-signing/v1.0.1-elliptic-key',
      'model-signing/v1.1.0-elliptic-key',
      'oms/valid/key',
    ]);
  });

  for (const c of keyCases) {
    it(`${c.id} → ${c.expected}`, async () => {
      expect(c.expected).toBe('accept');
      const result = await verifyCase(c);
      expect(result).toMatchObject({ valid: true, code: 'OK', mode: 'key' });
      expect(result.rootDigest).toBe(c.root_digest);
      expect(result.signers[0]).toMatchObject({ kind: 'public-key', algorithm: 'ecdsa-p384' });
      expect(result.files?.length).toBeGreaterThan(0);
      expect(result.files?.every((f) => f.status === 'ok')).toBe(true);
    });
  }

  it('model-signing/v1.0.1-elliptic-key without the extra ignore → PROV_FILE_EXTRA (ignore-me)', async () => {
    const c = keyCases.find((k) => k.id === 'model-signing/v1.0.1-elliptic-key');
    expect(c?.expected_without_extra_ignore).toMatch(/^reject/);
    const report = await verifyCase(c as VectorCase, []);
    expect(report).toMatchObject({ valid: false, code: 'PROV_FILE_EXTRA' });
    expect(badFiles(report)).toEqual(['ignore-me']);
  });

  it('v1.0.1 is high-S: it verifies only because high-S is accepted (noble defaults would reject it)', async () => {
    const bundle = JSON.parse(readVectorText('model-signing/scripts/tests/v1.0.1-elliptic-key/model.sig'));
    const payload = fromBase64(bundle.dsseEnvelope.payload);
    const sig = fromBase64(bundle.dsseEnvelope.signatures[0].sig);
    const pae = preAuthEncoding(bundle.dsseEnvelope.payloadType, payload);
    expect(p384.verify(sig, pae, TEST_KEY.bytes, { format: 'der' })).toBe(false);
    expect(p384.verify(sig, pae, TEST_KEY.bytes, { format: 'der', lowS: false })).toBe(true);
    // and the low-S twin (r, n − s) is accepted too
    const parsed = p384.Signature.fromBytes(sig, 'der');
    const twin = parsed.hasHighS() ? new p384.Signature(parsed.r, p384.Point.CURVE().n - parsed.s) : parsed;
    bundle.dsseEnvelope.signatures[0].sig = toBase64(twin.toBytes('der'));
    expect((await verifyBundle(JSON.stringify(bundle), TEST_KEY)).rootDigest).toBe(
      '92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4',
    );
  });
});

describe('cases.json, bundles without a method (OMS invalid vectors) are refused at the right step', () => {
  const expectedCodes: Record<string, string> = {
    'oms/invalid/empty': 'PROV_BUNDLE_UNPARSABLE',
    'oms/invalid/missing-envelope': 'PROV_BUNDLE_MALFORMED',
    'oms/invalid/missing-verification-material': 'PROV_BUNDLE_MALFORMED',
    'oms/invalid/missing-tlog-entries': 'PROV_BUNDLE_MALFORMED',
    'oms/invalid-payload/wrong-predicate': 'PROV_SIGNATURE_INVALID',
  };
  const rejectCases = cases.cases.filter((c) => c.expected === 'reject');
  it('covers every reject case', () => {
    expect(rejectCases.map((c) => c.id).sort()).toEqual(Object.keys(expectedCodes).sort());
  });
  for (const c of rejectCases) {
    it(`${c.id} → reject (${expectedCodes[c.id]})`, async () => {
      const report = await verifyBundle(readVector(c.bundle), TEST_KEY);
      expect(report).toMatchObject({ valid: false, code: expectedCodes[c.id] });
      expect(failed(report)?.code).toBe(expectedCodes[c.id]);
    });
  }
  it('missing-verification-material is a trap: its signature is valid, the structure check refuses it', async () => {
    const bundle = JSON.parse(
      readVectorText('oms/test-vectors/v1.0/invalid/missing-verification-material.bundle.json'),
    );
    const report = await verifyBundle(JSON.stringify(bundle), TEST_KEY);
    expect(failed(report)?.detail).toMatch(/: invalid verificationMaterial$/);
  });
});

describe('certificate-mode bundles checked in key mode (the leaf key must be the given key; no chain validation)', () => {
  const certCases = cases.cases.filter((c) => c.method === 'certificate');
  for (const c of certCases) {
    const legacy = c.legacy === true;
    it(`${c.id} with signing-key-pub.pem → ${legacy ? 'reject (legacy v0.2 PAE)' : 'accept'}`, async () => {
      if (legacy) {
        await expect(verifyCase(c)).resolves.toMatchObject({ valid: false, code: 'PROV_SIGNATURE_INVALID' });
      } else {
        const result = await verifyCase(c);
        expect(result.valid).toBe(true);
        expect(result.checks[2]?.detail).toContain('key material (certificate-chain)');
        expect(result.rootDigest).toBe(c.root_digest);
      }
    });
  }
  it('a certificate bundle with another key → PROV_KEY_MISMATCH', async () => {
    await expect(
      verifyBundle(readVector('model-signing/scripts/tests/v1.1.0-certificate/model.sig'), SPEC_KEY),
    ).resolves.toMatchObject({ valid: false, code: 'PROV_KEY_MISMATCH' });
  });
  it('keyless (sigstore) bundles are not verifiable with a key → PROV_KEY_MATERIAL_UNSUPPORTED', async () => {
    for (const c of cases.cases.filter((x) => x.method === 'sigstore')) {
      await expect(verifyBundle(readVector(c.bundle), TEST_KEY), c.id).resolves.toMatchObject({
        valid: false,
        code: 'PROV_KEY_MATERIAL_UNSUPPORTED',
      });
    }
  });
});

describe('mutations of a valid model are each refused with their own code', () => {
  const FIXTURE = 'model-signing/scripts/tests/v1.1.0-elliptic-key';
  const verifyDir = (
    dir: string,
    bundle: Uint8Array | string = readVector(`${FIXTURE}/model.sig`),
    key = TEST_KEY,
  ) => verifyModel({ path: dir, signaturePath: join(dir, 'model.sig') }, bundle, { publicKey: key });

  it('the unmodified copy verifies', async () => {
    await expect(verifyDir(copyFixture(FIXTURE, 'pristine'))).resolves.toMatchObject({ valid: true });
  });

  it('tampered file → PROV_FILE_MODIFIED', async () => {
    const dir = copyFixture(FIXTURE, 'tampered');
    writeFileSync(join(dir, 'signme-1'), 'signme-X\n');
    const report = await verifyDir(dir);
    expect(report).toMatchObject({ valid: false, code: 'PROV_FILE_MODIFIED' });
    expect(badFiles(report)).toEqual(['signme-1']);
    expect(report.files?.find((f) => f.name === 'signme-1')?.status).toBe('modified');
  });

  it('extra file → PROV_FILE_EXTRA', async () => {
    const dir = copyFixture(FIXTURE, 'extra');
    writeFileSync(join(dir, 'backdoor.py'), 'import os');
    const report = await verifyDir(dir);
    expect(report).toMatchObject({ valid: false, code: 'PROV_FILE_EXTRA' });
    expect(badFiles(report)).toEqual(['backdoor.py']);
  });

  it('renamed file → PROV_FILE_RENAMED', async () => {
    const dir = copyFixture(FIXTURE, 'renamed');
    renameSync(join(dir, 'signme-2'), join(dir, 'signme-3'));
    const report = await verifyDir(dir);
    expect(report).toMatchObject({ valid: false, code: 'PROV_FILE_RENAMED' });
    expect(badFiles(report)).toEqual(['signme-3']);
    expect(report.files?.find((f) => f.name === 'signme-3')?.signedAs).toBe('signme-2');
  });

  it('missing file → PROV_FILE_MISSING', async () => {
    const dir = copyFixture(FIXTURE, 'missing');
    unlinkSync(join(dir, 'signme-2'));
    const report = await verifyDir(dir);
    expect(report).toMatchObject({ valid: false, code: 'PROV_FILE_MISSING' });
    expect(badFiles(report)).toEqual(['signme-2']);
  });

  it('wrong key → PROV_KEY_MISMATCH (hint), also for pre-1.1 rawBytes bundles', async () => {
    await expect(verifyDir(vectorPath(FIXTURE), undefined, SPEC_KEY)).resolves.toMatchObject({
      valid: false,
      code: 'PROV_KEY_MISMATCH',
    });
    await expect(
      verifyBundle(readVector('model-signing/scripts/tests/v1.0.1-elliptic-key/model.sig'), SPEC_KEY),
    ).resolves.toMatchObject({ valid: false, code: 'PROV_KEY_MISMATCH' });
  });

  it('re-formatted payload (same JSON, other bytes, same signature) → PROV_SIGNATURE_INVALID', async () => {
    const bundle = JSON.parse(readVectorText(`${FIXTURE}/model.sig`));
    const statement = JSON.parse(new TextDecoder().decode(fromBase64(bundle.dsseEnvelope.payload)));
    bundle.dsseEnvelope.payload = toBase64(utf8(JSON.stringify(statement)));
    expect(await verifyBundle(JSON.stringify(bundle), TEST_KEY)).toMatchObject({
      valid: false,
      code: 'PROV_SIGNATURE_INVALID',
    });
  });

  it('raw r||s instead of DER → PROV_SIGNATURE_INVALID', async () => {
    const bundle = JSON.parse(readVectorText(`${FIXTURE}/model.sig`));
    const sig = p384.Signature.fromBytes(fromBase64(bundle.dsseEnvelope.signatures[0].sig), 'der');
    bundle.dsseEnvelope.signatures[0].sig = toBase64(sig.toBytes('compact'));
    expect(await verifyBundle(JSON.stringify(bundle), TEST_KEY)).toMatchObject({
      valid: false,
      code: 'PROV_SIGNATURE_INVALID',
    });
  });

  it('bundle structure problems: two signatures, wrong media type, wrong payload type, not JSON', async () => {
    const base = JSON.parse(readVectorText(`${FIXTURE}/model.sig`));
    const two = structuredClone(base);
    two.dsseEnvelope.signatures.push(two.dsseEnvelope.signatures[0]);
    const rSignatures = await verifyBundle(JSON.stringify(two), TEST_KEY);
    expect(rSignatures).toMatchObject({ valid: false, code: 'PROV_BUNDLE_MALFORMED' });
    expect(failed(rSignatures)?.detail).toMatch(/: invalid dsseEnvelope.signatures$/);
    const media = { ...base, mediaType: 'application/vnd.dev.sigstore.bundle.v0.2+json' };
    expect(await verifyBundle(JSON.stringify(media), TEST_KEY)).toMatchObject({
      valid: false,
      code: 'PROV_BUNDLE_MEDIA_TYPE',
    });
    const type = structuredClone(base);
    type.dsseEnvelope.payloadType = 'application/json';
    expect(await verifyBundle(JSON.stringify(type), TEST_KEY)).toMatchObject({
      valid: false,
      code: 'PROV_PAYLOAD_TYPE',
    });
    expect(await verifyBundle(new Uint8Array([0xff, 0x7b]), TEST_KEY)).toMatchObject({
      valid: false,
      code: 'PROV_BUNDLE_UNPARSABLE',
    });
  });

  it('honours the ignore paths recorded in a v1.1 bundle (ignore-me is not in the manifest)', async () => {
    const dir = copyFixture(FIXTURE, 'recorded-ignores');
    writeFileSync(join(dir, 'ignore-me'), 'changed, but ignored by the signer');
    await expect(verifyDir(dir)).resolves.toMatchObject({ valid: true });
    expect(dirname(dir)).toBe(scratch);
  });
});
