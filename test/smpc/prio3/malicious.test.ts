// Deviating aggregators against the pure two-aggregator state machine. What the VDAF promises
// (draft-irtf-cfrg-vdaf-08, Security Considerations): robustness against malicious *clients*, "as
// long as the Aggregators correctly executed their role"; privacy with one honest aggregator. What
// confide adds: cross-checks that turn a deviation in the exchanged messages into an abort
// (SMPC_AGGREGATORS_DISAGREE) or a dropped report — never a helper share that includes a report the
// helper rejected. What stays possible (last test): a helper that computes a well-formed preparation
// message for an invalid report, which the leader cannot tell apart.
import { randomBytes } from 'node:crypto';
import { Buffer } from 'buffer';
import { describe, expect, it } from 'vitest';
import { cheatingPrio3Shard } from '../../../src/demo/poison.ts';
import { type Prio3Report, shardReport } from '../../../src/smpc/prio3/client.ts';
import { decodeInputShare, decodePrepShare, decodePublicShare } from '../../../src/smpc/prio3/codec.ts';
import { Prio3Aggregation, type Prio3RoundConfig } from '../../../src/smpc/prio3/protocol.ts';
import type { Prio3Params } from '../../../src/smpc/prio3/vdaf.ts';

const params: Prio3Params = { circuit: 'l2', length: 4, bits: 8, normBound: '100' };
const config: Prio3RoundConfig = { roundId: 'r', params, minReports: 1, dp: null };

async function setup(reports: { id: string; m: number[]; cheat?: boolean }[]) {
  const key = randomBytes(16);
  const leader = new Prio3Aggregation('leader', config, key);
  const helper = new Prio3Aggregation('helper', config, key);
  const ids: Record<string, string> = {};
  const reps: Record<string, Prio3Report> = {};
  for (const r of reports) {
    const rep = r.cheat ? await cheatingPrio3Shard(params, r.m) : await shardReport(params, r.m);
    ids[r.id] = rep.reportId;
    reps[r.id] = rep;
    await leader.receiveReport(r.id, rep.reportId, rep.publicShare, rep.leaderShare);
    await helper.receiveReport(r.id, rep.reportId, rep.publicShare, rep.helperShare);
  }
  return { leader, helper, ids, reps, key };
}

describe('a deviating leader', () => {
  it("cannot get a report the helper rejected into the helper's share: the helper aborts", async () => {
    const { leader, helper, ids } = await setup([
      { id: 'a', m: [5, 0, 0, 0] },
      { id: 'evil', m: [50, 0, 0, 0], cheat: true },
    ]);
    const { reports, shares } = leader.leaderPrepShares();
    const { verdicts } = await helper.helperVerdicts(reports, shares);
    expect(verdicts.find((v) => v.reportId === ids.evil)?.status).toBe('invalid-proof');
    expect(() => helper.helperCollect([ids.a as string, ids.evil as string])).toThrow(
      expect.objectContaining({ code: 'SMPC_AGGREGATORS_DISAGREE' }),
    );
    // Aborted: nothing is released afterwards either.
    expect(() => helper.helperCollect([ids.a as string])).toThrow(
      expect.objectContaining({ code: 'SMPC_BAD_TRANSITION' }),
    );
  });

  it('that tampers with its preparation share only gets the honest report dropped', async () => {
    const { leader, helper, ids } = await setup([
      { id: 'a', m: [5, 0, 0, 0] },
      { id: 'b', m: [0, 3, 0, 0] },
    ]);
    const { reports, shares } = leader.leaderPrepShares();
    const tampered = shares.map((s, i) => {
      if (reports[i]?.clientId !== 'a') return s;
      const t = Uint8Array.from(s);
      t[0] = (t[0] as number) ^ 1; // the first verifier element, still a field element
      decodePrepShare(helper.vdaf, t);
      return t;
    });
    const { verdicts, messages } = await helper.helperVerdicts(reports, tampered);
    expect(verdicts.find((v) => v.reportId === ids.a)?.status).toBe('invalid-proof');
    const accepted = leader.leaderFinish(verdicts, messages);
    expect(accepted).toEqual([ids.b]);
    const sum = leader.combine(leader.leaderAggregate(), helper.helperCollect(accepted));
    expect(sum).toEqual([0n, 3n, 0n, 0n]);
  });

  it('whose helper share covers fewer reports than its own makes the leader abort (counts differ)', async () => {
    const { leader, helper, ids } = await setup([
      { id: 'a', m: [5, 0, 0, 0] },
      { id: 'b', m: [0, 3, 0, 0] },
    ]);
    const { reports, shares } = leader.leaderPrepShares();
    const { verdicts, messages } = await helper.helperVerdicts(reports, shares);
    expect(leader.leaderFinish(verdicts, messages)).toHaveLength(2);
    const own = leader.leaderAggregate();
    const theirs = helper.helperCollect([ids.a as string]); // as if the collect had named one report
    expect(() => leader.combine(own, theirs)).toThrow(
      expect.objectContaining({ code: 'SMPC_AGGREGATORS_DISAGREE' }),
    );
  });
});

describe('a deviating helper', () => {
  it('that calls an invalid report accepted with a made-up message is caught by the leader', async () => {
    const { leader, helper, ids } = await setup([{ id: 'evil', m: [50, 0, 0, 0], cheat: true }]);
    const { reports, shares } = leader.leaderPrepShares();
    await helper.helperVerdicts(reports, shares);
    const accepted = leader.leaderFinish(
      [{ reportId: ids.evil as string, status: 'accepted' }],
      [randomBytes(16)],
    );
    expect(accepted).toEqual([]);
    expect(leader.rejected).toEqual([{ clientId: 'evil', reason: 'joint-randomness' }]);
  });

  it('(the limit) that computes a well-formed message for an invalid report is not detected', async () => {
    // VDAF robustness assumes both aggregators execute their role: the helper holds everything it
    // needs to derive the correct preparation message whatever the FLP decided.
    const { leader, helper, ids, reps, key } = await setup([{ id: 'evil', m: [50, 0, 0, 0], cheat: true }]);
    const { reports, shares } = leader.leaderPrepShares();
    const vdaf = helper.vdaf;
    const honest = await helper.helperVerdicts(reports, shares);
    expect(honest.verdicts[0]?.status).toBe('invalid-proof');
    // The helper's own preparation share, and the message derived without `decide`.
    const rep = reps.evil as Prio3Report;
    const mine = await vdaf.prepareInit(
      Buffer.from(key),
      1,
      null,
      Buffer.from(rep.reportId, 'hex'),
      decodePublicShare(vdaf, rep.publicShare),
      await decodeInputShare(vdaf, 1, rep.helperShare),
    );
    const leaderShare = decodePrepShare(vdaf, shares[0] as Uint8Array);
    const seed = await vdaf.xof.deriveSeed(
      Buffer.alloc(16),
      vdaf.domainSeparationTag(6),
      Buffer.concat([leaderShare.jointRandomnessPart, mine.preparationShare.jointRandomnessPart]),
    );
    const accepted = leader.leaderFinish([{ reportId: ids.evil as string, status: 'accepted' }], [seed]);
    expect(accepted).toEqual([ids.evil]);
  });
});

describe('aggregator noise planning', () => {
  it("meets the target with one aggregator's noise and composes over rounds", async () => {
    const { planAggregatorNoise } = await import('../../../src/smpc/prio3/protocol.ts');
    const { ddgEpsilon } = await import('../../../src/smpc/dp-accounting.ts');
    const one = planAggregatorNoise({ epsilon: 1, delta: 1e-6, rounds: 1, l2Sensitivity: 20, dimension: 8 });
    const ten = planAggregatorNoise({ epsilon: 1, delta: 1e-6, rounds: 10, l2Sensitivity: 20, dimension: 8 });
    expect(one.epsilon).toBeLessThanOrEqual(1);
    expect(ten.epsilon).toBeLessThanOrEqual(1);
    expect(ten.variance).toBeGreaterThan(one.variance);
    // Independent check with the accounting module: the planned variance over 10 rounds is at ε ≤ 1.
    const eps = ddgEpsilon(
      { l2Sensitivity: 20, localVariance: ten.variance, clients: 1, dimension: 8, rounds: 10 },
      1e-6,
    );
    expect(eps).toBeLessThanOrEqual(1);
    // And not wastefully large: 10% less noise would miss the target.
    expect(
      ddgEpsilon(
        { l2Sensitivity: 20, localVariance: ten.variance * 0.9, clients: 1, dimension: 8, rounds: 10 },
        1e-6,
      ),
    ).toBeGreaterThan(1);
  });
});
