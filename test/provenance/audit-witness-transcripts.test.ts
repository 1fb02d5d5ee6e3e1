// `auditEvidence` with witness keys holds every transcript's checkpoint to the k-of-n witness
// policy: cosigned itself, the same tree head as a witnessed checkpoint, or proven consistent
// with one (a consistency proof given). Real witness (`Witness`, C2SP tlog-cosignature), real log.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { auditEvidence } from '../../src/provenance/audit/audit.ts';
import { generateKeyPair } from '../../src/provenance/common/keys.ts';
import { noteVerifier } from '../../src/provenance/log/checkpoint.ts';
import { LogStore } from '../../src/provenance/log/store.ts';
import { commitTranscript } from '../../src/provenance/transcript/sign.ts';
import { type RoundTranscript, transcriptStatement } from '../../src/provenance/transcript/statement.ts';
import { cosignatureVerifier } from '../../src/provenance/witness/cosignature.ts';
import { Witness } from '../../src/provenance/witness/witness.ts';

const dir = mkdtempSync(join(tmpdir(), 'confide-audit-witness-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const hex = (n: number): string => n.toString(16).padStart(64, '0');
const ids = ['a', 'b', 'c'];
const enc = new TextEncoder();

function transcript(roundId: string): RoundTranscript {
  return {
    roundId,
    session: 'ef'.repeat(16),
    status: 'completed',
    parameters: {
      protocolVersion: 1,
      profile: 'honest-but-curious',
      graph: 'complete',
      degree: 2,
      threshold: 2,
      ringBits: 32,
      vectorLength: 2,
      digest: hex(1),
    },
    minSurvivors: 2,
    cohort: ids.map((id, i) => ({ id, publicKeys: hex(10 + i) })),
    stages: { advertised: ids, shared: ids, masked: ids, unmasked: ids },
    maskedInputs: ids.map((id, i) => ({ id, digest: hex(20 + i) })),
    survivors: ids,
    dp: null,
    aggregate: { digest: hex(30 + roundId.length), lanes: 2 },
  };
}

describe('audit: witness cosignatures cover the transcripts too', () => {
  it('each transcript checkpoint must be witnessed, or proven consistent with one that is', async () => {
    const key = generateKeyPair('ed25519');
    const origin = 'confide.test/witnessed-rounds';
    const store = await LogStore.create(join(dir, 'log'), origin, key);
    const files = [];
    for (const r of ['r1', 'r22']) {
      const bundle = await commitTranscript(store, transcriptStatement(transcript(r)), key);
      files.push({ name: `${r}.json`, bytes: enc.encode(JSON.stringify(bundle)) });
    }
    const wKey = generateKeyPair('ed25519');
    const witness = await Witness.open({
      name: 'witness.test/w1',
      key: wKey,
      logs: [noteVerifier(origin, key.publicKey)],
      stateDir: join(dir, 'w1'),
    });
    const cosigned = await witness.cosignFrom(await store.checkpointAt(2), async () => []);
    const trust = {
      logKey: key.publicKey,
      witnesses: [cosignatureVerifier('witness.test/w1', wKey.publicKey)],
      witnessThreshold: 1,
    };
    const checkpoints = [{ name: 'cosigned', bytes: enc.encode(cosigned) }];

    // Round r1's checkpoint (size 1) is not witnessed and nothing links it to the witnessed one.
    const bare = auditEvidence({ transcripts: files, checkpoints }, trust);
    expect(bare).toMatchObject({ valid: false, code: 'PROV_WITNESS_THRESHOLD_NOT_MET' });
    const witnessChecks = bare.checks.filter((c) => c.name === 'witness cosignatures');
    expect(witnessChecks.map((c) => [c.node, c.state])).toEqual([
      ['checkpoint:0', 'verified'],
      ['round:0', 'failed'],
      ['round:1', 'verified'], // the same tree head as the cosigned checkpoint
    ]);

    // With a consistency proof from r1's checkpoint to the witnessed one, every round is covered.
    const r1Checkpoint = JSON.parse(new TextDecoder().decode(files[0]?.bytes)).proof.checkpoint as string;
    const proof = await store.prove({ from: 1, size: 2 });
    const linked = auditEvidence(
      {
        transcripts: files,
        checkpoints,
        consistency: [{ name: '1→2', proof: { ...proof, checkpoint: cosigned }, previous: r1Checkpoint }],
      },
      trust,
    );
    expect(linked.valid, JSON.stringify(linked.checks.filter((c) => c.state === 'failed'))).toBe(true);
    expect(
      linked.checks.find((c) => c.node === 'round:0' && c.name === 'witness cosignatures')?.detail,
    ).toMatch(/proven consistent with a checkpoint 1 trusted witness/);

    // Without witness keys the audit says what it did not establish.
    const open = auditEvidence({ transcripts: files }, { logKey: key.publicKey });
    expect(
      open.notChecked.some((n) => n.startsWith("witness cosignatures on the transcripts' checkpoints")),
    ).toBe(true);
  });
});
