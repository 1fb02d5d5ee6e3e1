// The helper's own DP floor: the round's minReports comes from the leader, so without a floor of
// its own a malicious leader announces minReports 1, collects only the victim's report and gets
// the helper's aggregate share of that one report — the victim's measurement.
import { afterEach, describe, expect, it } from 'vitest';
import { Prio3AggregatorServer } from '../../../src/smpc/prio3/server.ts';
import type { Prio3Params } from '../../../src/smpc/prio3/vdaf.ts';

const token = (id: string) => `token-of-${id}-0123456789`;
const clients = ['h1', 'h2'].map((id) => ({ id, token: token(id) }));
const params: Prio3Params = { circuit: 'l2', length: 4, bits: 8, normBound: '400' };

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});

describe('the Prio3 helper floor', () => {
  it('refuses a round announced with a floor below its own', async () => {
    const helper = await Prio3AggregatorServer.listen({
      role: 'helper',
      clients,
      leader: { id: 'leader', token: token('leader') },
      minReports: 2,
    });
    open.push(helper);
    const leader = await Prio3AggregatorServer.listen({
      role: 'leader',
      clients,
      helper: { url: helper.url, id: 'leader', token: token('leader') },
    });
    open.push(leader);
    const r = await leader.runRound({ roundId: 'r1', params, minReports: 1, collectMs: 200 });
    expect(r.status).toBe('aborted');
    expect(r.abort?.code).toBe('SMPC_AGGREGATORS_DISAGREE');
  });
});

describe('the Prio3 helper noise', () => {
  it('refuses a round whose noise is below the DP plan the helper was given', async () => {
    const helper = await Prio3AggregatorServer.listen({
      role: 'helper',
      clients,
      leader: { id: 'leader', token: token('leader') },
      dp: { epsilon: 1, delta: 1e-6, rounds: 1 },
    });
    open.push(helper);
    const leader = await Prio3AggregatorServer.listen({
      role: 'leader',
      clients,
      helper: { url: helper.url, id: 'leader', token: token('leader') },
    });
    open.push(leader);
    const r = await leader.runRound({ roundId: 'r1', params, dp: null, collectMs: 200 });
    expect(r.status).toBe('aborted');
    expect(r.abort?.code).toBe('SMPC_AGGREGATORS_DISAGREE');
    const r2 = await leader.runRound({
      roundId: 'r2',
      params,
      dp: { epsilon: 100, delta: 1e-6, rounds: 1 },
      collectMs: 200,
    });
    expect(r2.abort?.code).toBe('SMPC_AGGREGATORS_DISAGREE');
    // The same plan passes the check (and then has no reports: too few).
    const r3 = await leader.runRound({
      roundId: 'r3',
      params,
      dp: { epsilon: 1, delta: 1e-6, rounds: 1 },
      collectMs: 200,
    });
    expect(r3.abort?.code).toBe('SMPC_TOO_FEW_CLIENTS');
  });
});
