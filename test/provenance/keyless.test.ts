import { chmodSync, cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyModel, verifyModelBundle } from '../../src/provenance/index.ts';
import { cases, readVector, readVectorText, type VectorCase, vectorPath } from './vectors.ts';

const ROOT = readVectorText('sigstore/trusted_root.json');
const keylessCases = cases.cases.filter((c) => c.method === 'sigstore');
const scratch = mkdtempSync(join(tmpdir(), 'confide-keyless-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface KeylessCase extends VectorCase {
  identity: string;
  oidc_issuer: string;
}
const who = (c: VectorCase) => ({
  identity: (c as KeylessCase).identity,
  issuer: (c as KeylessCase).oidc_issuer,
});

/** Steps 1–7 in keyless mode; a refusal is reported by its failed check. */
async function bundleReport(
  bundle: Uint8Array | string,
  root: string | object,
  expected: ReturnType<typeof who>,
) {
  const report = await verifyModelBundle(bundle, { trustedRoot: root, ...expected });
  if (!report.valid) expect(report.checks.at(-1)).toMatchObject({ ok: false, code: report.code });
  return report;
}

describe('cases.json, method sigstore: every case reaches its expected conclusion (offline)', () => {
  it('has the five keyless cases', () => {
    expect(keylessCases.map((c) => c.id)).toEqual([
      'model-signing/v0.3.1-sigstore',
      'model-signing/v1.0.0-sigstore',
      'model-signing/v1.0.1-sigstore',
      'model-signing/v1.1.0-sigstore',
      'oms/valid/sigstore',
    ]);
  });

  for (const c of keylessCases) {
    it(`${c.id} → accept`, async () => {
      expect(c.expected).toBe('accept');
      const result = await verifyModel(
        {
          path: vectorPath(c.model ?? ''),
          ignorePaths: c.extra_ignore_paths ?? [],
          signaturePath: vectorPath(c.bundle),
        },
        readVector(c.bundle),
        { trustedRoot: ROOT, ...who(c) },
      );
      expect(result).toMatchObject({ valid: true, code: 'OK', mode: 'keyless' });
      expect(result.rootDigest).toBe(c.root_digest);
      expect(result.signers[0]).toMatchObject({
        kind: 'keyless',
        identity: 'stefanb@us.ibm.com',
        algorithm: 'ecdsa-p256',
      });
      expect(result.files?.length).toBeGreaterThan(0);
      expect(result.files?.every((f) => f.status === 'ok')).toBe(true);
    });
  }

  it('oms/invalid/missing-tlog-entries → reject at the structure step (PROV_BUNDLE_MALFORMED)', async () => {
    const c = cases.cases.find((x) => x.id === 'oms/invalid/missing-tlog-entries') as VectorCase;
    const report = await bundleReport(readVector(c.bundle), ROOT, who(c));
    expect(report).toMatchObject({ valid: false, code: 'PROV_BUNDLE_MALFORMED' });
    expect(report.checks.at(-1)?.detail).toMatch(/: invalid verificationMaterial\.tlogEntries$/);
  });
});

describe('keyless refusals', () => {
  const c = keylessCases.find((x) => x.id === 'model-signing/v1.1.0-sigstore') as VectorCase;

  it('another identity or issuer → PROV_IDENTITY_MISMATCH', async () => {
    await expect(
      bundleReport(readVector(c.bundle), ROOT, { ...who(c), identity: 'mallory@example.com' }),
    ).resolves.toMatchObject({ valid: false, code: 'PROV_IDENTITY_MISMATCH' });
    await expect(
      bundleReport(readVector(c.bundle), ROOT, { ...who(c), issuer: 'https://accounts.google.com' }),
    ).resolves.toMatchObject({ valid: false, code: 'PROV_IDENTITY_MISMATCH' });
  });

  it('a tampered inclusion proof → PROV_TLOG_INVALID', async () => {
    const b = JSON.parse(readVectorText(c.bundle));
    const hashes: string[] = b.verificationMaterial.tlogEntries[0].inclusionProof.hashes;
    const first = Buffer.from(hashes[0] ?? '', 'base64');
    first[0]! ^= 1;
    hashes[0] = first.toString('base64');
    await expect(bundleReport(JSON.stringify(b), ROOT, who(c))).resolves.toMatchObject({
      valid: false,
      code: 'PROV_TLOG_INVALID',
    });
  });

  it('a re-formatted payload → PROV_TLOG_INVALID (the log entry binds the payload hash, checked first)', async () => {
    const b = JSON.parse(readVectorText(c.bundle));
    const statement = JSON.parse(Buffer.from(b.dsseEnvelope.payload, 'base64').toString('utf8'));
    b.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
    const report = await bundleReport(JSON.stringify(b), ROOT, who(c));
    expect(report).toMatchObject({ valid: false, code: 'PROV_TLOG_INVALID' });
    expect(report.checks.at(-1)?.detail).toContain('payload hash mismatch');
  });

  it('a tampered model file → PROV_FILE_MODIFIED', async () => {
    const dir = join(scratch, 'tampered');
    cpSync(vectorPath(c.model ?? ''), dir, { recursive: true });
    chmodSync(dir, 0o755);
    for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644);
    writeFileSync(join(dir, 'signme-2'), 'signme-X');
    const report = await verifyModel(
      { path: dir, signaturePath: join(dir, 'model.sig') },
      readVector(c.bundle),
      {
        trustedRoot: ROOT,
        ...who(c),
      },
    );
    expect(report).toMatchObject({ valid: false, code: 'PROV_FILE_MODIFIED' });
    expect(report.files?.filter((f) => f.status !== 'ok').map((f) => f.name)).toEqual(['signme-2']);
  });

  it('key-mode bundles, a bad trusted root and a missing identity are refused with their own codes', async () => {
    await expect(
      bundleReport(readVector('model-signing/scripts/tests/v1.1.0-elliptic-key/model.sig'), ROOT, who(c)),
    ).resolves.toMatchObject({ valid: false, code: 'PROV_KEY_MATERIAL_UNSUPPORTED' });
    // an unusable trusted root is not a verification outcome: thrown, not reported
    await expect(bundleReport(readVector(c.bundle), '{not json', who(c))).rejects.toMatchObject({
      code: 'PROV_TRUSTED_ROOT_INVALID',
    });
    await expect(
      bundleReport(readVector(c.bundle), { tlogs: [], certificateAuthorities: [] }, who(c)),
    ).resolves.toMatchObject({ valid: false, code: 'PROV_TIMESTAMP_INVALID' }); // nothing in an empty root can vouch for the time
    await expect(
      bundleReport(readVector(c.bundle), ROOT, { identity: '', issuer: 'x' }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
