// Certificate mode without node:crypto (certificate-webcrypto.ts, x509.ts) against the Node verifier
// (certificate.ts, OpenSSL through X509Certificate): every certificate case of cases.json and every
// refusal must reach the same conclusion, and the certificate fields must read as Node reads them.

import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyModelBundleWithCertificates } from '../../src/provenance/certificate.ts';
import { verifyModelBundleWithCertificatesAsync } from '../../src/provenance/certificate-webcrypto.ts';
import { fingerprint256, parseCertificate, pemCertificates } from '../../src/provenance/x509.ts';
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
    code: 'PROV_CERTIFICATE_USAGE',
  },
  {
    id: 'in 2036',
    bundle: BUNDLE,
    anchors: ROOT,
    at: new Date('2036-01-01T00:00:00Z'),
    code: 'PROV_CERTIFICATE_NOT_VALID_AT_TIME',
  },
  { id: 'in 2030', bundle: BUNDLE, anchors: ROOT, at: new Date('2030-01-01T00:00:00Z') },
  {
    id: 'a leaf with a broken signature',
    bundle: withChain(flipLeafSignatureByte),
    anchors: ROOT,
    code: 'PROV_CERTIFICATE_CHAIN_INVALID',
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

describe('certificate mode with WebCrypto reaches the conclusions of certificate mode with OpenSSL', () => {
  for (const v of variants) {
    it(`${v.id} → ${v.code ?? 'accept'}, as in Node`, async () => {
      const options = v.at === undefined ? {} : { at: v.at };
      const inNode = await settle(() => verifyModelBundleWithCertificates(v.bundle, v.anchors, options));
      const withWebCrypto = await settle(() =>
        verifyModelBundleWithCertificatesAsync(v.bundle, v.anchors, options),
      );
      expect(withWebCrypto).toEqual(inNode);
      if (v.code === undefined) {
        expect(withWebCrypto).toMatchObject({
          ok: { keyMaterial: 'certificate-chain', certificate: { subject: 'CN=intermediate-ca' } },
        });
      } else {
        expect(withWebCrypto).toMatchObject({ code: v.code });
      }
    });
  }

  it('refuses an argument that is not PEM text with INVALID_ARGUMENT, as Node', async () => {
    await expect(
      verifyModelBundleWithCertificatesAsync(BUNDLE, 42 as unknown as string),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
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

  it('names, serial, validity, fingerprint, CA flag and extended key usage of every vector certificate', () => {
    expect(ders.length).toBeGreaterThanOrEqual(9);
    for (const der of ders) {
      const node = new X509Certificate(der);
      const ours = parseCertificate(der);
      const caFlag =
        ours.basicConstraintsCa === true && (ours.keyUsage === undefined || ours.keyUsage[5] === true);
      expect({
        subject: ours.subject === '' ? undefined : ours.subject, // Node: undefined for an empty name (Fulcio leaves)
        issuer: ours.issuer,
        serialNumber: ours.serialNumber,
        notBefore: ours.notBefore.getTime(),
        notAfter: ours.notAfter.getTime(),
        fingerprint256: fingerprint256(der),
        ca: caFlag,
        eku: ours.extKeyUsage,
        publicKey: Buffer.from(ours.publicKey).toString('base64'),
      }).toEqual({
        subject: node.subject,
        issuer: node.issuer,
        serialNumber: node.serialNumber,
        notBefore: node.validFromDate.getTime(),
        notAfter: node.validToDate.getTime(),
        fingerprint256: node.fingerprint256,
        ca: node.ca,
        eku: node.keyUsage,
        publicKey: node.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
      });
    }
  });

  it('refuses what is not a certificate with PROV_KEY_INVALID', () => {
    const leaf = ders[2] as Uint8Array;
    for (const bad of [new Uint8Array(0), leaf.subarray(0, leaf.length - 1), new Uint8Array([0x30, 0x00])]) {
      expect(() => parseCertificate(bad)).toThrow(expect.objectContaining({ code: 'PROV_KEY_INVALID' }));
    }
  });
});
