import { describe, expect, it } from 'vitest';
import { verifyModel, verifyModelBundle } from '../../src/provenance/index.ts';
import { cases, readVector, readVectorText, type VectorCase, vectorPath } from './vectors.ts';

const KEYS = 'model-signing/scripts/tests/keys/certificate';
const certCases = cases.cases.filter((c) => c.method === 'certificate');

function anchorsOf(c: VectorCase): string {
  return (c.trust_anchors ?? []).map((p) => readVectorText(p)).join('\n');
}

describe('cases.json, method certificate: every case reaches its expected conclusion', () => {
  it('has the six certificate-mode cases', () => {
    expect(certCases.map((c) => c.id)).toEqual([
      'model-signing/v0.2.0-certificate',
      'model-signing/v0.3.1-certificate',
      'model-signing/v1.0.0-certificate',
      'model-signing/v1.0.1-certificate',
      'model-signing/v1.1.0-certificate',
      'oms/valid/certificate',
    ]);
  });

  for (const c of certCases) {
    if (c.legacy === true) {
      // cases.json: "accept with legacy support; reject if only OMS v1.0 is supported". This
      // verifier supports OMS v1.0 only (a recorded policy choice): the v0.2 PAE does not verify.
      it(`${c.id} → reject (legacy v0.2 format not supported: PROV_SIGNATURE_INVALID)`, async () => {
        const report = await verifyModel(
          { path: vectorPath(c.model ?? ''), signaturePath: vectorPath(c.bundle) },
          readVector(c.bundle),
          { certificateAuthorities: anchorsOf(c) },
        );
        expect(report).toMatchObject({ valid: false, code: 'PROV_SIGNATURE_INVALID' });
        expect(report.checks.at(-1)).toMatchObject({ ok: false, code: 'PROV_SIGNATURE_INVALID' });
      });
      continue;
    }
    it(`${c.id} → accept`, async () => {
      expect(c.expected).toBe('accept');
      const result = await verifyModel(
        {
          path: vectorPath(c.model ?? ''),
          ignorePaths: c.extra_ignore_paths ?? [],
          signaturePath: vectorPath(c.bundle),
        },
        readVector(c.bundle),
        { certificateAuthorities: anchorsOf(c) },
      );
      expect(result).toMatchObject({ valid: true, code: 'OK', mode: 'certificate' });
      expect(result.rootDigest).toBe(c.root_digest);
      expect(result.signers[0]).toMatchObject({
        kind: 'certificate',
        subject: 'CN=intermediate-ca',
        algorithm: 'ecdsa-p384',
      });
      // the chain was checked at the leaf's notBefore
      expect(result.checks.some((k) => k.detail.includes('checked at 2025-05-02T23:36:28.000Z'))).toBe(true);
      expect(result.files?.length).toBeGreaterThan(0);
      expect(result.files?.every((f) => f.status === 'ok')).toBe(true);
    });
  }
});

describe('certificate-mode refusals', () => {
  const bundle = readVectorText('model-signing/scripts/tests/v1.1.0-certificate/model.sig');
  const root = readVectorText(`${KEYS}/ca-cert.pem`);
  /** Steps 1–7 in certificate mode: the report's code (`OK` when accepted). */
  const codeOf = async (b: Uint8Array | string, cas: string, at?: Date) => {
    const report = await verifyModelBundle(
      b,
      at === undefined ? { certificateAuthorities: cas } : { certificateAuthorities: cas, at },
    );
    if (!report.valid) expect(report.checks.at(-1)).toMatchObject({ ok: false, code: report.code });
    return report.code;
  };

  it('an anchor that did not issue the chain → PROV_CERTIFICATE_CHAIN_INVALID', async () => {
    expect(await codeOf(bundle, readVectorText(`${KEYS}/signing-key-cert.pem`))).toBe(
      'PROV_CERTIFICATE_CHAIN_INVALID',
    );
  });

  it('a chain without its intermediate → PROV_CERTIFICATE_CHAIN_INVALID', async () => {
    const b = JSON.parse(bundle);
    b.verificationMaterial.x509CertificateChain.certificates.splice(1, 1);
    expect(await codeOf(JSON.stringify(b), root)).toBe('PROV_CERTIFICATE_CHAIN_INVALID');
  });

  it('the intermediate as anchor is enough (it issued the leaf)', async () => {
    const v = await verifyModelBundle(bundle, {
      certificateAuthorities: readVectorText(`${KEYS}/int-ca-cert.pem`),
    });
    expect(v.valid).toBe(true);
    expect(v.rootDigest).toBe('61d4849d9d90076d6215f4d525f13d6574af8e3f67aef3e6f36fc40a14fdd226');
  });

  it('after the validity window → PROV_CERT_EXPIRED, before it → PROV_CERT_NOT_YET_VALID', async () => {
    expect(await codeOf(bundle, root, new Date('2036-01-01T00:00:00Z'))).toBe('PROV_CERT_EXPIRED');
    expect(await codeOf(bundle, root, new Date('2025-05-02T23:36:27Z'))).toBe('PROV_CERT_NOT_YET_VALID');
  });

  it('a corrupted leaf → PROV_CERT_SIGNATURE_INVALID or PROV_CERTIFICATE_INVALID, never acceptance', async () => {
    const b = JSON.parse(bundle);
    const leaf = Buffer.from(b.verificationMaterial.x509CertificateChain.certificates[0].rawBytes, 'base64');
    leaf[leaf.length - 10]! ^= 0xff; // inside the signature value
    b.verificationMaterial.x509CertificateChain.certificates[0].rawBytes = leaf.toString('base64');
    expect(await codeOf(JSON.stringify(b), root)).toBe('PROV_CERT_SIGNATURE_INVALID');
    b.verificationMaterial.x509CertificateChain.certificates[0].rawBytes = 'AAAA';
    expect(await codeOf(JSON.stringify(b), root)).toBe('PROV_CERTIFICATE_INVALID');
  });

  it('key-mode and keyless bundles → PROV_KEY_MATERIAL_UNSUPPORTED', async () => {
    for (const path of [
      'model-signing/scripts/tests/v1.1.0-elliptic-key/model.sig',
      'model-signing/scripts/tests/v1.1.0-sigstore/model.sig',
    ]) {
      expect(await codeOf(readVector(path), root), path).toBe('PROV_KEY_MATERIAL_UNSUPPORTED');
    }
  });

  it('a tampered payload still fails at the signature step', async () => {
    const b = JSON.parse(bundle);
    const payload = Buffer.from(b.dsseEnvelope.payload, 'base64')
      .toString('utf8')
      .replace('signme-1', 'signme-9');
    b.dsseEnvelope.payload = Buffer.from(payload).toString('base64');
    expect(await codeOf(JSON.stringify(b), root)).toBe('PROV_SIGNATURE_INVALID');
  });
});
