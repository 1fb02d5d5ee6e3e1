// Certificate mode (certificate-bundle.ts, certificate-path.ts, x509.ts) on model_signing's real
// certificate fixtures and edits of them: every certificate case of cases.json and every refusal
// reaches its conclusion, the deprecated `…Async` name is the same function, and the certificate
// fields PKI.js reads are those Node's X509Certificate (OpenSSL) reads.

import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyModelBundleWithCertificates } from '../../src/provenance/model-signing/verify-certificate-bundle.ts';
import { fingerprint256, parseCertificate, pemCertificates } from '../../src/provenance/pki/x509.ts';
import { cases, readVectorText } from './vectors.ts';

const KEYS = 'model-signing/scripts/tests/keys/certificate';
const ROOT = readVectorText(`${KEYS}/ca-cert.pem`);
const BUNDLE = readVectorText('model-signing/scripts/tests/v1.1.0-certificate/model.sig');

type Outcome = { ok: unknown } | { code: string; fields?: unknown };

async function settle(work: () => unknown): Promise<Outcome> {
  try {
    return { ok: JSON.parse(JSON.stringify(await work())) };
  } catch (error) {
    const e = error as { code?: string; fields?: unknown };
    return JSON.parse(JSON.stringify({ code: e.code ?? String(error), fields: e.fields }));
  }
}

/** The bundle with its certificate chain edited. */
function withChain(edit: (certs: { rawBytes: string }[]) => void): string {
  const b = JSON.parse(BUNDLE);
  edit(b.verificationMaterial.x509CertificateChain.certificates);
  return JSON.stringify(b);
}

function flipLeafSignatureByte(certs: { rawBytes: string }[]): void {
  const first = certs[0] as { rawBytes: string };
  const leaf = Buffer.from(first.rawBytes, 'base64');
  leaf[leaf.length - 10] = (leaf[leaf.length - 10] ?? 0) ^ 0xff;
  first.rawBytes = leaf.toString('base64');
}

const variants: { id: string; bundle: string; anchors: string; at?: Date; code?: string }[] = [
  ...cases.cases
    .filter((c) => c.method === 'certificate')
    .map((c) => ({
      id: c.id,
      bundle: readVectorText(c.bundle),
      anchors: (c.trust_anchors ?? []).map((p) => readVectorText(p)).join('\n'),
      ...(c.legacy === true ? { code: 'PROV_SIGNATURE_INVALID' } : {}),
    })),
  {
    id: 'the leaf as anchor',
    bundle: BUNDLE,
    anchors: readVectorText(`${KEYS}/signing-key-cert.pem`),
    code: 'PROV_CERTIFICATE_CHAIN_INVALID',
  },
  { id: 'the intermediate as anchor', bundle: BUNDLE, anchors: readVectorText(`${KEYS}/int-ca-cert.pem`) },
  {
    id: 'no intermediate in the bundle',
    bundle: withChain((c) => c.splice(1, 1)),
    anchors: ROOT,
    code: 'PROV_CERTIFICATE_CHAIN_INVALID',
  },
  {
    id: 'the intermediate before the leaf',
    bundle: withChain((c) => c.reverse()),
    anchors: ROOT,
    code: 'PROV_CERT_KEY_USAGE', // the intermediate signs nothing but certificates
  },
  {
    id: 'in 2036',
    bundle: BUNDLE,
    anchors: ROOT,
    at: new Date('2036-01-01T00:00:00Z'),
    code: 'PROV_CERT_EXPIRED',
  },
  {
    id: 'in 2024',
    bundle: BUNDLE,
    anchors: ROOT,
    at: new Date('2024-01-01T00:00:00Z'),
    code: 'PROV_CERT_NOT_YET_VALID',
  },
  { id: 'in 2030', bundle: BUNDLE, anchors: ROOT, at: new Date('2030-01-01T00:00:00Z') },
  {
    id: 'a leaf with a broken signature',
    bundle: withChain(flipLeafSignatureByte),
    anchors: ROOT,
    code: 'PROV_CERT_SIGNATURE_INVALID',
  },
  {
    id: 'a leaf that is not a certificate',
    bundle: withChain((c) => {
      (c[0] as { rawBytes: string }).rawBytes = 'AAAA';
    }),
    anchors: ROOT,
    code: 'PROV_CERTIFICATE_INVALID',
  },
  { id: 'no anchor', bundle: BUNDLE, anchors: 'no PEM here', code: 'PROV_CERTIFICATE_INVALID' },
  {
    id: 'a key-mode bundle',
    bundle: readVectorText('model-signing/scripts/tests/v1.1.0-elliptic-key/model.sig'),
    anchors: ROOT,
    code: 'PROV_KEY_MATERIAL_UNSUPPORTED',
  },
  {
    id: 'a keyless bundle',
    bundle: readVectorText('model-signing/scripts/tests/v1.1.0-sigstore/model.sig'),
    anchors: ROOT,
    code: 'PROV_KEY_MATERIAL_UNSUPPORTED',
  },
  {
    id: 'a tampered payload',
    bundle: (() => {
      const b = JSON.parse(BUNDLE);
      const payload = Buffer.from(b.dsseEnvelope.payload, 'base64')
        .toString('utf8')
        .replace('signme-1', 'signme-9');
      b.dsseEnvelope.payload = Buffer.from(payload).toString('base64');
      return JSON.stringify(b);
    })(),
    anchors: ROOT,
    code: 'PROV_SIGNATURE_INVALID',
  },
  { id: 'not JSON', bundle: '{', anchors: ROOT, code: 'PROV_BUNDLE_UNPARSABLE' },
];

describe('certificate mode on the model_signing fixtures and edits of them', () => {
  for (const v of variants) {
    it(`${v.id} → ${v.code ?? 'accept'}`, async () => {
      const options = v.at === undefined ? {} : { at: v.at };
      const outcome = await settle(() => verifyModelBundleWithCertificates(v.bundle, v.anchors, options));
      if (v.code === undefined) {
        expect(outcome).toMatchObject({
          ok: { keyMaterial: 'certificate-chain', certificate: { subject: 'CN=intermediate-ca' } },
        });
      } else {
        expect(outcome).toMatchObject({ code: v.code });
      }
    });
  }

  it('refuses arguments that are not PEM text or a valid Date with INVALID_ARGUMENT', async () => {
    await expect(verifyModelBundleWithCertificates(BUNDLE, 42 as unknown as string)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(
      verifyModelBundleWithCertificates(BUNDLE, ROOT, { at: new Date('not a date') }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('x509.ts reads certificates as Node reads them', () => {
  const trustedRoot = JSON.parse(readVectorText('sigstore/trusted_root.json')) as {
    certificateAuthorities: { certChain: { certificates: { rawBytes: string }[] } }[];
    timestampAuthorities: { certChain: { certificates: { rawBytes: string }[] } }[];
  };
  const ders = [
    ...['ca-cert.pem', 'int-ca-cert.pem', 'signing-key-cert.pem'].flatMap((f) =>
      pemCertificates(readVectorText(`${KEYS}/${f}`)),
    ),
    ...[...trustedRoot.certificateAuthorities, ...trustedRoot.timestampAuthorities].flatMap((a) =>
      a.certChain.certificates.map((c) => new Uint8Array(Buffer.from(c.rawBytes, 'base64'))),
    ),
    new Uint8Array(
      Buffer.from(
        JSON.parse(readVectorText('model-signing/scripts/tests/v1.1.0-sigstore/model.sig'))
          .verificationMaterial.certificate.rawBytes,
        'base64',
      ),
    ),
  ];

  it('names, serial, validity, fingerprint, CA flag and extended key usage of every vector certificate', async () => {
    expect(ders.length).toBeGreaterThanOrEqual(9);
    for (const der of ders) {
      const node = new X509Certificate(der);
      const ours = await parseCertificate(der);
      const caFlag =
        ours.basicConstraints?.ca === true && (ours.keyUsage === undefined || ours.keyUsage[5] === true);
      expect({
        subject: ours.subject === '' ? undefined : ours.subject, // Node: undefined for an empty name (Fulcio leaves)
        issuer: ours.issuer,
        serialNumber: ours.serialNumber,
        notBefore: ours.notBefore.getTime(),
        notAfter: ours.notAfter.getTime(),
        fingerprint256: fingerprint256(der),
        ca: caFlag,
        eku: ours.extKeyUsage,
      }).toEqual({
        subject: node.subject,
        issuer: node.issuer,
        serialNumber: node.serialNumber,
        notBefore: node.validFromDate.getTime(),
        notAfter: node.validToDate.getTime(),
        fingerprint256: node.fingerprint256,
        ca: node.ca,
        eku: node.keyUsage,
      });
    }
  });

  it('refuses what is not a certificate with PROV_CERTIFICATE_INVALID, BER with PROV_CERT_NOT_DER', async () => {
    const leaf = ders[2] as Uint8Array;
    for (const bad of [new Uint8Array(0), leaf.subarray(0, leaf.length - 1), new Uint8Array([0x30, 0x00])]) {
      await expect(parseCertificate(bad)).rejects.toMatchObject({ code: 'PROV_CERTIFICATE_INVALID' });
    }
    const trailing = new Uint8Array([...leaf, 0x00, 0x00]);
    await expect(parseCertificate(trailing)).rejects.toMatchObject({ code: 'PROV_CERT_NOT_DER' });
  });

  it('keeps recently parsed certificates by SHA-256, copied from the bytes the caller gave', async () => {
    const der = new Uint8Array(ders[1] as Uint8Array);
    const first = await parseCertificate(der);
    expect(await parseCertificate(new Uint8Array(der))).toBe(first);
    der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 1; // the caller edits its bytes afterwards
    expect(first.der).toEqual(ders[1]);
    expect(first.fingerprint256).toBe(fingerprint256(ders[1] as Uint8Array));
    expect(await parseCertificate(der)).not.toBe(first);
  });

  it('reads the critical flag of every extension and the decoded values path validation needs', async () => {
    const leaf = await parseCertificate(ders[2] as Uint8Array);
    expect(leaf.extensions).toEqual([
      { oid: '2.5.29.19', critical: true },
      { oid: '2.5.29.37', critical: false },
      { oid: '2.5.29.15', critical: true },
      { oid: '2.5.29.14', critical: false },
      { oid: '2.5.29.35', critical: false },
    ]);
    expect(leaf.basicConstraints).toEqual({ ca: true, pathLen: undefined });
    expect(leaf.keyUsage?.slice(0, 6)).toEqual([true, false, false, false, false, false]);
    expect(leaf.algorithmsMatch).toBe(true);
    expect(leaf.version).toBe(2);
    const issuer = await parseCertificate(ders[1] as Uint8Array);
    expect(leaf.authorityKeyId).toEqual(issuer.subjectKeyId);
    expect(Buffer.from(issuer.subjectKeyId ?? []).toString('hex')).toBe(
      'f18f8cbd85b6e8c01b8ae60685db169ee994d332',
    );
  });
});
