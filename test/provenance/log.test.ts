import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { toHex, utf8 } from '../../src/internal/bytes.ts';
import { fromBase64 } from '../../src/provenance/common/bytes.ts';
import { generateKeyPair, PrivateKey } from '../../src/provenance/common/keys.ts';
import {
  formatCheckpoint,
  noteVerifier,
  noteVerifierKey,
  parseCheckpoint,
  parseNote,
  parseNoteVerifierKey,
  verifyCheckpoint,
  verifyNote,
} from '../../src/provenance/log/checkpoint.ts';
import { leafHash } from '../../src/provenance/log/merkle.ts';
import { MerkleLog, signNote } from '../../src/provenance/log/signed-log.ts';
import { LogStore, leafHashOfFile } from '../../src/provenance/log/store.ts';
import { verifyLogProof } from '../../src/provenance/log/verify.ts';
import { NOTE } from './merkle-vectors.ts';

const scratch = mkdtempSync(join(tmpdir(), 'confide-log-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const peterKey = new PrivateKey(
  'ed25519',
  fromBase64(NOTE.signerKey.split('+').slice(4).join('+')).subarray(1),
);

describe('C2SP signed notes: golang.org/x/mod/sumdb/note known answers', () => {
  it('the key ID, the verifier key and the signed note are byte for byte those of the Go package', () => {
    expect(noteVerifierKey('PeterNeumann', peterKey.publicKey)).toBe(NOTE.verifierKey);
    expect(signNote(NOTE.text, 'PeterNeumann', peterKey)).toBe(NOTE.signed);
  });

  it('opens the note with one known and one unknown signer; both when both are known', () => {
    const peter = parseNoteVerifierKey(NOTE.verifierKey);
    const enoch = parseNoteVerifierKey(NOTE.enochVerifierKey);
    expect(peter).toMatchObject({ name: 'PeterNeumann', keyId: 'c74f20a3' });
    const both = `${NOTE.signed}${NOTE.enochSignature}`;
    expect(verifyNote(both, [peter])).toEqual({ text: NOTE.text, verifiedBy: ['PeterNeumann'] });
    expect(verifyNote(both, [peter, enoch]).verifiedBy).toEqual(['PeterNeumann', 'EnochRoot']);
    expect(() => verifyNote(both, [{} as never])).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => verifyNote(both, [])).toThrow(
      expect.objectContaining({ code: 'PROV_CHECKPOINT_SIGNATURE_INVALID' }),
    );
    const sig = NOTE.signed.slice(NOTE.text.length + 1);
    const broken = `${NOTE.text}\n${sig.slice(0, 60)}ABCD${sig.slice(60)}`;
    expect(() => verifyNote(broken, [peter])).toThrow(
      expect.objectContaining({ code: 'PROV_CHECKPOINT_SIGNATURE_INVALID' }),
    );
  });

  it('refuses the malformed notes of the Go tests and mangled verifier keys', () => {
    const sig = NOTE.signed.slice(NOTE.text.length + 1);
    const bad = [
      NOTE.text,
      `${NOTE.text}\n`,
      `${NOTE.text}\n${sig.slice(0, -1)}`,
      `\u0001${NOTE.text}\n${sig}`,
      `${NOTE.text}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
      `${NOTE.text}\n${sig}Unexpected line.\n`,
      `${NOTE.text}\n${sig.repeat(101)}`,
    ];
    for (const note of bad)
      expect(() => parseNote(note), JSON.stringify(note)).toThrow(
        expect.objectContaining({ code: 'PROV_CHECKPOINT_MALFORMED' }),
      );
    expect(() => parseNote(new Uint8Array([0xff, 0x0a, 0x0a]))).toThrow(
      expect.objectContaining({ code: 'PROV_CHECKPOINT_MALFORMED' }),
    );
    for (const vkey of [
      'PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
      'PeterNeuman+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
      'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T',
      'PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==',
      'PeterNeumann+c74f20a3',
    ]) {
      expect(() => parseNoteVerifierKey(vkey), vkey).toThrow(
        expect.objectContaining({ code: 'PROV_KEY_INVALID' }),
      );
    }
    expect(() =>
      parseNoteVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'),
    ).toThrow(expect.objectContaining({ code: 'PROV_ALGORITHM_UNSUPPORTED' }));
    expect(() => signNote('no newline', 'PeterNeumann', peterKey)).toThrow(
      expect.objectContaining({ code: 'PROV_NOTE_INVALID' }),
    );
    expect(() => signNote('x\n', 'Peter Neumann', peterKey)).toThrow(
      expect.objectContaining({ code: 'PROV_KEY_INVALID' }),
    );
    expect(() => signNote('x\n', 'p256', generateKeyPair('ecdsa-p256'))).toThrow(
      expect.objectContaining({ code: 'PROV_ALGORITHM_UNSUPPORTED' }),
    );
  });
});

describe('C2SP checkpoints', () => {
  const root = leafHash(utf8('x'));
  it('formats and parses origin, size, base64 root and extension lines', () => {
    const text = formatCheckpoint({
      origin: 'confide.test/log',
      size: 42,
      rootHash: root,
      extensions: ['ext one'],
    });
    expect(text).toBe(`confide.test/log\n42\n${Buffer.from(root).toString('base64')}\next one\n`);
    expect(parseCheckpoint(text)).toEqual({
      origin: 'confide.test/log',
      size: 42,
      rootHash: root,
      extensions: ['ext one'],
    });
    for (const badText of [
      'o\n042\nAA==\n',
      'o\n1\nAA==\n',
      'o\n1\n',
      `o\n-1\n${Buffer.from(root).toString('base64')}\n`,
      'o\n1\nxx\n\n',
      '',
    ]) {
      expect(() => parseCheckpoint(badText), badText).toThrow(
        expect.objectContaining({ code: 'PROV_CHECKPOINT_MALFORMED' }),
      );
    }
  });

  it('verifies with the log key and origin; another key or origin is refused with its code', () => {
    const key = generateKeyPair('ed25519');
    const log = new MerkleLog('confide.test/log');
    log.append(utf8('a'));
    const note = log.signCheckpoint(key);
    const v = noteVerifier('confide.test/log', key.publicKey);
    expect(verifyCheckpoint(note, v)).toMatchObject({ origin: 'confide.test/log', size: 1 });
    expect(() =>
      verifyCheckpoint(note, noteVerifier('confide.test/log', generateKeyPair('ed25519').publicKey)),
    ).toThrow(expect.objectContaining({ code: 'PROV_CHECKPOINT_SIGNATURE_INVALID' }));
    expect(() => verifyCheckpoint(note, v, 'confide.test/other')).toThrow(
      expect.objectContaining({ code: 'PROV_CHECKPOINT_ORIGIN' }),
    );
    const other = new MerkleLog('confide.test/other').signCheckpoint(key);
    // Signed by the same key but under another name: the verifier (named by the origin) does not know it.
    expect(() => verifyCheckpoint(other, v)).toThrow(
      expect.objectContaining({ code: 'PROV_CHECKPOINT_SIGNATURE_INVALID' }),
    );
  });
});

describe('the log: store, proofs, and the attacks it detects', () => {
  const key = generateKeyPair('ed25519');
  const origin = 'confide.test/lineage';
  const entries = Array.from({ length: 7 }, (_, i) => utf8(`attestation ${i}`));

  it('appends, persists, reopens, and proves inclusion and consistency that verify offline', async () => {
    const dir = join(scratch, 'log1');
    const store = await LogStore.create(dir, origin, key);
    expect(store.signedSize).toBe(0);
    const first = await store.appendLeafHashes(entries.slice(0, 3).map(leafHash), key);
    expect(first.indices).toEqual([0, 1, 2]);
    const kept = first.checkpoint; // an auditor keeps this
    await store.appendLeafHashes(entries.slice(3).map(leafHash), key);

    const reopened = await LogStore.open(dir);
    expect(reopened.log.size).toBe(7);
    expect(reopened.signedSize).toBe(7);
    expect(readFileSync(join(dir, 'checkpoint'), 'utf8')).toBe(await reopened.checkpointAt(7));

    const v = parseNoteVerifierKey(JSON.parse(readFileSync(join(dir, 'log.json'), 'utf8')).verifierKey);
    const proof = await reopened.prove({ index: 4, from: 3 });
    const result = verifyLogProof(JSON.stringify(proof), v, { entry: entries[4]!, previousCheckpoint: kept });
    expect(result).toMatchObject({
      valid: true,
      treeSize: 7,
      inclusion: { index: 4 },
      consistentWith: { size: 3 },
    });
    // Against an older signed size too.
    const old = await reopened.prove({ index: 1, size: 3 });
    expect(verifyLogProof(old, v, { entry: entries[1]! }).treeSize).toBe(3);
    await expect(reopened.prove({ index: 1, size: 5 })).rejects.toMatchObject({ code: 'PROV_LOG_RANGE' });

    // A streamed file leaf hash equals the in-memory one.
    writeFileSync(join(scratch, 'e.bin'), entries[2] as Uint8Array);
    expect(toHex(await leafHashOfFile(join(scratch, 'e.bin')))).toBe(
      toHex(leafHash(entries[2] as Uint8Array)),
    );
  });

  it('a tampered proof, another entry, a wrong key: each refused with its code', async () => {
    const dir = join(scratch, 'log2');
    const store = await LogStore.create(dir, origin, key);
    await store.appendLeafHashes(entries.map(leafHash), key);
    const v = store.verifier;
    const proof = await store.prove({ index: 2 });
    const tampered = {
      ...proof,
      inclusion: { ...proof.inclusion!, hashes: [...proof.inclusion!.hashes].reverse() },
    };
    expect(() => verifyLogProof(tampered, v)).toThrow(
      expect.objectContaining({ code: 'PROV_LOG_INCLUSION_INVALID' }),
    );
    expect(() => verifyLogProof(proof, v, { entry: utf8('not in the log') })).toThrow(
      expect.objectContaining({ code: 'PROV_LOG_PROOF_MALFORMED' }),
    );
    expect(() => verifyLogProof(proof, noteVerifier(origin, generateKeyPair('ed25519').publicKey))).toThrow(
      expect.objectContaining({ code: 'PROV_CHECKPOINT_SIGNATURE_INVALID' }),
    );
    expect(() => verifyLogProof({ ...proof, treeSize: 6 }, v)).toThrow(
      expect.objectContaining({ code: 'PROV_LOG_PROOF_MALFORMED' }),
    );
    expect(() => verifyLogProof('{"type":"x"}', v)).toThrow(
      expect.objectContaining({ code: 'PROV_LOG_PROOF_MALFORMED' }),
    );
    await expect(
      store.appendLeafHashes([leafHash(utf8('x'))], generateKeyPair('ed25519')),
    ).rejects.toMatchObject({
      code: 'PROV_KEY_INVALID',
    });
  });

  it('a split view (the operator forks the log) is caught by a kept checkpoint: PROV_LOG_CONSISTENCY_INVALID', async () => {
    // Honest history A, seen by auditor 1; a fork B with entry 3 replaced, shown to auditor 2.
    const a = await LogStore.create(join(scratch, 'fork-a'), origin, key);
    const b = await LogStore.create(join(scratch, 'fork-b'), origin, key);
    const { checkpoint: keptByAuditor1 } = await a.appendLeafHashes(entries.slice(0, 5).map(leafHash), key);
    const forked = entries.slice(0, 5).map((e, i) => leafHash(i === 3 ? utf8('back-dated replacement') : e));
    await b.appendLeafHashes(forked, key);
    await b.appendLeafHashes(entries.slice(5).map(leafHash), key);
    // Both checkpoints verify on their own: only comparing views reveals the fork.
    expect(verifyCheckpoint(keptByAuditor1, a.verifier).size).toBe(5);
    const proof = await b.prove({ from: 5 });
    expect(() => verifyLogProof(proof, b.verifier, { previousCheckpoint: keptByAuditor1 })).toThrow(
      expect.objectContaining({ code: 'PROV_LOG_CONSISTENCY_INVALID' }),
    );
    // The honest continuation passes.
    await a.appendLeafHashes(entries.slice(5).map(leafHash), key);
    expect(
      verifyLogProof(await a.prove({ from: 5 }), a.verifier, { previousCheckpoint: keptByAuditor1 }).valid,
    ).toBe(true);
  });

  it('a rewritten or truncated leaves file is refused when the store is opened: PROV_LOG_CORRUPT', async () => {
    const dir = join(scratch, 'log3');
    const store = await LogStore.create(dir, origin, key);
    await store.appendLeafHashes(entries.map(leafHash), key);
    const leaves = readFileSync(join(dir, 'leaves'));
    const rewritten = Uint8Array.from(leaves);
    rewritten[40]! ^= 1;
    writeFileSync(join(dir, 'leaves'), rewritten);
    await expect(LogStore.open(dir)).rejects.toMatchObject({ code: 'PROV_LOG_CORRUPT' });
    writeFileSync(join(dir, 'leaves'), leaves);
    truncateSync(join(dir, 'leaves'), leaves.length - 1);
    await expect(LogStore.open(dir)).rejects.toMatchObject({ code: 'PROV_LOG_CORRUPT' });
    truncateSync(join(dir, 'leaves'), leaves.length - 32);
    await expect(LogStore.open(dir)).rejects.toMatchObject({ code: 'PROV_LOG_CORRUPT' });
    // Leaves appended after the last checkpoint (a crash between writes) are kept, not an error.
    writeFileSync(join(dir, 'leaves'), leaves);
    appendFileSync(join(dir, 'leaves'), leafHash(utf8('pending')));
    const reopened = await LogStore.open(dir);
    expect([reopened.log.size, reopened.signedSize]).toEqual([8, 7]);
    await expect(LogStore.create(dir, origin, key)).rejects.toMatchObject({ code: 'PROV_IO' });
    await expect(LogStore.open(join(scratch, 'nope'))).rejects.toMatchObject({ code: 'PROV_PATH_NOT_FOUND' });
  });
});

describe('the log store: a short write of the leaves file', () => {
  const key = generateKeyPair('ed25519');
  const origin = 'confide.test/short-write';
  const entries = Array.from({ length: 4 }, (_, i) => utf8(`receipt ${i}`));

  it('a short write (a nearly full disk) never signs leaves that are not on disk', async () => {
    const dir = join(scratch, 'short-write');
    const store = await LogStore.create(dir, origin, key);
    const fs = process.getBuiltinModule('node:fs');
    const real = fs.writeSync;
    // The kernel writes what fits and answers the count: only the first 40 of 64 bytes here.
    const spy = vi
      .spyOn(fs, 'writeSync')
      .mockImplementationOnce(((fd: number, data: Uint8Array) =>
        real(fd, data.subarray(0, 40))) as typeof fs.writeSync);
    try {
      await store.appendLeafHashes(entries.slice(0, 2).map(leafHash), key, { syncCheckpoint: false });
    } catch {
      // refusing the append is fine too; signing what is not on disk is not
    } finally {
      spy.mockRestore();
    }
    await store.appendLeafHashes(entries.slice(2).map(leafHash), key, { syncCheckpoint: false });
    await store.close();
    const onDisk = readFileSync(join(dir, 'leaves'));
    expect(onDisk.length).toBe(store.log.size * 32);
    const reopened = await LogStore.open(dir, { repairTail: true, key });
    expect(reopened.log.size).toBe(store.log.size);
    expect(await reopened.checkpointAt()).toBe(await store.checkpointAt());
  });
});

describe('the log store: a failed append it cannot undo', () => {
  const key = generateKeyPair('ed25519');
  const origin = 'confide.test/failed-append';
  const entries = Array.from({ length: 4 }, (_, i) => utf8(`receipt ${i}`));

  it('refuses later appends rather than sign a tree the leaves file does not hold', async () => {
    const dir = join(scratch, 'failed-append');
    const store = await LogStore.create(dir, origin, key);
    const fs = process.getBuiltinModule('node:fs');
    const real = fs.writeSync;
    const handle = await fs.promises.open(join(scratch, 'probe'), 'w');
    const FileHandle = Object.getPrototypeOf(handle) as { truncate: (n?: number) => Promise<void> };
    await handle.close();
    // The leaves reach the file, then the write reports an I/O error and the undo fails too.
    const write = vi.spyOn(fs, 'writeSync').mockImplementationOnce(((fd: number, data: Uint8Array) => {
      real(fd, data);
      throw Object.assign(new Error('EIO'), { code: 'EIO' });
    }) as unknown as typeof fs.writeSync);
    const truncate = vi.spyOn(FileHandle, 'truncate').mockRejectedValueOnce(new Error('EIO'));
    try {
      await expect(
        store.appendLeafHashes(entries.slice(0, 2).map(leafHash), key, { syncCheckpoint: false }),
      ).rejects.toMatchObject({ code: 'PROV_IO' });
    } finally {
      write.mockRestore();
      truncate.mockRestore();
    }
    const next = await store
      .appendLeafHashes(entries.slice(2).map(leafHash), key, { syncCheckpoint: false })
      .catch((e: unknown) => e);
    await store.close();
    if (next instanceof Error) {
      expect(next).toMatchObject({ code: 'PROV_IO' });
      return;
    }
    // Appending on is only acceptable when the leaves file holds exactly the signed tree.
    expect(readFileSync(join(dir, 'leaves')).length).toBe(store.log.size * 32);
  });
});

describe('the log store: crash repair of unflushed checkpoints', () => {
  const key = generateKeyPair('ed25519');
  const origin = 'confide.test/torn-checkpoints';
  const entries = Array.from({ length: 3 }, (_, i) => utf8(`receipt ${i}`));

  it('a torn checkpoint file above the fallback is signed again, not served torn', async () => {
    const dir = join(scratch, 'torn-checkpoints');
    const store = await LogStore.create(dir, origin, key);
    const handedOut: string[] = [];
    for (const e of entries) {
      const { checkpoint } = await store.appendLeafHashes([leafHash(e)], key, { syncCheckpoint: false });
      handedOut.push(checkpoint);
    }
    await store.close();
    // The crash tore the unflushed checkpoints of sizes 2 and 3 (`checkpoint` is size 3's inode).
    writeFileSync(join(dir, 'checkpoints', '2'), '');
    writeFileSync(join(dir, 'checkpoint'), '');
    const reopened = await LogStore.open(dir, { repairTail: true, key });
    expect(await reopened.checkpointAt(3)).toBe(handedOut[2]);
    expect(await reopened.checkpointAt(2)).toBe(handedOut[1]);
    const v = reopened.verifier;
    const proof = await reopened.prove({ index: 1, size: 2 });
    expect(verifyLogProof(proof, v, { entry: entries[1]! }).treeSize).toBe(2);
  });
});

describe('the log store: re-signing after a crash repair writes nothing new', () => {
  const key = generateKeyPair('ed25519');
  const origin = 'confide.test/resign-no-write';

  it('any size above the fallback is answered without a file per request, and again after a clean restart', async () => {
    const dir = join(scratch, 'resign-no-write');
    const store = await LogStore.create(dir, origin, key);
    const handedOut: string[] = [];
    for (let i = 0; i < 4; i++) {
      const hashes = [0, 1, 2].map((j) => leafHash(utf8(`receipt ${i}.${j}`)));
      handedOut.push((await store.appendLeafHashes(hashes, key, { syncCheckpoint: false })).checkpoint);
    }
    await store.close();
    // The crash lost every unflushed checkpoint file above size 3.
    for (const size of [6, 9]) rmSync(join(dir, 'checkpoints', String(size)));
    writeFileSync(join(dir, 'checkpoint'), '');
    const files = () => readdirSync(join(dir, 'checkpoints')).length;
    const repaired = await LogStore.open(dir, { repairTail: true, key });
    const before = files();
    // Anyone may ask the public log routes for any size: no file (and no flush) per request.
    for (let size = 4; size < 12; size++) await repaired.checkpointAt(size);
    expect(files()).toBe(before);
    expect(await repaired.checkpointAt(6)).toBe(handedOut[1]);
    // A clean restart still answers the checkpoints lost in the crash.
    const again = await LogStore.open(dir, { repairTail: true, key });
    expect(await again.checkpointAt(6)).toBe(handedOut[1]);
    expect(await again.checkpointAt(9)).toBe(handedOut[2]);
  });
});
