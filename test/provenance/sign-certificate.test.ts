/**
 * Certificate-mode signing (`confide provenance sign-model --certificate --chain`), against a PKI
 * made by OpenSSL in the test: root CA → intermediate CA → EC P-256 leaf. The bundle is checked
 * for the shape of model_signing's own certificate-mode bundles (the real v1.1.0 vector), verified
 * by confide's existing certificate-mode verifier (CLI and library), and independently by Python
 * `cryptography` (DSSE signature over the PAE with the leaf's key, chain order) and by
 * `openssl verify -x509_strict` (the chain itself).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyModel } from '../../src/provenance/index.ts';
import { CLI, runConfide } from '../fixtures/cli.ts';
import { readVectorText } from './vectors.ts';

const PY = fileURLToPath(new URL('../fixtures/verify_dsse_bundle.py', import.meta.url));
let dir: string;

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function pemToDerBase64(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

function issue(name: string, issuer: string | undefined, ext: string): void {
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  writeFileSync(join(dir, `${name}.ext`), ext);
  if (issuer === undefined) {
    openssl(
      'req',
      '-x509',
      '-new',
      '-key',
      `${name}.key`,
      '-subj',
      `/CN=${name}`,
      '-days',
      '3650',
      '-sha256',
      '-extensions',
      'v3',
      '-config',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
    return;
  }
  openssl('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`);
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${issuer}.pem`,
    '-CAkey',
    `${issuer}.key`,
    '-set_serial',
    String(Date.now()),
    '-days',
    '365',
    '-sha256',
    '-extfile',
    `${name}.ext`,
    '-extensions',
    'v3',
    '-out',
    `${name}.pem`,
  );
}

beforeAll(() => {
  expect(existsSync(CLI), `${CLI} is missing: run npx tsup`).toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'confide-certsign-'));
  const ca = (pathlen: string) =>
    `[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:TRUE${pathlen}\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n`;
  issue('root', undefined, ca(''));
  issue('intermediate', 'root', `${ca(',pathlen:0')}authorityKeyIdentifier=keyid\n`);
  issue(
    'leaf',
    'intermediate',
    '[v3]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectAltName=email:signer@hospital.example\nauthorityKeyIdentifier=keyid\n',
  );
  mkdirSync(join(dir, 'model'));
  writeFileSync(
    join(dir, 'model', 'weights.bin'),
    new Uint8Array(4096).map((_, i) => i % 253),
  );
  writeFileSync(join(dir, 'model', 'config.json'), '{"layers": 3}\n');
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('sign-model --certificate --chain (model_signing certificate mode)', () => {
  it('the test PKI is valid for OpenSSL in strict mode', () => {
    expect(
      openssl('verify', '-x509_strict', '-CAfile', 'root.pem', '-untrusted', 'intermediate.pem', 'leaf.pem'),
    ).toContain('leaf.pem: OK');
  });

  it('writes the bundle model_signing writes, and it verifies in confide and independently', async () => {
    const run = await runConfide(
      dir,
      'provenance',
      'sign-model',
      'model',
      '--key',
      'leaf.key',
      '--certificate',
      'leaf.pem',
      '--chain',
      'intermediate.pem',
      '--out',
      'model/model.sig',
    );
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/certificate mode, 2 certificate\(s\), key SHA256-SPKI:[0-9a-f]{64}\)/);
    const text = readFileSync(join(dir, 'model', 'model.sig'), 'utf8');
    const bundle = JSON.parse(text);
    // Same shape and key order as model_signing 1.1's own certificate-mode bundle.
    const reference = JSON.parse(readVectorText('model-signing/scripts/tests/v1.1.0-certificate/model.sig'));
    expect(Object.keys(bundle)).toEqual(Object.keys(reference));
    expect(Object.keys(bundle.verificationMaterial)).toEqual(Object.keys(reference.verificationMaterial));
    expect(Object.keys(bundle.dsseEnvelope)).toEqual(Object.keys(reference.dsseEnvelope));
    expect(bundle.mediaType).toBe(reference.mediaType);
    expect(bundle.verificationMaterial.tlogEntries).toEqual([]);
    expect(bundle.verificationMaterial.x509CertificateChain.certificates).toEqual([
      { rawBytes: pemToDerBase64(readFileSync(join(dir, 'leaf.pem'), 'utf8')) },
      { rawBytes: pemToDerBase64(readFileSync(join(dir, 'intermediate.pem'), 'utf8')) },
    ]);
    expect(text.endsWith('}')).toBe(true); // compact, no trailing newline, as model_signing writes

    // confide's existing certificate-mode verifier: CLI and library.
    const verified = await runConfide(
      dir,
      'provenance',
      'verify-model',
      'model',
      '--signature',
      'model/model.sig',
      '--ca',
      'root.pem',
    );
    expect(verified.stderr).toBe('');
    expect(verified.stdout).toMatch(/^valid: 2 file\(s\)/m);
    const result = await verifyModel(
      { path: join(dir, 'model'), signaturePath: join(dir, 'model', 'model.sig') },
      text,
      { certificateAuthorities: readFileSync(join(dir, 'root.pem'), 'utf8') },
    );
    expect(result).toMatchObject({ valid: true, code: 'OK' });
    expect(result.files?.map((f) => f.name).sort()).toEqual(['config.json', 'weights.bin']);

    // Independent: Python cryptography checks the chain order and the DSSE signature over the PAE.
    const py = execFileSync(
      'python3',
      [PY, join(dir, 'model', 'model.sig'), join(dir, 'leaf.pem'), join(dir, 'intermediate.pem')],
      {
        encoding: 'utf8',
      },
    );
    expect(py.trim()).toBe(`ok ${result.rootDigest}`);
  });

  it('the independent check fails on a tampered signature (it can fail)', () => {
    const bundle = JSON.parse(readFileSync(join(dir, 'model', 'model.sig'), 'utf8'));
    const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8');
    bundle.dsseEnvelope.payload = Buffer.from(payload.replace('weights.bin', 'weights.bim')).toString(
      'base64',
    );
    writeFileSync(join(dir, 'tampered.sig'), JSON.stringify(bundle));
    expect(() =>
      execFileSync(
        'python3',
        [PY, join(dir, 'tampered.sig'), join(dir, 'leaf.pem'), join(dir, 'intermediate.pem')],
        {
          stdio: 'pipe',
        },
      ),
    ).toThrow();
  });

  it('is refused by confide against another root', async () => {
    openssl(
      'req',
      '-x509',
      '-new',
      '-key',
      'root.key',
      '-subj',
      '/CN=other',
      '-days',
      '30',
      '-out',
      'other.pem',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign',
    );
    const run = await runConfide(
      dir,
      'provenance',
      'verify-model',
      'model',
      '--signature',
      'model/model.sig',
      '--ca',
      'other.pem',
    );
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^confide: PROV_CERTIFICATE_/);
  });

  it('refuses a key that is not the certificate’s, a chain without --certificate, and a bundle of several leaves', async () => {
    const mismatch = await runConfide(
      dir,
      'provenance',
      'sign-model',
      'model',
      '--key',
      'intermediate.key',
      '--certificate',
      'leaf.pem',
      '--out',
      'x.sig',
    );
    expect(mismatch.exitCode).toBe(1);
    expect(mismatch.stderr).toMatch(/^confide: PROV_KEY_CERTIFICATE_MISMATCH: /);
    expect(existsSync(join(dir, 'x.sig'))).toBe(false);
    const usage = await runConfide(
      dir,
      'provenance',
      'sign-model',
      'model',
      '--key',
      'leaf.key',
      '--chain',
      'intermediate.pem',
      '--out',
      'x.sig',
    );
    expect(usage.exitCode).toBe(2);
    writeFileSync(
      join(dir, 'two.pem'),
      readFileSync(join(dir, 'leaf.pem'), 'utf8') + readFileSync(join(dir, 'intermediate.pem'), 'utf8'),
    );
    const two = await runConfide(
      dir,
      'provenance',
      'sign-model',
      'model',
      '--key',
      'leaf.key',
      '--certificate',
      'two.pem',
      '--out',
      'x.sig',
    );
    expect(two.stderr).toMatch(/^confide: PROV_SIGNING_CHAIN_INVALID: /);
  });
});
