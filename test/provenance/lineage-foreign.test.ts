/**
 * Statements of other producers in a lineage graph: the DSSE envelopes under test/vectors/foreign
 * were written and signed by generate_foreign.py (pyca/cryptography, pretty-printed JSON, SLSA
 * provenance v1 and SPDX 2.3 predicates), not by confide.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256, toHex } from '../../src/internal/bytes.ts';
import { fromBase64, toBase64 } from '../../src/provenance/common/bytes.ts';
import { canonicalizeToBytes } from '../../src/provenance/common/jcs.ts';
import { generateKeyPair, parsePublicKeyPem, publicKeyToPem } from '../../src/provenance/common/keys.ts';
import { keyId, parseLineagePolicy } from '../../src/provenance/lineage/policy.ts';
import { attestEvent, linkInput } from '../../src/provenance/lineage/sign.ts';
import { type AttestationSource, verifyLineage } from '../../src/provenance/lineage/verify.ts';
import { runConfide } from '../fixtures/cli.ts';
import { captureProvenanceCli } from '../fixtures/provenance-cli.ts';

const vec = (name: string): string =>
  readFileSync(new URL(`../vectors/foreign/${name}`, import.meta.url), 'utf8');
const slsaText = vec('slsa-provenance.intoto.json');
const spdxText = vec('spdx-sbom.intoto.json');
const builderPem = vec('builder-ed25519.pub.pem');
const sbomPem = vec('sbom-ecdsa-p256.pub.pem');
const raw = readFileSync(new URL('../vectors/foreign/raw.csv', import.meta.url));
const rawDigest = toHex(sha256(raw));
const payloadOf = (text: string): Uint8Array => fromBase64(JSON.parse(text).payload);

const alice = generateKeyPair('ecdsa-p256');
const scratch = mkdtempSync(join(tmpdir(), 'confide-foreign-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function policy(extra: Record<string, unknown> = {}, keys = ['builder', 'sbom', 'alice']) {
  const all: Record<string, string> = {
    builder: builderPem,
    sbom: sbomPem,
    alice: publicKeyToPem(alice.publicKey),
  };
  return parseLineagePolicy({
    version: 1,
    trustedKeys: keys.map((name) => ({ name, publicKey: all[name] })),
    ...extra,
  });
}

async function preprocessing(): Promise<string> {
  const input = linkInput({ name: 'raw.csv', digest: rawDigest }, JSON.parse(slsaText));
  const att = await attestEvent(
    {
      event: 'preprocessing',
      inputs: [input],
      outputs: [{ name: 'clean.csv', digest: toHex(sha256(raw.subarray(0, 20))) }],
    },
    alice,
  );
  return JSON.stringify(att.envelope);
}

describe('foreign in-toto statements (pretty-printed, signed by pyca/cryptography)', () => {
  it('the vectors really are non-canonical JSON from another producer', () => {
    for (const text of [slsaText, spdxText]) {
      const payload = payloadOf(text);
      expect(new TextDecoder().decode(payload)).toContain('\n  "_type"');
      expect(toBase64(canonicalizeToBytes(JSON.parse(new TextDecoder().decode(payload))))).not.toBe(
        toBase64(payload),
      );
    }
  });

  it('verifies them over the bytes as received, links a confide input to the SLSA subject, notes the non-canonical form', async () => {
    const prep = await preprocessing();
    const sources: AttestationSource[] = [
      { source: 'slsa', bytes: slsaText },
      { source: 'spdx', bytes: new TextEncoder().encode(spdxText) },
      { source: 'prep', bytes: prep },
    ];
    const report = verifyLineage(sources, policy());
    expect(report.valid).toBe(true);
    expect(report.code).toBe('OK');
    const [slsa, spdx, own] = report.nodes;
    expect(slsa).toMatchObject({
      kind: 'foreign',
      predicateType: 'https://slsa.dev/provenance/v1',
      status: 'ok',
      attestation: toHex(sha256(payloadOf(slsaText))),
      subjects: [{ name: 'raw.csv', digest: rawDigest }],
    });
    expect(slsa?.signers).toEqual([
      {
        keyid: 'builder-ed25519',
        key: 'builder',
        algorithm: 'ed25519',
        fingerprint: { form: 'SHA256-SPKI', value: keyId(parsePublicKeyPem(builderPem)) },
        status: 'counted',
      },
    ]);
    expect(slsa?.notes.join(' ')).toContain('not RFC 8785 canonical');
    expect(spdx).toMatchObject({
      kind: 'foreign',
      predicateType: 'https://spdx.dev/Document/v2.3',
      status: 'ok',
    });
    expect(spdx?.signers[0]).toMatchObject({ key: 'sbom', algorithm: 'ecdsa-p256', status: 'counted' });
    expect(own).toMatchObject({ kind: 'lineage', event: 'preprocessing', status: 'ok', notes: [] });
    expect(own?.inputs[0]).toEqual({ name: 'raw.csv', digest: rawDigest, attestation: slsa?.attestation });
    // The SLSA statement is consumed; the SBOM and the preprocessing are the heads.
    expect(report.heads).toEqual([spdx?.attestation, own?.attestation]);
  });

  it('the policy decides: untrusted signer refused, or accepted unsigned and marked untrusted; type allow-list', async () => {
    const prep = await preprocessing();
    const sources = [
      { source: 'slsa', bytes: slsaText },
      { source: 'spdx', bytes: spdxText },
      { source: 'prep', bytes: prep },
    ];
    const noSbomKey = verifyLineage(sources, policy({}, ['builder', 'alice']));
    expect(noSbomKey.nodes.map((n) => n.code)).toEqual(['OK', 'PROV_KEY_UNTRUSTED', 'OK']);
    const lenient = verifyLineage(sources, policy({ foreign: { requireSignature: false } }, ['alice']));
    expect(lenient.valid).toBe(true);
    expect(lenient.nodes.map((n) => n.trusted)).toEqual([false, false, undefined]);
    expect(lenient.nodes[0]?.notes.join(' ')).toContain('requireSignature');
    const onlySlsa = verifyLineage(
      sources,
      policy({ foreign: { predicateTypes: ['https://slsa.dev/provenance/v1'], signers: ['builder'] } }),
    );
    expect(onlySlsa.nodes.map((n) => n.code)).toEqual(['OK', 'PROV_KEY_UNTRUSTED', 'OK']);
    const none = verifyLineage(sources, policy({ foreign: { predicateTypes: [] } }));
    expect(none.nodes.map((n) => n.code)).toEqual([
      'PROV_PREDICATE_TYPE',
      'PROV_PREDICATE_TYPE',
      'PROV_LINEAGE_UPSTREAM_INVALID',
    ]);
    expect(() =>
      policy({ foreign: { predicateTypes: ['https://confide.dev/lineage/training-run/v1'] } }),
    ).toThrow(
      expect.objectContaining({ code: 'PROV_POLICY_INVALID', fields: ['foreign.predicateTypes[0]'] }),
    );
    expect(() => policy({ foreign: { requireSignatures: true, threshold: 4 } })).toThrow(
      expect.objectContaining({
        code: 'PROV_POLICY_INVALID',
        fields: ['foreign.requireSignatures', 'foreign.threshold'],
      }),
    );
  });

  it('one changed payload byte: the signature fails and the downstream confide node with it', async () => {
    const env = JSON.parse(slsaText);
    // Still JSON with the same subject: only the signature can tell.
    const payload = new TextEncoder().encode(
      new TextDecoder().decode(payloadOf(slsaText)).replace('etl-runner@v2', 'etl-runner@v3'),
    );
    const tampered = JSON.stringify({ ...env, payload: toBase64(payload) });
    const report = verifyLineage(
      [
        { source: 'slsa', bytes: tampered },
        { source: 'prep', bytes: await preprocessing() },
      ],
      policy(),
    );
    expect(report.nodes.map((n) => n.code)).toEqual(['PROV_KEY_UNTRUSTED', 'PROV_LINEAGE_UPSTREAM_MISMATCH']);
    // Still strict for confide's own predicate: the pretty form of a confide statement is refused.
    const own = JSON.parse(await preprocessing());
    const { signEnvelope, keySigner } = await import('../../src/provenance/model-signing/sign.ts');
    const pretty = await signEnvelope(
      own.payloadType,
      new TextEncoder().encode(
        `${JSON.stringify(JSON.parse(new TextDecoder().decode(fromBase64(own.payload))), null, 2)}\n`,
      ),
      keySigner(alice),
    );
    expect(verifyLineage([{ source: 'p', bytes: JSON.stringify(pretty) }], policy()).code).toBe(
      'PROV_PAYLOAD_NOT_CANONICAL',
    );
  });
});

describe('attacks with foreign statements', () => {
  it('a swapped upstream (the SBOM given where the SLSA statement was linked) → PROV_LINEAGE_UPSTREAM_MISMATCH', async () => {
    const report = verifyLineage(
      [
        { source: 'spdx', bytes: spdxText },
        { source: 'prep', bytes: await preprocessing() },
      ],
      policy(),
    );
    expect(report.nodes.map((n) => n.code)).toEqual(['OK', 'PROV_LINEAGE_UPSTREAM_MISMATCH']);
  });

  it("a keyid naming a trusted key over someone else's signature → PROV_SIGNATURE_INVALID", () => {
    const env = JSON.parse(spdxText);
    const forged = {
      ...env,
      signatures: [{ ...env.signatures[0], keyid: keyId(parsePublicKeyPem(builderPem)) }],
    };
    const report = verifyLineage(
      [{ source: 'spdx', bytes: JSON.stringify(forged) }],
      policy({}, ['builder']),
    );
    expect(report.code).toBe('PROV_SIGNATURE_INVALID');
    expect(report.nodes[0]?.signers).toEqual([
      { keyid: keyId(parsePublicKeyPem(builderPem)), status: 'invalid', key: 'builder' },
    ]);
    // Even when the policy accepts unsigned foreign statements: a failed trusted signature is not "unsigned".
    expect(
      verifyLineage(
        [{ source: 'spdx', bytes: JSON.stringify(forged) }],
        policy({ foreign: { requireSignature: false } }, ['builder']),
      ).code,
    ).toBe('PROV_SIGNATURE_INVALID');
  });
});

describe('an in-toto Statement v0.1 (SLSA provenance v0.2, ECDSA P-384) from an older generator', () => {
  it('verifies as a foreign node with a note, and a confide input links to it', async () => {
    const legacyText = vec('slsa-v02-statement-v01.intoto.json');
    const legacyPem = vec('legacy-ecdsa-p384.pub.pem');
    const input = linkInput({ name: 'raw.csv', digest: rawDigest }, JSON.parse(legacyText));
    expect(input.attestation).toBe(toHex(sha256(payloadOf(legacyText))));
    const prep = await attestEvent(
      { event: 'preprocessing', inputs: [input], outputs: [{ name: 'clean.csv', digest: 'e'.repeat(64) }] },
      alice,
    );
    const trusted = parseLineagePolicy({
      version: 1,
      trustedKeys: [
        { name: 'legacy', publicKey: legacyPem },
        { name: 'alice', publicKey: publicKeyToPem(alice.publicKey) },
      ],
    });
    const report = verifyLineage(
      [
        { source: 'legacy', bytes: legacyText },
        { source: 'prep', bytes: JSON.stringify(prep.envelope) },
      ],
      trusted,
    );
    expect(report.valid).toBe(true);
    expect(report.nodes[0]).toMatchObject({
      kind: 'foreign',
      predicateType: 'https://slsa.dev/provenance/v0.2',
      signers: [{ key: 'legacy', algorithm: 'ecdsa-p384', status: 'counted' }],
    });
    expect(report.nodes[0]?.notes[0]).toBe('an in-toto https://in-toto.io/Statement/v0.1 statement');
    // Another _type is not an in-toto statement.
    const { signEnvelope, keySigner } = await import('../../src/provenance/model-signing/sign.ts');
    const other = await signEnvelope(
      'application/vnd.in-toto+json',
      new TextEncoder().encode(
        JSON.stringify({
          _type: 'https://in-toto.io/Statement/v0.2',
          predicateType: 'https://slsa.dev/provenance/v1',
          subject: [{ digest: { sha256: rawDigest } }],
        }),
      ),
      keySigner(alice),
    );
    expect(verifyLineage([{ source: 'x', bytes: JSON.stringify(other) }], trusted).code).toBe(
      'PROV_STATEMENT_TYPE',
    );
  });
});

describe('confide provenance verify with foreign statements', () => {
  const { out, run } = captureProvenanceCli();

  it('verifies the Python-signed statements and a confide one linked to them (human and --json)', async () => {
    const files = {
      slsa: join(scratch, 'slsa.json'),
      spdx: join(scratch, 'spdx.json'),
      prep: join(scratch, 'prep.json'),
      policy: join(scratch, 'policy.json'),
    };
    writeFileSync(files.slsa, slsaText);
    writeFileSync(files.spdx, spdxText);
    writeFileSync(files.prep, await preprocessing());
    writeFileSync(
      files.policy,
      JSON.stringify({
        version: 1,
        trustedKeys: [
          { name: 'builder', publicKey: builderPem },
          { name: 'sbom', publicKey: sbomPem },
          { name: 'alice', publicKey: publicKeyToPem(alice.publicKey) },
        ],
        foreign: { predicateTypes: ['https://slsa.dev/provenance/v1', 'https://spdx.dev/Document/v2.3'] },
      }),
    );
    await run('verify', files.slsa, files.spdx, files.prep, '--policy', files.policy);
    const text = out.join('');
    expect(text).toContain('https://slsa.dev/provenance/v1');
    expect(text).toContain('not RFC 8785 canonical');
    expect(text).toMatch(/valid: 3 attestation\(s\)/);
    out.length = 0;
    await run('verify', files.slsa, files.spdx, files.prep, '--policy', files.policy, '--json');
    const report = JSON.parse(out.join(''));
    expect(report.valid).toBe(true);
    expect(report.nodes.map((n: { kind: string }) => n.kind)).toEqual(['foreign', 'foreign', 'lineage']);
    out.length = 0;
    await expect(
      run('verify', files.slsa, files.spdx, files.prep, '--trusted-key', join(scratch, 'none.pem')),
    ).rejects.toMatchObject({ code: 'PROV_PATH_NOT_FOUND' });
    writeFileSync(join(scratch, 'alice.pub'), publicKeyToPem(alice.publicKey));
    await expect(
      run('verify', files.slsa, files.prep, '--trusted-key', join(scratch, 'alice.pub')),
    ).rejects.toMatchObject({ code: 'PROV_KEY_UNTRUSTED' });
  });

  it('the built CLI (dist) exits 0 on the foreign graph and 1 with the code when a signer is not trusted', async () => {
    const dir = mkdtempSync(join(scratch, 'dist-'));
    writeFileSync(join(dir, 'slsa.json'), slsaText);
    writeFileSync(join(dir, 'spdx.json'), spdxText);
    writeFileSync(join(dir, 'builder.pub'), builderPem);
    writeFileSync(join(dir, 'sbom.pub'), sbomPem);
    const good = await runConfide(
      dir,
      'provenance',
      'verify',
      'slsa.json',
      'spdx.json',
      '--trusted-key',
      'builder.pub',
      '--trusted-key',
      'sbom.pub',
      '--json',
    );
    expect(good.stderr).toBe('');
    expect(good.exitCode).toBe(0);
    const report = JSON.parse(good.stdout);
    expect(report.nodes.map((n: { kind: string; code: string }) => [n.kind, n.code])).toEqual([
      ['foreign', 'OK'],
      ['foreign', 'OK'],
    ]);
    expect(report.signers.map((s: { name: string }) => s.name)).toEqual(['key-1', 'key-2']);
    const bad = await runConfide(
      dir,
      'provenance',
      'verify',
      'slsa.json',
      'spdx.json',
      '--trusted-key',
      'builder.pub',
    );
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toContain('[FAILED] attestation spdx.json');
    expect(bad.stderr).toMatch(/PROV_KEY_UNTRUSTED/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});
