import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../../src/provenance/common/bytes.ts';
import { generateKeyPair } from '../../src/provenance/common/keys.ts';
import { LogStore } from '../../src/provenance/log/store.ts';
import { commitTranscript, signTranscript } from '../../src/provenance/transcript/sign.ts';
import {
  laneDigest,
  type RoundTranscript,
  transcriptStatement,
} from '../../src/provenance/transcript/statement.ts';
import {
  checkLedger,
  type TranscriptBundle,
  transcriptLedger,
  verifyRoundTranscript,
  verifyTranscriptBundle,
} from '../../src/provenance/transcript/verify.ts';
import { createRing } from '../../src/smpc/primitives/ring.ts';
import type { RoundParams } from '../../src/smpc/protocol/params.ts';
import { runRound } from '../../src/smpc/protocol/round.ts';
import type { ServerState } from '../../src/smpc/protocol/server.ts';
import { maskedInputDigest, transcriptOfRound } from '../../src/smpc/protocol/transcript.ts';
import { InMemoryTransport, SERVER_ADDRESS } from '../../src/smpc/protocol/transport.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Records the masked vector each client sends: what the client itself knows it sent. */
class RecordingTransport extends InMemoryTransport {
  readonly sent = new Map<string, Uint32Array>();
  override send(from: string, to: string, message: unknown): void {
    const m = message as { type?: string; masked?: Uint32Array };
    if (to === SERVER_ADDRESS && m.type === 'masked-input' && m.masked instanceof Uint32Array)
      this.sent.set(from, Uint32Array.from(m.masked));
    super.send(from, to, message);
  }
}

function params(n: number): RoundParams {
  return {
    roundId: 'round-1',
    profile: 'semi-malicious',
    clients: Array.from({ length: n }, (_, i) => `c${i}`),
    threshold: 3,
    graph: 'complete',
    degree: n - 1,
    graphSeed: new Uint8Array(32).fill(1),
    ringBits: 32,
    vectorLength: 8,
    prg: 'aes-256-ctr',
  };
}

async function honestRound(): Promise<{
  state: ServerState;
  sent: Map<string, Uint32Array>;
  p: RoundParams;
}> {
  const p = params(5);
  const ring = createRing(32);
  const inputs = new Map(
    p.clients.map((id) => [id, crypto.getRandomValues(new Uint32Array(8)).map((x) => x & ring.mask)]),
  );
  const net = new RecordingTransport();
  const out = await runRound({ params: p, inputs, transport: net, limits: { minSurvivors: 4 } });
  expect(out.server.stage).toBe('done');
  return { state: out.server, sent: net.sent, p };
}

async function newLog(): Promise<{ store: LogStore; key: ReturnType<typeof generateKeyPair> }> {
  const dir = mkdtempSync(join(tmpdir(), 'confide-transcript-'));
  dirs.push(dir);
  const key = generateKeyPair('ed25519');
  return { store: await LogStore.create(join(dir, 'log'), 'confide.test/smpc', key), key };
}

const dp = { planEpsilon: 2, delta: 1e-6, rounds: 2, minSurvivors: 4, epsilonSpent: 0.75, deltaSpent: 1e-6 };

describe('round transcripts: committed by the server, checked by each client', () => {
  it('an honest round verifies for every client, and the statement is in-toto v1 in DSSE', async () => {
    const { state, sent } = await honestRound();
    const { store, key } = await newLog();
    const t = transcriptOfRound(state, { dp });
    expect(t.stages.masked).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    const bundle = await commitTranscript(store, transcriptStatement(t), key);
    const statement = JSON.parse(new TextDecoder().decode(fromBase64(bundle.envelope.payload)));
    expect(statement._type).toBe('https://in-toto.io/Statement/v1');
    expect(statement.subject[0].digest.sha256).toBe(laneDigest(state.result as Uint32Array));
    for (const [id, masked] of sent) {
      const v = verifyRoundTranscript(
        JSON.stringify(bundle),
        { publicKey: key.publicKey },
        {
          clientId: id,
          roundId: 'round-1',
          maskedDigest: maskedInputDigest(masked),
          threshold: 3,
          minSurvivors: 4,
          survivors: state.survivors ?? [],
          aggregateDigest: laneDigest(state.result as Uint32Array),
        },
      );
      expect(v.log.inclusion?.index).toBe(0);
      expect(v.notChecked).toEqual([]);
    }
  });

  it('a server that drops a client silently is caught by that client (PROV_TRANSCRIPT_INPUT_MISSING)', async () => {
    const { state, sent } = await honestRound();
    const { store, key } = await newLog();
    // The deviating server leaves c2 out of U3 and the sum, and tells nobody.
    const lying: ServerState = {
      ...state,
      masked: state.masked.filter((m) => m.id !== 'c2'),
      survivors: (state.survivors ?? []).filter((id) => id !== 'c2'),
      unmasked: state.unmasked.filter((u) => u.id !== 'c2'),
    };
    const bundle = await commitTranscript(store, transcriptStatement(transcriptOfRound(lying)), key);
    // The others see a consistent transcript.
    expect(() =>
      verifyRoundTranscript(
        bundle,
        { publicKey: key.publicKey },
        { clientId: 'c0', maskedDigest: maskedInputDigest(sent.get('c0') as Uint32Array) },
      ),
    ).not.toThrow();
    expect(() =>
      verifyRoundTranscript(
        bundle,
        { publicKey: key.publicKey },
        { clientId: 'c2', maskedDigest: maskedInputDigest(sent.get('c2') as Uint32Array) },
      ),
    ).toThrow(expect.objectContaining({ code: 'PROV_TRANSCRIPT_INPUT_MISSING' }));
  });

  it("a server that swaps a client's masked input is caught (PROV_TRANSCRIPT_INPUT_MISSING)", async () => {
    const { state, sent } = await honestRound();
    const { store, key } = await newLog();
    const lying: ServerState = {
      ...state,
      masked: state.masked.map((m) => (m.id === 'c1' ? { ...m, masked: m.masked.map((x) => x ^ 1) } : m)),
    };
    const bundle = await commitTranscript(store, transcriptStatement(transcriptOfRound(lying)), key);
    expect(() =>
      verifyRoundTranscript(
        bundle,
        { publicKey: key.publicKey },
        { clientId: 'c1', maskedDigest: maskedInputDigest(sent.get('c1') as Uint32Array) },
      ),
    ).toThrow(expect.objectContaining({ code: 'PROV_TRANSCRIPT_INPUT_MISSING' }));
  });

  it('a server that lies about the survivors is caught (PROV_TRANSCRIPT_SURVIVORS_INVALID)', async () => {
    const { state, sent } = await honestRound();
    const { store, key } = await newLog();
    const bundle = await commitTranscript(store, transcriptStatement(transcriptOfRound(state)), key);
    // It tells c0 that only four clients are in the sum (e.g. to make c0 believe c4 dropped).
    expect(() =>
      verifyRoundTranscript(
        bundle,
        { publicKey: key.publicKey },
        {
          clientId: 'c0',
          maskedDigest: maskedInputDigest(sent.get('c0') as Uint32Array),
          survivors: ['c0', 'c1', 'c2', 'c3'],
        },
      ),
    ).toThrow(expect.objectContaining({ code: 'PROV_TRANSCRIPT_SURVIVORS_INVALID' }));
    // A transcript whose sum holds fewer than the DP floor is refused by anyone who reads it.
    const { store: s2, key: k2 } = await newLog();
    const thin: ServerState = {
      ...state,
      masked: state.masked.filter((m) => m.id === 'c0' || m.id === 'c1' || m.id === 'c2'),
      survivors: ['c0', 'c1', 'c2'],
      unmasked: state.unmasked.filter((u) => ['c0', 'c1', 'c2'].includes(u.id)),
    };
    const b2 = await commitTranscript(
      s2,
      transcriptStatement(transcriptOfRound(thin, { minSurvivors: 4 })),
      k2,
    );
    expect(() => verifyTranscriptBundle(b2, { publicKey: k2.publicKey })).toThrow(
      expect.objectContaining({ code: 'PROV_TRANSCRIPT_SURVIVORS_INVALID' }),
    );
    // … and one that commits a floor lower than the client joined under is caught by the client.
    const b3 = await commitTranscript(
      s2,
      transcriptStatement(transcriptOfRound(thin, { minSurvivors: 3 })),
      k2,
    );
    expect(() =>
      verifyRoundTranscript(
        b3,
        { publicKey: k2.publicKey },
        { clientId: 'c0', maskedDigest: maskedInputDigest(sent.get('c0') as Uint32Array), minSurvivors: 4 },
      ),
    ).toThrow(expect.objectContaining({ code: 'PROV_TRANSCRIPT_SURVIVORS_INVALID' }));
  });

  it('a server that releases a different sum is caught (PROV_TRANSCRIPT_AGGREGATE_MISMATCH)', async () => {
    const { state, sent } = await honestRound();
    const { store, key } = await newLog();
    const bundle = await commitTranscript(store, transcriptStatement(transcriptOfRound(state)), key);
    const other = Uint32Array.from(state.result as Uint32Array);
    other[0] = ((other[0] as number) + 1) >>> 0;
    expect(() =>
      verifyRoundTranscript(
        bundle,
        { publicKey: key.publicKey },
        {
          clientId: 'c3',
          maskedDigest: maskedInputDigest(sent.get('c3') as Uint32Array),
          aggregateDigest: laneDigest(other),
        },
      ),
    ).toThrow(expect.objectContaining({ code: 'PROV_TRANSCRIPT_AGGREGATE_MISMATCH' }));
  });

  it('tampering with the statement, the proof or the checkpoint fails with its code', async () => {
    const { state } = await honestRound();
    const { store, key } = await newLog();
    const bundle = await commitTranscript(store, transcriptStatement(transcriptOfRound(state)), key);
    const trust = { publicKey: key.publicKey };
    const payload = JSON.parse(new TextDecoder().decode(fromBase64(bundle.envelope.payload)));
    payload.predicate.survivors = payload.predicate.survivors.slice(1);
    const forged: TranscriptBundle = {
      ...bundle,
      envelope: { ...bundle.envelope, payload: toBase64(new TextEncoder().encode(JSON.stringify(payload))) },
    };
    expect(() => verifyTranscriptBundle(forged, trust)).toThrow(
      expect.objectContaining({ code: 'PROV_SIGNATURE_INVALID' }),
    );
    // Re-signed by another key: still refused (not the server's key).
    const other = generateKeyPair('ed25519');
    const resigned = {
      ...bundle,
      envelope: signTranscript(transcriptStatement(transcriptOfRound(state)), other),
    };
    expect(() => verifyTranscriptBundle(resigned, trust)).toThrow(
      expect.objectContaining({ code: 'PROV_SIGNATURE_INVALID' }),
    );
    // A second round appended; the first bundle's envelope with the second's proof is refused.
    const second = await commitTranscript(
      store,
      transcriptStatement(transcriptOfRound({ ...state, params: { ...state.params, roundId: 'round-2' } })),
      key,
    );
    expect(() => verifyTranscriptBundle({ ...bundle, proof: second.proof }, trust)).toThrow(
      expect.objectContaining({ code: 'PROV_LOG_PROOF_MALFORMED' }),
    );
    const inc = bundle.proof.inclusion as NonNullable<typeof bundle.proof.inclusion>;
    const badPath = {
      ...bundle,
      proof: { ...second.proof, inclusion: { ...inc, hashes: [`${'0'.repeat(64)}`] } },
    };
    expect(() => verifyTranscriptBundle(badPath, trust)).toThrow(
      expect.objectContaining({ code: 'PROV_LOG_INCLUSION_INVALID' }),
    );
    const cp = bundle.proof.checkpoint.replace(/\n1\n/, '\n2\n');
    expect(() =>
      verifyTranscriptBundle({ ...bundle, proof: { ...bundle.proof, checkpoint: cp } }, trust),
    ).toThrow(expect.objectContaining({ code: 'PROV_CHECKPOINT_SIGNATURE_INVALID' }));
    expect(() => verifyTranscriptBundle({ type: 'x' }, trust)).toThrow(
      expect.objectContaining({ code: 'PROV_TRANSCRIPT_MALFORMED' }),
    );
  });

  it("the ε ledger sums each client's rounds and holds it to a budget", async () => {
    const { state } = await honestRound();
    const r1 = transcriptOfRound(state, { roundId: 'a', dp });
    const r2 = transcriptOfRound(
      {
        ...state,
        survivors: (state.survivors ?? []).filter((x) => x !== 'c4'),
        masked: state.masked.filter((m) => m.id !== 'c4'),
      },
      { roundId: 'b', dp },
    );
    const ledger = transcriptLedger([r1, r2]);
    expect(ledger.find((e) => e.clientId === 'c0')).toMatchObject({ rounds: ['a', 'b'], epsilon: 1.5 });
    expect(ledger.find((e) => e.clientId === 'c4')).toMatchObject({ rounds: ['a'], epsilon: 0.75 });
    expect(() => checkLedger(ledger, { epsilon: 1.5 })).not.toThrow();
    expect(() => checkLedger(ledger, { epsilon: 1 })).toThrow(
      expect.objectContaining({ code: 'PROV_LEDGER_INVALID' }),
    );
    expect(() => transcriptLedger([r1, r1])).toThrow(
      expect.objectContaining({ code: 'PROV_LEDGER_INVALID' }),
    );
    const noDp: RoundTranscript = transcriptOfRound(state, { roundId: 'c' });
    expect(() => checkLedger(transcriptLedger([noDp]), { epsilon: 10 })).toThrow(
      expect.objectContaining({ code: 'PROV_LEDGER_INVALID' }),
    );
  });
});
