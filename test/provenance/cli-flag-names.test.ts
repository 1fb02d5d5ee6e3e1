// One flag grammar for `confide provenance`, driven as a user drives it (the built CLI in child
// processes): `--key` is a private key in signing commands, verifying commands take
// `--public-key`; the former names (`verify-model --key`, `log verify --key`, `cosign`) still work,
// hidden from --help, with a one-line deprecation notice on stderr.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConfide } from '../fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'confide-flagnames-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const confide = (...args: string[]) => runConfide(dir, 'provenance', ...args);
const DEPRECATION = /^confide: warning: .* is deprecated.*; use .*\n$/;

beforeAll(async () => {
  mkdirSync(join(dir, 'm'));
  writeFileSync(join(dir, 'm', 'weights.bin'), 'weights');
  writeFileSync(join(dir, 'data.csv'), 'a,b\n1,2\n');
  for (const [prefix, algorithm] of [
    ['signer', 'ecdsa-p256'],
    ['second', 'ecdsa-p256'],
    ['log', 'ed25519'],
  ] as const) {
    const r = await confide('keygen', '--out', prefix, '--algorithm', algorithm);
    expect(r.exitCode, r.stderr).toBe(0);
  }
  const signed = await confide('sign-model', 'm', '--key', 'signer.key', '--out', 'm.sig');
  expect(signed.exitCode, signed.stderr).toBe(0);
});

describe('verify-model: --public-key, and --key as a deprecated alias', () => {
  it('--public-key verifies silently (nothing on stderr)', async () => {
    const r = await confide('verify-model', 'm', '--signature', 'm.sig', '--public-key', 'signer.pub');
    expect(r).toMatchObject({ exitCode: 0, stderr: '' });
    expect(r.stdout).toMatch(/^valid: 1 file\(s\)/m);
  });

  it('--key still verifies, with one deprecation line on stderr naming --public-key', async () => {
    const r = await confide('verify-model', 'm', '--signature', 'm.sig', '--key', 'signer.pub');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^valid: 1 file\(s\)/m);
    expect(r.stderr).toMatch(DEPRECATION);
    expect(r.stderr).toContain('--public-key');
    expect(r.stderr).toContain("'provenance verify-model'");
  });

  it('the alias reaches the same conclusions: a wrong key is PROV_KEY_MISMATCH either way', async () => {
    for (const flag of ['--public-key', '--key']) {
      const r = await confide('verify-model', 'm', '--signature', 'm.sig', flag, 'second.pub');
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/PROV_KEY_MISMATCH/);
    }
  });

  it('both names at once, or none of the trust flags, is a usage error (exit 2)', async () => {
    const both = await confide(
      'verify-model',
      'm',
      '--signature',
      'm.sig',
      '--public-key',
      'signer.pub',
      '--key',
      'signer.pub',
    );
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toMatch(/--public-key.*--key/);
    const none = await confide('verify-model', 'm', '--signature', 'm.sig');
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(/--public-key \(key mode\)/);
  });

  it('--help lists --public-key and hides the deprecated --key', async () => {
    const r = await confide('verify-model', '--help');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/--public-key <file>/);
    expect(r.stdout).not.toMatch(/--key <file>/);
  });
});

describe('log verify: --public-key, and --key as a deprecated alias', () => {
  beforeAll(async () => {
    const a = await confide(
      'log',
      'append',
      'lg',
      'data.csv',
      '--key',
      'log.key',
      '--origin',
      'confide.test/names',
    );
    expect(a.exitCode, a.stderr).toBe(0);
    const p = await confide('log', 'prove', 'lg', '--index', '0', '--out', 'proof.json');
    expect(p.exitCode, p.stderr).toBe(0);
  });

  it('a proof verifies with --public-key (silent) and with --key (notice)', async () => {
    const now = await confide('log', 'verify', 'proof.json', '--public-key', 'log.pub', '--file', 'data.csv');
    expect(now).toMatchObject({ exitCode: 0, stderr: '' });
    const old = await confide('log', 'verify', 'proof.json', '--key', 'log.pub', '--file', 'data.csv');
    expect(old.exitCode).toBe(0);
    expect(old.stdout).toBe(now.stdout);
    expect(old.stderr).toMatch(DEPRECATION);
    expect(old.stderr).toContain("'provenance log verify'");
  });

  it('a log directory checked against another key fails the same way under both names', async () => {
    for (const flag of ['--public-key', '--key']) {
      const r = await confide('log', 'verify', 'lg', flag, 'second.pub');
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/PROV_/);
    }
  });
});

describe('lineage: countersign, and cosign as a deprecated alias', () => {
  it('countersign adds a signature silently; cosign still does, with a notice; help lists only countersign', async () => {
    const a = await confide(
      'attest',
      'dataset-snapshot',
      '--output',
      'data.csv',
      '--key',
      'signer.key',
      '--out',
      'a.json',
    );
    expect(a.exitCode, a.stderr).toBe(0);
    const c = await confide('countersign', 'a.json', '--key', 'second.key', '--out', 'b.json');
    expect(c).toMatchObject({ exitCode: 0, stderr: '' });
    expect(c.stdout).toMatch(/^2 signature\(s\)/);
    expect(JSON.parse(readFileSync(join(dir, 'b.json'), 'utf8')).signatures).toHaveLength(2);

    const old = await confide('cosign', 'a.json', '--key', 'second.key', '--out', 'c.json');
    expect(old.exitCode).toBe(0);
    expect(old.stdout).toMatch(/^2 signature\(s\)/);
    expect(old.stderr).toMatch(DEPRECATION);
    expect(old.stderr).toContain('countersign');
    // The same signer twice is still refused under either name.
    const again = await confide('cosign', 'b.json', '--key', 'second.key');
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/PROV_KEY_INVALID/);

    const verified = await confide(
      'verify',
      'c.json',
      '--trusted-key',
      'signer.pub',
      '--trusted-key',
      'second.pub',
    );
    expect(verified.exitCode, verified.stdout).toBe(0);

    const help = await confide('--help');
    expect(help.stdout).toMatch(/^\s+countersign /m);
    expect(help.stdout).not.toMatch(/^\s+cosign /m);
  });
});
