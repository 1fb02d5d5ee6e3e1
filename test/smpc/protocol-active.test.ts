import { describe, expect, it } from 'vitest';
import { publicKeyFromSecret } from '../../src/smpc/primitives/ka.ts';
import { createRing, ringSum } from '../../src/smpc/primitives/ring.ts';
import {
  advertisementStatement,
  generateIdentity,
  type Identity,
  identityPublicKey,
  signStatement,
  survivorsStatement,
  verifyStatement,
} from '../../src/smpc/primitives/signing.ts';
import { type ClientState, clientStep, createClient } from '../../src/smpc/protocol/client.ts';
import type {
  ConsistencyRequest,
  ShareKeysRequest,
  UnmaskRequest,
} from '../../src/smpc/protocol/messages.ts';
import { paramsDigest } from '../../src/smpc/protocol/params.ts';
import { DROP_POINTS, type DropPoint, runRound } from '../../src/smpc/protocol/round.ts';
import { serverStep } from '../../src/smpc/protocol/server.ts';
import { deserializeClientState, serializeState } from '../../src/smpc/protocol/state.ts';
import { expectCodeAsync, hex, toHex } from './helpers.ts';
import { makeParams, trace } from './protocol-harness.ts';

describe('Ed25519 identities', () => {
  it('match RFC 8032 §7.1 test 1', () => {
    const sk = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    expect(toHex(identityPublicKey(sk))).toBe(
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    );
    const sig = signStatement(new Uint8Array(0), sk);
    expect(toHex(sig)).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    expect(verifyStatement(sig, new Uint8Array(0), identityPublicKey(sk))).toBe(true);
  });

  it('separate the two statements and reject malformed signatures without throwing', () => {
    const id = generateIdentity();
    const digest = new Uint8Array(32).fill(3);
    const keys = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)] as const;
    const adv = advertisementStatement(digest, 'a', ...keys);
    const sig = signStatement(adv, id.secretKey);
    expect(verifyStatement(sig, adv, id.publicKey)).toBe(true);
    expect(verifyStatement(sig, survivorsStatement(digest, ['a']), id.publicKey)).toBe(false);
    expect(verifyStatement(sig, advertisementStatement(digest, 'b', ...keys), id.publicKey)).toBe(false);
    expect(verifyStatement(sig, adv, generateIdentity().publicKey)).toBe(false);
    expect(verifyStatement(sig.subarray(1), adv, id.publicKey)).toBe(false);
    // small-order public keys admit trivial signatures under ZIP-215 rules; strict verification refuses them
    expect(verifyStatement(new Uint8Array(64), adv, new Uint8Array(32))).toBe(false);
    const one = new Uint8Array(32);
    one[0] = 1; // the identity point
    const trivial = new Uint8Array(64);
    trivial[0] = 1;
    expect(verifyStatement(trivial, adv, one)).toBe(false);
    // survivor statements are order-insensitive
    expect(toHex(survivorsStatement(digest, ['b', 'a']))).toBe(toHex(survivorsStatement(digest, ['a', 'b'])));
  });
});

const N = 6;
const params = makeParams(N, { profile: 'active', threshold: 4 }); // k = 5, t = 4 > 2k/3
const identities = new Map<string, Identity>(params.clients.map((id) => [id, generateIdentity()]));
const t = await trace(params, identities);
const ID = 'c0';
const secretOf = (id: string) => ({ identitySecretKey: (identities.get(id) as Identity).secretKey });
const stateAt = (k: number, id = ID): ClientState => t.clientStates[k]?.get(id) as ClientState;
const sum = (ids: readonly string[]) =>
  Array.from(
    ringSum(
      ids.map((id) => t.inputs.get(id) as Uint32Array),
      createRing(32),
    ),
  );

describe('active profile: whole rounds', () => {
  it('runs five rounds and sums exactly', () => {
    expect(t.requests.map((r) => [...r.values()][0]?.type)).toEqual([
      'advertise-request',
      'share-keys-request',
      'masked-input-request',
      'consistency-request',
      'unmask-request',
    ]);
    const final = t.serverStates[5];
    expect(final?.stage).toBe('done');
    expect(Array.from(final?.result ?? [])).toEqual(sum(params.clients));
    expect((t.requests[4]?.get(ID) as UnmaskRequest | undefined)?.signatures.length).toBe(N);
  });

  it.each(DROP_POINTS.map((d) => [d]))(
    'one dropout at %s: exact or, below the signature threshold, abort',
    async (d) => {
      const inputs = t.inputs;
      const out = await runRound({ params, inputs, identities, dropAt: new Map([['c3', d as DropPoint]]) });
      expect(out.server.stage).toBe('done');
      const included =
        d === 'consistency' || d === 'unmask' ? params.clients : params.clients.filter((c) => c !== 'c3');
      expect(Array.from(out.result ?? [])).toEqual(sum(included));
    },
  );

  it('aborts when fewer than t survivors sign', async () => {
    const dropAt = new Map<string, DropPoint>([
      ['c1', 'consistency'],
      ['c2', 'consistency'],
      ['c3', 'consistency'],
    ]);
    const out = await runRound({ params, inputs: t.inputs, identities, dropAt });
    expect(out.server.stage).toBe('aborted');
    expect(out.server.abort?.code).toBe('SMPC_TOO_FEW_CLIENTS');
  });
});

describe('active profile: transitions', () => {
  it('masked + unmask-request is refused (the consistency round cannot be skipped)', async () => {
    const unmask = t.requests[4]?.get(ID);
    await expectCodeAsync(clientStep(stateAt(3), unmask, secretOf(ID)), 'SMPC_BAD_TRANSITION');
    const signed = await clientStep(stateAt(3), t.requests[3]?.get(ID), secretOf(ID));
    expect(signed.state.stage).toBe('signed');
    await expectCodeAsync(
      clientStep(signed.state, t.requests[3]?.get(ID), secretOf(ID)),
      'SMPC_BAD_TRANSITION',
    );
    const done = await clientStep(signed.state, unmask, secretOf(ID));
    expect(done.state.stage).toBe('done');
    expect(deserializeClientState(serializeState(signed.state))).toEqual(signed.state);
  });

  it('an honest-but-curious client refuses a consistency request', async () => {
    const hbc = await trace(makeParams(4, { threshold: 2 }));
    const req: ConsistencyRequest = {
      v: 1,
      type: 'consistency-request',
      survivors: ['c0', 'c1', 'c2', 'c3'],
    };
    await expectCodeAsync(
      clientStep(hbc.clientStates[3]?.get(ID) as ClientState, req),
      'SMPC_BAD_TRANSITION',
    );
  });

  it('the server accepts consistency messages only in its consistency stage', async () => {
    const sig = t.responses[3]?.get(ID);
    for (const k of [0, 1, 2, 4]) {
      await expectCodeAsync(
        serverStep(t.serverStates[k] as never, { type: 'message', from: ID, message: sig }),
        'SMPC_BAD_TRANSITION',
      );
    }
    const r = await serverStep(t.serverStates[3] as never, { type: 'message', from: ID, message: sig });
    expect(r.state.signatures.map((s) => s.id)).toEqual([ID]);
  });

  it('the server leaves out an unsigned advertisement instead of relaying it', async () => {
    const adv = t.responses[0]?.get('c1') as { signature: Uint8Array | null };
    const r = await serverStep(t.serverStates[0] as never, {
      type: 'message',
      from: 'c1',
      message: { ...adv, signature: null },
    });
    expect(r.state.excluded.map((e) => e.id)).toEqual(['c1']);
  });

  it('a missing identity key is a local configuration error', async () => {
    await expect(clientStep(stateAt(0), t.requests[0]?.get(ID))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

describe('active profile: defences', () => {
  it('refuses t ≤ 2k/3 and cohorts with untrusted members', async () => {
    const weak = { v: 1, type: 'advertise-request', params: { ...params, threshold: 3 } };
    expect((await clientStep(stateAt(0), weak, secretOf(ID))).state.abort?.code).toBe(
      'SMPC_POLICY_VIOLATION',
    );
    const partial = createClient({
      id: ID,
      input: t.inputs.get(ID) as Uint32Array,
      trustedIdentities: params.clients
        .slice(0, 5)
        .map((id) => ({ id, publicKey: (identities.get(id) as Identity).publicKey })),
    });
    expect((await clientStep(partial, t.requests[0]?.get(ID), secretOf(ID))).state.abort?.code).toBe(
      'SMPC_POLICY_VIOLATION',
    );
    // its own key must be the trusted one
    const wrongSelf = await clientStep(stateAt(0), t.requests[0]?.get(ID), secretOf('c1'));
    expect(wrongSelf.state.abort?.code).toBe('SMPC_POLICY_VIOLATION');
  });

  it('refuses substituted, unsigned or forged roster keys, and Sybils', async () => {
    const req = t.requests[1]?.get(ID) as ShareKeysRequest;
    const victim = req.roster.find((e) => e.id === 'c2');
    if (victim === undefined) throw new Error('bad trace');
    const mallory = generateIdentity();
    const freshKey = publicKeyFromSecret(crypto.getRandomValues(new Uint8Array(32)));
    const resigned = (e: typeof victim) => ({
      ...e,
      signature: signStatement(
        advertisementStatement(paramsDigest(params), e.id, e.encryptionKey, e.maskingKey),
        mallory.secretKey,
      ),
    });
    for (const [what, entry] of [
      ['unsigned', { ...victim, signature: null }],
      ['key substituted under the old signature', { ...victim, maskingKey: freshKey }],
      ['key substituted and signed by the server', resigned({ ...victim, maskingKey: freshKey })],
      [
        'signature over another statement',
        { ...victim, signature: signStatement(new Uint8Array(1), mallory.secretKey) },
      ],
    ] as const) {
      const roster = req.roster.map((e) => (e.id === 'c2' ? entry : e));
      const r = await clientStep(stateAt(1), { ...req, roster }, secretOf(ID));
      expect(r.state.abort?.code, what).toBe('SMPC_SIGNATURE_INVALID');
    }
    // the honest roster passes
    expect((await clientStep(stateAt(1), req, secretOf(ID))).state.stage).toBe('shared-keys');
  });

  it('refuses to reveal unless t valid signatures cover exactly the survivor set it signed', async () => {
    const signed = await clientStep(stateAt(3), t.requests[3]?.get(ID), secretOf(ID));
    const good = t.requests[4]?.get(ID) as UnmaskRequest;
    const cases: [string, UnmaskRequest][] = [
      [
        'different survivor set',
        { ...good, survivors: good.survivors.filter((s) => s !== 'c5'), dropped: ['c5'] },
      ],
      ['too few signatures', { ...good, signatures: good.signatures.slice(0, 3) }],
      [
        'one signature repeated',
        { ...good, signatures: Array.from({ length: 6 }, () => good.signatures[0] as never) },
      ],
      [
        'signatures on another set',
        {
          ...good,
          signatures: good.signatures.map((s) => ({
            id: s.id,
            signature: signStatement(
              survivorsStatement(stateAt(3).sessionId as Uint8Array, ['c0', 'c1', 'c2', 'c3', 'c4']),
              (identities.get(s.id) as Identity).secretKey,
            ),
          })),
        },
      ],
      [
        'signatures attributed to the wrong ids',
        {
          ...good,
          signatures: good.signatures.map((s, i) => ({ ...s, id: params.clients[(i + 1) % N] as string })),
        },
      ],
    ];
    for (const [what, req] of cases) {
      const r = await clientStep(signed.state, req, secretOf(ID));
      expect(r.state.abort?.code, what).toBe('SMPC_SIGNATURE_INVALID');
      expect(r.outbound[0]?.type).toBe('abort');
    }
    const ok = await clientStep(
      signed.state,
      { ...good, signatures: good.signatures.slice(0, 4) },
      secretOf(ID),
    );
    expect(ok.state.stage).toBe('done');
  });

  it('a server showing different survivor sets to different clients cannot collect both shares of anyone', async () => {
    // The server shows group A "c5 survived" and group B "c5 dropped", collects each group's
    // signatures, and forwards them with the matching unmask request.
    const all = params.clients;
    const without = all.filter((c) => c !== 'c5');
    for (const [groupA, groupB] of [
      [
        ['c1', 'c2', 'c5'],
        ['c0', 'c3', 'c4'],
      ],
      [
        ['c0', 'c1', 'c2', 'c5'],
        ['c3', 'c4'],
      ],
    ] as const) {
      let selfShares = 0;
      let keyShares = 0;
      for (const [group, survivors, dropped] of [
        [groupA, all, []],
        [groupB, without, ['c5']],
      ] as const) {
        const signed = new Map<string, ClientState>();
        const signatures: { id: string; signature: Uint8Array }[] = [];
        for (const id of group) {
          const r = await clientStep(
            stateAt(3, id),
            { v: 1, type: 'consistency-request', survivors },
            secretOf(id),
          );
          const out = r.outbound[0];
          if (out?.type === 'consistency') {
            signed.set(id, r.state);
            signatures.push({ id, signature: out.signature });
          }
        }
        for (const [id, state] of signed) {
          const r = await clientStep(
            state,
            { v: 1, type: 'unmask-request', survivors, dropped, signatures },
            secretOf(id),
          );
          const out = r.outbound[0];
          if (out?.type === 'unmask') {
            selfShares += out.selfMaskShares.filter((x) => x.owner === 'c5').length;
            keyShares += out.maskingKeyShares.filter((x) => x.owner === 'c5').length;
          } else {
            expect(r.state.abort?.code).toBe('SMPC_SIGNATURE_INVALID');
          }
        }
      }
      expect(selfShares >= params.threshold && keyShares >= params.threshold).toBe(false);
      expect(keyShares).toBe(0); // group B never reaches t signatures on its set
    }
  });
});

describe('active profile on a Harary graph', () => {
  it('signed advertisements, consistency round and neighbourhood thresholds: exact with dropouts', async () => {
    const hp = makeParams(12, {
      profile: 'active',
      graph: 'harary',
      degree: 6,
      threshold: 5,
      vectorLength: 32,
    });
    const ids = new Map<string, Identity>(hp.clients.map((id) => [id, generateIdentity()]));
    const inputs = new Map(hp.clients.map((id) => [id, crypto.getRandomValues(new Uint32Array(32))]));
    const out = await runRound({
      params: hp,
      inputs,
      identities: ids,
      // t = 5 of k = 6: one dropout per neighbourhood is what this plan tolerates
      dropAt: new Map<string, DropPoint>([['c3', 'masked-input']]),
    });
    expect(out.server.abort).toBeNull();
    expect(out.server.stage).toBe('done');
    expect(out.survivors).toHaveLength(11);
    expect(out.survivors).not.toContain('c3');
    expect(Array.from(out.result ?? [])).toEqual(
      Array.from(
        ringSum(
          out.survivors.map((id) => inputs.get(id) as Uint32Array),
          createRing(32),
        ),
      ),
    );
    expect(out.stageTimesMs).toHaveProperty('consistency');
  });
});
