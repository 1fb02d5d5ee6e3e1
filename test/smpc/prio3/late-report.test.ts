// A report still being decoded (prepareInit is async) when the aggregator closes collection must
// be refused, not slipped into the held reports afterwards: the leader would then hold a report it
// never sent to the helper and abort the whole round (SMPC_AGGREGATORS_DISAGREE) — one client
// timing a report could abort every round.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { shardReport } from '../../../src/smpc/prio3/client.ts';
import { Prio3Aggregation, type Prio3RoundConfig } from '../../../src/smpc/prio3/protocol.ts';
import type { Prio3Params } from '../../../src/smpc/prio3/vdaf.ts';

const params: Prio3Params = { circuit: 'l2', length: 4, bits: 8, normBound: '100' };
const config: Prio3RoundConfig = { roundId: 'r', params, minReports: 1, dp: null };

describe('a report in flight when collection closes', () => {
  it('is refused and does not make the leader abort the round', async () => {
    const key = randomBytes(16);
    const leader = new Prio3Aggregation('leader', config, key);
    const helper = new Prio3Aggregation('helper', config, key);
    const a = await shardReport(params, [5, 0, 0, 0]);
    const late = await shardReport(params, [0, 3, 0, 0]);
    await leader.receiveReport('a', a.reportId, a.publicShare, a.leaderShare);
    await helper.receiveReport('a', a.reportId, a.publicShare, a.helperShare);
    // The late report starts before collection closes and finishes after.
    const inFlight = leader.receiveReport('late', late.reportId, late.publicShare, late.leaderShare);
    const { reports, shares } = leader.leaderPrepShares();
    await expect(inFlight).rejects.toMatchObject({ code: 'SMPC_BAD_TRANSITION' });
    expect(leader.held).toBe(1);
    const { verdicts, messages } = await helper.helperVerdicts(reports, shares);
    const accepted = leader.leaderFinish(verdicts, messages);
    expect(accepted).toEqual([a.reportId]);
    const sum = leader.combine(leader.leaderAggregate(), helper.helperCollect(accepted));
    expect(sum).toEqual([5n, 0n, 0n, 0n]);
  });
});
