// Per-aggregator client credentials against a malicious leader. Each client holds one token per
// aggregator; the leader holds only the leader-side tokens. The leader here is hand-rolled over a
// real link (the helper and the clients' connections are the real servers and channels on
// loopback): it tries to fill the helper's DP floor with Sybil reports under registered client ids
// — by logging in to the helper as those clients, by relaying their reports over its own link, and
// by listing reports the helper never received — so that one honest report is released alone.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Prio3Channel } from '../../../src/smpc/prio3/channel.ts';
import { shardReport } from '../../../src/smpc/prio3/client.ts';
import { decodeAggregateShare } from '../../../src/smpc/prio3/codec.ts';
import { Prio3Aggregation, type Prio3RoundConfig } from '../../../src/smpc/prio3/protocol.ts';
import { Prio3AggregatorServer, type Prio3Event } from '../../../src/smpc/prio3/server.ts';
import type { Prio3Params } from '../../../src/smpc/prio3/vdaf.ts';

const leaderSide = (id: string) => `leader-side-token-${id}-0123456789`;
const helperSide = (id: string) => `helper-side-token-${id}-0123456789`;
const LINK = 'leader-link-token-0123456789';
const ids = ['alice', 'bob', 'carol'];
const params: Prio3Params = { circuit: 'l2', length: 4, bits: 8, normBound: '400' };

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});

async function helperWithFloor(events: Prio3Event[]) {
  const helper = await Prio3AggregatorServer.listen({
    role: 'helper',
    clients: ids.map((id) => ({ id, token: helperSide(id) })),
    leader: { id: 'leader', token: LINK },
    params,
    minReports: 3,
    onEvent: (e) => events.push(e),
  });
  open.push(helper);
  const link = await Prio3Channel.connect({ url: helper.url, id: 'leader', token: LINK });
  open.push(link);
  return { helper, link };
}

/** The leader's `start`; returns what it needs to go on. */
async function start(link: Prio3Channel, roundId: string) {
  const session = randomBytes(16);
  const verifyKey = randomBytes(16);
  const config: Prio3RoundConfig = { roundId, params, minReports: 3, dp: null };
  link.send(roundId, session, {
    kind: 'start',
    header: { config, verifyKey: verifyKey.toString('hex') },
    blobs: [],
  });
  await link.next(['start'], 5_000);
  return { session, agg: new Prio3Aggregation('leader', config, verifyKey) };
}

/** An honest client's report: the helper share over its own channel, the leader share to `agg`. */
async function honestReport(channel: Prio3Channel, id: string, agg: Prio3Aggregation, m: number[]) {
  const ann = await channel.next(['announce'], 5_000);
  const r = await shardReport(params, m);
  channel.send(ann.roundId, ann.session, {
    kind: 'report',
    header: { reportId: r.reportId },
    blobs: [r.publicShare, r.helperShare],
  });
  expect((await channel.next(['receipt'], 10_000)).message.header.status).toBe('stored');
  await agg.receiveReport(id, r.reportId, r.publicShare, r.leaderShare);
}

describe('per-aggregator client credentials', () => {
  it('control: with every client authenticated at the helper, the hand-rolled leader gets an exact sum', async () => {
    const { helper, link } = await helperWithFloor([]);
    const channels = await Promise.all(
      ids.map((id) => Prio3Channel.connect({ url: helper.url, id, token: helperSide(id) })),
    );
    for (const c of channels) open.push(c);
    await helper.waitForClients(3, 5_000);
    const { session, agg } = await start(link, 'control');
    for (const [i, id] of ids.entries())
      await honestReport(channels[i] as Prio3Channel, id, agg, [i + 1, 0, 0, 0]);
    const { reports, shares } = agg.leaderPrepShares();
    link.send('control', session, { kind: 'prep', header: { reports }, blobs: shares });
    const v = await link.next(['verdicts'], 20_000);
    const verdicts = v.message.header.verdicts as { reportId: string; status: string }[];
    expect(verdicts.map((x) => x.status)).toEqual(['accepted', 'accepted', 'accepted']);
    const accepted = agg.leaderFinish(
      verdicts as Parameters<Prio3Aggregation['leaderFinish']>[0],
      v.message.blobs,
    );
    link.send('control', session, { kind: 'collect', header: { accepted }, blobs: [] });
    const theirs = await link.next(['aggregate'], 10_000);
    expect(theirs.message.header.count).toBe(3);
    const sum = agg.combine(agg.leaderAggregate(), {
      count: 3,
      share: decodeAggregateShare(agg.vdaf, theirs.message.blobs[0] as Uint8Array),
    });
    expect(sum).toEqual([6n, 0n, 0n, 0n]);
  }, 60_000);

  it('refuses Sybil reports under real client ids: the floor is not met and nothing is released', async () => {
    const events: Prio3Event[] = [];
    const { helper, link } = await helperWithFloor(events);
    // 1. Logging in to the helper as bob or carol with all the leader holds: refused, coded.
    for (const id of ['bob', 'carol']) {
      await expect(
        Prio3Channel.connect({ url: helper.url, id, token: leaderSide(id) }),
      ).rejects.toMatchObject({
        code: 'SMPC_UNAUTHENTICATED',
      });
    }
    expect(
      events.filter((e) => e.type === 'client-rejected' && e.code === 'SMPC_UNAUTHENTICATED'),
    ).toHaveLength(2);
    expect(helper.connectedClients).toEqual([]);
    // 2. Alice, honest, reports to both; the leader invents reports for bob and carol (it holds
    //    both shares of those, but can hand the helper's share only to itself).
    const alice = await Prio3Channel.connect({ url: helper.url, id: 'alice', token: helperSide('alice') });
    open.push(alice);
    await helper.waitForClients(1, 5_000);
    for (const [roundId, claim] of [
      ['sybils-listed', true],
      ['sybils-dropped', false],
    ] as const) {
      const { session, agg } = await start(link, roundId);
      await honestReport(alice, 'alice', agg, [7, 0, 0, 0]);
      for (const id of ['bob', 'carol']) {
        const s = await shardReport(params, [1, 1, 1, 1]);
        await agg.receiveReport(id, s.reportId, s.publicShare, s.leaderShare);
      }
      // 3. The helper holds only alice's report; the two the leader lists are missing-share.
      const { reports, shares } = agg.leaderPrepShares();
      expect(reports).toHaveLength(3);
      link.send(roundId, session, { kind: 'prep', header: { reports }, blobs: shares });
      const v = await link.next(['verdicts'], 20_000);
      const verdicts = v.message.header.verdicts as { reportId: string; status: string }[];
      expect(verdicts.map((x) => x.status)).toEqual(['accepted', 'missing-share', 'missing-share']);
      // 4. Collect: naming the Sybils is a disagreement; leaving them out misses the floor. Either
      //    way the helper answers with an abort, never with its aggregate share.
      const named = claim ? reports.map((r) => r.reportId) : [reports[0]?.reportId as string];
      link.send(roundId, session, { kind: 'collect', header: { accepted: named }, blobs: [] });
      const code = claim ? 'SMPC_AGGREGATORS_DISAGREE' : 'SMPC_TOO_FEW_CLIENTS';
      await expect(link.next(['aggregate'], 10_000)).rejects.toMatchObject({ code });
      await expect(alice.next(['result'], 5_000)).rejects.toMatchObject({ code });
      const aborted = events.find((e) => e.type === 'round-aborted' && e.roundId === roundId);
      expect(aborted).toMatchObject({ code });
      expect(events.some((e) => e.type === 'round-completed')).toBe(false);
    }
  }, 90_000);

  it("refuses a report relayed over the leader's link with SMPC_UNAUTHENTICATED", async () => {
    const events: Prio3Event[] = [];
    const { link } = await helperWithFloor(events);
    const { session } = await start(link, 'relay');
    const s = await shardReport(params, [1, 0, 0, 0]);
    link.send('relay', session, {
      kind: 'report',
      header: { reportId: s.reportId, clientId: 'bob' },
      blobs: [s.publicShare, s.helperShare],
    });
    await expect(link.next(['receipt', 'verdicts'], 5_000)).rejects.toMatchObject({
      code: 'SMPC_UNAUTHENTICATED',
    });
    expect(events.find((e) => e.type === 'round-aborted')).toMatchObject({ code: 'SMPC_UNAUTHENTICATED' });
  }, 30_000);

  it("refuses a helper configuration where the leader's link shares a client's id or token", async () => {
    const clients = ids.map((id) => ({ id, token: helperSide(id) }));
    await expect(
      Prio3AggregatorServer.listen({ role: 'helper', clients, leader: { id: 'alice', token: LINK } }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', fields: ['leader.id'] });
    await expect(
      Prio3AggregatorServer.listen({
        role: 'helper',
        clients,
        leader: { id: 'leader', token: helperSide('bob') },
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', fields: ['leader.token'] });
  });

  it("refuses a leader configuration where a client's token is the leader's link token (the helper holds it)", async () => {
    // The helper knows LINK (its `leader.token`): with bob registered at the leader under LINK,
    // the helper could log in to the leader as bob. Refused before listening or connecting.
    await expect(
      Prio3AggregatorServer.listen({
        role: 'leader',
        clients: ids.map((id) => ({ id, token: id === 'bob' ? LINK : leaderSide(id) })),
        helper: { url: 'ws://127.0.0.1:9', id: 'leader', token: LINK },
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', fields: ['helper.token'] });
  });
});
