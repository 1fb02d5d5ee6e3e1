// Row-count weighting of the federated example in Prio3 mode: hospitals' weighted vectors through
// the real two-aggregator VDAF (in memory) decode to Σ nᵢΔᵢ / Σ nᵢ, the SecAgg+ path's weighted mean,
// and every honest vector is under the round's bound.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { prio3WeightedBound, prio3WeightedMean, prio3WeightedUpdate } from '../../src/demo/prio3-weighted.ts';
import { encodePrio3Update, prio3L2Params, shardReport } from '../../src/smpc/prio3/client.ts';
import { Prio3Aggregation } from '../../src/smpc/prio3/protocol.ts';

const L = 2;
const maxWeight = 200;
const hospitals = [
  { rows: 150, update: [0.5, -0.2, 0.1] },
  { rows: 30, update: [-0.4, 0.6, 0] },
  { rows: 60, update: [0.2, 0.2, -0.3] },
];

describe('Prio3 weighted updates (federated example)', () => {
  it('decode to the row-weighted mean through the real VDAF, not the plain mean', async () => {
    const params = prio3L2Params({ length: 4, clipL2: prio3WeightedBound(L), bits: 16 });
    const config = { roundId: 'w', params, minReports: 3, dp: null };
    const key = randomBytes(16);
    const leader = new Prio3Aggregation('leader', config, key);
    const helper = new Prio3Aggregation('helper', config, key);
    for (const [i, h] of hospitals.entries()) {
      const v = prio3WeightedUpdate(h.update, h.rows, { l2Bound: L, maxWeight });
      const z = encodePrio3Update(v, {
        clipL2: prio3WeightedBound(L),
        scale: params.scale,
        normBound: params.normBound as string,
        bits: params.bits,
      });
      expect(z.reduce((s, x) => s + BigInt(x) ** 2n, 0n)).toBeLessThanOrEqual(
        BigInt(params.normBound as string),
      );
      const r = await shardReport(params, z);
      await leader.receiveReport(`h${i}`, r.reportId, r.publicShare, r.leaderShare);
      await helper.receiveReport(`h${i}`, r.reportId, r.publicShare, r.helperShare);
    }
    const { reports, shares } = leader.leaderPrepShares();
    const { verdicts, messages } = await helper.helperVerdicts(reports, shares);
    const accepted = leader.leaderFinish(verdicts, messages);
    expect(accepted).toHaveLength(3);
    const sum = leader.combine(leader.leaderAggregate(), helper.helperCollect(accepted));
    const out = prio3WeightedMean(sum, { scale: params.scale, l2Bound: L, maxWeight });
    expect(out).not.toBeNull();
    const total = hospitals.reduce((s, h) => s + h.rows, 0);
    expect(out?.totalWeight).toBeCloseTo(total, 0);
    for (let j = 0; j < 3; j++) {
      const weighted = hospitals.reduce((s, h) => s + h.rows * (h.update[j] as number), 0) / total;
      const plain = hospitals.reduce((s, h) => s + (h.update[j] as number), 0) / hospitals.length;
      expect(out?.mean[j]).toBeCloseTo(weighted, 2);
      if (Math.abs(weighted - plain) > 0.02)
        expect(Math.abs((out?.mean[j] as number) - plain)).toBeGreaterThan(0.01);
    }
  });

  it('clips the update part to L, caps the weight at maxWeight, and keeps the vector under L·√2', () => {
    const v = prio3WeightedUpdate([30, 40], 500, { l2Bound: L, maxWeight });
    expect(v[2]).toBe(L); // weight capped at 1
    expect(Math.hypot(v[0] as number, v[1] as number)).toBeCloseTo(L, 9);
    expect(Math.hypot(...v)).toBeLessThanOrEqual(prio3WeightedBound(L) + 1e-9);
    const raw = prio3WeightedUpdate([30, 40], 100, { l2Bound: L, maxWeight, clip: false });
    expect([...raw]).toEqual([15, 20, 1]);
  });

  it('refuses a non-positive total weight and bad arguments', () => {
    expect(prio3WeightedMean([5n, 0n], { scale: 1, l2Bound: L, maxWeight })).toBeNull();
    expect(prio3WeightedMean([5n, -3n], { scale: 1, l2Bound: L, maxWeight })).toBeNull();
    expect(() => prio3WeightedUpdate([1], 0, { l2Bound: L, maxWeight })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => prio3WeightedBound(-1)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
