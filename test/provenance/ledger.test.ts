// The per-client ε ledger over round transcripts: rounds without DP make a client's ε unbounded
// (flagged, and any budget check fails), and a zCDP line composes the rounds from the mechanism
// parameters each transcript records. The zCDP numbers are checked against an independent Python
// implementation (test/fixtures/dp_ledger_oracle.py: Canonne–Kamath–Steinke's cdp_eps, a different
// route to the same conversion), and the audit applies both rules.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { auditEvidence, formatLedgerEntry } from '../../src/provenance/audit/audit.ts';
import { auditHtml } from '../../src/provenance/audit/html.ts';
import { generateKeyPair } from '../../src/provenance/common/keys.ts';
import { LogStore } from '../../src/provenance/log/store.ts';
import { commitTranscript } from '../../src/provenance/transcript/sign.ts';
import {
  type RoundTranscript,
  type TranscriptDp,
  transcriptProblems,
  transcriptStatement,
} from '../../src/provenance/transcript/statement.ts';
import {
  checkLedger,
  transcriptLedger,
  transcriptRuleProblems,
} from '../../src/provenance/transcript/verify.ts';
import { ddgRoundRho, zcdpEpsilon } from '../../src/provenance/transcript/zcdp.ts';
import { achievedEpsilon, planDistributedDiscreteGaussian } from '../../src/smpc/dp.ts';
import { ddgZcdpRho, zcdpToEpsilon } from '../../src/smpc/dp-accounting.ts';

const ORACLE = fileURLToPath(new URL('../fixtures/dp_ledger_oracle.py', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const hex = (n: number): string => n.toString(16).padStart(64, '0');
const ALL = ['c0', 'c1', 'c2', 'c3', 'c4'];

/** A transcript that obeys every rule: the cohort c0..c4, `survivors` summed. */
function transcript(roundId: string, survivors: readonly string[], dp: TranscriptDp | null): RoundTranscript {
  const s = [...survivors].sort();
  return {
    roundId,
    session: 'ab'.repeat(16),
    status: 'completed',
    parameters: {
      protocolVersion: 1,
      profile: 'honest-but-curious',
      graph: 'complete',
      degree: 4,
      threshold: 3,
      ringBits: 32,
      vectorLength: 4,
      digest: hex(1),
    },
    minSurvivors: 3,
    cohort: ALL.map((id, i) => ({ id, publicKeys: hex(100 + i) })),
    stages: { advertised: ALL, shared: ALL, masked: s, unmasked: s },
    maskedInputs: s.map((id, i) => ({ id, digest: hex(200 + i) })),
    survivors: s,
    dp,
    aggregate: { digest: hex(300 + roundId.length), lanes: 4 },
  };
}

const mech = (l2Sensitivity: number, localVariance: number, dimension: number) => ({
  name: 'distributed-discrete-gaussian' as const,
  l2Sensitivity,
  localVariance,
  dimension,
});
const dpOf = (epsilonSpent: number, mechanism?: TranscriptDp['mechanism']): TranscriptDp => ({
  planEpsilon: 4,
  delta: 1e-6,
  rounds: 4,
  minSurvivors: 3,
  epsilonSpent,
  deltaSpent: 1e-6,
  ...(mechanism === undefined ? {} : { mechanism }),
});

describe('the ε ledger', () => {
  it('composes rounds in zCDP as the independent Python oracle does', () => {
    const big = mech(1000, 5e5, 100);
    const small = mech(3, 0.3, 50); // τ is not negligible here: all three bounds of Eq. 17 matter
    const rounds = [
      transcript('r1', ALL, dpOf(0.5, big)),
      transcript('r2', ['c0', 'c1', 'c2', 'c3'], dpOf(0.6, big)),
      transcript('r3', ['c0', 'c1', 'c2'], dpOf(9, small)),
    ];
    const ledger = transcriptLedger(rounds, { delta: 1e-6 });
    const cases = [
      {
        clientId: 'c0',
        rounds: [
          [big, 5],
          [big, 4],
          [small, 3],
        ],
      },
      {
        clientId: 'c3',
        rounds: [
          [big, 5],
          [big, 4],
        ],
      },
      { clientId: 'c4', rounds: [[big, 5]] },
    ] as const;
    const input = cases.map((c) => ({
      delta: 1e-6,
      rounds: c.rounds.map(([m, clients]) => ({
        l2: m.l2Sensitivity,
        variance: m.localVariance,
        dimension: m.dimension,
        clients,
      })),
    }));
    const oracle = JSON.parse(
      execFileSync('python3', [ORACLE], { input: JSON.stringify(input), encoding: 'utf8' }),
    ) as { rho: number; epsilon: number }[];
    for (const [i, c] of cases.entries()) {
      const e = ledger.find((x) => x.clientId === c.clientId);
      const want = oracle[i] as { rho: number; epsilon: number };
      expect(e?.zcdp?.rho).toBeCloseTo(want.rho, 12);
      expect(Math.abs((e?.zcdp?.epsilon as number) - want.epsilon) / want.epsilon).toBeLessThan(1e-6);
      expect(e?.zcdp?.delta).toBe(1e-6);
    }
    // The basic line is the plain sum, as before.
    expect(ledger.find((x) => x.clientId === 'c0')).toMatchObject({ epsilon: 10.1, unbounded: false });
  });

  it("agrees with confide/smpc's accounting (another route to the same bounds)", () => {
    for (const [l2, s2, d, m] of [
      [1000, 5e5, 100, 5],
      [3, 0.3, 50, 7],
      [40, 2, 1000, 30],
      [32768, 2.5e8, 1000, 70],
    ] as const) {
      const rho = ddgRoundRho({ l2Sensitivity: l2, localVariance: s2, dimension: d }, m);
      expect(rho).toBeCloseTo(
        ddgZcdpRho({ l2Sensitivity: l2, localVariance: s2, dimension: d, clients: m, tauClients: m }),
        12,
      );
      for (const delta of [1e-5, 1e-9]) {
        const ours = zcdpEpsilon(rho, delta);
        expect(Math.abs(ours - zcdpToEpsilon(rho, delta)) / ours).toBeLessThan(1e-6);
        expect(ours).toBeLessThanOrEqual(rho + 2 * Math.sqrt(rho * Math.log(1 / delta))); // the classical bound
      }
    }
    expect(zcdpEpsilon(Number.POSITIVE_INFINITY, 1e-6)).toBe(Number.POSITIVE_INFINITY);
    expect(zcdpEpsilon(0, 1e-6)).toBe(0);
  });

  it('is tighter than basic composition over many rounds of one plan, at the same total δ', () => {
    const plan = planDistributedDiscreteGaussian({
      epsilon: 1,
      delta: 1e-6,
      l2Clip: 1,
      valueBits: 12,
      dimension: 16,
      expectedClients: 5,
      minSurvivors: 3,
    });
    const m = mech(plan.l2Sensitivity, plan.localVariance, plan.dimension);
    const perRound = achievedEpsilon(plan, [5]);
    const rounds = Array.from({ length: 20 }, (_, i) => transcript(`r${i}`, ALL, dpOf(perRound, m)));
    const [e] = transcriptLedger(rounds, { delta: 20 * 1e-6 });
    expect(e?.epsilon).toBeCloseTo(20 * perRound, 9);
    expect(e?.zcdp?.epsilon).toBeLessThan((e?.epsilon as number) / 2);
    const budget = ((e?.zcdp?.epsilon as number) + (e?.epsilon as number)) / 2;
    const ledger = transcriptLedger(rounds, { delta: 20 * 1e-6 });
    expect(() => checkLedger(ledger, { epsilon: budget, accountant: 'zcdp' })).not.toThrow();
    expect(() => checkLedger(ledger, { epsilon: budget })).toThrow(
      expect.objectContaining({ code: 'PROV_LEDGER_INVALID', message: expect.stringMatching(/basic/) }),
    );
  });

  it('a round without DP makes ε unbounded, flagged, and fails every budget', () => {
    const ledger = transcriptLedger([
      transcript('dp', ALL, dpOf(0.5, mech(1000, 5e5, 100))),
      transcript('plain', ['c0', 'c1', 'c2'], null),
    ]);
    const c0 = ledger.find((x) => x.clientId === 'c0');
    expect(c0).toMatchObject({
      epsilon: Number.POSITIVE_INFINITY,
      epsilonOfDpRounds: 0.5,
      unbounded: true,
      roundsWithoutDp: ['plain'],
    });
    expect(c0?.zcdp?.rho).toBe(Number.POSITIVE_INFINITY);
    expect(JSON.parse(JSON.stringify(c0))).toMatchObject({ epsilon: null, unbounded: true });
    expect(formatLedgerEntry(c0 as NonNullable<typeof c0>)).toMatch(/UNBOUNDED: 1 round\(s\) without DP/);
    expect(ledger.find((x) => x.clientId === 'c4')).toMatchObject({ epsilon: 0.5, unbounded: false });
    for (const accountant of ['basic', 'zcdp'] as const)
      expect(() => checkLedger(ledger, { epsilon: 1e9, accountant })).toThrow(
        expect.objectContaining({ code: 'PROV_LEDGER_INVALID', message: expect.stringMatching(/unbounded/) }),
      );
    // Letting such rounds through holds the clients to their DP rounds only (basic accountant).
    expect(() => checkLedger(ledger, { epsilon: 0.5, allowRoundsWithoutDp: true })).not.toThrow();
  });

  it('without mechanism parameters the zCDP line is absent and the zCDP accountant refuses', () => {
    const ledger = transcriptLedger([transcript('old', ALL, dpOf(0.5))]);
    expect(ledger[0]?.zcdp).toBeNull();
    expect(() => checkLedger(ledger, { epsilon: 1, accountant: 'zcdp' })).toThrow(
      expect.objectContaining({ code: 'PROV_LEDGER_INVALID', message: expect.stringMatching(/mechanism/) }),
    );
    expect(() => checkLedger(ledger, { epsilon: 1 })).not.toThrow();
    expect(transcriptProblems(transcript('bad', ALL, dpOf(0.5, mech(0, 1, 4))))).toEqual(['dp.mechanism']);
    expect(() => transcriptLedger([], { delta: 1 })).toThrow(/delta/);
    expect(transcriptRuleProblems(transcript('wide', ALL, dpOf(0.5, mech(1, 1, 100))))).toEqual([
      "the DP mechanism's dimension is not the round's vector length",
    ]);
  });

  it('the audit fails --max-epsilon when any round lacks DP, and reports both accountants', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-ledger-'));
    dirs.push(dir);
    const key = generateKeyPair('ed25519');
    const store = await LogStore.create(join(dir, 'log'), 'confide.test/ledger', key);
    const files = [];
    for (const t of [
      transcript('dp', ALL, dpOf(0.5, mech(1000, 5e5, 4))),
      transcript('plain', ['c0', 'c1', 'c2'], null),
    ]) {
      const bundle = await commitTranscript(store, transcriptStatement(t), key);
      files.push({ name: `${t.roundId}.json`, bytes: new TextEncoder().encode(JSON.stringify(bundle)) });
    }
    const open = auditEvidence({ transcripts: files }, { logKey: key.publicKey });
    expect(open.valid).toBe(true);
    expect(open.checks.find((c) => c.name === 'ε ledger')?.detail).toMatch(
      /3 client\(s\) in sums without DP: ε unbounded/,
    );
    const held = auditEvidence({ transcripts: files }, { logKey: key.publicKey, epsilonBudget: 100 });
    expect(held).toMatchObject({ valid: false, code: 'PROV_LEDGER_INVALID' });
    const dpOnly = auditEvidence(
      { transcripts: files.slice(0, 1) },
      { logKey: key.publicKey, epsilonBudget: 100, accountant: 'zcdp', ledgerDelta: 1e-5 },
    );
    expect(dpOnly.valid).toBe(true);
    expect(dpOnly.checks.find((c) => c.name === 'ε ledger')?.detail).toMatch(/zcdp composition/);
    expect(dpOnly.ledger[0]?.zcdp?.delta).toBe(1e-5);
    // The page shows each round's ε and ρ, and the ledger with the unbounded clients flagged.
    expect(held.nodes.find((n) => n.label === 'dp')?.details).toMatchObject({
      epsilonSpent: '0.5 at δ 0.000001',
      zcdpRho: '0.2000',
    });
    const page = auditHtml(held);
    expect(page).toMatch(/<h2>ε ledger<\/h2>/);
    expect(page).toMatch(/<td>c0<\/td><td>2<\/td><td>∞ \(unbounded\)<\/td><td>∞<\/td><td>plain<\/td>/);
    expect(page).toMatch(
      /<td>c4<\/td><td>1<\/td><td>0\.5000<\/td><td>\d+\.\d{4} \(ρ 0\.2000, δ 1\.0e-6\)<\/td>/,
    );
  });
});
