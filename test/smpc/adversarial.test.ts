// Adversarial scenarios run as whole rounds through a tampering transport (a scripted malicious
// server or faulty client rewrites, replays or swaps messages in flight): bad envelopes,
// masked-vector replay, roster size, model/round binding and input validation. Every test checks
// one invariant: the sum is exact over
// the clients it claims to include, or the round aborts — never a silently wrong sum — and no
// honest client reveals a self-mask share of a client whose input is not in the sum.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRing, ringSum } from '../../src/smpc/primitives/ring.ts';
import { generateIdentity, type Identity } from '../../src/smpc/primitives/signing.ts';
import { clientStep, createClient } from '../../src/smpc/protocol/client.ts';
import type {
  AdvertiseRequest,
  MaskedInput,
  ShareKeysRequest,
  ShareKeysResponse,
  UnmaskResponse,
} from '../../src/smpc/protocol/messages.ts';
import type { RoundParams } from '../../src/smpc/protocol/params.ts';
import { type DropPoint, runRound } from '../../src/smpc/protocol/round.ts';
import { createServer, serverStep } from '../../src/smpc/protocol/server.ts';
import {
  type Delivery,
  InMemoryTransport,
  SERVER_ADDRESS,
  type Transport,
} from '../../src/smpc/protocol/transport.ts';
import { clipVector, dequantize, quantize } from '../../src/smpc/quantize.ts';
import { expectCode } from './helpers.ts';
import { makeParams, trace } from './protocol-harness.ts';

type Rewrite = (from: string, to: string, message: Record<string, unknown>) => Record<string, unknown> | null;

/** Every message passes through `rewrite` (return null to drop it); everything sent is recorded. */
class TamperTransport implements Transport {
  readonly inner = new InMemoryTransport();
  readonly log: { from: string; to: string; message: Record<string, unknown> }[] = [];
  readonly rewrite: Rewrite;
  constructor(rewrite: Rewrite) {
    this.rewrite = rewrite;
  }
  send(from: string, to: string, message: unknown): void {
    const m = this.rewrite(from, to, message as Record<string, unknown>);
    if (m === null) return;
    this.log.push({ from, to, message: m });
    this.inner.send(from, to, m);
  }
  receive(to: string): Delivery[] {
    return this.inner.receive(to);
  }
  /** Owners whose self-mask shares any client revealed. */
  revealedSelfMasks(): Set<string> {
    return new Set(
      this.log
        .filter((e) => e.message.type === 'unmask')
        .flatMap((e) => (e.message as unknown as UnmaskResponse).selfMaskShares.map((s) => s.owner)),
    );
  }
}

function inputsFor(params: RoundParams): Map<string, Uint32Array> {
  const ring = createRing(params.ringBits);
  return new Map(
    params.clients.map((id) => [
      id,
      crypto.getRandomValues(new Uint32Array(params.vectorLength)).map((x) => x & ring.mask),
    ]),
  );
}

const sumOf = (inputs: Map<string, Uint32Array>, ids: readonly string[], bits = 32) =>
  Array.from(
    ringSum(
      ids.map((id) => inputs.get(id) as Uint32Array),
      createRing(bits),
    ),
  );

describe('a client that sends a bad share envelope is reported and excluded, not an abort', () => {
  const params = makeParams(6, { threshold: 3 }); // complete, k = 5, t = 3

  it('a garbage envelope to one neighbour: the sender is dropped, the rest sum exactly', async () => {
    const inputs = inputsFor(params);
    const net = new TamperTransport((from, _to, m) => {
      if (from !== 'c2' || m.type !== 'share-keys') return m;
      const r = m as unknown as ShareKeysResponse;
      return {
        ...r,
        envelopes: r.envelopes.map((e) =>
          e.to === 'c4' ? { to: e.to, ciphertext: e.ciphertext.map((b, i) => (i === 30 ? b ^ 0xff : b)) } : e,
        ),
      } as unknown as Record<string, unknown>;
    });
    const out = await runRound({ params, inputs, transport: net });
    expect(out.server.stage).toBe('done');
    expect(out.survivors).toEqual(['c0', 'c1', 'c3', 'c4', 'c5']);
    expect(out.server.dropped).toEqual(['c2']);
    expect(out.server.excluded).toContainEqual({
      id: 'c2',
      stage: 'masked-input',
      code: 'SMPC_ENVELOPE_MALFORMED',
      reason: 'a neighbour rejected its share envelope',
    });
    expect(Array.from(out.result ?? [])).toEqual(sumOf(inputs, out.survivors));
    // c4 reported c2, masked without it, and was asked for nothing about it
    const c4 = net.log.find((e) => e.from === 'c4' && e.message.type === 'masked-input')
      ?.message as unknown as MaskedInput;
    expect(c4.complaints).toEqual(['c2']);
    expect(c4.peers).not.toContain('c2');
    // c2's masked input was discarded and its self-mask seed never revealed
    expect(net.revealedSelfMasks().has('c2')).toBe(false);
    expect(out.clients.get('c4')?.stage).toBe('done');
  });

  it('a sender whose envelopes all fail is dropped; an accuser cannot exclude more than k − t peers', async () => {
    const inputs = inputsFor(params);
    const net = new TamperTransport((from, _to, m) => {
      if (from !== 'c5' || m.type !== 'share-keys') return m;
      const r = m as unknown as ShareKeysResponse;
      return {
        ...r,
        envelopes: r.envelopes.map((e) => ({ to: e.to, ciphertext: e.ciphertext.subarray(0, 20) })),
      } as unknown as Record<string, unknown>;
    });
    const out = await runRound({ params, inputs, transport: net });
    expect(out.server.stage).toBe('done');
    expect(out.survivors).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    expect(Array.from(out.result ?? [])).toEqual(sumOf(inputs, out.survivors));
    expect(net.revealedSelfMasks().has('c5')).toBe(false);

    // A lying accuser: c0 claims 3 > k − t = 2 bad envelopes. The server excludes the accuser.
    const t = await trace(params);
    const server = t.serverStates[2];
    const honest = t.responses[2]?.get('c0') as MaskedInput;
    if (server === undefined) throw new Error('bad trace');
    const lying = { ...honest, peers: ['c1', 'c2'], complaints: ['c3', 'c4', 'c5'] };
    const r = await serverStep(server, { type: 'message', from: 'c0', message: lying });
    expect(r.state.excluded.at(-1)).toMatchObject({
      id: 'c0',
      reason: 'rejects more envelopes than an honest client could',
    });
    // complaints about non-neighbours or overlapping the peers are refused as well
    for (const bad of [
      { ...honest, peers: ['c1', 'c2', 'c3', 'c4'], complaints: ['mallory'] },
      { ...honest, peers: ['c1', 'c2', 'c3', 'c4', 'c5'], complaints: ['c5'] },
    ]) {
      const x = await serverStep(server, { type: 'message', from: 'c0', message: bad });
      expect(x.state.excluded.at(-1)?.id).toBe('c0');
    }
  });
});

describe('a replayed masked vector is detected, never summed silently', () => {
  const params = makeParams(6, { threshold: 3, vectorLength: 16 });

  it('a byte-identical replay excludes the replaying client; the sum over the rest is exact', async () => {
    const inputs = inputsFor(params);
    let stolen: Uint32Array | undefined;
    const net = new TamperTransport((from, _to, m) => {
      if (m.type !== 'masked-input') return m;
      if (from === 'c1') stolen = (m as unknown as MaskedInput).masked;
      if (from === 'c3' && stolen !== undefined) return { ...m, masked: stolen };
      return m;
    });
    const out = await runRound({ params, inputs, transport: net });
    expect(out.server.stage).toBe('done');
    expect(out.server.excluded).toContainEqual({
      id: 'c3',
      stage: 'masked-input',
      code: 'SMPC_MALFORMED_MESSAGE',
      reason: 'replayed another client’s masked input',
    });
    expect(out.survivors).not.toContain('c3');
    expect(Array.from(out.result ?? [])).toEqual(sumOf(inputs, out.survivors));
  });

  it('a modified replay passes the duplicate check but fails the check lanes: abort with SMPC_AGGREGATE_INVALID', async () => {
    const inputs = inputsFor(params);
    let stolen: Uint32Array | undefined;
    const net = new TamperTransport((from, _to, m) => {
      if (m.type !== 'masked-input') return m;
      if (from === 'c1') stolen = (m as unknown as MaskedInput).masked;
      if (from === 'c3' && stolen !== undefined) {
        const changed = Uint32Array.from(stolen);
        changed[0] = ((changed[0] as number) + 1) >>> 0;
        return { ...m, masked: changed };
      }
      return m;
    });
    const out = await runRound({ params, inputs, transport: net });
    expect(out.server.stage).toBe('aborted');
    expect(out.server.abort?.code).toBe('SMPC_AGGREGATE_INVALID');
    // The check lanes carry only the self mask, so each survivor's are checked on their own.
    expect(out.server.abort?.clients).toEqual(['c3']);
    expect(out.result).toBeNull();
  });

  it('a masked vector from another session (same ids, same peers) is caught the same way', async () => {
    const inputs = inputsFor(params);
    const earlier = await trace(params); // a previous session of the same cohort
    const old = earlier.responses[2]?.get('c2') as MaskedInput;
    const net = new TamperTransport((from, _to, m) =>
      from === 'c2' && m.type === 'masked-input' ? { ...m, masked: old.masked } : m,
    );
    const out = await runRound({ params, inputs, transport: net });
    expect(out.server.abort?.code).toBe('SMPC_AGGREGATE_INVALID');
    expect(out.server.abort?.clients).toEqual(['c2']);
    expect(out.result).toBeNull();
  });
});

describe('too few or too many participants in ShareKeys', () => {
  const params = makeParams(5, { threshold: 3 });

  it('a roster leaving fewer than t neighbours, or naming more clients than the cohort, aborts the client', async () => {
    const t = await trace(params);
    const state = t.clientStates[1]?.get('c0');
    const req = t.requests[1]?.get('c0') as ShareKeysRequest;
    if (state === undefined) throw new Error('bad trace');
    // too few: c0 and two others (2 neighbours < t = 3)
    const few = await clientStep(state, {
      ...req,
      roster: req.roster.filter((e) => ['c0', 'c1', 'c2'].includes(e.id)),
    });
    expect(few.state.abort?.code).toBe('SMPC_TOO_FEW_CLIENTS');
    expect(few.outbound[0]).toMatchObject({ type: 'abort', code: 'SMPC_TOO_FEW_CLIENTS' });
    // too many: a sixth entry outside the advertised cohort of five
    const extra = { ...(req.roster[1] as ShareKeysRequest['roster'][number]), id: 'c5' };
    const many = await clientStep(state, { ...req, roster: [...req.roster, extra] });
    expect(many.state.abort?.code).toBe('SMPC_ROSTER_INVALID');
    // and the honest server refuses to start share-keys with too few advertisers
    const r = await runRound({
      params,
      inputs: inputsFor(params),
      dropAt: new Map([
        ['c1', 'advertise'],
        ['c2', 'advertise'],
      ]),
    });
    expect(r.server.abort?.code).toBe('SMPC_TOO_FEW_CLIENTS');
  });
});

describe('the round id (bind the model hash into it) is bound into every key', () => {
  it('a client shown another model never has its input summed, and never has its self mask revealed', async () => {
    const params = makeParams(6, { roundId: 'round-7/model:aaaa', threshold: 3 });
    const inputs = inputsFor(params);
    const net = new TamperTransport((_from, to, m) =>
      to === 'c0' && m.type === 'advertise-request'
        ? { ...m, params: { ...(m as unknown as AdvertiseRequest).params, roundId: 'round-7/model:bbbb' } }
        : m,
    );
    const out = await runRound({ params, inputs, transport: net });
    // c0 derived another session id: no envelope between it and the others opens
    expect(out.clients.get('c0')?.sessionId).not.toEqual(out.clients.get('c1')?.sessionId);
    expect(out.clients.get('c0')?.stage).toBe('aborted');
    expect(out.clients.get('c0')?.abort?.code).toBe('SMPC_TOO_FEW_CLIENTS');
    expect(out.survivors).not.toContain('c0');
    if (out.result !== null) expect(Array.from(out.result)).toEqual(sumOf(inputs, out.survivors));
    expect(net.revealedSelfMasks().has('c0')).toBe(false);
  });

  it('an active round without every identity key is refused before anything is sent', async () => {
    const params = makeParams(6, { profile: 'active', threshold: 4, roundId: 'round-7/model:aaaa' });
    const identities = new Map<string, Identity>(params.clients.map((id) => [id, generateIdentity()]));
    // Relaying signatures it cannot check would let one client make every honest client abort.
    const net = new TamperTransport((_from, _to, m) => m);
    await expect(
      runRound({ params, inputs: inputsFor(params), identities, transport: net, limits: { identities: [] } }),
    ).rejects.toMatchObject({ code: 'SMPC_IDENTITY_MISSING' });
    expect(net.log).toHaveLength(0);
    const some = params.clients
      .slice(1)
      .map((id) => ({ id, publicKey: (identities.get(id) as Identity).publicKey }));
    expect(() => createServer(params, { identities: some })).toThrow(
      expect.objectContaining({ code: 'SMPC_IDENTITY_MISSING', message: expect.stringContaining('"c0"') }),
    );
    // Other profiles need none.
    expect(createServer({ ...params, profile: 'semi-malicious' }).state.stage).toBe('advertise');
  });

  it('a server holding the identities leaves that advertisement out: the others sum exactly', async () => {
    const params = makeParams(6, { profile: 'active', threshold: 4, roundId: 'round-7/model:aaaa' });
    const identities = new Map<string, Identity>(params.clients.map((id) => [id, generateIdentity()]));
    const net = new TamperTransport((_from, to, m) =>
      to === 'c0' && m.type === 'advertise-request'
        ? { ...m, params: { ...(m as unknown as AdvertiseRequest).params, roundId: 'round-7/model:bbbb' } }
        : m,
    );
    const inputs = inputsFor(params);
    const out = await runRound({ params, inputs, identities, transport: net });
    expect(out.server.stage).toBe('done');
    expect(out.server.excluded).toContainEqual({
      id: 'c0',
      stage: 'advertise',
      code: 'SMPC_SIGNATURE_INVALID',
      reason: 'advertisement not signed by its identity key',
    });
    expect(out.survivors).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);
    expect(Array.from(out.result ?? [])).toEqual(sumOf(inputs, out.survivors));
  });
});

describe('input validation — what secure aggregation can and cannot check', () => {
  it('rejects ill-formed inputs before any protocol message: out of the ring, wrong length, non-finite', async () => {
    const params = makeParams(5, { threshold: 3, ringBits: 16, vectorLength: 4 });
    expectCode(
      () => createClient({ id: 'c0', input: Uint32Array.of(1, 2, 3, 65_536), ringBits: 16 }),
      'SMPC_RING_MISMATCH',
    );
    expectCode(
      () => createClient({ id: 'c0', input: [1, 2, 3, 4] as unknown as Uint32Array, ringBits: 16 }),
      'INVALID_ARGUMENT',
    );
    const short = createClient({ id: 'c0', input: Uint32Array.of(1, 2, 3), ringBits: 16 });
    const r = await clientStep(short, { v: 1, type: 'advertise-request', params });
    expect(r.state.abort?.code).toBe('SMPC_POLICY_VIOLATION');
    expectCode(() => quantize([0.1, Number.NaN], { valueBits: 16, clipLInf: 1 }), 'INVALID_ARGUMENT');
    expectCode(
      () => quantize([0.1, Number.POSITIVE_INFINITY], { valueBits: 16, clipLInf: 1 }),
      'INVALID_ARGUMENT',
    );
  });

  it('an honest client’s ×1000 update is clipped; the server refuses masked vectors outside the ring', async () => {
    const scaled = [0.5, -0.25, 0.75].map((x) => x * 1000);
    expect(Array.from(clipVector(scaled, { clipLInf: 1 }).values)).toEqual([1, -1, 1]);
    const q = quantize(scaled, { valueBits: 16, clipLInf: 1 });
    expect(Array.from(dequantize(q.values, q))).toEqual([1, -1, 1].map((x) => expect.closeTo(x, 4)));
    // 20-bit ring: a lane ≥ 2^20 is not a masked input at all
    const params = makeParams(5, { threshold: 3, ringBits: 20 });
    const t = await trace(params);
    const server = t.serverStates[2];
    const honest = t.responses[2]?.get('c1') as MaskedInput;
    if (server === undefined) throw new Error('bad trace');
    const outOfRing = Uint32Array.from(honest.masked);
    outOfRing[0] = 2 ** 20;
    const r = await serverStep(server, {
      type: 'message',
      from: 'c1',
      message: { ...honest, masked: outOfRing },
    });
    expect(r.state.excluded.at(-1)).toMatchObject({
      id: 'c1',
      reason: 'masked vector has the wrong length or is not reduced',
    });
  });

  it('cannot see a malicious client’s unclipped input inside its mask: it is summed, and shows only in the aggregate', async () => {
    // This is the documented limit (SECURITY.md): masking hides inputs from the server, so only
    // honest clients are clipped; range proofs (ACORN, RoFL) are out of scope. The aggregate's
    // norm is what a deployment can monitor.
    const params = makeParams(5, { threshold: 3, vectorLength: 3 });
    const honest = [0.1, -0.2, 0.3];
    const qs = params.clients.map(() => quantize(honest, { valueBits: 16, clipLInf: 1 }));
    const inputs = new Map(params.clients.map((id, i) => [id, (qs[i] as { values: Uint32Array }).values]));
    // c4 bypasses quantize's clipping and submits 1000× the scale directly
    const scale = (qs[0] as { scale: number }).scale;
    inputs.set(
      'c4',
      Uint32Array.from([1000, -1000, 1000], (x) => Math.round(x * scale) >>> 0),
    );
    const out = await runRound({ params, inputs });
    expect(out.server.stage).toBe('done');
    const aggregate = dequantize(
      out.result ?? new Uint32Array(3),
      qs[0] as { scale: number; ringBits: number },
    );
    expect(Math.max(...Array.from(aggregate, Math.abs))).toBeGreaterThan(params.clients.length); // > n·clip: visibly out of range
  });
});

describe('transport: hostile bytes from a client are refused at the edge', () => {
  it('undecodable bytes exclude their sender like a malformed message; the round still sums exactly', async () => {
    const params = makeParams(6, { threshold: 3 });
    const inputs = inputsFor(params);
    const net = new InMemoryTransport();
    const hostile: Transport = {
      send(from, to, message) {
        if (from === 'c5' && (message as { type?: string }).type === 'masked-input') {
          net.sendRaw(from, to, Uint8Array.of(0x53, 0x41, 1, 0x13, 0xff, 0xff, 0xff, 0xff));
        } else net.send(from, to, message);
      },
      receive: (to) => net.receive(to),
    };
    const out = await runRound({ params, inputs, transport: hostile });
    expect(out.server.stage).toBe('done');
    expect(out.server.excluded.find((e) => e.id === 'c5')?.reason).toMatch(/^malformed message/);
    expect(out.survivors).not.toContain('c5');
    expect(Array.from(out.result ?? [])).toEqual(sumOf(inputs, out.survivors));
    expect(net.bytesSent(SERVER_ADDRESS)).toBeGreaterThan(0);
  });
});

describe('no restart after masked input', () => {
  it('a client that masked refuses a new advertise-request, and after an abort answers nothing', async () => {
    const params = makeParams(5, { threshold: 3 });
    const t = await trace(params);
    const masked = t.clientStates[3]?.get('c0');
    if (masked === undefined) throw new Error('bad trace');
    expect(masked.stage).toBe('masked');
    // a server "restarting" the session: refused, state untouched (no fresh secrets under the old session)
    await expect(clientStep(masked, { v: 1, type: 'advertise-request', params })).rejects.toMatchObject({
      code: 'SMPC_BAD_TRANSITION',
    });
    // abandoning the session: the client erases its secrets and the shares it holds ...
    const gone = await clientStep(masked, { v: 1, type: 'abort', code: 'SMPC_ABORTED', reason: 'restart' });
    expect(gone.state).toMatchObject({ stage: 'aborted', secrets: null, held: null, input: null });
    // ... and never answers unmasking for it
    await expect(clientStep(gone.state, t.requests[3]?.get('c0'))).rejects.toMatchObject({
      code: 'SMPC_ABORTED',
    });
    // a fresh client of the application refuses a second session for the same round id
    const again = createClient({
      id: 'c0',
      input: new Uint32Array(params.vectorLength),
      policy: { completedRoundIds: [params.roundId] },
    });
    const r = await clientStep(again, { v: 1, type: 'advertise-request', params });
    expect(r.state.abort?.code).toBe('SMPC_POLICY_VIOLATION');
  });
});

describe('random faults: exact or abort, never both shares, never silently wrong (property)', () => {
  it('dropouts, bad envelopes and replays in any combination', async () => {
    const outcomes = { done: 0, aborted: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            { arbitrary: fc.constant('honest' as const), weight: 6 },
            {
              arbitrary: fc.constantFrom('drop-share', 'drop-mask', 'drop-unmask') as fc.Arbitrary<string>,
              weight: 1,
            },
            { arbitrary: fc.constant('bad-envelope' as const), weight: 1 },
            { arbitrary: fc.constant('replay' as const), weight: 1 },
            { arbitrary: fc.constant('modified-replay' as const), weight: 1 },
          ),
          { minLength: 7, maxLength: 7 },
        ),
        fc.nat(6),
        async (roles, victimIndex) => {
          const params = makeParams(7, { threshold: 4, vectorLength: 6 });
          const inputs = inputsFor(params);
          const role = new Map(params.clients.map((id, i) => [id, roles[i] as string]));
          const victim = params.clients[victimIndex] as string;
          const masks = new Map<string, Uint32Array>();
          const cheaters = new Set<string>();
          const net = new TamperTransport((from, _to, m) => {
            const r = role.get(from);
            if (m.type === 'share-keys' && r === 'bad-envelope') {
              const s = m as unknown as ShareKeysResponse;
              return {
                ...s,
                envelopes: s.envelopes.map((e) =>
                  e.to === victim ? { to: e.to, ciphertext: e.ciphertext.subarray(1) } : e,
                ),
              } as unknown as Record<string, unknown>;
            }
            if (m.type === 'masked-input') {
              masks.set(from, (m as unknown as MaskedInput).masked);
              const other = [...masks.entries()].find(([id]) => id !== from)?.[1];
              if (other !== undefined && r === 'replay') {
                cheaters.add(from);
                return { ...m, masked: other };
              }
              if (other !== undefined && r === 'modified-replay') {
                cheaters.add(from);
                const changed = Uint32Array.from(other);
                changed[1] = ((changed[1] as number) ^ 1) >>> 0;
                return { ...m, masked: changed };
              }
            }
            return m;
          });
          const dropAt = new Map<string, DropPoint>();
          for (const [id, r] of role) {
            if (r === 'drop-share') dropAt.set(id, 'share-keys');
            if (r === 'drop-mask') dropAt.set(id, 'masked-input');
            if (r === 'drop-unmask') dropAt.set(id, 'unmask');
          }
          const out = await runRound({ params, inputs, transport: net, dropAt });
          outcomes[out.server.stage === 'done' ? 'done' : 'aborted']++;
          if (out.server.stage === 'done') {
            // exact over the clients it claims, and none of them cheated with its masked vector
            expect(Array.from(out.result ?? [])).toEqual(sumOf(inputs, out.survivors));
            for (const s of out.survivors) expect(cheaters.has(s)).toBe(false);
          } else {
            expect(out.result).toBeNull();
          }
          const selfOwners = new Set(
            out.server.unmasked.flatMap((r) => r.selfMaskShares.map((x) => x.owner)),
          );
          const keyOwners = new Set(
            out.server.unmasked.flatMap((r) => r.maskingKeyShares.map((x) => x.owner)),
          );
          for (const o of selfOwners) expect(keyOwners.has(o)).toBe(false);
          // a client whose envelope was rejected is never summed and never has its self mask revealed
          // (complaints count only in masked inputs the server accepted)
          const accused = out.server.excluded
            .filter((e) => e.reason === 'a neighbour rejected its share envelope')
            .map((e) => e.id);
          for (const id of accused) {
            expect(role.get(id)).toBe('bad-envelope');
            expect(selfOwners.has(id)).toBe(false);
            expect(out.survivors).not.toContain(id);
          }
        },
      ),
      { numRuns: 30 },
    );
    expect(outcomes.done).toBeGreaterThan(0);
    expect(outcomes.aborted).toBeGreaterThan(0);
  });
});
