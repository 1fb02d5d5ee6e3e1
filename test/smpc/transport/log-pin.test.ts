// The transcript log pinned across rounds, over real WebSockets on loopback with real log
// directories: each client keeps the checkpoint its last transcript verified against and requires
// a consistency proof from it in every later round. A server that switches to a forked log
// between rounds (same origin, same key, another history) is caught with
// PROV_LOG_CONSISTENCY_INVALID, and the evidence — two checkpoints signed by the server's key that
// no consistency proof links — is kept.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { generateKeyPair, type PrivateKey } from '../../../src/provenance/common/keys.ts';
import { noteVerifier } from '../../../src/provenance/log/checkpoint.ts';
import { leafHash } from '../../../src/provenance/log/merkle.ts';
import { LogStore } from '../../../src/provenance/log/store.ts';
import { verifyCheckpointConsistency } from '../../../src/provenance/log/verify.ts';
import { commitTranscript, transcriptConsistencyProver } from '../../../src/provenance/transcript/sign.ts';
import { transcriptStatement } from '../../../src/provenance/transcript/statement.ts';
import { type AggregationClient, type ClientRoundRecord, parseLogPin } from '../../../src/smpc/index.ts';
import { decodeFrame, encodeFrame } from '../../../src/smpc/transport/frames.ts';
import { bundleWithConsistency, pinCheckpoint } from '../../../src/smpc/transport/log-pin.ts';
import { connectClient, expectExact, type Harness, registry, startServer } from './helpers.ts';

const ORIGIN = 'confide.test/pinned-log';
let harness: Harness | undefined;
let clients: AggregationClient[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await harness?.server.close();
  harness = undefined;
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The log proof of the bundle a client kept. */
function proofOf(r: ClientRoundRecord): { checkpoint: string; consistency?: { fromSize: number } } {
  const bundle = r.transcript === undefined ? undefined : (r.transcript.bundle as { proof: unknown });
  return bundle?.proof as { checkpoint: string; consistency?: { fromSize: number } };
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'confide-log-pin-'));
  dirs.push(dir);
  return dir;
}

async function round(
  roundId: string,
  store: LogStore,
  key: PrivateKey,
  prove: boolean,
): Promise<Map<string, ClientRoundRecord>> {
  const h = harness as Harness;
  const result = await h.server.runRound({
    roundId,
    vectorLength: 3,
    minClients: clients.length,
    shareSum: true,
    maxRetries: 0,
    commitTranscript: async (t) => JSON.stringify(await commitTranscript(store, transcriptStatement(t), key)),
    ...(prove ? { proveTranscriptConsistency: transcriptConsistencyProver(store) } : {}),
  });
  expectExact(result, 3);
  const records = new Map<string, ClientRoundRecord>();
  for (let i = 0; i < 400 && records.size < clients.length; i++) {
    for (const c of clients) {
      const r = c.rounds.find((x) => x.roundId === roundId);
      if (r !== undefined) records.set(c.id, r);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(records.size).toBe(clients.length);
  return records;
}

describe('join frames carry the pinned log size', () => {
  it('round-trips with and without a size, and refuses a size of 0', () => {
    const session = new Uint8Array(16).fill(7);
    const plain = decodeFrame(encodeFrame({ kind: 'join', roundId: 'r', session }));
    expect(plain).toEqual({ kind: 'join', roundId: 'r', session });
    const pinned = decodeFrame(encodeFrame({ kind: 'join', roundId: 'r', session, logSize: 4_000_000_000 }));
    expect(pinned).toMatchObject({ kind: 'join', logSize: 4_000_000_000 });
    expect(() => encodeFrame({ kind: 'join', roundId: 'r', session, logSize: 0 })).toThrow(/logSize/);
    const zero = encodeFrame({ kind: 'join', roundId: 'r', session, logSize: 1 });
    zero[zero.length - 1] = 0;
    expect(() => decodeFrame(zero)).toThrow(expect.objectContaining({ code: 'SMPC_FRAME_MALFORMED' }));
  });

  it('a pin file must agree with its checkpoint', async () => {
    const key = generateKeyPair('ed25519');
    const store = await LogStore.create(join(tempDir(), 'log'), ORIGIN, key);
    await store.appendLeafHashes([leafHash(new TextEncoder().encode('e0'))], key);
    const pin = pinCheckpoint(await store.checkpointAt(1));
    expect(pin).toMatchObject({ origin: ORIGIN, treeSize: 1 });
    expect(parseLogPin(JSON.stringify(pin))).toEqual(pin);
    expect(() => parseLogPin({ ...pin, treeSize: 2 })).toThrow(/tree size/);
    expect(() => parseLogPin({ ...pin, checkpoint: 'not a note' })).toThrow(/checkpoint/);
    expect(() => parseLogPin('{')).toThrow(/not JSON/);
    // The server side: no prover or a pin beyond the log leaves the bundle as it was.
    const bundle = new TextEncoder().encode(JSON.stringify({ proof: { treeSize: 1 } }));
    expect(await bundleWithConsistency(bundle, 5, async () => [])).toBe(bundle);
    expect(await bundleWithConsistency(bundle, 1, null)).toBe(bundle);
  });
});

describe('a log pinned across rounds', () => {
  it('verifies consistency round after round, catches a forked log and keeps the evidence', async () => {
    const key = generateKeyPair('ed25519');
    const dir = tempDir();
    const honest = await LogStore.create(join(dir, 'honest'), ORIGIN, key);
    const reg = registry(5);
    harness = await startServer(reg);
    const h = harness;
    clients = await Promise.all(
      reg.map((c) => connectClient(h.server.url, c.id, { transcriptKey: key.publicKey })),
    );
    await h.server.waitForClients(5, 10_000);

    // Round 1: nothing pinned yet; every client pins the checkpoint of size 1.
    const r1 = await round('pin-1', honest, key, true);
    for (const r of r1.values()) {
      expect(r.transcript).toMatchObject({ status: 'verified', logIndex: 0 });
      expect(r.transcript?.pinned).toBeUndefined();
      expect(r.transcript?.pin).toMatchObject({ origin: ORIGIN, treeSize: 1 });
    }
    for (const c of clients) expect(c.logPin?.treeSize).toBe(1);

    // Round 2, same log: each client's transcript proves consistency from its pin.
    const r2 = await round('pin-2', honest, key, true);
    for (const r of r2.values()) {
      expect(r.transcript).toMatchObject({ status: 'verified', logIndex: 1 });
      expect(r.transcript?.pinned?.treeSize).toBe(1);
      expect(proofOf(r).consistency).toMatchObject({ fromSize: 1 });
    }
    const pinAfter2 = clients[0]?.logPin;
    expect(pinAfter2?.treeSize).toBe(2);

    // A client restarts with its persisted pin (what `--log-state` does).
    await clients[0]?.close();
    clients[0] = await connectClient(h.server.url, 'c0', {
      transcriptKey: key.publicKey,
      logPin: parseLogPin(JSON.stringify(pinAfter2)),
    });
    await h.server.waitForClients(5, 10_000);

    // The server forks: a log with the same origin and key, another first entry, then the transcript.
    const forked = await LogStore.create(join(dir, 'forked'), ORIGIN, key);
    await forked.appendLeafHashes(
      [leafHash(new TextEncoder().encode('a rewritten history')), leafHash(new TextEncoder().encode('x'))],
      key,
    );
    const r3 = await round('pin-3', forked, key, true);
    for (const [id, r] of r3) {
      expect(r.transcript, id).toMatchObject({ status: 'failed', code: 'PROV_LOG_CONSISTENCY_INVALID' });
      // The evidence: the pinned checkpoint and the forked one, both signed by the server's key.
      const pinned = r.transcript?.pinned?.checkpoint as string;
      const shown = proofOf(r).checkpoint;
      expect(() =>
        verifyCheckpointConsistency(pinned, shown, [], noteVerifier(ORIGIN, key.publicKey)),
      ).toThrow(expect.objectContaining({ code: 'PROV_LOG_CONSISTENCY_INVALID' }));
    }
    // The pin did not move: the fork stays caught, even when the server sends no proof at all.
    for (const c of clients) expect(c.logPin?.treeSize).toBe(2);
    const r4 = await round('pin-4', forked, key, false);
    for (const r of r4.values())
      expect(r.transcript).toMatchObject({ status: 'failed', code: 'PROV_LOG_PROOF_MALFORMED' });
    for (const c of clients) expect(c.logPin?.checkpoint).toBe(pinAfter2?.checkpoint);
  }, 60_000);
});
