// Session planning for joined cohorts: every plan the service makes is one the protocol accepts
// and a client with the default policy runs (t > k/2; t > 2k/3 for active), small cohorts run on
// the complete graph and tolerate dropouts, and the pending-sender bookkeeping matches the state
// machine's.
import { describe, expect, it } from 'vitest';
import { createClient } from '../../../src/smpc/protocol/client.ts';
import { assertRoundParams } from '../../../src/smpc/protocol/params.ts';
import { createServer, serverStep } from '../../../src/smpc/protocol/server.ts';
import {
  expectedSenders,
  pendingSenders,
  planCohort,
  SMALL_COHORT,
} from '../../../src/smpc/transport/cohort.ts';
import { expectCode } from '../helpers.ts';

describe('planCohort', () => {
  it('gives plans the default client policy accepts, for every cohort size up to 300', () => {
    const infeasible: string[] = [];
    for (const profile of ['honest-but-curious', 'semi-malicious', 'active'] as const) {
      for (let n = 3; n <= 300; n++) {
        let plan: ReturnType<typeof planCohort>;
        try {
          plan = planCohort(n, profile, 0.1, 0.05, 32);
        } catch (e) {
          // Only the smallest cohorts are too small for the stricter profiles' thresholds.
          expect((e as { code: string }).code, `${profile} n=${n}`).toBe('SMPC_PLAN_INFEASIBLE');
          infeasible.push(`${profile} ${n}`);
          continue;
        }
        const label = `${profile} n=${n}: ${JSON.stringify(plan)}`;
        expect(plan.threshold, label).toBeGreaterThan(plan.degree / 2);
        expect(plan.threshold, label).toBeLessThanOrEqual(plan.degree);
        if (profile === 'active') expect(3 * plan.threshold, label).toBeGreaterThan(2 * plan.degree);
        if (n <= SMALL_COHORT && profile === 'honest-but-curious') expect(plan.graph, label).toBe('complete');
        assertRoundParams({
          roundId: 'r',
          profile,
          clients: Array.from({ length: n }, (_, i) => `c${i}`),
          ...plan,
          graphSeed: new Uint8Array(32),
          ringBits: 32,
          vectorLength: 1,
          prg: 'aes-256-ctr',
        });
      }
    }
    // Three clients cannot meet t > 2n/3 with t ≤ k = 2 (active) nor t > (n + γn)/2 (semi-malicious).
    expect(infeasible).toEqual(['semi-malicious 3', 'active 3']);
  });

  it('lets small honest-but-curious cohorts lose k − t clients', () => {
    expect(planCohort(3, 'honest-but-curious', 0.1, 0.05, 32)).toEqual({
      graph: 'complete',
      degree: 2,
      threshold: 2,
    });
    expect(planCohort(5, 'honest-but-curious', 0.1, 0.05, 32)).toEqual({
      graph: 'complete',
      degree: 4,
      threshold: 3,
    });
    expect(planCohort(10, 'honest-but-curious', 0.1, 0.05, 32)).toEqual({
      graph: 'complete',
      degree: 9,
      threshold: 5,
    });
  });

  it('refuses cohorts below 3 and an active profile with γ ≥ 1/3', () => {
    expectCode(() => planCohort(2, 'honest-but-curious', 0, 0, 32), 'SMPC_TOO_FEW_CLIENTS');
    expectCode(() => planCohort(10, 'active', 0.1, 0.34, 32), 'SMPC_PLAN_INFEASIBLE');
  });
});

describe('pendingSenders', () => {
  it('tracks the clients a stage still waits for, as the state machine counts them', async () => {
    const clients = ['a', 'b', 'c'];
    const params = {
      roundId: 'r',
      profile: 'honest-but-curious' as const,
      clients,
      threshold: 2,
      graph: 'complete' as const,
      degree: 2,
      graphSeed: new Uint8Array(32),
      ringBits: 32,
      vectorLength: 2,
      prg: 'aes-256-ctr' as const,
    };
    let server = createServer(params).state;
    expect(expectedSenders(server)).toEqual(clients);
    expect(pendingSenders(server)).toEqual(clients);
    const client = createClient({
      id: 'a',
      input: Uint32Array.of(1, 2),
      policy: { minThresholdFraction: 0 },
    });
    const step = await import('../../../src/smpc/protocol/client.ts').then((m) =>
      m.clientStep(client, { v: 1, type: 'advertise-request', params }),
    );
    server = (await serverStep(server, { type: 'message', from: 'a', message: step.outbound[0] })).state;
    expect(pendingSenders(server)).toEqual(['b', 'c']);
    server = (
      await serverStep(server, {
        type: 'message',
        from: 'b',
        message: { v: 1, type: 'abort', code: 'X_Y', reason: 'r' },
      })
    ).state;
    expect(pendingSenders(server)).toEqual(['c']); // an excluded client is no longer awaited
  });
});
