// Distributed differential privacy over real sockets: the server sends its plan with the round,
// clients add the plan's noise (`privatize`), the server reports the ε the round spent; a sum with
// fewer inputs than the plan's minimum is never released (clients refuse to unmask it), clients
// refuse plans above their ε limit, and the server refuses plans that do not fit the round.
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AggregationClient,
  achievedEpsilon,
  type DpPlan,
  decodeNoisySum,
  planDistributedDiscreteGaussian,
  privatize,
  spentEpsilon,
} from '../../../src/smpc/index.ts';
import {
  connectClient,
  frameType,
  type Harness,
  registry,
  resultOf,
  startServer,
  tamperingWebSocket,
} from './helpers.ts';

let harness: Harness | undefined;
let clients: AggregationClient[] = [];

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await harness?.server.close();
  harness = undefined;
});

const LENGTH = 64;

/** Client `i`'s real-valued update: a fixed pattern with L2 norm well under the clip. */
function updateOf(index: number): number[] {
  return Array.from({ length: LENGTH }, (_, j) => (((index * 7 + j * 3) % 11) - 5) / 100);
}

function plan(minSurvivors: number, expectedClients = 5): DpPlan {
  return planDistributedDiscreteGaussian({
    epsilon: 4,
    delta: 1e-5,
    l2Clip: 1,
    valueBits: 16,
    dimension: LENGTH,
    expectedClients,
    minSurvivors,
  });
}

/** Connects `ids`; each privatizes its update under the round's plan (and checks it got one). */
async function dpCohort(h: Harness, ids: readonly string[], extra: (id: string) => object = () => ({})) {
  return Promise.all(
    ids.map((id) =>
      connectClient(h.server.url, id, {
        prepare: (round) => {
          if (round.dp === null) throw new Error('expected a DP plan');
          return privatize(updateOf(Number(id.slice(1))), round.dp).values;
        },
        ...extra(id),
      }),
    ),
  );
}

describe('distributed DP over the network', () => {
  it('clients add the plan noise; the noisy mean is close and the round reports its ε', async () => {
    const reg = registry(5);
    const dp = plan(3);
    harness = await startServer(reg);
    clients = await dpCohort(
      harness,
      reg.map((c) => c.id),
    );
    await harness.server.waitForClients(5, 10_000);
    const result = await harness.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'dp-1',
      vectorLength: LENGTH,
      minClients: 3,
      dp,
    });
    expect(result.status, JSON.stringify(result.abort)).toBe('completed');
    expect(result.survivors).toHaveLength(5);
    // ε for 5 survivors is below the target, which holds for as few as 3.
    expect(result.epsilon).toBeCloseTo(achievedEpsilon(dp, [5]), 12);
    expect(result.epsilon as number).toBeLessThan(dp.epsilon);
    const mean = decodeNoisySum(result.sum as Uint32Array, dp, 5);
    const truth = Array.from({ length: LENGTH }, (_, j) => {
      let s = 0;
      for (let i = 0; i < 5; i++) s += updateOf(i)[j] as number;
      return s / 5;
    });
    // Summed noise has variance 5σ² (quantized units); 6 standard deviations per coordinate, plus
    // the rounding of each client's value.
    const bound = (6 * Math.sqrt(5 * dp.localVariance) + 5) / (dp.scale * 5);
    for (let j = 0; j < LENGTH; j++)
      expect(Math.abs((mean[j] as number) - (truth[j] as number))).toBeLessThan(bound);
    // The noise is really there: the decoded mean is not the exact quantized mean.
    expect(mean.some((m, j) => Math.abs(m - (truth[j] as number)) > 1 / (dp.scale * 5))).toBe(true);
  });

  it('a sum with fewer inputs than the plan allows is not released: clients refuse to unmask it', async () => {
    const reg = registry(5);
    // Threshold for 5 clients is 3, so the protocol alone would complete with 4 survivors.
    const dp = plan(5);
    harness = await startServer(reg);
    clients = await dpCohort(
      harness,
      reg.map((c) => c.id),
      (id) =>
        id === 'c4'
          ? {
              WebSocket: tamperingWebSocket((bytes, control) => {
                if (frameType(bytes) === 'masked-input') control.close();
                else control.send(bytes);
              }),
            }
          : {},
    );
    await harness.server.waitForClients(5, 10_000);
    const result = await harness.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'dp-2',
      vectorLength: LENGTH,
      minClients: 3,
      dp,
      stageTimeoutMs: 5_000,
    });
    expect(result.status).toBe('aborted');
    expect(result.sum).toBeNull();
    expect(result.epsilon).toBeNull();
    const seen = await resultOf(clients[0] as AggregationClient, 'dp-2');
    expect(seen.status).toBe('aborted');
    expect(seen.included).toBe(false);
  });

  it('a client declines a plan above its ε limit, or a round without a plan when it requires one', async () => {
    const reg = registry(5);
    const dp = plan(3);
    harness = await startServer(reg);
    clients = await dpCohort(
      harness,
      reg.map((c) => c.id),
      (id) => (id === 'c0' ? { maxEpsilon: 1 } : {}),
    );
    await harness.server.waitForClients(5, 10_000);
    const result = await harness.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'dp-3',
      vectorLength: LENGTH,
      minClients: 3,
      dp,
    });
    expect(result.status, JSON.stringify(result.abort)).toBe('completed');
    expect(result.survivors).not.toContain('c0');
    expect(result.survivors).toHaveLength(4);
    const declined = await resultOf(clients[0] as AggregationClient, 'dp-3');
    expect(declined.status).toBe('declined');
    expect(declined.abort?.code).toBe('SMPC_POLICY_VIOLATION');
    expect(declined.abort?.reason).toContain('above its budget of 1');

    const plain = await harness.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'no-dp',
      vectorLength: LENGTH,
      minClients: 3,
    });
    // Without a plan the other clients' prepare throws (they expect one) and c0 requires one.
    expect(plain.status).toBe('aborted');
    const refused = await resultOf(clients[0] as AggregationClient, 'no-dp');
    expect(refused.abort?.reason).toContain('requires a DP plan');
  });

  it('maxEpsilon is a budget over rounds, measured at the client’s δ, not the plan’s', async () => {
    const reg = registry(4);
    harness = await startServer(reg);
    const server = harness.server;
    const perRound = plan(3, 4); // ε = 4 over one round at δ = 1e-5
    const at = spentEpsilon([perRound], 1e-6);
    const two = spentEpsilon([perRound, perRound], 1e-6);
    const budget = (at + two) / 2; // room for one such round, not two
    expect(two).toBeGreaterThan(at);
    clients = await dpCohort(
      harness,
      reg.map((c) => c.id),
      (id) => (id === 'c0' ? { maxEpsilon: budget } : {}),
    );
    await server.waitForClients(4, 10_000);
    const first = await server.runRound({
      profile: 'honest-but-curious',
      roundId: 'b-1',
      vectorLength: LENGTH,
      minClients: 3,
      dp: perRound,
    });
    expect(first.survivors).toContain('c0');
    const c0 = clients[0] as AggregationClient;
    expect(c0.dpRoundsJoined).toHaveLength(1);
    const second = await server.runRound({
      profile: 'honest-but-curious',
      roundId: 'b-2',
      vectorLength: LENGTH,
      minClients: 3,
      dp: plan(3, 4), // a fresh plan (the first is spent): its own ε is within the limit
    });
    expect(second.status, JSON.stringify(second.abort)).toBe('completed');
    expect(second.survivors).not.toContain('c0');
    expect((await resultOf(c0, 'b-2')).abort?.reason).toMatch(
      /bring this client's ε \(at δ = 0\.000001\) to/,
    );

    // A plan with a huge δ has a small ε on paper and little noise; at the client's δ it is refused.
    const loose = planDistributedDiscreteGaussian({
      epsilon: 1,
      delta: 0.5,
      l2Clip: 1,
      valueBits: 16,
      dimension: LENGTH,
      expectedClients: 4,
      minSurvivors: 3,
    });
    expect(loose.epsilon).toBeLessThan(budget);
    expect(spentEpsilon([loose], 1e-6)).toBeGreaterThan(budget);
    const third = await server.runRound({
      profile: 'honest-but-curious',
      roundId: 'b-3',
      vectorLength: LENGTH,
      minClients: 3,
      dp: loose,
    });
    expect(third.survivors).not.toContain('c0');
    expect((await resultOf(c0, 'b-3')).status).toBe('declined');
  });

  it('the server runs a plan for at most its rounds', async () => {
    const reg = registry(3);
    harness = await startServer(reg);
    clients = await dpCohort(
      harness,
      reg.map((c) => c.id),
    );
    await harness.server.waitForClients(3, 10_000);
    const once = plan(3, 3);
    const r = await harness.server.runRound({
      profile: 'honest-but-curious',
      roundId: 'once-1',
      vectorLength: LENGTH,
      minClients: 3,
      dp: once,
    });
    expect(r.status, JSON.stringify(r.abort)).toBe('completed');
    await expect(
      harness.server.runRound({
        profile: 'honest-but-curious',
        roundId: 'once-2',
        vectorLength: LENGTH,
        minClients: 3,
        dp: once,
      }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('budget is spent'),
    });
  });

  it('the server refuses plans that do not fit the round, were altered, or are outgrown by the cohort', async () => {
    const reg = registry(5);
    harness = await startServer(reg);
    const server = harness.server;
    await expect(
      server.runRound({
        profile: 'honest-but-curious',
        roundId: 'bad-1',
        vectorLength: LENGTH + 1,
        minClients: 3,
        dp: plan(3),
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const weaker = { ...plan(3), localVariance: 1 } as DpPlan;
    await expect(
      server.runRound({
        profile: 'honest-but-curious',
        roundId: 'bad-2',
        vectorLength: LENGTH,
        minClients: 3,
        dp: weaker,
      }),
    ).rejects.toMatchObject({ code: 'SMPC_DP_PLAN_INVALID' });

    clients = await dpCohort(
      harness,
      reg.map((c) => c.id),
    );
    await server.waitForClients(5, 10_000);
    const result = await server.runRound({
      profile: 'honest-but-curious',
      roundId: 'outgrown',
      vectorLength: LENGTH,
      minClients: 3,
      dp: plan(3, 4),
    });
    expect(result.status).toBe('aborted');
    expect(result.abort?.code).toBe('SMPC_COHORT_TOO_LARGE');
    expect(result.sum).toBeNull();
  });
});
