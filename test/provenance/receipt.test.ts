import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes, toHex } from '../../src/internal/bytes.ts';
import { fromBase64, toBase64 } from '../../src/provenance/common/bytes.ts';
import { preAuthEncoding } from '../../src/provenance/common/dsse.ts';
import { generateKeyPair, publicKeyToPem } from '../../src/provenance/common/keys.ts';
import { LogStore } from '../../src/provenance/log/store.ts';
import { ReceiptLog } from '../../src/provenance/receipt/log.ts';
import { signReceipt } from '../../src/provenance/receipt/sign.ts';
import { type InferenceReceipt, RECEIPT_TYPE } from '../../src/provenance/receipt/statement.ts';
import { verifyReceipt } from '../../src/provenance/receipt/verify.ts';

const scratch = mkdtempSync(join(tmpdir(), 'confide-receipt-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const key = generateKeyPair('ed25519');
const other = generateKeyPair('ed25519');
const ORIGIN = 'example.test/he-serve';

/** A byte string shaped like a container header: the fingerprint is bytes 8–40. */
function fakeContainer(size = 200): Uint8Array {
  return randomBytes(size);
}

async function makeReceipt(
  log: ReceiptLog,
  batch: Uint8Array,
  result: Uint8Array,
): Promise<InferenceReceipt> {
  const envelope = await signReceipt(
    {
      batch,
      result,
      modelId: 'risk',
      modelDigest: 'a'.repeat(64),
      modelSigningDigest: 'b'.repeat(64),
      keySetId: 'c'.repeat(32),
      logOrigin: log.origin,
    },
    key,
  );
  const { receiptLogEntry } = await import('../../src/provenance/receipt/statement.ts');
  const proof = await log.append(receiptLogEntry(envelope));
  return { type: RECEIPT_TYPE, envelope, proof };
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

describe('inference receipts', () => {
  it('signs, logs and verifies a receipt against the bytes sent and received', async () => {
    const log = await ReceiptLog.open(join(scratch, 'a'), ORIGIN, key);
    const batch = fakeContainer();
    const result = fakeContainer(300);
    const receipt = await makeReceipt(log, batch, result);
    const verified = verifyReceipt(receipt, { publicKey: key.publicKey }, { batch, result });
    expect(verified.batchDigest).toBe(createHash('sha256').update(batch).digest('hex'));
    expect(verified.resultDigest).toBe(createHash('sha256').update(result).digest('hex'));
    expect(verified.predicate.parametersFingerprint).toBe(toHex(batch.subarray(8, 40)));
    expect(verified.predicate.model.signingDigest).toBe('b'.repeat(64));
    expect(verified.index).toBe(0);
    expect(verified.treeSize).toBe(1);
    expect(verified.bytesChecked).toEqual({ batch: true, result: true });
  });

  it('the DSSE signature verifies with node:crypto over the PAE (an independent Ed25519)', async () => {
    const log = await ReceiptLog.open(join(scratch, 'b'), ORIGIN, key);
    const receipt = await makeReceipt(log, fakeContainer(), fakeContainer());
    const payload = fromBase64(receipt.envelope.payload);
    const sig = fromBase64(receipt.envelope.signatures[0]?.sig ?? '');
    const pub = createPublicKey(publicKeyToPem(key.publicKey));
    expect(nodeVerify(null, preAuthEncoding(receipt.envelope.payloadType, payload), pub, sig)).toBe(true);
    const statement = JSON.parse(new TextDecoder().decode(payload));
    expect(statement._type).toBe('https://in-toto.io/Statement/v1');
    expect(statement.subject.map((s: { name: string }) => s.name)).toEqual([
      'encrypted-batch',
      'encrypted-result',
    ]);
  });

  it('concurrent appends are serialized: every receipt verifies and the indices are distinct', async () => {
    const dir = join(scratch, 'c');
    const log = await ReceiptLog.open(dir, ORIGIN, key);
    const pairs = Array.from({ length: 40 }, () => [fakeContainer(), fakeContainer()] as const);
    const receipts = await Promise.all(pairs.map(([b, r]) => makeReceipt(log, b, r)));
    const indices = receipts.map((r, i) => {
      const [batch, result] = pairs[i] as readonly [Uint8Array, Uint8Array];
      return verifyReceipt(r, { publicKey: key.publicKey }, { batch, result }).index;
    });
    expect(new Set(indices).size).toBe(40);
    expect(log.size).toBe(40);
    // The directory reopens cleanly with every entry signed.
    const reopened = await LogStore.open(dir);
    expect(reopened.signedSize).toBe(40);
  });

  it('each tampering fails with its code', async () => {
    const log = await ReceiptLog.open(join(scratch, 'd'), ORIGIN, key);
    const batch = fakeContainer();
    const result = fakeContainer();
    await makeReceipt(log, fakeContainer(), fakeContainer());
    const receipt = await makeReceipt(log, batch, result);
    await makeReceipt(log, fakeContainer(), fakeContainer());
    const trust = { publicKey: key.publicKey };
    const code = (input: unknown, options = {}, t = trust): string | undefined => {
      try {
        verifyReceipt(input, t, options);
        return undefined;
      } catch (error) {
        return (error as { code?: string }).code;
      }
    };
    // Another batch or result than the receipt signs.
    expect(code(receipt, { batch: fakeContainer(), result })).toBe('PROV_RECEIPT_SUBJECT_MISMATCH');
    expect(code(receipt, { batch, result: fakeContainer() })).toBe('PROV_RECEIPT_SUBJECT_MISMATCH');
    // A payload changed after signing.
    const payload = JSON.parse(new TextDecoder().decode(fromBase64(receipt.envelope.payload)));
    payload.predicate.model.id = 'other';
    const forged = clone(receipt);
    (forged.envelope as { payload: string }).payload = toBase64(
      new TextEncoder().encode(JSON.stringify(payload)),
    );
    expect(code(forged)).toBe('PROV_SIGNATURE_INVALID');
    // Another server's key.
    expect(code(receipt, {}, { publicKey: other.publicKey })).toBe('PROV_SIGNATURE_INVALID');
    // A proof with a flipped hash.
    const badProof = clone(receipt);
    const hashes = badProof.proof.inclusion?.hashes as string[];
    hashes[0] = `${hashes[0]?.slice(0, 63)}${hashes[0]?.endsWith('0') ? '1' : '0'}`;
    expect(code(badProof)).toBe('PROV_LOG_INCLUSION_INVALID');
    // A proof about another entry.
    const otherIndex = clone(receipt);
    (otherIndex.proof.inclusion as { leafHash: string }).leafHash = 'f'.repeat(64);
    expect(code(otherIndex)).toBe('PROV_LOG_PROOF_MALFORMED');
    // A checkpoint changed after signing (another root).
    const badCheckpoint = clone(receipt);
    const lines = badCheckpoint.proof.checkpoint.split('\n');
    lines[2] = toBase64(randomBytes(32));
    (badCheckpoint.proof as { checkpoint: string }).checkpoint = lines.join('\n');
    expect(code(badCheckpoint)).toBe('PROV_CHECKPOINT_SIGNATURE_INVALID');
    // Not a receipt at all.
    expect(code('{"type":"nope"}')).toBe('PROV_RECEIPT_MALFORMED');
    expect(code('not json')).toBe('PROV_RECEIPT_MALFORMED');
    // The untouched receipt still verifies.
    expect(code(receipt, { batch, result })).toBeUndefined();
  });

  it('a client holding an older checkpoint catches a forked log (a split view)', async () => {
    const dir = join(scratch, 'e');
    const log = await ReceiptLog.open(dir, ORIGIN, key);
    const first = await makeReceipt(log, fakeContainer(), fakeContainer());
    const held = first.proof.checkpoint;
    // The honest continuation verifies with a consistency proof from the held size.
    const second = await makeReceipt(log, fakeContainer(), fakeContainer());
    const consistency = await log.consistency(1);
    const ok = verifyReceipt(
      second,
      { publicKey: key.publicKey },
      { previousCheckpoint: held, consistencyProof: consistency.consistency?.hashes ?? [] },
    );
    expect(ok.newestCheckpoint).toBe(second.proof.checkpoint);
    // A fork: the same key, a log whose first entry differs, shown to this client next.
    const fork = await ReceiptLog.open(join(scratch, 'e-fork'), ORIGIN, key);
    await makeReceipt(fork, fakeContainer(), fakeContainer());
    const forked = await makeReceipt(fork, fakeContainer(), fakeContainer());
    const forkProof = await fork.consistency(1);
    let caught: unknown;
    try {
      verifyReceipt(
        forked,
        { publicKey: key.publicKey },
        { previousCheckpoint: held, consistencyProof: forkProof.consistency?.hashes ?? [] },
      );
    } catch (error) {
      caught = error;
    }
    expect((caught as { code?: string }).code).toBe('PROV_LOG_CONSISTENCY_INVALID');
    // Same size (2), different root: caught without any proof.
    let split: unknown;
    try {
      verifyReceipt(
        forked,
        { publicKey: key.publicKey },
        { previousCheckpoint: second.proof.checkpoint, consistencyProof: [] },
      );
    } catch (error) {
      split = error;
    }
    expect((split as { code?: string }).code).toBe('PROV_LOG_CONSISTENCY_INVALID');
  });

  it('a torn last append is dropped when the log reopens; receipts handed out stay provable', async () => {
    const dir = join(scratch, 'f');
    const log = await ReceiptLog.open(dir, ORIGIN, key);
    const receipt = await makeReceipt(log, fakeContainer(), fakeContainer());
    writeFileSync(join(dir, 'leaves'), randomBytes(13), { flag: 'a' });
    const reopened = await ReceiptLog.open(dir, ORIGIN, key);
    expect(reopened.size).toBe(1);
    const proof = await reopened.inclusion(0);
    expect(proof.inclusion?.leafHash).toBe(receipt.proof.inclusion?.leafHash);
    await expect(ReceiptLog.open(dir, ORIGIN, other)).rejects.toMatchObject({ code: 'PROV_KEY_INVALID' });
  });
  it('a crash that loses unflushed checkpoints loses nothing handed out: the same bytes are signed again', async () => {
    const dir = join(scratch, 'lost-checkpoints');
    const log = await ReceiptLog.open(dir, ORIGIN, key);
    const receipts: InferenceReceipt[] = [];
    for (let i = 0; i < 3; i++) receipts.push(await makeReceipt(log, fakeContainer(), fakeContainer()));
    await log.close();
    expect(receipts.map((r) => r.proof.treeSize)).toEqual([1, 2, 3]);
    // What a crash before the writeback can leave: the leaves (flushed), a torn latest checkpoint,
    // and the per-size copies of the last two commits gone.
    writeFileSync(join(dir, 'checkpoint'), '');
    rmSync(join(dir, 'checkpoints', '2'));
    rmSync(join(dir, 'checkpoints', '3'));
    // A reader without the key refuses the torn checkpoint rather than trusting the leaves alone.
    await expect(LogStore.open(dir)).rejects.toMatchObject({ code: 'PROV_LOG_CORRUPT' });
    const reopened = await ReceiptLog.open(dir, ORIGIN, key);
    expect(reopened.size).toBe(3);
    expect(await reopened.checkpoint()).toBe(receipts[2]?.proof.checkpoint);
    expect(await reopened.store.checkpointAt(2)).toBe(receipts[1]?.proof.checkpoint);
    const proof = await reopened.inclusion(1, 2);
    expect(proof.checkpoint).toBe(receipts[1]?.proof.checkpoint);
    // Every receipt handed out still verifies, from the oldest checkpoint a client held.
    const consistency = await reopened.consistency(1, 3);
    verifyReceipt(
      receipts[2] as InferenceReceipt,
      { publicKey: key.publicKey },
      {
        previousCheckpoint: receipts[0]?.proof.checkpoint as string,
        consistencyProof: consistency.consistency?.hashes ?? [],
      },
    );
    await expect(reopened.store.checkpointAt(4)).rejects.toMatchObject({ code: 'PROV_LOG_RANGE' });
    // A reader can open the repaired directory again without the key.
    expect((await LogStore.open(dir)).signedSize).toBe(3);
    await reopened.close();
  });

  it('group commit: requests arriving while a commit runs share the next one (one flush, one checkpoint)', async () => {
    const dir = join(scratch, 'group');
    const log = await ReceiptLog.open(dir, ORIGIN, key);
    const entries = Array.from({ length: 8 }, (_, i) => new TextEncoder().encode(`entry ${i}`));
    // The first append starts a commit at once; the seven made meanwhile wait for the next one.
    const proofs = await Promise.all(entries.map((e) => log.append(e)));
    expect(proofs.map((p) => p.treeSize)).toEqual([1, 8, 8, 8, 8, 8, 8, 8]);
    expect(new Set(proofs.slice(1).map((p) => p.checkpoint)).size).toBe(1);
    expect(readdirSync(join(dir, 'checkpoints')).sort()).toEqual(['0', '1', '8']);
    proofs.forEach((p, i) => {
      expect(p.inclusion?.index).toBe(i);
    });
    await log.close();
  });

  it('rewritten leaves are still caught when the log opens with its key', async () => {
    const dir = join(scratch, 'rewritten');
    const log = await ReceiptLog.open(dir, ORIGIN, key);
    await makeReceipt(log, fakeContainer(), fakeContainer());
    await makeReceipt(log, fakeContainer(), fakeContainer());
    await log.close();
    writeFileSync(join(dir, 'leaves'), randomBytes(64));
    await expect(ReceiptLog.open(dir, ORIGIN, key)).rejects.toMatchObject({ code: 'PROV_LOG_CORRUPT' });
  });
});

describe('the subtree cache of the append-only log', () => {
  it('gives the same roots and proofs as the uncached RFC 9162 definitions, at every size', async () => {
    const { MerkleLog } = await import('../../src/provenance/log/signed-log.ts');
    const { consistencyProof, inclusionProof, treeRoot } = await import('../../src/provenance/log/merkle.ts');
    const leaves = Array.from({ length: 70 }, () => randomBytes(32));
    const log = new MerkleLog('example.test/cache');
    for (const [n, leaf] of leaves.entries()) {
      log.appendLeafHash(leaf);
      const size = n + 1;
      // Interleave queries with appends, as a serving log does.
      expect(toHex(log.root())).toBe(toHex(treeRoot(leaves.slice(0, size))));
      for (const i of [0, Math.floor(size / 2), size - 1]) {
        expect(log.inclusionProof(i).map(toHex)).toEqual(inclusionProof(leaves.slice(0, size), i).map(toHex));
      }
      for (const m of [1, Math.floor(size / 3), size - 1]) {
        if (m < 1 || m > size) continue;
        expect(log.consistencyProof(m).map(toHex)).toEqual(
          consistencyProof(leaves.slice(0, size), m).map(toHex),
        );
      }
    }
  });
});
