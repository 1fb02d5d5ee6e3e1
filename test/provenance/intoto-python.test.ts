// Round transcripts and inference receipts checked by a second implementation: the Python script
// test/fixtures/verify_intoto_bundle.py (Python `cryptography` only, no confide code) checks the
// DSSE v1 signature over its own PAE, the in-toto Statement v1 shape, the log entry's leaf hash,
// the RFC 9162 inclusion path and the C2SP checkpoint signature. Tampering with any of them makes
// it fail.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes, toHex } from '../../src/internal/bytes.ts';
import { fromBase64, toBase64 } from '../../src/provenance/common/bytes.ts';
import { generateKeyPair } from '../../src/provenance/common/keys.ts';
import { LogStore } from '../../src/provenance/log/store.ts';
import { ReceiptLog } from '../../src/provenance/receipt/log.ts';
import { signReceipt } from '../../src/provenance/receipt/sign.ts';
import {
  RECEIPT_PREDICATE_TYPE,
  RECEIPT_TYPE,
  receiptLogEntry,
} from '../../src/provenance/receipt/statement.ts';
import { commitTranscript } from '../../src/provenance/transcript/sign.ts';
import {
  type RoundTranscript,
  TRANSCRIPT_PREDICATE_TYPE,
  transcriptStatement,
} from '../../src/provenance/transcript/statement.ts';

const PY = fileURLToPath(new URL('../fixtures/verify_intoto_bundle.py', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'confide-intoto-py-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const key = generateKeyPair('ed25519');
const other = generateKeyPair('ed25519');
const hex = (n: number): string => n.toString(16).padStart(64, '0');
const ids = ['a', 'b', 'c'];

function transcript(roundId: string): RoundTranscript {
  return {
    roundId,
    session: 'cd'.repeat(16),
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
    dp: {
      planEpsilon: 1,
      delta: 1e-6,
      rounds: 3,
      minSurvivors: 2,
      epsilonSpent: 0.3333,
      deltaSpent: 1e-6,
      mechanism: {
        name: 'distributed-discrete-gaussian',
        l2Sensitivity: 4097.5,
        localVariance: 1e6,
        dimension: 2,
      },
    },
    aggregate: { digest: hex(99), lanes: 2 },
    annotations: { note: 'ünïcode ✓' },
  };
}

function python(
  bundle: unknown,
  publicKey: Uint8Array,
  predicateType: string,
): { code: number; out: string } {
  const file = join(dir, `${toHex(randomBytes(6))}.json`);
  writeFileSync(file, JSON.stringify(bundle));
  try {
    const out = execFileSync('python3', [PY, file, toHex(publicKey), predicateType], { encoding: 'utf8' });
    return { code: 0, out };
  } catch (e) {
    const err = e as { status?: number; stdout?: string };
    return { code: err.status ?? -1, out: err.stdout ?? '' };
  }
}

describe('a second DSSE / in-toto implementation (Python cryptography)', () => {
  it('verifies every transcript of a 5-entry log (every inclusion path shape) and catches tampering', async () => {
    const store = await LogStore.create(join(dir, 'log'), 'confide.test/py', key);
    const bundles = [];
    for (let i = 0; i < 5; i++)
      bundles.push(await commitTranscript(store, transcriptStatement(transcript(`round-${i}`)), key));
    for (const [i, b] of bundles.entries()) {
      const r = python(b, key.publicKey.bytes, TRANSCRIPT_PREDICATE_TYPE);
      expect(r, JSON.stringify(r)).toMatchObject({ code: 0 });
      expect(r.out).toBe(`ok ${TRANSCRIPT_PREDICATE_TYPE} ${hex(99)} ${i}/${i + 1}\n`);
    }
    const b = bundles[3] as (typeof bundles)[number];
    // Another key, another predicate type, a changed payload, a moved leaf, a forged checkpoint.
    expect(python(b, other.publicKey.bytes, TRANSCRIPT_PREDICATE_TYPE).out).toMatch(/DSSE signature/);
    expect(python(b, key.publicKey.bytes, RECEIPT_PREDICATE_TYPE).out).toMatch(/predicateType/);
    const payload = JSON.parse(new TextDecoder().decode(fromBase64(b.envelope.payload)));
    payload.predicate.survivors = ['a', 'b'];
    const edited = {
      ...b,
      envelope: { ...b.envelope, payload: toBase64(new TextEncoder().encode(JSON.stringify(payload))) },
    };
    expect(python(edited, key.publicKey.bytes, TRANSCRIPT_PREDICATE_TYPE)).toMatchObject({ code: 1 });
    const inclusion = b.proof.inclusion as NonNullable<typeof b.proof.inclusion>;
    const moved = { ...b, proof: { ...b.proof, inclusion: { ...inclusion, index: 2 } } };
    expect(python(moved, key.publicKey.bytes, TRANSCRIPT_PREDICATE_TYPE).out).toMatch(/inclusion path/);
    const forged = { ...b, proof: { ...b.proof, checkpoint: b.proof.checkpoint.replace('\n4\n', '\n3\n') } };
    expect(python(forged, key.publicKey.bytes, TRANSCRIPT_PREDICATE_TYPE)).toMatchObject({ code: 1 });
  });

  it('verifies an inference receipt the same way', async () => {
    const log = await ReceiptLog.open(join(dir, 'receipts'), 'confide.test/py-receipts', key);
    for (let i = 0; i < 3; i++) {
      const envelope = await signReceipt(
        {
          batch: randomBytes(100),
          result: randomBytes(120),
          modelId: 'risk',
          modelDigest: 'a'.repeat(64),
          modelSigningDigest: 'b'.repeat(64),
          keySetId: 'c'.repeat(32),
          logOrigin: log.origin,
        },
        key,
      );
      const proof = await log.append(receiptLogEntry(envelope));
      const r = python({ type: RECEIPT_TYPE, envelope, proof }, key.publicKey.bytes, RECEIPT_PREDICATE_TYPE);
      expect(r, JSON.stringify(r)).toMatchObject({ code: 0 });
      expect(r.out).toMatch(new RegExp(`^ok ${RECEIPT_PREDICATE_TYPE} [0-9a-f]{64} ${i}/${i + 1}\\n$`));
    }
  });
});
