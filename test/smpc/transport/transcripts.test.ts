// Committed round transcripts over real WebSockets on loopback: the server signs each session's
// transcript, appends it to its log (a real log directory) and sends the bundle before the result;
// every client checks it with the server's public key. A deviating server (its commit step lies)
// is caught by the clients, each lie with its code.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../../src/provenance/common/keys.ts';
import { LogStore } from '../../../src/provenance/log/store.ts';
import { commitTranscript } from '../../../src/provenance/transcript/sign.ts';
import { type RoundTranscript, transcriptStatement } from '../../../src/provenance/transcript/statement.ts';
import type { AggregationClient, ClientRoundRecord } from '../../../src/smpc/index.ts';
import { connectClient, expectExact, type Harness, registry, startServer } from './helpers.ts';

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

async function serverLog(): Promise<{ store: LogStore; key: ReturnType<typeof generateKeyPair> }> {
  const dir = mkdtempSync(join(tmpdir(), 'confide-ws-transcripts-'));
  dirs.push(dir);
  const key = generateKeyPair('ed25519');
  return { store: await LogStore.create(join(dir, 'log'), 'confide.test/smpc-server', key), key };
}

async function roundWith(
  lie: (t: RoundTranscript) => RoundTranscript | null,
): Promise<{ records: Map<string, ClientRoundRecord>; store: LogStore }> {
  const { store, key } = await serverLog();
  const reg = registry(5);
  harness = await startServer(reg);
  const h = harness;
  clients = await Promise.all(
    reg.map((c) => connectClient(h.server.url, c.id, { transcriptKey: key.publicKey })),
  );
  await h.server.waitForClients(5, 10_000);
  const result = await h.server.runRound({
    roundId: 'tr-1',
    vectorLength: 4,
    minClients: 5,
    shareSum: true,
    maxRetries: 0,
    commitTranscript: async (t) => {
      const told = lie(t);
      if (told === null) throw new Error('the log is down');
      return JSON.stringify(await commitTranscript(store, transcriptStatement(told), key));
    },
  });
  expectExact(result, 4);
  const records = new Map<string, ClientRoundRecord>();
  for (let i = 0; i < 400 && records.size < 5; i++) {
    for (const c of clients) {
      const r = c.rounds.find((x) => x.roundId === 'tr-1');
      if (r !== undefined) records.set(c.id, r);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(records.size).toBe(5);
  return { records, store };
}

describe('committed transcripts over WebSocket', () => {
  it('an honest server: every client verifies its transcript, logged at index 0', async () => {
    const { records, store } = await roundWith((t) => t);
    for (const r of records.values()) {
      expect(r.transcript).toMatchObject({ status: 'verified', logIndex: 0, notChecked: [] });
    }
    expect(store.log.size).toBe(1);
  });

  it('a server that drops c2 silently: c2 sees PROV_TRANSCRIPT_INPUT_MISSING, the others a survivor lie', async () => {
    const drop = (ids: readonly string[]): string[] => ids.filter((id) => id !== 'c2');
    const { records } = await roundWith((t) => ({
      ...t,
      stages: { ...t.stages, masked: drop(t.stages.masked), unmasked: drop(t.stages.unmasked) },
      maskedInputs: t.maskedInputs.filter((m) => m.id !== 'c2'),
      survivors: drop(t.survivors),
    }));
    expect(records.get('c2')?.transcript).toMatchObject({
      status: 'failed',
      code: 'PROV_TRANSCRIPT_INPUT_MISSING',
    });
    expect(records.get('c0')?.transcript).toMatchObject({
      status: 'failed',
      code: 'PROV_TRANSCRIPT_SURVIVORS_INVALID',
    });
    // The evidence kept is the bundle as received.
    expect((records.get('c2')?.transcript?.bundle as { type?: string } | undefined)?.type).toBe(
      'confide.round-transcript/v1',
    );
  });

  it('a server that commits another sum than it released: PROV_TRANSCRIPT_AGGREGATE_MISMATCH', async () => {
    const { records } = await roundWith((t) => ({
      ...t,
      aggregate: { digest: 'ab'.repeat(32), lanes: t.aggregate?.lanes ?? 0 },
    }));
    for (const r of records.values())
      expect(r.transcript).toMatchObject({ status: 'failed', code: 'PROV_TRANSCRIPT_AGGREGATE_MISMATCH' });
  });

  it('a server that lowers the committed threshold: PROV_TRANSCRIPT_SURVIVORS_INVALID', async () => {
    const { records } = await roundWith((t) => ({ ...t, parameters: { ...t.parameters, threshold: 2 } }));
    for (const r of records.values())
      expect(r.transcript).toMatchObject({ status: 'failed', code: 'PROV_TRANSCRIPT_SURVIVORS_INVALID' });
  });

  it('a server that sends no transcript: PROV_TRANSCRIPT_MISSING', async () => {
    const { records } = await roundWith(() => null);
    for (const r of records.values())
      expect(r.transcript).toMatchObject({ status: 'missing', code: 'PROV_TRANSCRIPT_MISSING' });
  });
});
