import { Field128 } from '@divviup/field';
import { Prio3 } from '@divviup/prio3';
import { FlpGeneric } from '@divviup/prio3/dist/genericFlp.js';
import { XofTurboShake128 } from '@divviup/xof';
import { afterEach, describe, expect, it } from 'vitest';
import { BoundedL2VecSum } from '../../../src/smpc/prio3/circuits.ts';
import { Prio3Client, shardReport } from '../../../src/smpc/prio3/client.ts';
import { Prio3AggregatorServer } from '../../../src/smpc/prio3/server.ts';
import { PRIO3_L2_ID, type Prio3Params, type Prio3Vdaf } from '../../../src/smpc/prio3/vdaf.ts';

// Each aggregator registers its own token per client: the leader never holds a helper token.
const token = (id: string) => `token-of-${id}-0123456789`;
const helperToken = (id: string) => `helper-token-of-${id}-0123456789`;
const ids = ['h1', 'h2', 'h3', 'h4'];
const clients = ids.map((id) => ({ id, token: token(id), helperToken: helperToken(id) }));
const helperClients = ids.map((id) => ({ id, token: helperToken(id) }));
const params: Prio3Params = { circuit: 'l2', length: 8, bits: 8, normBound: '400' };

/** The attacker's sharding: skips the bound check (slack taken modulo 2^normBits). */
function cheatingShard(p: Prio3Params, m: readonly number[]) {
  const circuit = new BoundedL2VecSum(
    new Field128(),
    p.length,
    p.bits,
    BigInt(p.normBound as string),
    Math.ceil(Math.sqrt(p.length * p.bits + 9)),
    Math.ceil(Math.sqrt(p.length)),
  );
  const honest = circuit.encode.bind(circuit);
  circuit.encode = (v: readonly number[]) => {
    let sq = 0n;
    for (const x of v) sq += BigInt(x * x);
    const fake = v.map((x) => x); // encode the coordinates honestly, lie about the slack
    const bits = honest(fake.map(() => 0)).slice(0, p.length * p.bits);
    const half = 2 ** (p.bits - 1);
    for (let i = 0; i < v.length; i++)
      for (let j = 0; j < p.bits; j++) bits[i * p.bits + j] = BigInt((((v[i] as number) + half) >> j) & 1);
    const slack = (BigInt(p.normBound as string) - sq) & ((1n << BigInt(circuit.normBits)) - 1n);
    for (let j = 0; j < circuit.normBits; j++) bits.push((slack >> BigInt(j)) & 1n);
    return bits;
  };
  return shardReport(new Prio3(XofTurboShake128, new FlpGeneric(circuit), 2, 1, PRIO3_L2_ID) as Prio3Vdaf, m);
}

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});

async function setup() {
  const helper = await Prio3AggregatorServer.listen({
    role: 'helper',
    clients: helperClients,
    leader: { id: 'leader', token: token('leader') },
  });
  open.push(helper);
  const leader = await Prio3AggregatorServer.listen({
    role: 'leader',
    clients,
    helper: { url: helper.url, id: 'leader', token: token('leader') },
  });
  open.push(leader);
  const cs = await Promise.all(
    ids.map((id) =>
      Prio3Client.connect({
        leaderUrl: leader.url,
        helperUrl: helper.url,
        id,
        token: token(id),
        helperToken: helperToken(id),
      }),
    ),
  );
  for (const c of cs) open.push(c);
  await leader.waitForClients(ids.length, 5_000);
  await helper.waitForClients(ids.length, 5_000);
  return { leader, helper, cs };
}

describe('Prio3 over loopback WebSockets', () => {
  it('sums the valid reports, rejects the poisoned one with its reason, and tells each client', async () => {
    const { leader, cs } = await setup();
    const updates = [
      [10, -3, 0, 0, 0, 0, 0, 1],
      [0, 0, 0, 0, 5, 5, 5, 5],
      [-20, 0, 0, 0, 0, 0, 0, 0],
      [127, 127, 0, 0, 0, 0, 0, 0], // h4: ‖z‖² = 32 258, 80× the bound
    ];
    const round = leader.runRound({ roundId: 'r1', params, minReports: 2, collectMs: 10_000 });
    const results = await Promise.all(
      cs.map((c, i) => c.nextRound(() => updates[i] as number[], i === 3 ? { shard: cheatingShard } : {})),
    );
    const r = await round;
    expect(r.status).toBe('completed');
    expect(r.accepted).toBe(3);
    expect(r.rejected).toEqual([{ clientId: 'h4', reason: 'invalid-proof' }]);
    expect(r.sum).toEqual([-10, -3, 0, 0, 5, 5, 5, 6].map(BigInt));
    expect(results.map((x) => x.yourReport)).toEqual(['accepted', 'accepted', 'accepted', 'invalid-proof']);
    expect(results[0]?.sum).toEqual(r.sum);
  }, 60_000);

  it('releases nothing below the DP floor', async () => {
    const { leader, cs } = await setup();
    const round = leader.runRound({ roundId: 'floor', params, minReports: 4, collectMs: 10_000 });
    const results = await Promise.all(
      cs.map((c, i) =>
        c.nextRound(
          () => (i === 0 ? [30, 0, 0, 0, 0, 0, 0, 0] : [1, 0, 0, 0, 0, 0, 0, 0]),
          i === 0 ? { shard: cheatingShard } : {},
        ),
      ),
    );
    const r = await round;
    expect(r.status).toBe('aborted');
    expect(r.abort?.code).toBe('SMPC_TOO_FEW_CLIENTS');
    expect(r.sum).toBeNull();
    expect(results.every((x) => x.status === 'aborted' && x.sum === null)).toBe(true);
  }, 60_000);

  it("adds each aggregator's discrete Gaussian noise and reports the accounting", async () => {
    const { leader, cs } = await setup();
    const round = leader.runRound({
      roundId: 'dp',
      params,
      minReports: 4,
      collectMs: 10_000,
      dp: { epsilon: 1, delta: 1e-6, rounds: 1 },
    });
    await Promise.all(cs.map((c) => c.nextRound(() => [0, 0, 0, 0, 0, 0, 0, 0])));
    const r = await round;
    expect(r.status).toBe('completed');
    expect(r.dp?.variance).toBeGreaterThan(400); // sensitivity √400 = 20 at ε = 1 needs σ > 20
    expect(r.dp?.epsilon).toBeLessThanOrEqual(1);
    expect(r.sum?.some((x) => x !== 0n)).toBe(true); // noise of variance > 400 on 8 coordinates
  }, 60_000);

  it('refuses a wrong token with the SecAgg+ code', async () => {
    const { leader, helper } = await setup();
    await expect(
      Prio3Client.connect({
        leaderUrl: leader.url,
        helperUrl: helper.url,
        id: 'h1',
        token: 'wrong-token-0123456789',
        helperToken: helperToken('h1'),
      }),
    ).rejects.toMatchObject({
      code: 'SMPC_UNAUTHENTICATED',
    });
  }, 30_000);

  it('refuses one token for both aggregators before connecting', async () => {
    await expect(
      Prio3Client.connect({
        leaderUrl: 'ws://127.0.0.1:1',
        helperUrl: 'ws://127.0.0.1:1',
        id: 'h1',
        token: token('h1'),
        helperToken: token('h1'),
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', fields: ['helperToken'] });
  });
});

describe('Prio3 aggregator links', () => {
  it('a helper that pins its parameters aborts a round the leader announces with a weaker bound', async () => {
    const helper = await Prio3AggregatorServer.listen({
      role: 'helper',
      clients: helperClients,
      leader: { id: 'leader', token: token('leader') },
      params,
    });
    open.push(helper);
    const leader = await Prio3AggregatorServer.listen({
      role: 'leader',
      clients,
      helper: { url: helper.url, id: 'leader', token: token('leader') },
    });
    open.push(leader);
    const r = await leader.runRound({
      roundId: 'weak',
      params: { ...params, normBound: '40000' },
      collectMs: 1_000,
    });
    expect(r.status).toBe('aborted');
    expect(r.abort?.code).toBe('SMPC_AGGREGATORS_DISAGREE');
  }, 30_000);

  it('a helper whose leader goes away mid-round drops that round, so a new leader can run the next', async () => {
    const { leader, helper } = await setup();
    const round = leader.runRound({ roundId: 'lost', params, minReports: 4, collectMs: 60_000 });
    await new Promise((r) => setTimeout(r, 300)); // the helper has started the round; no report comes
    await leader.close();
    expect((await round).status).toBe('aborted');
    const again = await Prio3AggregatorServer.listen({
      role: 'leader',
      clients,
      helper: { url: helper.url, id: 'leader', token: token('leader') },
    });
    open.push(again);
    const cs = await Promise.all(
      ids.map((id) =>
        Prio3Client.connect({
          leaderUrl: again.url,
          helperUrl: helper.url,
          id,
          token: token(id),
          helperToken: helperToken(id),
        }),
      ),
    );
    for (const c of cs) open.push(c);
    await again.waitForClients(ids.length, 5_000);
    await helper.waitForClients(ids.length, 5_000);
    const next = again.runRound({ roundId: 'after', params, minReports: 4, collectMs: 10_000 });
    await Promise.all(cs.map((c) => c.nextRound(() => [1, 0, 0, 0, 0, 0, 0, 0])));
    const r = await next;
    expect(r.status).toBe('completed');
    expect(r.sum?.[0]).toBe(4n);
  }, 60_000);
});
