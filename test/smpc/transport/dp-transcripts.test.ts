// DP rounds with committed transcripts over real WebSockets: the transcript records the announced
// mechanism's parameters, every client checks them against the plan it was announced, and the
// ledger recomputed from the log alone gives each client's zCDP ε. A server whose transcript
// claims noise in a round announced without DP (so the ledger would count privacy nobody got)
// is caught by every client.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { fromBase64 } from '../../../src/provenance/common/bytes.ts';
import { generateKeyPair } from '../../../src/provenance/common/keys.ts';
import { LogStore } from '../../../src/provenance/log/store.ts';
import { commitTranscript } from '../../../src/provenance/transcript/sign.ts';
import { type RoundTranscript, transcriptStatement } from '../../../src/provenance/transcript/statement.ts';
import { parseTranscriptBundle, transcriptLedger } from '../../../src/provenance/transcript/verify.ts';
import {
  type AggregationClient,
  type ClientRoundRecord,
  planDistributedDiscreteGaussian,
  privatize,
} from '../../../src/smpc/index.ts';
import { connectClient, type Harness, registry, startServer } from './helpers.ts';

const LENGTH = 8;
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

const plan = planDistributedDiscreteGaussian({
  epsilon: 4,
  delta: 1e-5,
  l2Clip: 1,
  valueBits: 12,
  dimension: LENGTH,
  expectedClients: 5,
  minSurvivors: 3,
});

async function round(
  withDp: boolean,
  lie: (t: RoundTranscript) => RoundTranscript,
): Promise<{ records: ClientRoundRecord[]; committed: RoundTranscript[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'confide-dp-transcripts-'));
  dirs.push(dir);
  const key = generateKeyPair('ed25519');
  const store = await LogStore.create(join(dir, 'log'), 'confide.test/dp-rounds', key);
  const reg = registry(5);
  harness = await startServer(reg);
  const h = harness;
  clients = await Promise.all(
    reg.map((c, i) =>
      connectClient(h.server.url, c.id, {
        transcriptKey: key.publicKey,
        ...(withDp
          ? {
              prepare: (r) =>
                privatize(
                  Array.from({ length: LENGTH }, (_, j) => ((i + j) % 5) / 100),
                  r.dp as typeof plan,
                ).values,
            }
          : {}),
      }),
    ),
  );
  await h.server.waitForClients(5, 10_000);
  const committed: RoundTranscript[] = [];
  const result = await h.server.runRound({
    roundId: 'dp-t',
    vectorLength: LENGTH,
    minClients: 5,
    profile: 'honest-but-curious',
    maxRetries: 0,
    ...(withDp ? { dp: plan } : {}),
    commitTranscript: async (t) => {
      const told = lie(t);
      const bundle = await commitTranscript(store, transcriptStatement(told), key);
      committed.push(
        JSON.parse(new TextDecoder().decode(fromBase64(parseTranscriptBundle(bundle).envelope.payload)))
          .predicate,
      );
      return JSON.stringify(bundle);
    },
  });
  expect(result.status, JSON.stringify(result.abort)).toBe('completed');
  const records: ClientRoundRecord[] = [];
  for (let i = 0; i < 400 && records.length < 5; i++) {
    records.length = 0;
    for (const c of clients) {
      const r = c.rounds.find((x) => x.roundId === 'dp-t');
      if (r !== undefined) records.push(r);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(records).toHaveLength(5);
  return { records, committed };
}

describe('DP rounds with committed transcripts', () => {
  it('the transcript names the announced mechanism; the ledger recomputes ρ from the log', async () => {
    const { records, committed } = await round(true, (t) => t);
    for (const r of records) expect(r.transcript).toMatchObject({ status: 'verified' });
    const t = committed[0] as RoundTranscript;
    expect(t.dp?.mechanism).toEqual({
      name: 'distributed-discrete-gaussian',
      l2Sensitivity: plan.l2Sensitivity,
      localVariance: plan.localVariance,
      dimension: LENGTH,
    });
    const [entry] = transcriptLedger(committed, { delta: 1e-5 });
    // One round at 5 survivors: its zCDP ε is within the plan's target for 3.
    expect(entry?.zcdp?.epsilon).toBeGreaterThan(0);
    expect(entry?.zcdp?.epsilon).toBeLessThan(plan.epsilon);
  }, 60_000);

  it('a transcript claiming noise in a round without DP: every client flags it', async () => {
    const { records } = await round(false, (t) => ({
      ...t,
      dp: {
        planEpsilon: 1,
        delta: 1e-5,
        rounds: 1,
        minSurvivors: t.minSurvivors,
        epsilonSpent: 0.1,
        deltaSpent: 1e-5,
        mechanism: {
          name: 'distributed-discrete-gaussian',
          l2Sensitivity: 10,
          localVariance: 1e6,
          dimension: LENGTH,
        },
      },
    }));
    for (const r of records)
      expect(r.transcript).toMatchObject({
        status: 'failed',
        code: 'PROV_TRANSCRIPT_ROUND_MISMATCH',
        message: expect.stringMatching(/claims noise in a round announced without DP/),
      });
  }, 60_000);

  it('a transcript understating the ε the round spent: every client flags it', async () => {
    // The basic ledger (audit --max-epsilon, the default accountant) adds the committed ε: a
    // server that commits less than the plan's ε for the survivors it summed under-reports it.
    const { records } = await round(true, (t) => ({
      ...t,
      dp: t.dp === null ? null : { ...t.dp, epsilonSpent: t.dp.epsilonSpent / 100 },
    }));
    for (const r of records)
      expect(r.transcript).toMatchObject({
        status: 'failed',
        code: 'PROV_TRANSCRIPT_ROUND_MISMATCH',
        message: expect.stringMatching(/spent/),
      });
  }, 60_000);

  it('a transcript understating the δ the round spent: every client flags it', async () => {
    const { records } = await round(true, (t) => ({
      ...t,
      dp: t.dp === null ? null : { ...t.dp, deltaSpent: 0 },
    }));
    for (const r of records)
      expect(r.transcript).toMatchObject({ status: 'failed', code: 'PROV_TRANSCRIPT_ROUND_MISMATCH' });
  }, 60_000);

  it('a transcript naming a smaller sensitivity than the plan: every client flags it', async () => {
    const { records } = await round(true, (t) => ({
      ...t,
      dp:
        t.dp === null || t.dp.mechanism === undefined
          ? null
          : { ...t.dp, mechanism: { ...t.dp.mechanism, l2Sensitivity: t.dp.mechanism.l2Sensitivity / 10 } },
    }));
    for (const r of records)
      expect(r.transcript).toMatchObject({ status: 'failed', code: 'PROV_TRANSCRIPT_ROUND_MISMATCH' });
  }, 60_000);
});
