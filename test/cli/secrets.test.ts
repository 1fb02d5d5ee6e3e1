/**
 * Keys are never lost by a second run, and private keys can be kept encrypted at rest: the built
 * CLI against real files, with OpenSSL as the independent reader and writer of encrypted PKCS#8.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainLogistic } from '../../src/demo/train.ts';
import { CLI, type CliRun, runConfide } from '../fixtures/cli.ts';
import { loadDataset } from '../fixtures/data.ts';

let dir: string;
const PASSWORD = 'correct horse battery staple';

function confide(...args: string[]): Promise<CliRun> {
  return runConfide(dir, ...args);
}

async function withPasswordEnv<T>(value: string | undefined, run: () => Promise<T>): Promise<T> {
  const saved = process.env.CONFIDE_KEY_PASSWORD;
  if (value === undefined) delete process.env.CONFIDE_KEY_PASSWORD;
  else process.env.CONFIDE_KEY_PASSWORD = value;
  try {
    return await run();
  } finally {
    if (saved === undefined) delete process.env.CONFIDE_KEY_PASSWORD;
    else process.env.CONFIDE_KEY_PASSWORD = saved;
  }
}

function ok(run: CliRun): CliRun {
  expect(run.stderr).toBe('');
  expect(run.exitCode).toBe(0);
  return run;
}

function failsWith(run: CliRun, code: string): string {
  expect(run.exitCode, run.stderr).toBe(1);
  const lines = run.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]?.startsWith(`confide: ${code}: `), lines[0]).toBe(true);
  return lines[0] as string;
}

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

beforeAll(async () => {
  expect(existsSync(CLI), `${CLI} is missing: run npx tsup`).toBe(true);
  dir = await mkdtemp(join(tmpdir(), 'confide-secrets-'));
  const breast = loadDataset('breast-cancer-wisconsin');
  const model = trainLogistic(breast.x, breast.y, {
    features: breast.features,
    classes: ['malignant', 'benign'],
  });
  await writeFile(join(dir, 'model.json'), JSON.stringify(model));
  await writeFile(join(dir, 'pw'), `${PASSWORD}\n`);
  await writeFile(join(dir, 'wrong-pw'), 'Tr0ub4dor&3\n');
  await writeFile(join(dir, 'artifact.txt'), 'rows\n');
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('he keygen never replaces a secret key without --force', () => {
  it('refuses a second run before generating anything, keeps the key byte for byte, and --force replaces it', async () => {
    ok(await confide('he', 'keygen', '--model', 'model.json', '--out', 'keys', '--layout', 'batch'));
    const secret = readFileSync(join(dir, 'keys', 'secret.key'));
    const evaluation = readFileSync(join(dir, 'keys', 'evaluation.keys'));
    const started = performance.now();
    const again = await confide(
      'he',
      'keygen',
      '--model',
      'model.json',
      '--out',
      'keys',
      '--layout',
      'batch',
    );
    const line = failsWith(again, 'HE_FILE_EXISTS');
    expect(line).toContain("'keys/secret.key'");
    expect(line).toContain('--force');
    expect(performance.now() - started).toBeLessThan(5000); // refused before key generation
    expect(readFileSync(join(dir, 'keys', 'secret.key')).equals(secret)).toBe(true);
    expect(readFileSync(join(dir, 'keys', 'evaluation.keys')).equals(evaluation)).toBe(true);
    expect(readdirSync(join(dir, 'keys')).sort()).toEqual(['evaluation.keys', 'secret.key']);

    ok(
      await confide('he', 'keygen', '--model', 'model.json', '--out', 'keys', '--layout', 'batch', '--force'),
    );
    expect(readFileSync(join(dir, 'keys', 'secret.key')).equals(secret)).toBe(false);
    expect(statSync(join(dir, 'keys', 'secret.key')).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, 'keys')).sort()).toEqual(['evaluation.keys', 'secret.key']);
  }, 120_000);
});

describe('provenance keygen: encrypted PKCS#8, never replaced without --force', () => {
  it('--password-file writes PBES2 (scrypt, AES-256-CBC) that OpenSSL decrypts to the same key', async () => {
    const run = ok(await confide('provenance', 'keygen', '--out', 'signer', '--password-file', 'pw'));
    expect(run.stdout).not.toContain(PASSWORD);
    const pem = readFileSync(join(dir, 'signer.key'), 'utf8');
    expect(pem.startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----\n')).toBe(true);
    expect(statSync(join(dir, 'signer.key')).mode & 0o777).toBe(0o600);
    const parsed = openssl('asn1parse', '-in', 'signer.key');
    expect(parsed).toContain(':PBES2');
    expect(parsed).toContain(':scrypt');
    expect(parsed).toContain(':aes-256-cbc');
    // OpenSSL derives the public key from the decrypted private key: it is the .pub written.
    expect(openssl('pkey', '-in', 'signer.key', '-passin', 'file:pw', '-pubout')).toBe(
      readFileSync(join(dir, 'signer.pub'), 'utf8'),
    );
    expect(() => openssl('pkey', '-in', 'signer.key', '-passin', 'file:wrong-pw', '-pubout')).toThrow();
  });

  it('refuses to replace an existing key (and its .pub) without --force', async () => {
    const before = readFileSync(join(dir, 'signer.key'), 'utf8');
    const line = failsWith(await confide('provenance', 'keygen', '--out', 'signer'), 'PROV_FILE_EXISTS');
    expect(line).toContain("'signer.key'");
    expect(line).toContain('--force');
    expect(readFileSync(join(dir, 'signer.key'), 'utf8')).toBe(before);
    // Only the .pub left over from an earlier run: still refused (a .pub must match its key).
    ok(await confide('provenance', 'keygen', '--out', 'lonely'));
    await rm(join(dir, 'lonely.key'));
    failsWith(await confide('provenance', 'keygen', '--out', 'lonely'), 'PROV_FILE_EXISTS');
    ok(await confide('provenance', 'keygen', '--out', 'lonely', '--force'));
    expect(existsSync(join(dir, 'lonely.key'))).toBe(true);
  });

  it('every command reading the key takes --password-file or CONFIDE_KEY_PASSWORD; missing or wrong is coded and never echoed', async () => {
    await withPasswordEnv(undefined, async () => {
      const missing = await confide(
        'provenance',
        'attest',
        'dataset-snapshot',
        '--output',
        'artifact.txt',
        '--key',
        'signer.key',
        '--out',
        'a.json',
      );
      expect(failsWith(missing, 'PROV_KEY_ENCRYPTED')).toContain('--password-file');
      const wrong = await confide(
        'provenance',
        'attest',
        'dataset-snapshot',
        '--output',
        'artifact.txt',
        '--key',
        'signer.key',
        '--password-file',
        'wrong-pw',
        '--out',
        'a.json',
      );
      failsWith(wrong, 'PROV_KEY_PASSWORD');
      expect(wrong.stderr).not.toContain('Tr0ub4dor');
      await writeFile(join(dir, 'empty-pw'), '\n');
      failsWith(
        await confide(
          'provenance',
          'attest',
          'dataset-snapshot',
          '--output',
          'artifact.txt',
          '--key',
          'signer.key',
          '--password-file',
          'empty-pw',
          '--out',
          'a.json',
        ),
        'PROV_KEY_PASSWORD',
      );
      expect(existsSync(join(dir, 'a.json'))).toBe(false);
      ok(
        await confide(
          'provenance',
          'attest',
          'dataset-snapshot',
          '--output',
          'artifact.txt',
          '--key',
          'signer.key',
          '--password-file',
          'pw',
          '--out',
          'a.json',
        ),
      );
    });
    ok(await confide('provenance', 'keygen', '--out', 'second', '--password-file', 'pw'));
    await withPasswordEnv('not it', async () => {
      const wrong = await confide(
        'provenance',
        'countersign',
        'a.json',
        '--key',
        'second.key',
        '--out',
        'b.json',
      );
      failsWith(wrong, 'PROV_KEY_PASSWORD');
      expect(wrong.stderr).not.toContain('not it');
    });
    await withPasswordEnv(PASSWORD, async () => {
      ok(await confide('provenance', 'countersign', 'a.json', '--key', 'second.key', '--out', 'b.json'));
      ok(await confide('provenance', 'fingerprint', 'signer.key'));
    });
    const verified = await confide('provenance', 'verify', 'b.json', '--trusted-key', 'second.pub');
    expect(verified.exitCode, verified.stderr).toBe(0);
  });

  it('reads keys OpenSSL encrypted (PBKDF2, its default) and signs model_signing bundles with them', async () => {
    openssl(
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-384',
      '-aes-256-cbc',
      '-pass',
      'file:pw',
      '-out',
      'ossl.key',
    );
    expect(openssl('asn1parse', '-in', 'ossl.key')).toContain(':PBKDF2');
    writeFileSync(join(dir, 'ossl.pub'), openssl('pkey', '-in', 'ossl.key', '-passin', 'file:pw', '-pubout'));
    await rm(join(dir, 'm'), { recursive: true, force: true });
    execFileSync('mkdir', [join(dir, 'm')]);
    writeFileSync(join(dir, 'm', 'w.bin'), 'weights');
    ok(
      await confide(
        'provenance',
        'sign-model',
        'm',
        '--key',
        'ossl.key',
        '--password-file',
        'pw',
        '--out',
        'm.sig',
      ),
    );
    const verified = ok(
      await confide('provenance', 'verify-model', 'm', '--signature', 'm.sig', '--public-key', 'ossl.pub'),
    );
    expect(verified.stdout).toContain('key fingerprint (SHA256-PEM): ');
  });
});

describe('provenance fingerprint: both conventions, labelled', () => {
  it('SHA256-SPKI is the SHA-256 of the DER SPKI (as OpenSSL writes it) and the lineage keyid; SHA256-PEM is the model_signing hint', async () => {
    const der = execFileSync('openssl', ['pkey', '-pubin', '-in', 'signer.pub', '-outform', 'DER'], {
      cwd: dir,
    });
    const spki = sha256(der);
    const pem = sha256(readFileSync(join(dir, 'signer.pub'), 'utf8'));
    expect(spki).not.toBe(pem);
    const out = ok(await confide('provenance', 'fingerprint', 'signer.pub')).stdout;
    expect(out).toContain(`SHA256-SPKI:${spki}  (canonical`);
    expect(out).toContain(`SHA256-PEM:${pem}  (the model_signing key hint`);
    // The same from the (encrypted) private key, and as JSON.
    const json = JSON.parse(
      ok(await confide('provenance', 'fingerprint', 'signer.key', '--password-file', 'pw', '--json')).stdout,
    );
    expect(json).toEqual({ algorithm: 'ecdsa-p256', sha256Spki: spki, sha256Pem: pem });
    // keygen prints the same labelled lines.
    const keygen = ok(await confide('provenance', 'keygen', '--out', 'fresh')).stdout;
    const freshDer = execFileSync('openssl', ['pkey', '-pubin', '-in', 'fresh.pub', '-outform', 'DER'], {
      cwd: dir,
    });
    expect(keygen).toContain(`SHA256-SPKI:${sha256(freshDer)}`);
    // Lineage names the signer by the canonical form.
    const envelope = JSON.parse(readFileSync(join(dir, 'a.json'), 'utf8'));
    expect(envelope.signatures[0].keyid).toBe(spki);
    // A model_signing key-mode bundle's hint is the PEM form.
    ok(
      await confide(
        'provenance',
        'sign-model',
        'm',
        '--key',
        'signer.key',
        '--password-file',
        'pw',
        '--out',
        's2.sig',
      ),
    );
    const bundle = JSON.parse(readFileSync(join(dir, 's2.sig'), 'utf8'));
    expect(bundle.verificationMaterial.publicKey.hint).toBe(pem);
    // verify-model names the key by both forms, each labelled.
    const verified = ok(
      await confide('provenance', 'verify-model', 'm', '--signature', 's2.sig', '--public-key', 'signer.pub'),
    );
    expect(verified.stdout).toContain(`key fingerprint (SHA256-SPKI): ${spki}`);
    expect(verified.stdout).toContain(`key fingerprint (SHA256-PEM): ${pem}`);
  });

  it('reads a certificate too', async () => {
    openssl(
      'req',
      '-x509',
      '-new',
      '-key',
      'fresh.key',
      '-subj',
      '/CN=fresh',
      '-days',
      '1',
      '-out',
      'fresh.crt',
    );
    const out = ok(await confide('provenance', 'fingerprint', 'fresh.crt')).stdout;
    const freshDer = execFileSync('openssl', ['pkey', '-pubin', '-in', 'fresh.pub', '-outform', 'DER'], {
      cwd: dir,
    });
    expect(out).toContain(`SHA256-SPKI:${sha256(freshDer)}`);
  });
});
