import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePrivateKeyPem, parsePublicKeyPem, publicKeyToPem } from '../../src/provenance/index.ts';
import { captureProvenanceCli } from '../fixtures/provenance-cli.ts';
import { vectorPath } from './vectors.ts';

const scratch = mkdtempSync(join(tmpdir(), 'confide-cli-'));
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

describe('confide provenance CLI', () => {
  it('keygen writes PKCS#8 (0600) and SPKI for each algorithm, and never overwrites', async () => {
    for (const algorithm of ['ecdsa-p256', 'ecdsa-p384', 'ed25519']) {
      const prefix = join(scratch, `k-${algorithm}`);
      await run('keygen', '--out', prefix, '--algorithm', algorithm);
      expect(statSync(`${prefix}.key`).mode & 0o777).toBe(0o600);
      const priv = parsePrivateKeyPem(readFileSync(`${prefix}.key`, 'utf8'));
      expect(priv.algorithm).toBe(algorithm);
      expect(readFileSync(`${prefix}.key`, 'utf8').startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
      const pubText = readFileSync(`${prefix}.pub`, 'utf8');
      expect(publicKeyToPem(parsePublicKeyPem(pubText))).toBe(pubText);
      expect(publicKeyToPem(priv.publicKey)).toBe(pubText);
      expect(out.join('')).not.toContain(readFileSync(`${prefix}.key`, 'utf8').split('\n')[1]);
    }
    await expect(run('keygen', '--out', join(scratch, 'k-ecdsa-p256'))).rejects.toMatchObject({
      code: 'PROV_FILE_EXISTS',
    });
    await expect(run('keygen', '--out', join(scratch, 'k-x'), '--algorithm', 'rsa')).rejects.toMatchObject({
      code: 'commander.invalidArgument',
    });
  });

  it('keygen defaults to ecdsa-p256', async () => {
    const prefix = join(scratch, 'default');
    await run('keygen', '--out', prefix);
    expect(parsePrivateKeyPem(readFileSync(`${prefix}.key`, 'utf8')).algorithm).toBe('ecdsa-p256');
  });

  it('sign-model then verify-model: valid → resolves (exit 0); tampered → PROV_FILE_MODIFIED with a JSON report', async () => {
    const root = model('m1');
    const prefix = join(scratch, 'signer');
    await run('keygen', '--out', prefix);
    const sig = join(root, 'model.sig');
    await run('sign-model', root, '--key', `${prefix}.key`, '--out', sig, '--ignore', 'notes.txt');
    const bundle = JSON.parse(readFileSync(sig, 'utf8'));
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');

    out.length = 0;
    await run('verify-model', root, '--signature', sig, '--public-key', `${prefix}.pub`, '--json');
    const report = JSON.parse(out.join(''));
    expect(report.valid).toBe(true);
    expect(report.files.map((f: { name: string }) => f.name)).toEqual(['sub/tokenizer.json', 'weights.bin']);

    writeFileSync(join(root, 'weights.bin'), 'weightz');
    out.length = 0;
    await expect(
      run('verify-model', root, '--signature', sig, '--public-key', `${prefix}.pub`, '--json'),
    ).rejects.toMatchObject({
      code: 'PROV_FILE_MODIFIED',
    });
    const failure = JSON.parse(out.join(''));
    expect(failure).toMatchObject({ valid: false, code: 'PROV_FILE_MODIFIED' });
    expect(failure.files.find((f: { name: string }) => f.name === 'weights.bin').status).toBe('modified');
  });

  it('verify-model with another key → PROV_KEY_MISMATCH; missing signature → PROV_PATH_NOT_FOUND', async () => {
    const root = model('m2');
    await run('keygen', '--out', join(scratch, 'a'));
    await run('keygen', '--out', join(scratch, 'b'));
    const sig = join(scratch, 'm2.sig');
    await run('sign-model', root, '--key', join(scratch, 'a.key'), '--out', sig);
    await run('verify-model', root, '--signature', sig, '--public-key', join(scratch, 'a.pub'));
    await expect(
      run('verify-model', root, '--signature', sig, '--public-key', join(scratch, 'b.pub')),
    ).rejects.toMatchObject({
      code: 'PROV_KEY_MISMATCH',
    });
    await expect(
      run(
        'verify-model',
        root,
        '--signature',
        join(scratch, 'nope.sig'),
        '--public-key',
        join(scratch, 'a.pub'),
      ),
    ).rejects.toMatchObject({ code: 'PROV_PATH_NOT_FOUND' });
  });

  it('verify-model accepts the model_signing v1.0.1 fixture with --ignore ignore-me, and refuses it without', async () => {
    const dir = vectorPath('model-signing/scripts/tests/v1.0.1-elliptic-key');
    const key = vectorPath('model-signing/scripts/tests/keys/certificate/signing-key-pub.pem');
    const sig = join(dir, 'model.sig');
    await run('verify-model', dir, '--signature', sig, '--public-key', key, '--ignore', 'ignore-me');
    await expect(run('verify-model', dir, '--signature', sig, '--public-key', key)).rejects.toMatchObject({
      code: 'PROV_FILE_EXTRA',
    });
  });

  it('verify-model --ca verifies a certificate-mode bundle; --public-key and --ca together is a usage error', async () => {
    const dir = vectorPath('model-signing/scripts/tests/v1.1.0-certificate');
    const ca = vectorPath('model-signing/scripts/tests/keys/certificate/ca-cert.pem');
    const sig = join(dir, 'model.sig');
    out.length = 0;
    await run('verify-model', dir, '--signature', sig, '--ca', ca, '--json');
    const certReport = JSON.parse(out.join(''));
    expect(certReport).toMatchObject({
      valid: true,
      mode: 'certificate',
      signers: [{ kind: 'certificate', subject: 'CN=intermediate-ca' }],
    });
    expect(certReport.signers[0].serialNumber).toMatch(/^[0-9A-F]+$/);
    expect(certReport.notChecked.join('\n')).toMatch(/revocation/);
    await expect(
      run('verify-model', dir, '--signature', sig, '--ca', ca, '--public-key', ca),
    ).rejects.toMatchObject({
      code: 'commander.error',
    });
    await expect(run('verify-model', dir, '--signature', sig)).rejects.toMatchObject({
      code: 'commander.error',
    });
  });

  it('verify-model --trusted-root verifies a keyless bundle offline and pins the identity', async () => {
    const dir = vectorPath('model-signing/scripts/tests/v1.1.0-sigstore');
    const root = vectorPath('sigstore/trusted_root.json');
    const sig = join(dir, 'model.sig');
    const issuer = 'https://sigstore.verify.ibm.com/oauth2';
    out.length = 0;
    await run(
      'verify-model',
      dir,
      '--signature',
      sig,
      '--trusted-root',
      root,
      '--identity',
      'stefanb@us.ibm.com',
      '--issuer',
      issuer,
      '--json',
    );
    const keylessReport = JSON.parse(out.join(''));
    expect(keylessReport).toMatchObject({
      valid: true,
      mode: 'keyless',
      signers: [{ kind: 'keyless', identity: 'stefanb@us.ibm.com', issuer }],
    });
    expect(keylessReport.checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
    await expect(
      run(
        'verify-model',
        dir,
        '--signature',
        sig,
        '--trusted-root',
        root,
        '--identity',
        'eve@example.com',
        '--issuer',
        issuer,
      ),
    ).rejects.toMatchObject({ code: 'PROV_IDENTITY_MISMATCH' });
    await expect(run('verify-model', dir, '--signature', sig, '--trusted-root', root)).rejects.toMatchObject({
      code: 'commander.error',
    });
  });

  it('sign-model refuses an ed25519 key with PROV_ALGORITHM_UNSUPPORTED', async () => {
    const prefix = join(scratch, 'ed');
    await run('keygen', '--out', prefix, '--algorithm', 'ed25519');
    await expect(
      run('sign-model', model('m3'), '--key', `${prefix}.key`, '--out', join(scratch, 'm3.sig')),
    ).rejects.toMatchObject({ code: 'PROV_ALGORITHM_UNSUPPORTED' });
  });

  it('hash prints one line per file and the root digest of the golden sample model', async () => {
    await run('hash', vectorPath('model-signing/golden/models/sample_model'));
    const lines = out.join('').trim().split('\n');
    expect(lines).toHaveLength(11);
    expect(lines[0]).toMatch(/^[0-9a-f]{64} {2}d0\/f00$/);
    expect(lines[10]).toBe(
      '143cc682e555951649f18e2761c3d526d2502996f5e32dc187ef7f8a614f8df7  (root, 10 file(s))',
    );
  });
});
