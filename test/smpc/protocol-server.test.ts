import { describe, expect, it } from 'vitest';
import { createRing, ringSum } from '../../src/smpc/primitives/ring.ts';
import { type ClientState, clientStep } from '../../src/smpc/protocol/client.ts';
import type { ClientMessage, UnmaskResponse } from '../../src/smpc/protocol/messages.ts';
import { createServer, type ServerState, serverStep } from '../../src/smpc/protocol/server.ts';
import { deserializeServerState, serializeState } from '../../src/smpc/protocol/state.ts';
import { expectCodeAsync } from './helpers.ts';
import { makeParams, RESPONSES, trace } from './protocol-harness.ts';

const t = await trace(makeParams(5, { threshold: 3 }));
const ids = t.params.clients;
const serverAt = (k: number): ServerState => t.serverStates[k] as ServerState;
const response = (k: number, id: string): ClientMessage => t.responses[k]?.get(id) as ClientMessage;
const sumOf = (members: readonly string[]) =>
  Array.from(
    ringSum(
      members.map((id) => t.inputs.get(id) as Uint32Array),
      createRing(32),
    ),
  );

/** Feeds responses to stage k from `members`, then closes if the stage is still open. */
async function collect(k: number, members: readonly string[], override?: (id: string) => unknown) {
  let state = serverAt(k);
  let outbound: Awaited<ReturnType<typeof serverStep>>['outbound'] = [];
  for (const id of members) {
    const r = await serverStep(state, {
      type: 'message',
      from: id,
      message: override?.(id) ?? response(k, id),
    });
    state = r.state;
    outbound = [...outbound, ...r.outbound];
  }
  if (state.stage === serverAt(k).stage) {
    const r = await serverStep(state, { type: 'close' });
    state = r.state;
    outbound = [...outbound, ...r.outbound];
  }
  return { state, outbound };
}

describe('server stage transitions: every (stage, message) pair', () => {
  const stages = ['advertise', 'share-keys', 'masked-input', 'unmask'] as const;
  for (const [k, stage] of stages.entries()) {
    for (const [j, type] of RESPONSES.entries()) {
      const ok = j === k;
      it(`${stage} + ${type} → ${ok ? 'accepted' : 'SMPC_BAD_TRANSITION'}`, async () => {
        const state = serverAt(k);
        expect(state.stage).toBe(stage);
        if (ok) {
          const r = await serverStep(state, { type: 'message', from: 'c0', message: response(j, 'c0') });
          expect(r.state.excluded).toEqual([]);
          expect(r.state.stage).toBe(stage); // still waiting for the others
        } else {
          await expectCodeAsync(
            serverStep(state, { type: 'message', from: 'c0', message: response(j, 'c0') }),
            'SMPC_BAD_TRANSITION',
          );
        }
      });
    }
    it(`${stage} + abort from a client → that client is excluded`, async () => {
      const r = await serverStep(serverAt(k), {
        type: 'message',
        from: 'c1',
        message: { v: 1, type: 'abort', code: 'SMPC_POLICY_VIOLATION', reason: 'no' },
      });
      expect(r.state.excluded).toEqual([
        { id: 'c1', stage, code: 'SMPC_ABORTED', reason: expect.stringContaining('aborted') },
      ]);
    });
    it(`${stage} + close → ${stage === 'unmask' ? 'done' : stages[k + 1]} when everyone answered`, async () => {
      const { state } = await collect(k, ids);
      expect(state.stage).toBe(stage === 'unmask' ? 'done' : stages[k + 1]);
    });
  }

  it('finished and aborted servers accept nothing', async () => {
    const done = serverAt(4);
    expect(done.stage).toBe('done');
    expect(Array.from(done.result ?? [])).toEqual(sumOf(ids));
    await expectCodeAsync(serverStep(done, { type: 'close' }), 'SMPC_BAD_TRANSITION');
    await expectCodeAsync(
      serverStep(done, { type: 'message', from: 'c0', message: response(3, 'c0') }),
      'SMPC_BAD_TRANSITION',
    );
    const { state: aborted } = await collect(0, ['c0', 'c1']);
    expect(aborted.stage).toBe('aborted');
    await expectCodeAsync(serverStep(aborted, { type: 'close' }), 'SMPC_ABORTED');
  });

  it('a duplicate, an unknown sender and a late arrival are refused, never counted', async () => {
    const once = await serverStep(serverAt(2), { type: 'message', from: 'c0', message: response(2, 'c0') });
    await expectCodeAsync(
      serverStep(once.state, { type: 'message', from: 'c0', message: response(2, 'c0') }),
      'SMPC_BAD_TRANSITION',
    );
    await expectCodeAsync(
      serverStep(serverAt(2), { type: 'message', from: 'mallory', message: response(2, 'c0') }),
      'SMPC_BAD_TRANSITION',
    );
    // c4 misses the masked-input deadline; its vector arriving during unmasking is refused
    const { state } = await collect(2, ['c0', 'c1', 'c2', 'c3']);
    expect(state.stage).toBe('unmask');
    expect(state.dropped).toEqual(['c4']);
    await expectCodeAsync(
      serverStep(state, { type: 'message', from: 'c4', message: response(2, 'c4') }),
      'SMPC_BAD_TRANSITION',
    );
  });

  it('state survives serialisation at every stage', async () => {
    for (const k of [0, 1, 2, 3, 4])
      expect(deserializeServerState(serializeState(serverAt(k)))).toEqual(serverAt(k));
    const restored = deserializeServerState(serializeState(serverAt(3)));
    const { state } = await collect(3, ids);
    let s = restored;
    for (const id of ids)
      s = (await serverStep(s, { type: 'message', from: id, message: response(3, id) })).state;
    expect(Array.from(s.result ?? [])).toEqual(Array.from(state.result ?? []));
    expect(() => deserializeServerState('{"v":1,"role":"client"}')).toThrow();
  });

  it('validates parameters at creation', () => {
    expect(() => createServer({ ...t.params, threshold: 1 })).toThrow();
    expect(() => createServer({ ...t.params, graph: 'harary', degree: 3 })).toThrow();
    expect(() => createServer({ ...t.params, clients: ['a', 'a', 'b', 'c', 'd'] })).toThrow();
    expect(createServer(t.params).outbound.map((o) => o.to)).toEqual(ids);
  });
});

describe('server defences against faulty clients', () => {
  it('excludes a malformed masked vector and sums the others exactly', async () => {
    const bad = { ...(response(2, 'c3') as object), masked: new Uint32Array(3) };
    const s3 = await collect(2, ids, (id) => (id === 'c3' ? bad : undefined));
    expect(s3.state.stage).toBe('unmask');
    expect(s3.state.excluded.map((e) => e.id)).toEqual(['c3']);
    expect(s3.state.dropped).toEqual(['c3']);
    // the clients, told c3 dropped, reveal its masking-key shares; the sum excludes c3
    const unmaskRequest = s3.outbound.find((o) => o.to === 'c0')?.message;
    expect(unmaskRequest).toEqual({
      v: 1,
      type: 'unmask-request',
      survivors: ['c0', 'c1', 'c2', 'c4'],
      dropped: ['c3'],
      signatures: [],
    });
    let state = s3.state;
    for (const id of ['c0', 'c1', 'c2', 'c4']) {
      const r = await clientStep(t.clientStates[3]?.get(id) as ClientState, unmaskRequest);
      expect(r.state.stage).toBe('done');
      state = (await serverStep(state, { type: 'message', from: id, message: r.outbound[0] })).state;
    }
    expect(state.stage).toBe('done');
    expect(Array.from(state.result ?? [])).toEqual(sumOf(['c0', 'c1', 'c2', 'c4']));
  });

  it('excludes a client whose reported peers differ from what it was sent', async () => {
    const lying = { ...(response(2, 'c1') as object), peers: ['c0', 'c2'] };
    const r = await serverStep(serverAt(2), { type: 'message', from: 'c1', message: lying });
    expect(r.state.excluded.map((e) => e.id)).toEqual(['c1']);
  });

  it('excludes bad advertised keys and share-keys with missing envelopes', async () => {
    const lowOrder = {
      v: 1,
      type: 'advertise',
      encryptionKey: new Uint8Array(32),
      maskingKey: new Uint8Array(32).fill(9),
    };
    let r = await serverStep(serverAt(0), { type: 'message', from: 'c2', message: lowOrder });
    expect(r.state.excluded.map((e) => e.id)).toEqual(['c2']);
    const c0 = response(0, 'c0');
    r = await serverStep(serverAt(0), { type: 'message', from: 'c0', message: c0 });
    r = await serverStep(r.state, { type: 'message', from: 'c1', message: c0 }); // c1 replays c0's keys
    expect(r.state.excluded.map((e) => e.id)).toEqual(['c1']);
    const sk = response(1, 'c0') as Extract<ClientMessage, { type: 'share-keys' }>;
    r = await serverStep(serverAt(1), {
      type: 'message',
      from: 'c0',
      message: { ...sk, envelopes: sk.envelopes.slice(1) },
    });
    expect(r.state.excluded.map((e) => e.id)).toEqual(['c0']);
  });

  it('detects corrupted shares: recovers from spare shares, aborts when none spare, never sums wrongly', async () => {
    const corrupt = (id: string): UnmaskResponse => {
      const u = response(3, id) as UnmaskResponse;
      return {
        ...u,
        selfMaskShares: u.selfMaskShares.map((s) => {
          const value = Uint8Array.from(s.value);
          value[32] = (value[32] as number) ^ 1;
          return { ...s, value };
        }),
      };
    };
    // one liar among 5 responders, t = 3: other subsets match the commitment
    const spare = await collect(3, ids, (id) => (id === 'c2' ? corrupt(id) : undefined));
    expect(spare.state.stage).toBe('done');
    expect(Array.from(spare.state.result ?? [])).toEqual(sumOf(ids));
    // two liars among 4 responders: c0's seed has exactly 3 holders answering, two of them lying,
    // so no 3-subset verifies → abort, no result
    const none = await collect(3, ['c0', 'c1', 'c2', 'c3'], (id) =>
      id === 'c1' || id === 'c2' ? corrupt(id) : undefined,
    );
    expect(none.state.stage).toBe('aborted');
    expect(none.state.abort?.code).toBe('SMPC_SHARES_INCONSISTENT');
    expect(none.state.result).toBeNull();
  });

  it('excludes an unmask response with shares for the wrong clients or indices', async () => {
    const u = response(3, 'c0') as UnmaskResponse;
    const first = u.selfMaskShares[0];
    if (first === undefined) throw new Error('bad trace');
    const wrongIndex = {
      ...u,
      selfMaskShares: [{ ...first, index: first.index + 1 }, ...u.selfMaskShares.slice(1)],
    };
    const bothKinds = { ...u, maskingKeyShares: [first] };
    for (const bad of [wrongIndex, bothKinds]) {
      const r = await serverStep(serverAt(3), { type: 'message', from: 'c0', message: bad });
      expect(r.state.excluded.map((e) => e.id)).toEqual(['c0']);
    }
  });

  it('aborts when fewer than t answer unmasking', async () => {
    const { state } = await collect(3, ['c0', 'c1']);
    expect(state.stage).toBe('aborted');
    expect(state.abort?.code).toBe('SMPC_TOO_FEW_CLIENTS');
  });
});
