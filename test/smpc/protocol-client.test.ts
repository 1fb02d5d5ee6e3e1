import { describe, expect, it } from 'vitest';
import { sealEnvelope } from '../../src/smpc/primitives/aead.ts';
import { sharedSecret } from '../../src/smpc/primitives/ka.ts';
import { deriveKey } from '../../src/smpc/primitives/kdf.ts';
import { type ClientState, clientStep, createClient } from '../../src/smpc/protocol/client.ts';
import type {
  MaskedInput,
  MaskedInputRequest,
  ServerMessage,
  ShareKeysRequest,
  UnmaskRequest,
} from '../../src/smpc/protocol/messages.ts';
import { encodePayload, ROUND_SHARE_KEYS } from '../../src/smpc/protocol/shares.ts';
import { deserializeClientState, serializeState } from '../../src/smpc/protocol/state.ts';
import { expectCodeAsync } from './helpers.ts';
import { makeParams, REQUESTS, trace } from './protocol-harness.ts';

const t = await trace(makeParams(5, { threshold: 3 }));
const ID = 'c0';
const stateAt = (k: number): ClientState => t.clientStates[k]?.get(ID) as ClientState;
const request = <T extends ServerMessage>(k: number, id = ID): T => t.requests[k]?.get(id) as T;

async function abortsWith(k: number, message: unknown, code: string): Promise<void> {
  const r = await clientStep(stateAt(k), message);
  expect(r.state.stage).toBe('aborted');
  expect(r.state.abort?.code).toBe(code);
  expect(r.state.secrets).toBeNull();
  expect(r.state.held).toBeNull();
  expect(r.outbound).toEqual([{ v: 1, type: 'abort', code, reason: expect.any(String) }]);
}

describe('client stage transitions: every (stage, message) pair', () => {
  const stages = ['awaiting-params', 'advertised', 'shared-keys', 'masked', 'done'] as const;
  for (const [k, stage] of stages.entries()) {
    for (const [j, type] of REQUESTS.entries()) {
      const ok = j === k;
      it(`${stage} + ${type} → ${ok ? 'accepted' : 'SMPC_BAD_TRANSITION'}`, async () => {
        const state = stateAt(k);
        expect(state.stage).toBe(stage);
        if (ok) {
          const r = await clientStep(state, request(j));
          expect(r.state.stage).toBe(stages[k + 1]);
          expect(r.outbound.length).toBe(1);
        } else {
          await expectCodeAsync(clientStep(state, request(j)), 'SMPC_BAD_TRANSITION');
        }
      });
    }
    it(`${stage} + abort → ${stage === 'done' ? 'SMPC_BAD_TRANSITION' : 'aborted'}`, async () => {
      const abort = { v: 1, type: 'abort', code: 'SMPC_TOO_FEW_CLIENTS', reason: 'x' };
      if (stage === 'done') {
        await expectCodeAsync(clientStep(stateAt(k), abort), 'SMPC_BAD_TRANSITION');
        return;
      }
      const r = await clientStep(stateAt(k), abort);
      expect(r.state.stage).toBe('aborted');
      expect(r.state.abort?.code).toBe('SMPC_ABORTED');
      expect(r.outbound).toEqual([]);
      // an aborted client accepts nothing, ever
      for (const j of [0, 1, 2, 3]) await expectCodeAsync(clientStep(r.state, request(j)), 'SMPC_ABORTED');
    });
  }

  it('a replayed request is refused, never processed twice', async () => {
    const r = await clientStep(stateAt(2), request(2));
    await expectCodeAsync(clientStep(r.state, request(2)), 'SMPC_BAD_TRANSITION');
  });

  it('a client that lost its state cannot rejoin with fresh secrets', async () => {
    const fresh = createClient({ id: ID, input: t.inputs.get(ID) as Uint32Array });
    for (const j of [1, 2, 3]) await expectCodeAsync(clientStep(fresh, request(j)), 'SMPC_BAD_TRANSITION');
  });

  it('malformed messages are refused with the state unchanged', async () => {
    await expectCodeAsync(
      clientStep(stateAt(0), { v: 2, type: 'advertise-request' }),
      'SMPC_MALFORMED_MESSAGE',
    );
    await expectCodeAsync(clientStep(stateAt(0), { v: 1, type: 'hello' }), 'SMPC_MALFORMED_MESSAGE');
    await expectCodeAsync(
      clientStep(stateAt(3), { v: 1, type: 'unmask-request', survivors: 'c1' }),
      'SMPC_MALFORMED_MESSAGE',
    );
    await expectCodeAsync(clientStep(stateAt(0), null), 'SMPC_MALFORMED_MESSAGE');
  });

  it('state survives serialisation at every stage and continues identically', async () => {
    for (const k of [0, 1, 2, 3, 4]) {
      const restored = deserializeClientState(serializeState(stateAt(k)));
      expect(restored).toEqual(stateAt(k));
    }
    const restored = deserializeClientState(serializeState(stateAt(3)));
    const a = await clientStep(restored, request(3));
    const b = await clientStep(stateAt(3), request(3));
    expect(a.outbound).toEqual(b.outbound);
    expect(() =>
      deserializeClientState(serializeState(stateAt(2)).replace('"shared-keys"', '"masked"')),
    ).toThrow();
  });
});

describe('client defences against a malicious server', () => {
  it('refuses parameters below its policy', async () => {
    const params = request<{ v: 1; type: 'advertise-request'; params: ReturnType<typeof makeParams> }>(
      0,
    ).params;
    const strict = createClient({
      id: ID,
      input: t.inputs.get(ID) as Uint32Array,
      policy: { minThreshold: 4 },
    });
    const r = await clientStep(strict, request(0));
    expect(r.state.abort?.code).toBe('SMPC_POLICY_VIOLATION');
    const downgrades = [
      { ...params, threshold: 2 }, // t ≤ k/2
      { ...params, vectorLength: 9 },
      { ...params, ringBits: 16, graph: 'complete' as const },
      { ...params, clients: params.clients.filter((c) => c !== ID), degree: 3 },
    ];
    for (const p of downgrades)
      await abortsWith(0, { v: 1, type: 'advertise-request', params: p }, 'SMPC_POLICY_VIOLATION');
    // one session per round id: a client that completed round-1 refuses a second session for it
    const veteran = createClient({
      id: ID,
      input: t.inputs.get(ID) as Uint32Array,
      policy: { completedRoundIds: ['round-0', 'round-1'] },
    });
    expect((await clientStep(veteran, request(0))).state.abort?.code).toBe('SMPC_POLICY_VIOLATION');
    const fresh = createClient({
      id: ID,
      input: t.inputs.get(ID) as Uint32Array,
      policy: { completedRoundIds: ['round-0'] },
    });
    expect((await clientStep(fresh, request(0))).state.stage).toBe('advertised');
    const chachaOnly = createClient({
      id: ID,
      input: t.inputs.get(ID) as Uint32Array,
      policy: { allowedPrg: ['chacha20'] },
    });
    expect((await clientStep(chachaOnly, request(0))).state.abort?.code).toBe('SMPC_POLICY_VIOLATION');
  });

  it('refuses a roster that omits it, substitutes its keys, repeats ids or keys, or has low-order keys', async () => {
    const req = request<ShareKeysRequest>(1);
    const roster = req.roster;
    const self = roster.find((e) => e.id === ID);
    const other = roster.find((e) => e.id !== ID);
    if (self === undefined || other === undefined) throw new Error('bad trace');
    const cases: [string, ShareKeysRequest['roster'], string][] = [
      ['omits self', roster.filter((e) => e.id !== ID), 'SMPC_ROSTER_INVALID'],
      [
        'substitutes own key',
        roster.map((e) => (e.id === ID ? { ...e, maskingKey: other.maskingKey } : e)),
        'SMPC_ROSTER_INVALID',
      ],
      ['duplicates an id', [...roster, other], 'SMPC_ROSTER_INVALID'],
      [
        'reuses a key',
        roster.map((e) => (e.id === 'c2' ? { ...e, encryptionKey: other.encryptionKey } : e)),
        'SMPC_ROSTER_INVALID',
      ],
      ['outsider', [...roster, { ...other, id: 'mallory' }], 'SMPC_ROSTER_INVALID'],
      [
        'low-order key',
        roster.map((e) => (e.id === 'c3' ? { ...e, maskingKey: new Uint8Array(32) } : e)),
        'SMPC_LOW_ORDER_POINT',
      ],
      ['too few neighbours', roster.filter((e) => e.id === ID || e.id === 'c1'), 'SMPC_TOO_FEW_CLIENTS'],
    ];
    for (const [what, r, code] of cases) {
      const res = await clientStep(stateAt(1), { ...req, roster: r });
      expect(res.state.abort?.code, what).toBe(code);
    }
  });

  it('reports tampered, re-addressed or foreign envelopes instead of using them', async () => {
    const req = request<MaskedInputRequest>(2);
    const envs = req.envelopes;
    const first = envs[0];
    if (first === undefined) throw new Error('bad trace');
    const flipped = Uint8Array.from(first.ciphertext);
    flipped[20] = (flipped[20] as number) ^ 1;
    // an envelope addressed to c1 (from the same sender), relayed to c0
    const forC1 = request<MaskedInputRequest>(2, 'c1').envelopes.find(
      (e) => e.from === first.from && first.from !== 'c1',
    );
    // Faults the sender (or a tampering relay) could cause: the sender is reported, not used.
    const reported: [string, MaskedInputRequest['envelopes']][] = [
      ['tampered', [{ ...first, ciphertext: flipped }, ...envs.slice(1)]],
      ['truncated', [{ ...first, ciphertext: first.ciphertext.subarray(0, 10) }, ...envs.slice(1)]],
    ];
    if (forC1 !== undefined) reported.push(['addressed to another', [forC1, ...envs.slice(1)]]);
    for (const [what, e] of reported) {
      const res = await clientStep(stateAt(2), { ...req, envelopes: e });
      expect(res.state.stage, what).toBe('masked');
      expect(res.state.complaints, what).toEqual([first.from]);
      expect(
        res.state.held?.map((h) => h.owner),
        what,
      ).not.toContain(first.from);
      const out = res.outbound[0] as MaskedInput;
      expect(out.complaints, what).toEqual([first.from]);
      expect(out.peers, what).not.toContain(first.from);
    }
    // Structural faults only the relay can cause, or too few usable envelopes: abort.
    const aborts: [string, MaskedInputRequest['envelopes'], string][] = [
      ['duplicate sender', [first, first, ...envs.slice(1)], 'SMPC_ENVELOPE_MISADDRESSED'],
      [
        'relabelled onto another sender',
        [{ ...first, from: envs[1]?.from ?? 'c9' }, ...envs.slice(1)],
        'SMPC_ENVELOPE_MISADDRESSED',
      ],
      ['unknown sender', [{ ...first, from: 'mallory' }, ...envs.slice(1)], 'SMPC_ENVELOPE_MISADDRESSED'],
      ['too few', envs.slice(0, 2), 'SMPC_TOO_FEW_CLIENTS'],
      [
        'too many rejected',
        envs.map((e, i) => (i < 2 ? { ...e, ciphertext: flipped } : e)),
        'SMPC_TOO_FEW_CLIENTS',
      ],
    ];
    for (const [what, e, code] of aborts) {
      const res = await clientStep(stateAt(2), { ...req, envelopes: e });
      expect(res.state.abort?.code, what).toBe(code);
    }
    // envelopes from a different session (another trace, same ids) all fail: too few remain
    const other = await trace(makeParams(5, { threshold: 3 }));
    const foreign = (other.requests[2]?.get(ID) as MaskedInputRequest | undefined)?.envelopes ?? [];
    expect((await clientStep(stateAt(2), { ...req, envelopes: foreign })).state.abort?.code).toBe(
      'SMPC_TOO_FEW_CLIENTS',
    );
  });

  it('reports a correctly encrypted share whose payload names the wrong recipient or index', async () => {
    // c1 is malicious: it seals, under the right key and context, a payload that lies.
    const c1 = t.clientStates[2]?.get('c1') as ClientState;
    const c0 = stateAt(2);
    const sessionId = c0.sessionId as Uint8Array;
    const c0Keys = (c1.neighbours ?? []).find((e) => e.id === ID);
    if (c1.secrets === null || c0Keys === undefined) throw new Error('bad trace');
    const key = deriveKey({
      secret: await sharedSecret(c1.secrets.encryptionSecret, c0Keys.encryptionKey),
      sessionId,
      purpose: 'envelope',
    });
    const share = new Uint8Array(33);
    const req = request<MaskedInputRequest>(2);
    for (const [what, payload] of [
      ['wrong recipient', { from: 'c1', to: 'c2', index: 1 }],
      ['wrong sender', { from: 'c3', to: ID, index: 1 }],
      ['wrong index', { from: 'c1', to: ID, index: 2 }],
    ] as const) {
      const ciphertext = sealEnvelope(
        key,
        encodePayload({ ...payload, selfMaskShare: share, maskingKeyShare: share }),
        { sessionId, round: ROUND_SHARE_KEYS, sender: 'c1', recipient: ID },
      );
      const envelopes = req.envelopes.map((e) => (e.from === 'c1' ? { from: 'c1', ciphertext } : e));
      const res = await clientStep(c0, { ...req, envelopes });
      expect(res.state.stage, what).toBe('masked');
      expect(res.state.complaints, what).toEqual(['c1']);
      expect(
        res.state.held?.some((h) => h.owner === 'c1'),
        what,
      ).toBe(false);
    }
    // and the honest payload under the same construction is accepted
    const honest = sealEnvelope(
      key,
      encodePayload({ from: 'c1', to: ID, index: 1, selfMaskShare: share, maskingKeyShare: share }),
      { sessionId, round: ROUND_SHARE_KEYS, sender: 'c1', recipient: ID },
    );
    const ok = await clientStep(c0, {
      ...req,
      envelopes: req.envelopes.map((e) => (e.from === 'c1' ? { from: 'c1', ciphertext: honest } : e)),
    });
    expect(ok.state.stage).toBe('masked');
    expect(ok.state.complaints).toEqual([]);
  });

  it('refuses unsafe unmask requests', async () => {
    const req = request<UnmaskRequest>(3);
    expect(req.survivors).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    const cases: [string, Partial<UnmaskRequest>][] = [
      ['peer in both lists', { survivors: ['c0', 'c1', 'c2', 'c3', 'c4'], dropped: ['c2'] }],
      ['self listed dropped', { survivors: ['c1', 'c2', 'c3', 'c4'], dropped: ['c0'] }],
      ['self omitted', { survivors: ['c1', 'c2', 'c3', 'c4'], dropped: [] }],
      ['unknown id', { survivors: ['c0', 'c1', 'c2', 'c3', 'c4', 'mallory'], dropped: [] }],
      ['duplicate id', { survivors: ['c0', 'c1', 'c1', 'c2', 'c3'], dropped: [] }],
    ];
    for (const [what, change] of cases) {
      const res = await clientStep(stateAt(3), { ...req, ...change });
      expect(res.state.abort?.code, what).toBe('SMPC_UNMASK_REQUEST_INVALID');
      expect(res.outbound[0]?.type).toBe('abort');
    }
    const few = await clientStep(stateAt(3), {
      ...req,
      survivors: ['c0', 'c1'],
      dropped: ['c2', 'c3', 'c4'],
    });
    expect(few.state.abort?.code).toBe('SMPC_TOO_FEW_CLIENTS');
  });

  it('asks for a peer whose shares it never received (U3 ⊆ U2)', async () => {
    // c0 received envelopes from c1..c3 only (c4 dropped before share-keys, from c0's view)
    const req = request<MaskedInputRequest>(2);
    const partial = { ...req, envelopes: req.envelopes.filter((e) => e.from !== 'c4') };
    const masked = await clientStep(stateAt(2), partial);
    expect(masked.state.stage).toBe('masked');
    const res = await clientStep(masked.state, {
      v: 1,
      type: 'unmask-request',
      survivors: ['c0', 'c1', 'c2', 'c4'],
      dropped: ['c3'],
      signatures: [],
    });
    expect(res.state.abort?.code).toBe('SMPC_UNMASK_REQUEST_INVALID');
  });

  it('reveals exactly one share per peer: self-mask shares for survivors, key shares for the dropped', async () => {
    const res = await clientStep(stateAt(3), {
      v: 1,
      type: 'unmask-request',
      survivors: ['c0', 'c1', 'c2', 'c3'],
      dropped: ['c4'],
      signatures: [],
    });
    const out = res.outbound[0];
    if (out?.type !== 'unmask') throw new Error('expected an unmask response');
    expect(out.selfMaskShares.map((s) => s.owner)).toEqual(['c1', 'c2', 'c3']);
    expect(out.maskingKeyShares.map((s) => s.owner)).toEqual(['c4']);
    // answering once only
    await expectCodeAsync(clientStep(res.state, request(3)), 'SMPC_BAD_TRANSITION');
  });
});

describe('inconsistent survivor sets (threshold mode)', () => {
  it('with t > k/2 (the default policy) no split of a victim’s holders yields t shares of both kinds', async () => {
    // Victim c4; its holders c0..c3 (k = 4, t = 3). The server tells each holder either
    // "c4 survived" (revealing a self-mask share) or "c4 dropped" (revealing a masking-key share).
    const holders = ['c0', 'c1', 'c2', 'c3'];
    for (let mask = 0; mask < 16; mask++) {
      let selfShares = 0;
      let keyShares = 0;
      for (const [i, h] of holders.entries()) {
        const toldSurvived = ((mask >> i) & 1) === 1;
        const survivors = toldSurvived ? ['c0', 'c1', 'c2', 'c3', 'c4'] : ['c0', 'c1', 'c2', 'c3'];
        const res = await clientStep(t.clientStates[3]?.get(h) as ClientState, {
          v: 1,
          type: 'unmask-request',
          survivors,
          dropped: toldSurvived ? [] : ['c4'],
          signatures: [],
        });
        const out = res.outbound[0];
        if (out?.type !== 'unmask') continue;
        selfShares += out.selfMaskShares.filter((s) => s.owner === 'c4').length;
        keyShares += out.maskingKeyShares.filter((s) => s.owner === 'c4').length;
      }
      expect(selfShares >= 3 && keyShares >= 3, `split ${mask.toString(2)}`).toBe(false);
    }
  });
});
