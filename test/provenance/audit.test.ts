import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditEvidence, auditEvidence, type EvidenceFile } from '../../src/provenance/audit/audit.ts';
import { auditHtml } from '../../src/provenance/audit/html.ts';
import { fromBase64, toBase64 } from '../../src/provenance/common/bytes.ts';
import { generateKeyPair, type PublicKey, parsePublicKeyPem } from '../../src/provenance/common/keys.ts';
import { MerkleLog } from '../../src/provenance/log/signed-log.ts';
import { type AuditFixture, writeAuditFixture } from '../fixtures/audit-evidence.ts';

const dir = mkdtempSync(join(tmpdir(), 'confide-audit-'));
let fx: AuditFixture;
let logKey: PublicKey;
const enc = new TextEncoder();
const file = (name: string): EvidenceFile => ({ name, bytes: readFileSync(name) });

beforeAll(async () => {
  fx = await writeAuditFixture(dir);
  logKey = parsePublicKeyPem(readFileSync(fx.pubPath, 'utf8'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function evidence(): AuditEvidence {
  return {
    lineage: [file(fx.files.dataset), file(fx.files.train), file(fx.files.infer)],
    transcripts: fx.files.rounds.map(file),
    receipts: [{ name: 'receipt', bytes: readFileSync(fx.files.receipts) }],
    checkpoints: [file(join(fx.logDir, 'checkpoint'))],
    logSize: 3,
  };
}

/** A transcript file with its JSON changed by `edit`. */
function editedRound(edit: (bundle: Record<string, unknown>) => void): EvidenceFile {
  const bundle = JSON.parse(readFileSync(fx.files.rounds[0] as string, 'utf8'));
  edit(bundle);
  return { name: 'edited.json', bytes: enc.encode(JSON.stringify(bundle)) };
}

describe('provenance audit: dataset → rounds → model → prediction', () => {
  it('an honest chain verifies: every node verified, every digest link drawn, the ε ledger summed', () => {
    const report = auditEvidence(evidence(), { logKey, epsilonBudget: 1.5 });
    expect(report.valid, JSON.stringify(report.checks.filter((c) => c.state === 'failed'))).toBe(true);
    expect(report.code).toBe('OK');
    expect(report.nodes.map((n) => [n.kind, n.state])).toEqual([
      ['dataset', 'verified'],
      ['model', 'verified'],
      ['prediction', 'verified'],
      ['round', 'verified'],
      ['round', 'verified'],
      ['prediction', 'verified'],
      ['checkpoint', 'verified'],
    ]);
    // dataset → each round, each round → model, model → prediction
    const links = report.edges.map((e) => `${e.from}->${e.to}`).sort();
    expect(links).toEqual(
      [
        'lineage:0->round:0',
        'lineage:0->round:1',
        'round:0->lineage:1',
        'round:1->lineage:1',
        'lineage:1->lineage:2',
        'lineage:1->prediction:0',
      ].sort(),
    );
    expect(report.ledger.find((e) => e.clientId === 'h1')?.epsilon).toBeCloseTo(1.3, 10);
    // Every entry of the log (two transcripts, one receipt) was given: the ledger is complete.
    expect(report.checks.find((c) => c.name === 'ledger completeness')?.state).toBe('verified');
    expect(report.notChecked.some((n) => n.startsWith('witness cosignatures'))).toBe(true);
  });

  it('a tampered transcript statement fails with PROV_SIGNATURE_INVALID and marks its node failed', () => {
    const bad = editedRound((b) => {
      const env = b.envelope as { payload: string };
      const st = JSON.parse(new TextDecoder().decode(fromBase64(env.payload)));
      st.predicate.survivors = st.predicate.survivors.slice(1);
      env.payload = toBase64(enc.encode(JSON.stringify(st)));
    });
    const report = auditEvidence({ ...evidence(), transcripts: [bad] }, { logKey });
    expect(report.valid).toBe(false);
    expect(report.code).toBe('PROV_SIGNATURE_INVALID');
    expect(report.nodes.find((n) => n.id === 'round:0')?.state).toBe('failed');
  });

  it('a tampered inclusion proof fails with PROV_LOG_INCLUSION_INVALID', () => {
    const bad = editedRound((b) => {
      const inc = (b.proof as { inclusion: { hashes: string[] } }).inclusion;
      inc.hashes = ['00'.repeat(32)];
    });
    expect(auditEvidence({ transcripts: [bad] }, { logKey }).code).toBe('PROV_LOG_INCLUSION_INVALID');
  });

  it('a tampered checkpoint fails with PROV_CHECKPOINT_SIGNATURE_INVALID', () => {
    const text = readFileSync(join(fx.logDir, 'checkpoint'), 'utf8').replace(/\n3\n/, '\n4\n');
    expect(text).not.toBe(readFileSync(join(fx.logDir, 'checkpoint'), 'utf8'));
    const report = auditEvidence({ checkpoints: [{ name: 'cp', bytes: enc.encode(text) }] }, { logKey });
    expect(report.code).toBe('PROV_CHECKPOINT_SIGNATURE_INVALID');
  });

  it('two signed checkpoints of one size that differ (a split view) fail with PROV_LOG_CONSISTENCY_INVALID', async () => {
    // The same key signs a forked history of the same size: the audit sees both heads.
    const { parsePrivateKeyPem } = await import('../../src/provenance/common/keys.ts');
    const key = parsePrivateKeyPem(readFileSync(fx.keyPath, 'utf8'));
    const fork = new MerkleLog('confide.test/audit');
    fork.append(enc.encode('a'));
    fork.append(enc.encode('b'));
    const forked = fork.signCheckpoint(key);
    const report = auditEvidence(
      {
        ...evidence(),
        checkpoints: [file(join(fx.logDir, 'checkpoint')), { name: 'fork', bytes: enc.encode(forked) }],
      },
      { logKey },
    );
    expect(report.code).toBe('PROV_LOG_CONSISTENCY_INVALID');
  });

  it('a lineage input whose named upstream does not produce it fails with PROV_AUDIT_LINK_BROKEN', async () => {
    const { attestEvent } = await import('../../src/provenance/lineage/sign.ts');
    const { parsePrivateKeyPem } = await import('../../src/provenance/common/keys.ts');
    const key = parsePrivateKeyPem(readFileSync(fx.keyPath, 'utf8'));
    const datasetDigest = JSON.parse(
      new TextDecoder().decode(fromBase64(JSON.parse(readFileSync(fx.files.dataset, 'utf8')).payload)),
    );
    const { createHash } = await import('node:crypto');
    const datasetAttestation = createHash('sha256')
      .update(fromBase64(JSON.parse(readFileSync(fx.files.dataset, 'utf8')).payload))
      .digest('hex');
    expect(datasetDigest.subject[0].digest.sha256).toBe(fx.datasetDigest);
    const bogus = await attestEvent(
      {
        event: 'preprocessing',
        outputs: [{ name: 'clean.csv', digest: 'cd'.repeat(32) }],
        inputs: [{ name: 'records.csv', digest: 'ef'.repeat(32), attestation: datasetAttestation }],
      },
      key,
    );
    const report = auditEvidence(
      {
        lineage: [
          file(fx.files.dataset),
          { name: 'bogus', bytes: enc.encode(JSON.stringify(bogus.envelope)) },
        ],
      },
      { logKey },
    );
    expect(report.code).toBe('PROV_AUDIT_LINK_BROKEN');
  });

  it('a client over its ε budget fails with PROV_LEDGER_INVALID', () => {
    expect(auditEvidence(evidence(), { logKey, epsilonBudget: 1 }).code).toBe('PROV_LEDGER_INVALID');
  });

  it('an untrusted key fails every signature; a tampered or malformed receipt fails with its code', () => {
    const other = generateKeyPair('ed25519').publicKey;
    const report = auditEvidence(evidence(), { logKey: other });
    expect(report.valid).toBe(false);
    expect(report.nodes.every((n) => n.state === 'failed')).toBe(true);
    const malformed = auditEvidence({ receipts: [{ name: 'r.json', bytes: enc.encode('{}') }] }, { logKey });
    expect(malformed.code).toBe('PROV_RECEIPT_MALFORMED');
    const receipt = JSON.parse(readFileSync(fx.files.receipts, 'utf8'));
    receipt.proof.inclusion.hashes = receipt.proof.inclusion.hashes.map(() => '11'.repeat(32));
    const tampered = auditEvidence(
      { receipts: [{ name: 'r.json', bytes: enc.encode(JSON.stringify(receipt)) }] },
      { logKey },
    );
    expect(tampered.code).toBe('PROV_LOG_INCLUSION_INVALID');
    const hooked = auditEvidence(
      { receipts: [{ name: 'r.json', bytes: enc.encode('{}') }] },
      {
        logKey,
        receiptVerifier: () => {
          throw Object.assign(new Error('bad receipt'), { code: 'PROV_SIGNATURE_INVALID' });
        },
      },
    );
    expect(hooked.code).toBe('PROV_SIGNATURE_INVALID');
  });

  it('witness cosignatures: required k of n when witness keys are given', async () => {
    const { cosignatureVerifier } = await import('../../src/provenance/witness/cosignature.ts');
    const w = cosignatureVerifier('witness.test/w1', generateKeyPair('ed25519').publicKey);
    const report = auditEvidence(
      { checkpoints: [file(join(fx.logDir, 'checkpoint'))] },
      { logKey, witnesses: [w], witnessThreshold: 1 },
    );
    // The log's checkpoint carries no cosignature by that witness.
    expect(report.code).toBe('PROV_WITNESS_THRESHOLD_NOT_MET');
  });

  it('the HTML page embeds the report without letting its text close the script element', () => {
    const report = auditEvidence(
      { lineage: [{ name: '</script><img src=x onerror=alert(1)>', bytes: enc.encode('{}') }] },
      { logKey },
    );
    const html = auditHtml(report);
    expect(html.match(/<\/script>/g)).toHaveLength(2);
    // No URL but the SVG namespace name (an identifier, never fetched).
    expect(html.replaceAll('http://www.w3.org/2000/svg', '')).not.toMatch(/https?:\/\//);
    expect(html).toContain("default-src 'none'");
  });
});
