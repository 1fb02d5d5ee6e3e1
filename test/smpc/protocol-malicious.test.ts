// Property tests over the SecAgg+ client and server state machines with ONE malicious client M:
// every message M sends may be corrupted in any field (bytes flipped, truncated or extended, lanes
// changed, shares pushed out of the field or given wrong indices, ids swapped, list entries dropped
// or repeated, peers moved to complaints), replaced by garbage or by an earlier message, sent twice,
// or not sent at all. M's own state machine stays honest; only what leaves it is corrupted.
//
// The property, checked exactly on every run:
// - the round ends `done` or `aborted` — never stuck, never an exception;
// - `done`: every honest client M did not accuse is a survivor, and the result is exactly
//   Σ over the honest survivors of their inputs, plus, when M is a survivor, M's effective input
//   x_M + (y'_M − y_M): what the server removed masks from (y'_M the masked vector it accepted, y_M
//   the one M's honest state machine produced). Any masked vector is the masking of some input, so
//   that is M's choice of input, not a wrong sum (poisoning is out of scope: SECURITY.md). When M
//   reports a peer it masked with as a complaint, that pairwise mask stays in its effective input
//   too: the server removes exactly the masks clients report;
// - `aborted` only with `abort.clients` naming M and no one else: M's own shares or commitments are
//   inconsistent (no honest message can stand in for them), or the masked input the server
//   accepted from M is not the honest one and its effective input fails the check lanes
//   (SMPC_AGGREGATE_INVALID; the check lanes carry only the self mask, so the server checks each
//   survivor's on its own). Never an abort from anything else M sends, and never a wrong sum.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SmpcError } from '../../src/smpc/errors.ts';
import { sharedSecret } from '../../src/smpc/primitives/ka.ts';
import { applyMask, pairwiseMaskKey, pairwiseMaskSign } from '../../src/smpc/primitives/masking.ts';
import { createRing, ringSum } from '../../src/smpc/primitives/ring.ts';
import { generateIdentity, type Identity } from '../../src/smpc/primitives/signing.ts';
import { type ClientState, clientStep, createClient } from '../../src/smpc/protocol/client.ts';
import type { ClientMessage, MaskedInput } from '../../src/smpc/protocol/messages.ts';
import { checkLaneCount, type RoundParams } from '../../src/smpc/protocol/params.ts';
import { createServer, type ServerState, serverStep } from '../../src/smpc/protocol/server.ts';
import { makeParams } from './protocol-harness.ts';

const M = 'c1';
const RESPONSE_TYPES = ['advertise', 'share-keys', 'masked-input', 'consistency', 'unmask'] as const;

/** How M's message of one type is corrupted. */
interface Corruption {
  readonly target: (typeof RESPONSE_TYPES)[number];
  readonly kind: 'field' | 'drop' | 'duplicate' | 'replay-earlier' | 'garbage' | 'accuse' | 'out-of-field';
  /** Which leaf of the message (modulo the number of leaves). */
  readonly leaf: number;
  /** Which mutation of that leaf (modulo the number that apply). */
  readonly mode: number;
  /** Position inside the leaf (byte, lane, list entry), modulo its length. */
  readonly at: number;
}

type Leaf = { path: (string | number)[]; value: unknown };

function leaves(value: unknown, path: (string | number)[] = []): Leaf[] {
  if (value instanceof Uint8Array || value instanceof Uint32Array || value === null) return [{ path, value }];
  if (Array.isArray(value)) {
    return [{ path, value }, ...value.flatMap((v, i) => leaves(v, [...path, i]))];
  }
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => leaves(v, [...path, k]));
  }
  return [{ path, value }];
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

function setAt(root: Record<string, unknown>, path: (string | number)[], value: unknown): void {
  let node: Record<string | number, unknown> = root;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (last === undefined) return;
  node[last] = value;
}

function mutateLeaf(value: unknown, mode: number, at: number): unknown {
  if (value instanceof Uint8Array) {
    const options = [
      () => {
        const out = Uint8Array.from(value);
        if (out.length > 0)
          out[at % out.length] = ((out[at % out.length] as number) ^ (1 + (at % 255))) & 0xff;
        return out;
      },
      () => value.slice(0, Math.max(0, value.length - 1)),
      () => Uint8Array.from([...value, at & 0xff]),
      // a Shamir share value outside F_p (p = 2^256 + 297): 0x01 ‖ 0xff × 32
      () => Uint8Array.from({ length: value.length }, (_, i) => (i === 0 ? 1 : 0xff)),
      () => new Uint8Array(value.length),
    ];
    return (options[mode % options.length] as () => unknown)();
  }
  if (value instanceof Uint32Array) {
    const options = [
      () => {
        const out = Uint32Array.from(value);
        if (out.length > 0) out[at % out.length] = ((out[at % out.length] as number) + 1 + at) >>> 0;
        return out;
      },
      () => value.slice(0, Math.max(0, value.length - 1)),
      () => Uint32Array.from([...value, at >>> 0]),
      () => {
        // only the last (check) lane changes
        const out = Uint32Array.from(value);
        if (out.length > 0) out[out.length - 1] = ((out[out.length - 1] as number) ^ 1) >>> 0;
        return out;
      },
    ];
    return (options[mode % options.length] as () => unknown)();
  }
  if (Array.isArray(value)) {
    const options = [
      () => value.filter((_, i) => i !== at % Math.max(1, value.length)),
      () => (value.length === 0 ? value : [...value, value[at % value.length]]),
      () => [...value].reverse(),
      () => [],
    ];
    return (options[mode % options.length] as () => unknown)();
  }
  if (typeof value === 'string') {
    const options = [() => `${value}x`, () => '', () => 'c0', () => M, () => 'c4'];
    return (options[mode % options.length] as () => unknown)();
  }
  if (typeof value === 'number') {
    const options = [() => value + 1, () => value - 1, () => 0, () => 2 ** 32, () => -1, () => 1.5];
    return (options[mode % options.length] as () => unknown)();
  }
  if (value === null) return mode % 2 === 0 ? new Uint8Array(64) : 'null';
  return undefined;
}

/** The messages M actually sends in place of its honest `message`. */
function corrupt(message: ClientMessage, c: Corruption, earlier: readonly ClientMessage[]): unknown[] {
  if (message.type !== c.target) return [message];
  switch (c.kind) {
    case 'drop':
      return [];
    case 'duplicate':
      return [message, message];
    case 'replay-earlier': {
      const old = earlier[c.at % Math.max(1, earlier.length)];
      return old === undefined ? [message, message] : [old];
    }
    case 'garbage': {
      const options: unknown[] = [null, 42, 'abort', [], { v: 1 }, { v: 1, type: message.type }];
      return [options[c.mode % options.length]];
    }
    case 'accuse': {
      if (message.type !== 'masked-input') return [message];
      const m = message as MaskedInput;
      const accused = m.peers[c.at % Math.max(1, m.peers.length)];
      if (accused === undefined) return [message];
      return [{ ...m, peers: m.peers.filter((p) => p !== accused), complaints: [...m.complaints, accused] }];
    }
    case 'out-of-field': {
      // every 33-byte value (the Shamir shares of an unmask response) pushed outside F_p
      const copy = clone(message) as unknown as Record<string, unknown>;
      for (const leaf of leaves(copy)) {
        if (leaf.value instanceof Uint8Array && leaf.value.length === 33)
          setAt(copy, leaf.path, mutateLeaf(leaf.value, 3, 0));
      }
      return [copy];
    }
    case 'field': {
      const copy = clone(message) as unknown as Record<string, unknown>;
      const all = leaves(copy).filter((l) => l.path.length > 0);
      const leaf = all[c.leaf % all.length] as Leaf;
      setAt(copy, leaf.path, mutateLeaf(leaf.value, c.mode, c.at));
      return [copy];
    }
  }
}

interface Outcome {
  readonly server: ServerState;
  readonly inputs: Map<string, Uint32Array>;
  /** M's masked vector as its honest state machine made it. */
  readonly honestMasked: Uint32Array | null;
  /** M's honest masked-input message and its state right after (its secrets still held). */
  readonly honestMessage: MaskedInput | null;
  readonly mMasked: ClientState | null;
}

async function runWithMaliciousClient(
  params: RoundParams,
  c: Corruption,
  identities?: ReadonlyMap<string, Identity>,
): Promise<Outcome> {
  const ring = createRing(params.ringBits);
  const inputs = new Map(
    params.clients.map((id) => [
      id,
      crypto.getRandomValues(new Uint32Array(params.vectorLength)).map((x) => x & ring.mask),
    ]),
  );
  const trustedIdentities = [...(identities ?? new Map<string, Identity>())].map(([id, k]) => ({
    id,
    publicKey: k.publicKey,
  }));
  const clients = new Map(
    params.clients.map((id) => [
      id,
      createClient({
        id,
        input: inputs.get(id) as Uint32Array,
        ringBits: params.ringBits,
        trustedIdentities,
      }),
    ]),
  );
  const start = createServer(params, { identities: trustedIdentities });
  let server = start.state;
  let outbound = start.outbound;
  const sentByM: ClientMessage[] = [];
  let honestMasked: Uint32Array | null = null;
  let honestMessage: MaskedInput | null = null;
  let mMasked: ClientState | null = null;
  for (let step = 0; step < 16 && server.stage !== 'done' && server.stage !== 'aborted'; step++) {
    const responses: [string, unknown][] = [];
    for (const o of outbound) {
      const client = clients.get(o.to) as ClientState;
      if (client.stage === 'done' || client.stage === 'aborted') continue;
      const secretKey = identities?.get(o.to)?.secretKey;
      let r: Awaited<ReturnType<typeof clientStep>>;
      try {
        r = await clientStep(
          client,
          o.message,
          secretKey === undefined ? {} : { identitySecretKey: secretKey },
        );
      } catch (e) {
        if (e instanceof SmpcError && e.code === 'SMPC_BAD_TRANSITION') continue;
        throw e;
      }
      clients.set(o.to, r.state);
      for (const m of r.outbound) {
        if (o.to !== M) {
          responses.push([o.to, m]);
          continue;
        }
        if (m.type === 'masked-input') {
          honestMessage = m as MaskedInput;
          honestMasked = honestMessage.masked;
          mMasked = r.state;
        }
        for (const sent of corrupt(m, c, sentByM)) responses.push([M, sent]);
        sentByM.push(m);
      }
    }
    outbound = [];
    for (const [from, message] of responses) {
      try {
        const r = await serverStep(server, { type: 'message', from, message });
        server = r.state;
        outbound = [...outbound, ...r.outbound];
      } catch (e) {
        // Late, repeated or out-of-stage: refused with the state unchanged.
        if (!(e instanceof SmpcError) || e.code !== 'SMPC_BAD_TRANSITION') throw e;
      }
      if (server.stage === 'done' || server.stage === 'aborted') break;
    }
    if (outbound.length === 0 && server.stage !== 'done' && server.stage !== 'aborted') {
      // The stage deadline: whoever has not answered is dropped.
      const r = await serverStep(server, { type: 'close' });
      server = r.state;
      outbound = r.outbound;
    }
  }
  return { server, inputs, honestMasked, honestMessage, mMasked };
}

function sameMasked(honest: Uint32Array | null, server: ServerState): boolean {
  const record = server.masked.find((r) => r.id === M);
  if (record === undefined || honest === null) return false;
  return (
    record.complaints.length === 0 &&
    record.masked.length === honest.length &&
    record.masked.every((x, i) => x === honest[i])
  );
}

async function checkOutcome(params: RoundParams, c: Corruption, out: Outcome): Promise<void> {
  const { server, inputs } = out;
  const label = JSON.stringify(c);
  expect(['done', 'aborted'], label).toContain(server.stage);
  const ring = createRing(params.ringBits);
  const mRecord = server.masked.find((r) => r.id === M);
  const mSurvives = (server.survivors ?? []).includes(M);
  const accused = new Set(mRecord?.complaints ?? []);
  if (server.stage === 'aborted') {
    const abort = server.abort;
    // The abort names M, and only M: never an honest client.
    expect(abort?.clients, `${label}: ${JSON.stringify(abort)}`).toEqual([M]);
    if (abort?.code === 'SMPC_AGGREGATE_INVALID') {
      // Only a masked input that is not the honest one can fail its check lanes.
      expect(mSurvives && !sameMasked(out.honestMasked, server), label).toBe(true);
    }
    return;
  }
  const survivors = server.survivors ?? [];
  for (const id of params.clients) {
    if (id === M || accused.has(id)) continue;
    expect(survivors, `${label}: honest ${id} must be summed`).toContain(id);
  }
  const honest = survivors.filter((id) => id !== M).map((id) => inputs.get(id) as Uint32Array);
  let expected = ringSum(honest, ring);
  if (mSurvives) {
    const y = out.honestMasked as Uint32Array;
    const yPrime = (mRecord as { masked: Uint32Array }).masked;
    const xM = inputs.get(M) as Uint32Array;
    // M's effective input: what unmasking y'_M leaves, x_M + (y'_M − y_M); its check lanes are zero
    // here, or the round would have aborted.
    const effective = xM.map((x, i) => (x + (yPrime[i] as number) - (y[i] as number)) & ring.mask);
    for (let i = params.vectorLength; i < yPrime.length; i++) {
      expect(((yPrime[i] as number) - (y[i] as number)) & ring.mask, label).toBe(0);
    }
    // A peer M masked with but reported as a complaint: the server treats it as dropped and does
    // not remove M's mask with it, so that mask stays in M's effective input (M's choice).
    const state = out.mMasked as ClientState;
    const accepted = new Set((mRecord as { peers: readonly string[] }).peers);
    for (const peer of (out.honestMessage as MaskedInput).peers.filter((p) => !accepted.has(p))) {
      const keys = (state.neighbours ?? []).find((e) => e.id === peer);
      const secrets = state.secrets;
      if (keys === undefined || secrets === null || state.sessionId === null) throw new Error('bad state');
      const key = pairwiseMaskKey(
        await sharedSecret(secrets.maskingSecret, keys.maskingKey),
        state.sessionId,
      );
      await applyMask(effective, key, { ring, sign: pairwiseMaskSign(M, peer), algorithm: params.prg });
    }
    expected = ringSum([expected, effective], ring);
  }
  expect(Array.from(server.result ?? []), label).toEqual(Array.from(expected));
  expect(server.result?.length).toBe(params.vectorLength);
  expect(checkLaneCount(params.ringBits)).toBeGreaterThan(0);
}

const corruption = (targets: readonly Corruption['target'][]): fc.Arbitrary<Corruption> =>
  fc.record({
    target: fc.constantFrom(...targets),
    kind: fc.constantFrom(
      'field',
      'field',
      'field',
      'drop',
      'duplicate',
      'replay-earlier',
      'garbage',
      'accuse',
      'out-of-field',
    ),
    leaf: fc.nat(64),
    mode: fc.nat(16),
    at: fc.nat(1024),
  });

describe('one malicious client cannot abort a round the others can complete, nor make its sum wrong', () => {
  it('complete graph, 6 clients, t = 3 (semi-malicious)', async () => {
    const params = makeParams(6, { profile: 'semi-malicious', threshold: 3, vectorLength: 4 });
    await fc.assert(
      fc.asyncProperty(corruption(['advertise', 'share-keys', 'masked-input', 'unmask']), async (c) => {
        await checkOutcome(params, c, await runWithMaliciousClient(params, c));
      }),
      { numRuns: 120 },
    );
  });

  it('Harary graph, 8 clients, k = 4, t = 3, 20-bit ring', async () => {
    const params = makeParams(8, {
      profile: 'semi-malicious',
      graph: 'harary',
      degree: 4,
      threshold: 3,
      ringBits: 20,
      vectorLength: 3,
      graphSeed: new Uint8Array(32).fill(7),
    });
    await fc.assert(
      fc.asyncProperty(corruption(['advertise', 'share-keys', 'masked-input', 'unmask']), async (c) => {
        await checkOutcome(params, c, await runWithMaliciousClient(params, c));
      }),
      { numRuns: 60 },
    );
  });

  it('active profile, 6 clients, t = 4, the server holding the identity keys', async () => {
    const params = makeParams(6, { profile: 'active', threshold: 4, vectorLength: 2 });
    const identities = new Map(params.clients.map((id) => [id, generateIdentity()] as const));
    await fc.assert(
      fc.asyncProperty(corruption(RESPONSE_TYPES), async (c) => {
        await checkOutcome(params, c, await runWithMaliciousClient(params, c, identities));
      }),
      { numRuns: 40 },
    );
  });

  it('the specific findings: an out-of-field share and a wrong in-field share are dropped, the sum exact', async () => {
    const params = makeParams(6, { profile: 'semi-malicious', threshold: 3, vectorLength: 4 });
    // The unmask message's leaves: v, type, selfMaskShares, [0].owner, [0].index, [0].value, …
    for (const mode of [3, 0]) {
      const c: Corruption = { target: 'unmask', kind: 'field', leaf: 5, mode, at: 3 };
      const out = await runWithMaliciousClient(params, c);
      await checkOutcome(params, c, out);
      expect(out.server.stage).toBe('done');
      expect(out.server.survivors).toEqual(params.clients);
      const marks = out.server.excluded.filter((e) => e.id === M);
      expect(marks.map((e) => e.code)).toEqual([
        mode === 3 ? 'SMPC_SHARE_MALFORMED' : 'SMPC_SHARES_INCONSISTENT',
      ]);
    }
  });
});
