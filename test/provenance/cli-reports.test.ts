/**
 * What the verify commands report (checks, signer, what was not checked) and `provenance hash`
 * agreeing with `sign-model`.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProvenanceError } from '../../src/provenance/index.ts';
import { modelVerificationReport } from '../../src/provenance/model-signing/report.ts';
import { verifyModelBundle as verifyKeyModeBundle } from '../../src/provenance/model-signing/verify-bundle.ts';
import { captureProvenanceCli } from '../fixtures/provenance-cli.ts';

const scratch = mkdtempSync(join(tmpdir(), 'confide-reports-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const { out, run } = captureProvenanceCli();

function model(name: string): string {
  const root = join(scratch, name);
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'weights.bin'), 'weights');
  writeFileSync(join(root, 'sub', 'tokenizer.json'), '{}');
  writeFileSync(join(root, 'notes.txt'), 'unsigned notes');
  return root;
}

/** The subject digest inside a model_signing bundle, read straight from the DSSE payload. */
function signedRoot(sigPath: string): string {
  const bundle = JSON.parse(readFileSync(sigPath, 'utf8'));
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8'));
  return statement.subject[0].digest.sha256;
}

async function hashRoot(...args: string[]): Promise<string> {
  out.length = 0;
  await run('hash', ...args);
  const last = out.join('').trim().split('\n').pop() ?? '';
  return last.slice(0, 64);
}

describe('confide provenance hash prints the root sign-model signs', () => {
  it('with the signature inside the folder (default model.sig, or named), with ignores, and outside', async () => {
    await run('keygen', '--out', join(scratch, 'signer'));
    const key = join(scratch, 'signer.key');

    const a = model('a');
    await run('sign-model', a, '--key', key, '--out', join(a, 'model.sig'));
    expect(await hashRoot(a)).toBe(signedRoot(join(a, 'model.sig')));

    const b = model('b');
    await run('sign-model', b, '--key', key, '--out', join(b, 'sigs.json'), '--ignore', 'notes.txt');
    const root = await hashRoot(b, '--signature', join(b, 'sigs.json'), '--ignore', 'notes.txt');
    expect(root).toBe(signedRoot(join(b, 'sigs.json')));
    out.length = 0;
    await run('hash', b, '--signature', join(b, 'sigs.json'), '--ignore', 'notes.txt', '--json');
    expect(JSON.parse(out.join('')).serialization.ignore_paths).toEqual([
      '.git',
      '.gitattributes',
      '.github',
      '.gitignore',
      'notes.txt',
      'sigs.json',
    ]);

    const c = model('c');
    await run('sign-model', c, '--key', key, '--out', join(scratch, 'c.sig'));
    expect(await hashRoot(c)).toBe(signedRoot(join(scratch, 'c.sig')));
    // A signature file that is not left out changes the root: the rule is what makes them agree.
    writeFileSync(join(c, 'model.sig'), readFileSync(join(scratch, 'c.sig')));
    expect(await hashRoot(c, '--signature', join(scratch, 'c.sig'))).not.toBe(
      signedRoot(join(scratch, 'c.sig')),
    );

    // A single-file model: no default signature path, and the root is the file's as sign-model signs it.
    const file = join(scratch, 'single.bin');
    writeFileSync(file, 'one file model');
    await run('sign-model', file, '--key', key, '--out', join(scratch, 'single.sig'));
    expect(await hashRoot(file)).toBe(signedRoot(join(scratch, 'single.sig')));
    out.length = 0;
    await run('hash', file, '--json');
    expect(JSON.parse(out.join('')).serialization.ignore_paths).not.toContain('model.sig');
  });
});

describe('verify-model reports checks, signer and what was not checked', () => {
  it('key mode: every step ok, the key with both fingerprint forms, the limits of key mode', async () => {
    await run('keygen', '--out', join(scratch, 'k'));
    const pub = readFileSync(join(scratch, 'k.pub'), 'utf8');
    const spki = createHash('sha256')
      .update(createPublicKey(pub).export({ type: 'spki', format: 'der' }))
      .digest('hex');
    const pemText = createHash('sha256').update(pub).digest('hex');
    const m = model('m');
    const sig = join(m, 'model.sig');
    await run('sign-model', m, '--key', join(scratch, 'k.key'), '--out', sig);

    out.length = 0;
    await run('verify-model', m, '--signature', sig, '--public-key', join(scratch, 'k.pub'));
    const text = out.join('');
    expect(text).toContain(`Verification of ${m}: VALID`);
    for (const step of [
      '[ok] bundle is JSON',
      '[ok] key material matches the trusted key',
      '[ok] DSSE signature over the payload as received',
      '[ok] files hashed and compared with the signed manifest: 3 file(s) match',
    ])
      expect(text).toContain(step);
    expect(text).toContain(`key fingerprint (SHA256-SPKI): ${spki}`);
    expect(text).toContain(`key fingerprint (SHA256-PEM): ${pemText}`);
    expect(text).toMatch(/Not checked:\n {2}- trusted timestamp/);
    expect(text).toContain('transparency-log inclusion');

    out.length = 0;
    await run('verify-model', m, '--signature', sig, '--public-key', join(scratch, 'k.pub'), '--json');
    const report = JSON.parse(out.join(''));
    expect(report).toMatchObject({ valid: true, code: 'OK', mode: 'key', rootDigest: signedRoot(sig) });
    expect(report.checks).toHaveLength(8);
    expect(report.signers).toEqual([
      {
        kind: 'public-key',
        algorithm: 'ecdsa-p256',
        fingerprints: [
          { form: 'SHA256-SPKI', value: spki },
          { form: 'SHA256-PEM', value: pemText },
        ],
      },
    ]);
  });

  it('failures: the failing step carries the code, earlier steps passed, later ones are listed as not run', async () => {
    await run('keygen', '--out', join(scratch, 'k2'));
    await run('keygen', '--out', join(scratch, 'other'));
    const m = model('m2');
    const sig = join(m, 'model.sig');
    await run('sign-model', m, '--key', join(scratch, 'k2.key'), '--out', sig);

    out.length = 0;
    await expect(
      run('verify-model', m, '--signature', sig, '--public-key', join(scratch, 'other.pub'), '--json'),
    ).rejects.toMatchObject({ code: 'PROV_KEY_MISMATCH' });
    const mismatch = JSON.parse(out.join(''));
    expect(mismatch.checks.map((c: { ok: boolean; code?: string }) => [c.ok, c.code])).toEqual([
      [true, undefined],
      [true, undefined],
      [false, 'PROV_KEY_MISMATCH'],
    ]);
    expect(mismatch.signers).toEqual([]);
    expect(mismatch.notChecked[0]).toMatch(/^not run after the failure: DSSE payload type; DSSE signature/);

    writeFileSync(join(m, 'weights.bin'), 'weightz');
    out.length = 0;
    await expect(
      run('verify-model', m, '--signature', sig, '--public-key', join(scratch, 'k2.pub')),
    ).rejects.toMatchObject({
      code: 'PROV_FILE_MODIFIED',
    });
    const text = out.join('');
    expect(text).toContain('NOT VALID (PROV_FILE_MODIFIED)');
    expect(text).toContain('[ok] root digest recomputed from the signed manifest');
    expect(text).toMatch(
      /\[FAILED\] files hashed and compared with the signed manifest: .*weights\.bin.* \(PROV_FILE_MODIFIED\)/,
    );
    // Steps 1–7 passed, so the signer is established even though the files differ.
    expect(text).toContain('key fingerprint (SHA256-SPKI): ');
    expect(text).toContain('[ok] DSSE signature over the payload as received: verifies');
  });

  it('the report builder rethrows what is not a verification outcome', () => {
    const error = new ProvenanceError('PROV_IO', 'disk on fire');
    expect(() => modelVerificationReport('m', { mode: 'key', error })).toThrow(error);
    expect(() => modelVerificationReport('m', { mode: 'nope' as never, error })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('verifyModel / verifyModelBundle / modelVerificationReport on the model_signing fixtures', () => {
  it('certificate mode: subject, issuer, serial and the leaf key fingerprint (checked with node:crypto)', async () => {
    const { verifyModel } = await import('../../src/provenance/index.ts');
    const { vectorPath } = await import('./vectors.ts');
    const { X509Certificate } = await import('node:crypto');
    const dir = vectorPath('model-signing/scripts/tests/v1.1.0-certificate');
    const sig = readFileSync(join(dir, 'model.sig'));
    const ca = readFileSync(vectorPath('model-signing/scripts/tests/keys/certificate/ca-cert.pem'), 'utf8');
    const report = await verifyModel({ path: dir, signaturePath: join(dir, 'model.sig') }, sig, {
      certificateAuthorities: ca,
    });
    expect(report.valid).toBe(true);
    const leafB64 = JSON.parse(sig.toString('utf8')).verificationMaterial.x509CertificateChain.certificates[0]
      .rawBytes;
    const leaf = new X509Certificate(Buffer.from(leafB64, 'base64'));
    const spki = createHash('sha256')
      .update(leaf.publicKey.export({ type: 'spki', format: 'der' }))
      .digest('hex');
    expect(report.signers[0]).toMatchObject({
      kind: 'certificate',
      subject: leaf.subject,
      issuer: leaf.issuer,
      serialNumber: leaf.serialNumber,
      certificateFingerprint: leaf.fingerprint256,
    });
    expect(report.signers[0]?.fingerprints[0]).toEqual({ form: 'SHA256-SPKI', value: spki });
    expect(report.notChecked.join('\n')).toMatch(/revocation \(CRL\/OCSP\)/);
  });

  it('bundle only (no files): steps 1–7 listed, the files listed as not checked', async () => {
    const { verifyModelBundle, parsePublicKeyPem } = await import('../../src/provenance/index.ts');
    const { vectorPath } = await import('./vectors.ts');
    const dir = vectorPath('model-signing/scripts/tests/v1.0.1-elliptic-key');
    const key = parsePublicKeyPem(
      readFileSync(vectorPath('model-signing/scripts/tests/keys/certificate/signing-key-pub.pem'), 'utf8'),
    );
    const bundle = verifyKeyModeBundle(readFileSync(join(dir, 'model.sig')), key);
    const report = modelVerificationReport('model.sig', { mode: 'key', key, bundle, filesRequested: false });
    expect(report.valid).toBe(true);
    expect(report.checks).toHaveLength(7);
    expect(report.notChecked[0]).toMatch(/^the model files: only the bundle was verified/);
    // The public verifyModelBundle is this report.
    const pub = await verifyModelBundle(readFileSync(join(dir, 'model.sig')), { publicKey: key });
    expect(pub.valid).toBe(true);
    expect(pub.checks).toEqual(report.checks);
    expect(pub.notChecked).toEqual(report.notChecked);
    // A wrong key is a report with the failing code, not a throw.
    const other = (await import('../../src/provenance/index.ts')).generateKeyPair('ecdsa-p256');
    const bad = await verifyModelBundle(readFileSync(join(dir, 'model.sig')), { publicKey: other.publicKey });
    expect(bad.valid).toBe(false);
    expect(bad.code).toBe('PROV_KEY_MISMATCH');
    await expect(verifyModelBundle(readFileSync(join(dir, 'model.sig')), {} as never)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    for (const bad of [
      { mode: 'key', key, bundle }, // files neither given nor declined
      { mode: 'key', bundle, filesRequested: false }, // key mode without the key
      { mode: 'certificate', bundle, filesRequested: false }, // a key-mode bundle as a certificate one
      { mode: 'keyless', bundle, filesRequested: false },
      { mode: 'key', key }, // neither bundle nor error
    ] as const)
      expect(() => modelVerificationReport('model.sig', bad), JSON.stringify(Object.keys(bad))).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
  });
});

describe('report helpers validate their arguments', () => {
  it('formatVerificationReport, logDirectoryReport', async () => {
    const { formatVerificationReport, logDirectoryReport } = await import('../../src/provenance/index.ts');
    for (const call of [
      () => formatVerificationReport({} as never),
      () => logDirectoryReport({ dir: 'x' } as never),
    ])
      expect(call).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
