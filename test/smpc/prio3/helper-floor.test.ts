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
