// Attack replays against a real AggregationServer and real AggregationClients on loopback, one per
// secure-aggregation protocol finding:
// - downgrade: a server announcing `honest-but-curious` to a client configured with identities,
//   with Sybil clients sending zeros (the attack that recovered the victim's input), is declined
//   with SMPC_PROFILE_TOO_WEAK before the victim sends anything but the decline;
// - one client sending an out-of-field Shamir share in unmasking: the round completes with the
//   exact sum, the sender marked SMPC_SHARE_MALFORMED;
// - the DP floor: when fewer clients than the plan's minSurvivors send masked inputs, the round
//   aborts (SMPC_DP_TOO_FEW_SURVIVORS) before any unmask request: no client reveals a share.
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AggregationClient,
  generateIdentity,
  type Identity,
  planDistributedDiscreteGaussian,
  privatize,
} from '../../src/smpc/index.ts';
import { SHAMIR_PRIME } from '../../src/smpc/primitives/index.ts';
import {
  decodeFrame,
  decodeMessage,
  encodeFrame,
  encodeMessage,
  type Frame,
} from '../../src/smpc/protocol/index.ts';
import {
  connectClient,
  expectExact,
  frameType,
  type Harness,
  inputFor,
  registry,
  resultOf,
  startServer,
  tamperingWebSocket,
} from '../smpc/transport/helpers.ts';

let harness: Harness | undefined;
let clients: AggregationClient[] = [];

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await harness?.server.close();
  harness = undefined;
});

/** A WebSocket that records the frame types a client sends (and passes every frame on). */
function recording(sent: string[]) {
  return tamperingWebSocket((bytes, control) => {
    sent.push(frameType(bytes));
    control.send(bytes);
  });
}

function outOfField(): Uint8Array {
  const out = new Uint8Array(33);
  let v = SHAMIR_PRIME;
  for (let i = 32; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

describe('finding 1: no downgrade of a client with identities', () => {
  it('declines an honest-but-curious round before sending keys; joins the active one', async () => {
    const reg = registry(4);
    const identities = new Map<string, Identity>(reg.map((c) => [c.id, generateIdentity()]));
    const trusted = reg.map((c) => ({ id: c.id, publicKey: (identities.get(c.id) as Identity).publicKey }));
    harness = await startServer(
      reg.map((c) => ({ ...c, identityPublicKey: (identities.get(c.id) as Identity).publicKey })),
    );
    const h = harness;
    const victimSent: string[] = [];
    const victim = await connectClient(h.server.url, 'c0', {
      trustedIdentities: trusted,
      identitySecretKey: (identities.get('c0') as Identity).secretKey,
      WebSocket: recording(victimSent),
    });
    // The server's Sybils: registered clients without identity policy, sending zeros.
    const sybils = await Promise.all(
      ['c1', 'c2', 'c3'].map((id) =>
        connectClient(h.server.url, id, {
          prepare: (round) => new Uint32Array(round.vectorLength),
          identitySecretKey: (identities.get(id) as Identity).secretKey,
          trustedIdentities: trusted,
          policy: { minProfile: 'honest-but-curious', minThresholdFraction: 0 },
        }),
      ),
    );
    clients = [victim, ...sybils];
    await h.server.waitForClients(4, 10_000);
    const downgraded = await h.server.runRound({
      roundId: 'downgrade',
      vectorLength: 8,
      minClients: 3,
      profile: 'honest-but-curious',
      joinTimeoutMs: 10_000,
    });
    const record = await resultOf(victim, 'downgrade');
    expect(record.status).toBe('declined');
    expect(record.abort?.code).toBe('SMPC_PROFILE_TOO_WEAK');
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: 'client-declined', clientId: 'c0', code: 'SMPC_PROFILE_TOO_WEAK' }),
    );
    // The victim said hello and declined: no join, no key, no masked input, no share.
    expect(victimSent).toEqual(['hello', 'decline']);
    expect(downgraded.survivors).not.toContain('c0');
    expect(Array.from(downgraded.sum ?? [])).toEqual(Array.from(new Uint32Array(8)));

    // The same client takes part in an active round (the pin is a floor, not a refusal).
    const active = await h.server.runRound({
      roundId: 'active',
      vectorLength: 8,
      minClients: 4,
      profile: 'active',
    });
    expect(active.status, JSON.stringify(active.abort)).toBe('completed');
    expect(active.survivors).toEqual(['c0', 'c1', 'c2', 'c3']);
    const expected = inputFor('c0', 'active', 8);
    expect(Array.from(active.sum ?? [])).toEqual(Array.from(expected));
    expect(victimSent).toContain('advertise');
  });
});

describe('finding 5: one client cannot abort a round the others can complete', () => {
  it('an out-of-field Shamir share in unmasking is dropped, its sender marked, the sum exact', async () => {
    const reg = registry(6);
    harness = await startServer(reg);
    const h = harness;
    let tampered = 0;
    const attacker = await connectClient(h.server.url, 'c1', {
      WebSocket: tamperingWebSocket((bytes, control) => {
        const frame = decodeFrame(bytes) as Frame;
        if (frame.kind === 'protocol') {
          const message = decodeMessage(frame.message) as {
            type: string;
            selfMaskShares: { owner: string; index: number; value: Uint8Array }[];
          };
          if (message.type === 'unmask' && message.selfMaskShares.length > 0) {
            tampered++;
            const first = message.selfMaskShares[0] as { value: Uint8Array };
            first.value = outOfField();
            control.send(encodeFrame({ ...frame, message: encodeMessage(message) }));
            return;
          }
        }
        control.send(bytes);
      }),
    });
    const honest = await Promise.all(
      ['c0', 'c2', 'c3', 'c4', 'c5'].map((id) => connectClient(h.server.url, id)),
    );
    clients = [attacker, ...honest];
    await h.server.waitForClients(6, 10_000);
    const result = await h.server.runRound({
      roundId: 'malformed-share',
      vectorLength: 16,
      minClients: 6,
      profile: 'honest-but-curious',
    });
    expect(tampered).toBe(1);
    expectExact(result, 16);
    // The attacker's own input was sent well-formed: it stays in the sum.
    expect(result.survivors).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5']);
    expect(result.excluded).toEqual([
      expect.objectContaining({ id: 'c1', stage: 'unmask', code: 'SMPC_SHARE_MALFORMED' }),
    ]);
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: 'client-dropped', clientId: 'c1', code: 'SMPC_SHARE_MALFORMED' }),
    );
  });

  it('the same client sending garbage at every stage in turn never stops the round', async () => {
    const reg = registry(5);
    harness = await startServer(reg, {});
    const h = harness;
    for (const stage of ['advertise', 'share-keys', 'masked-input', 'unmask'] as const) {
      const attacker = await connectClient(h.server.url, 'c4', {
        WebSocket: tamperingWebSocket((bytes, control) => {
          const frame = decodeFrame(bytes) as Frame;
          if (frame.kind === 'protocol' && frameType(bytes) === stage) {
            const garbage = encodeMessage({ v: 1, type: 'abort', code: 'X', reason: 'x' });
            control.send(encodeFrame({ ...frame, message: garbage.subarray(0, garbage.length - 1) }));
            return;
          }
          control.send(bytes);
        }),
      });
      const honest = await Promise.all(['c0', 'c1', 'c2', 'c3'].map((id) => connectClient(h.server.url, id)));
      clients = [attacker, ...honest];
      await h.server.waitForClients(5, 10_000);
      const result = await h.server.runRound({
        roundId: `garbage-${stage}`,
        vectorLength: 4,
        minClients: 5,
        stageTimeoutMs: 5_000,
        profile: 'honest-but-curious',
      });
      expectExact(result, 4);
      expect(result.excluded.map((e) => [e.id, e.stage, e.code])).toEqual([
        ['c4', stage, 'SMPC_MALFORMED_MESSAGE'],
      ]);
      // Excluded before its input was fixed: not in the sum; in unmasking: its input stays.
      expect(result.survivors.includes('c4')).toBe(stage === 'unmask');
      await Promise.all(clients.map((c) => c.close()));
      clients = [];
    }
  });
});

describe('finding 5 (audit): a masked input failing its check lanes is attributed', () => {
  it('an altered check lane: the round completes without its sender, banned, never with a wrong sum', async () => {
    const reg = registry(5);
    harness = await startServer(reg);
    const h = harness;
    const attacker = await connectClient(h.server.url, 'c3', {
      WebSocket: tamperingWebSocket((bytes, control) => {
        const frame = decodeFrame(bytes) as Frame;
        if (frame.kind === 'protocol' && frameType(bytes) === 'masked-input') {
          const m = decodeMessage(frame.message) as { masked: Uint32Array };
          const last = m.masked.length - 1;
          m.masked[last] = ((m.masked[last] as number) + 1) >>> 0;
          control.send(encodeFrame({ ...frame, message: encodeMessage(m) }));
          return;
        }
        control.send(bytes);
      }),
    });
    const honest = await Promise.all(['c0', 'c1', 'c2', 'c4'].map((id) => connectClient(h.server.url, id)));
    clients = [attacker, ...honest];
    await h.server.waitForClients(5, 10_000);
    const result = await h.server.runRound({
      roundId: 'check-lanes',
      vectorLength: 4,
      minClients: 4,
      profile: 'honest-but-curious',
    });
    // The first session aborted naming c3; a fresh session without it summed the other four.
    expect(result.retried).toEqual([{ roundId: 'check-lanes', code: 'SMPC_AGGREGATE_INVALID' }]);
    expect(result.banned).toEqual([
      { clientId: 'c3', code: 'SMPC_AGGREGATE_INVALID', roundId: 'check-lanes' },
    ]);
    expect(result.roundId).toBe('check-lanes.retry1');
    expectExact(result, 4);
    expect([...result.survivors]).toEqual(['c0', 'c1', 'c2', 'c4']);
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: 'client-banned', clientId: 'c3', code: 'SMPC_AGGREGATE_INVALID' }),
    );
    // Banned: it is refused when it comes back.
    await expect(connectClient(h.server.url, 'c3')).rejects.toMatchObject({ code: 'SMPC_CLIENT_BANNED' });
  });
});

describe('finding 5 (audit): a commitment that matches no secret', () => {
  it('inconsistent shares: the round completes without their owner, who is not banned and joins the next round', async () => {
    const reg = registry(5);
    harness = await startServer(reg);
    const h = harness;
    // Only the first session is tampered with: the fault behind inconsistent shares may as well be
    // a share holder's, so the owner must stay welcome in later rounds.
    let tampered = false;
    const owner = await connectClient(h.server.url, 'c3', {
      WebSocket: tamperingWebSocket((bytes, control) => {
        const frame = decodeFrame(bytes) as Frame;
        if (!tampered && frame.kind === 'protocol' && frameType(bytes) === 'share-keys') {
          tampered = true;
          const m = decodeMessage(frame.message) as { selfMaskCommitment: Uint8Array };
          const c = Uint8Array.from(m.selfMaskCommitment);
          c[0] = (c[0] as number) ^ 1;
          control.send(encodeFrame({ ...frame, message: encodeMessage({ ...m, selfMaskCommitment: c }) }));
          return;
        }
        control.send(bytes);
      }),
    });
    const honest = await Promise.all(['c0', 'c1', 'c2', 'c4'].map((id) => connectClient(h.server.url, id)));
    clients = [owner, ...honest];
    await h.server.waitForClients(5, 10_000);
    const result = await h.server.runRound({
      roundId: 'commitment',
      vectorLength: 4,
      minClients: 4,
      profile: 'honest-but-curious',
    });
    expect(result.retried).toEqual([{ roundId: 'commitment', code: 'SMPC_SHARES_INCONSISTENT' }]);
    // Left out of this round's retry, but not banned: the abort does not prove its fault.
    expect(result.banned).toEqual([]);
    expect(result.sidelined).toEqual([
      { clientId: 'c3', code: 'SMPC_SHARES_INCONSISTENT', roundId: 'commitment' },
    ]);
    expect(h.events).not.toContainEqual(expect.objectContaining({ type: 'client-banned' }));
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: 'client-sidelined', clientId: 'c3', code: 'SMPC_SHARES_INCONSISTENT' }),
    );
    expectExact(result, 4);
    expect([...result.survivors]).toEqual(['c0', 'c1', 'c2', 'c4']);
    // The next round announces to it again and sums all five.
    const next = await h.server.runRound({
      roundId: 'after-commitment',
      vectorLength: 4,
      minClients: 5,
      profile: 'honest-but-curious',
    });
    expect(next.status).toBe('completed');
    expect([...next.survivors]).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
  });
});

describe('finding 5 (audit): a bad signature in the active profile excludes its sender', () => {
  it('an advertisement whose signature does not verify is left out of the roster; the rest sum exactly', async () => {
    // Seven clients: the active threshold ⌊2n/3⌋ + 1 = 5 of k = 6 holders leaves room for one exclusion.
    const reg = registry(7);
    const identities = new Map<string, Identity>(reg.map((c) => [c.id, generateIdentity()]));
    const trusted = reg.map((c) => ({ id: c.id, publicKey: (identities.get(c.id) as Identity).publicKey }));
    harness = await startServer(
      reg.map((c) => ({ ...c, identityPublicKey: (identities.get(c.id) as Identity).publicKey })),
    );
    const h = harness;
    clients = await Promise.all(
      reg.map((c) =>
        connectClient(h.server.url, c.id, {
          trustedIdentities: trusted,
          identitySecretKey: (identities.get(c.id) as Identity).secretKey,
          ...(c.id !== 'c2'
            ? {}
            : {
                WebSocket: tamperingWebSocket((bytes, control) => {
                  const frame = decodeFrame(bytes) as Frame;
                  if (frame.kind === 'protocol' && frameType(bytes) === 'advertise') {
                    const m = decodeMessage(frame.message) as { signature: Uint8Array };
                    m.signature = m.signature.map((b, i) => (i === 0 ? b ^ 1 : b));
                    control.send(encodeFrame({ ...frame, message: encodeMessage(m) }));
                    return;
                  }
                  control.send(bytes);
                }),
              }),
        }),
      ),
    );
    await h.server.waitForClients(7, 10_000);
    const result = await h.server.runRound({
      roundId: 'bad-signature',
      vectorLength: 8,
      minClients: 5,
      profile: 'active',
    });
    expectExact(result, 8);
    expect(result.survivors).toEqual(['c0', 'c1', 'c3', 'c4', 'c5', 'c6']);
    expect(result.excluded).toEqual([
      expect.objectContaining({ id: 'c2', stage: 'advertise', code: 'SMPC_SIGNATURE_INVALID' }),
    ]);
  });
});

describe('finding 9: a below-floor sum is never computed', () => {
  it('aborts with SMPC_DP_TOO_FEW_SURVIVORS before any unmask request when too few inputs remain', async () => {
    const reg = registry(5);
    harness = await startServer(reg);
    const h = harness;
    const dp = planDistributedDiscreteGaussian({
      epsilon: 4,
      delta: 1e-5,
      l2Clip: 1,
      valueBits: 16,
      dimension: 16,
      expectedClients: 5,
      minSurvivors: 5,
    });
    const sent = new Map<string, string[]>();
    clients = await Promise.all(
      reg.map((c) => {
        const log: string[] = [];
        sent.set(c.id, log);
        return connectClient(h.server.url, c.id, {
          prepare: (round) =>
            privatize(new Array(16).fill(0.01), round.dp as NonNullable<typeof round.dp>).values,
          WebSocket: tamperingWebSocket((bytes, control) => {
            const type = frameType(bytes);
            log.push(type);
            // c4 crashes instead of sending its masked input.
            if (c.id === 'c4' && type === 'masked-input') {
              control.close();
              return;
            }
            control.send(bytes);
          }),
        });
      }),
    );
    await h.server.waitForClients(5, 10_000);
    const result = await h.server.runRound({
      roundId: 'floor',
      vectorLength: 16,
      minClients: 5,
      dp,
      profile: 'honest-but-curious',
    });
    expect(result.status).toBe('aborted');
    expect(result.abort?.code).toBe('SMPC_DP_TOO_FEW_SURVIVORS');
    expect(result.sum).toBeNull();
    expect(h.events).not.toContainEqual(expect.objectContaining({ type: 'stage', stage: 'unmask' }));
    for (const [id, log] of sent) expect(log, id).not.toContain('unmask');
  });
});
