// Certificate path validation (certificate-path.ts) against the chains of test/vectors/pki/cases.json,
// written by an independent generator (test/vectors/pki/generate.py, pyca/cryptography): each case
// must reach its expected conclusion, with its own error code, and `openssl verify -x509_strict`
// must reach the conclusion recorded for it; where OpenSSL and confide disagree, the case says why.
// The same cases run in Chromium in test/browser/provenance.test.ts.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyModelBundle } from '../../src/provenance/verify.ts';
import { type PkiCase, pkiCases } from './pki-cases.ts';

const pem = (b64: string) =>
  `-----BEGIN CERTIFICATE-----\n${(b64.match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE-----\n`;

const dir = mkdtempSync(join(tmpdir(), 'confide-pki-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `openssl verify -x509_strict` at the case's time, with the bundle's intermediates as untrusted. */
function openssl(c: PkiCase): { accepted: boolean; output: string } {
  const certs: { rawBytes: string }[] = JSON.parse(c.bundle).verificationMaterial.x509CertificateChain
    .certificates;
  const [leaf, ...rest] = certs.map((x) => pem(x.rawBytes));
  const files = {
    leaf: join(dir, `${c.id}-leaf.pem`),
    ca: join(dir, `${c.id}-ca.pem`),
    untrusted: join(dir, `${c.id}-int.pem`),
  };
  writeFileSync(files.leaf, leaf ?? '');
  writeFileSync(files.ca, c.anchors);
  writeFileSync(files.untrusted, rest.join(''));
  const args = ['verify', '-x509_strict', '-attime', String(Date.parse(c.at) / 1000), '-CAfile', files.ca];
  if (rest.length > 0) args.push('-untrusted', files.untrusted);
  try {
    return {
      accepted: true,
      output: execFileSync('openssl', [...args, files.leaf], { encoding: 'utf8', stdio: 'pipe' }),
    };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { accepted: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('test/vectors/pki: chains with one defect each, from an independent generator', () => {
  it('has at least 15 refusals, each code of certificate-path.ts among them', () => {
    const refusals = pkiCases.filter((c) => c.expected !== 'accept');
    expect(refusals.length).toBeGreaterThanOrEqual(15);
    expect(new Set(refusals.map((c) => c.expected))).toEqual(
      new Set([
        'PROV_CERT_NOT_CA',
        'PROV_CERT_PATH_LEN',
        'PROV_CERT_KEY_USAGE',
        'PROV_CERT_EXT_KEY_USAGE',
        'PROV_CERTIFICATE_USAGE',
        'PROV_CERT_CRITICAL_EXTENSION',
        'PROV_CERT_ALGORITHM_MISMATCH',
        'PROV_CERT_SIGNATURE_INVALID',
        'PROV_CERTIFICATE_CHAIN_INVALID',
        'PROV_CERT_EXPIRED',
        'PROV_CERT_NOT_YET_VALID',
        'PROV_CERT_NOT_DER',
        'PROV_CERT_DUPLICATE_EXTENSION',
        'PROV_CERT_VERSION',
        'PROV_CERTIFICATE_INVALID',
        'PROV_CERT_ALGORITHM_UNSUPPORTED',
      ]),
    );
  });

  for (const c of pkiCases) {
    it(`${c.id} → ${c.expected} (${c.description})`, async () => {
      const report = await verifyModelBundle(c.bundle, { certificateAuthorities: c.anchors });
      expect(report.valid ? 'accept' : report.code).toBe(c.expected);
      if (report.valid) {
        expect(report.rootDigest).toBe('61d4849d9d90076d6215f4d525f13d6574af8e3f67aef3e6f36fc40a14fdd226');
        // the leaf's notBefore: the signing time used
        const at = new Date(c.at).toISOString();
        expect(report.checks.some((k) => k.detail.includes(`checked at ${at}`))).toBe(true);
      } else {
        expect(report.checks.at(-1)).toMatchObject({ ok: false, code: c.expected });
      }
    });

    const agrees = (c.openssl === 'accept') === (c.expected === 'accept');
    it(`${c.id}: openssl verify -x509_strict → ${c.openssl}${agrees ? '' : ` (disagrees: ${c.why})`}`, () => {
      const result = openssl(c);
      expect(result.accepted, result.output).toBe(c.openssl === 'accept');
      if (!agrees) expect(c.why).toMatch(/\w/);
    });
  }
});
