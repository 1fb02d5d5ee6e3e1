import { describe, expect, it } from 'vitest';
import {
  completeGraphThreshold,
  hararyParameters,
  logGamma,
  planCohort,
  planRound,
  SMALL_COHORT,
} from '../../src/smpc/planner.ts';
import type { Profile } from '../../src/smpc/protocol/params.ts';
import { expectCode, loadVectors } from './helpers.ts';

interface HararyVectors {
  cases: {
    clients: number;
    corruptionRate: number;
    dropoutRate: number;
    adversary: 'semi-honest' | 'semi-malicious';
    degree: number;
    maxThreshold: number;
  }[];
}

const vectors = loadVectors<HararyVectors>('harary-params.json');

describe('logGamma', () => {
  it('matches known values (Python math.lgamma)', () => {
    expect(logGamma(1)).toBeCloseTo(0, 13);
    expect(logGamma(2)).toBeCloseTo(0, 13);
    expect(logGamma(11)).toBeCloseTo(15.104412573075514, 12);
    expect(logGamma(0.5)).toBeCloseTo(0.5723649429247004, 12);
    expect(Math.abs(logGamma(1e6 + 1) - 12815518.384658169)).toBeLessThan(1e-6);
    expect(Math.abs(logGamma(123456.7) - 1323900.9753909183)).toBeLessThan(1e-6);
  });
});

describe('Harary parameters against the reference finder (fcp), n ≤ 1000 (larger n: planner.slow.test.ts)', () => {
  const fast = vectors.cases.filter((c) => c.clients <= 1000);
  it.each(
    fast.map((c) => [`n=${c.clients} γ=${c.corruptionRate} δ=${c.dropoutRate} ${c.adversary}`, c] as const),
  )('%s', (_, c) => {
    const p = hararyParameters(c.clients, c.corruptionRate, c.dropoutRate, c.adversary);
    expect(p?.degree).toBe(c.degree);
    expect(p?.threshold).toBeLessThanOrEqual(c.maxThreshold);
    expect(p?.threshold).toBeGreaterThanOrEqual(2);
    expect(p?.threshold).toBeLessThanOrEqual(p?.degree ?? 0);
  });

  it('refuses infeasible rates', () => {
    expectCode(() => hararyParameters(1000, 0.5, 0.5, 'semi-honest'), 'SMPC_PLAN_INFEASIBLE');
    expectCode(() => hararyParameters(1000, 0.5, 0.5, 'semi-malicious'), 'SMPC_PLAN_INFEASIBLE');
    expectCode(() => hararyParameters(1000, 0.33, 0.33, 'semi-malicious'), 'SMPC_PLAN_INFEASIBLE');
    expectCode(() => hararyParameters(1000, 0.1, 1, 'semi-honest'), 'INVALID_ARGUMENT');
    expectCode(() => hararyParameters(1000, 0.1, -1, 'semi-honest'), 'INVALID_ARGUMENT');
    expectCode(() => hararyParameters(0, 0.1, 0.1, 'semi-honest'), 'INVALID_ARGUMENT');
  });
});

describe('planRound', () => {
  it('uses a Harary graph when it is smaller, and the complete graph otherwise', () => {
    expect(
      planRound({ clients: 1000, dropoutRate: 0.05, corruptionRate: 0.05, profile: 'semi-malicious' }),
    ).toEqual({
      graph: 'harary',
      degree: 52,
      threshold: expect.any(Number),
      profile: 'semi-malicious',
      ringBits: 32,
    });
    const small = planRound({ clients: 5, dropoutRate: 0, corruptionRate: 0, profile: 'honest-but-curious' });
    expect(small.graph).toBe('harary'); // k = 2 < n − 1 = 4 is safe with no corruption and no dropout
    const complete = planRound({
      clients: 8,
      dropoutRate: 0.1,
      corruptionRate: 0.1,
      profile: 'semi-malicious',
      graph: 'complete',
    });
    expect(complete).toEqual({
      graph: 'complete',
      degree: 7,
      threshold: 6,
      profile: 'semi-malicious',
      ringBits: 32,
    });
    // the same cohort with 30% dropouts leaves too few live holders for t > (n + γn)/2: refused with the reason
    expectCode(
      () =>
        planRound({
          clients: 8,
          dropoutRate: 0.3,
          corruptionRate: 0.1,
          profile: 'semi-malicious',
          graph: 'complete',
        }),
      'SMPC_PLAN_INFEASIBLE',
    );
  });

  it('plans the active profile on the complete graph with t > 2n/3', () => {
    const p = planRound({
      clients: 30,
      dropoutRate: 0.1,
      corruptionRate: 0.1,
      profile: 'active',
      graph: 'complete',
    });
    expect(p.graph).toBe('complete');
    expect(3 * p.threshold).toBeGreaterThan(2 * 30);
    expectCode(
      () => planRound({ clients: 30, dropoutRate: 0, corruptionRate: 0.34, profile: 'active' }),
      'SMPC_PLAN_INFEASIBLE',
    );
    // with 40% dropouts fewer than 2n/3 holders survive
    expectCode(
      () =>
        planRound({ clients: 30, dropoutRate: 0.4, corruptionRate: 0, profile: 'active', graph: 'complete' }),
      'SMPC_PLAN_INFEASIBLE',
    );
  });

  it('plans the active profile on Harary graphs: the semi-malicious threshold and t > 2k/3, or a reason', () => {
    for (const [n, gamma, delta] of [
      [30, 0.1, 0.1],
      [100, 0.05, 0.1],
      [1000, 0.05, 0.05],
      [1000, 0.05, 0.3],
    ] as const) {
      const active = planRound({ clients: n, dropoutRate: delta, corruptionRate: gamma, profile: 'active' });
      const semi = hararyParameters(n, gamma, delta, 'semi-malicious');
      expect(active.graph).toBe('harary');
      expect(3 * active.threshold, `${n}`).toBeGreaterThan(2 * active.degree);
      // never a smaller degree than the semi-malicious plan, never a lower fraction t/k
      expect(active.degree).toBeGreaterThanOrEqual(semi?.degree ?? Infinity);
      expect(active.threshold / active.degree).toBeGreaterThanOrEqual(
        (semi?.threshold ?? 0) / (semi?.degree ?? 1),
      );
    }
    expect(
      planRound({ clients: 1000, dropoutRate: 0.05, corruptionRate: 0.05, profile: 'active' }),
    ).toMatchObject({
      degree: 52,
      threshold: 37,
    });
    expectCode(
      () =>
        planRound({
          clients: 200,
          dropoutRate: 0.35,
          corruptionRate: 0.05,
          profile: 'active',
          graph: 'harary',
        }),
      'SMPC_PLAN_INFEASIBLE',
    );
    expectCode(
      () => hararyParameters(100, 0.05, 0.05, 'semi-malicious', { thresholdAbove: 1 }),
      'INVALID_ARGUMENT',
    );
  });

  it('refuses a ring too small for the cohort', () => {
    expectCode(
      () =>
        planRound({
          clients: 2000,
          dropoutRate: 0.05,
          corruptionRate: 0.05,
          profile: 'semi-malicious',
          valueBits: 22,
          ringBits: 32,
        }),
      'SMPC_OVERFLOW_RISK',
    );
    expect(() =>
      planRound({
        clients: 1000,
        dropoutRate: 0.05,
        corruptionRate: 0.05,
        profile: 'semi-malicious',
        valueBits: 22,
        ringBits: 32,
      }),
    ).not.toThrow();
  });

  it('plans rounds the protocol accepts and completes', async () => {
    const { runRound } = await import('../../src/smpc/protocol/round.ts');
    const plan = planRound({ clients: 12, dropoutRate: 0.1, corruptionRate: 0.1, profile: 'semi-malicious' });
    const clients = Array.from({ length: 12 }, (_, i) => `p${i}`);
    const inputs = new Map(clients.map((id) => [id, Uint32Array.of(1, 2, 3)]));
    const out = await runRound({
      params: {
        roundId: 'planned',
        profile: plan.profile,
        clients,
        threshold: plan.threshold,
        graph: plan.graph,
        degree: plan.degree,
        graphSeed: new Uint8Array(32).fill(4),
        ringBits: plan.ringBits,
        vectorLength: 3,
        prg: 'aes-256-ctr',
      },
      inputs,
      dropAt: new Map([['p3', 'masked-input']]),
    });
    expect(out.server.stage).toBe('done');
    expect(Array.from(out.result ?? [])).toEqual([11, 22, 33]);
  });
});

describe('completeGraphThreshold', () => {
  it('is one rule for planRound and planCohort: the larger of a holder majority and the profile bound', () => {
    // Expected values worked by hand from the rule: max(⌊(n−1)/2⌋ + 1, profile bound, 2), γ = 0.05.
    const cases: [number, Profile, number][] = [
      [5, 'honest-but-curious', 3], // ⌈0.25⌉ + 1 = 2 < majority 3 (planRound gave 2 before)
      [10, 'honest-but-curious', 5],
      [30, 'honest-but-curious', 15],
      [10, 'semi-malicious', 7], // ⌈10.5/2⌉ + 1
      [5, 'active', 4], // ⌊10/3⌋ + 1 (planCohort gave ⌊8/3⌋ + 1 = 3 before)
      [6, 'active', 5],
      [7, 'active', 5],
      [16, 'active', 11],
    ];
    for (const [n, profile, t] of cases) {
      expect(completeGraphThreshold(n, 0.05, profile), `${profile} n=${n}`).toBe(t);
      expect(
        planRound({ clients: n, dropoutRate: 0, corruptionRate: 0.05, profile, graph: 'complete' }).threshold,
        `planRound ${profile} n=${n}`,
      ).toBe(t);
      if (t <= n - 1 && n <= SMALL_COHORT && profile !== 'semi-malicious') {
        expect(planCohort(n, profile, 0, 0.05, 32).threshold, `planCohort ${profile} n=${n}`).toBe(t);
      }
    }
    expectCode(() => completeGraphThreshold(10, 0.34, 'active'), 'SMPC_PLAN_INFEASIBLE');
  });
});
