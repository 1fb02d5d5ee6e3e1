// Drives a real server and real clients stage by stage, keeping every intermediate state and
// message, so tests can replay, reorder, tamper with or drop any of them.

import { createRing } from '../../src/smpc/primitives/ring.ts';
import type { Identity } from '../../src/smpc/primitives/signing.ts';
import { type ClientState, clientStep, createClient } from '../../src/smpc/protocol/client.ts';
import type { ClientMessage, ServerMessage } from '../../src/smpc/protocol/messages.ts';
import type { RoundParams } from '../../src/smpc/protocol/params.ts';
import { createServer, type ServerState, serverStep } from '../../src/smpc/protocol/server.ts';

export const REQUESTS = [
  'advertise-request',
  'share-keys-request',
  'masked-input-request',
  'unmask-request',
] as const;
export const RESPONSES = ['advertise', 'share-keys', 'masked-input', 'unmask'] as const;

/** `length` uniformly random 32-bit lanes (getRandomValues in chunks of its 64 KiB limit). */
export function randomLanes(length: number): Uint32Array {
  const out = new Uint32Array(length);
  for (let i = 0; i < length; i += 16_384)
    crypto.getRandomValues(out.subarray(i, Math.min(length, i + 16_384)));
  return out;
}

export function makeParams(n: number, overrides: Partial<RoundParams> = {}): RoundParams {
  return {
    roundId: 'round-1',
    profile: 'honest-but-curious',
    clients: Array.from({ length: n }, (_, i) => `c${i}`),
    threshold: Math.floor((n - 1) / 2) + 1,
    graph: 'complete',
    degree: n - 1,
    graphSeed: new Uint8Array(32).fill(1),
    ringBits: 32,
    vectorLength: 8,
    prg: 'aes-256-ctr',
    ...overrides,
  };
}

export interface Trace {
  params: RoundParams;
  inputs: Map<string, Uint32Array>;
  /** clientStates[k].get(id): the client's state before handling request k; the last entry is after unmask. */
  clientStates: Map<string, ClientState>[];
  /** requests[k].get(id): the server's request k to that client. */
  requests: Map<string, ServerMessage>[];
  /** responses[k].get(id): the client's response to request k. */
  responses: Map<string, ClientMessage>[];
  /** serverStates[k]: the server state while collecting responses to request k; [4] is final. */
  serverStates: ServerState[];
}

/** Runs an honest round with no dropouts, recording everything (identities for the active profile). */
export async function trace(params: RoundParams, identities?: ReadonlyMap<string, Identity>): Promise<Trace> {
  const trustedIdentities = [...(identities ?? new Map<string, Identity>())].map(([id, k]) => ({
    id,
    publicKey: k.publicKey,
  }));
  const stepOptions = (id: string) => {
    const secretKey = identities?.get(id)?.secretKey;
    return secretKey === undefined ? {} : { identitySecretKey: secretKey };
  };
  const ring = createRing(params.ringBits);
  const inputs = new Map(
    params.clients.map((id) => [id, randomLanes(params.vectorLength).map((x) => x & ring.mask)]),
  );
  let clients = new Map(
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
  const t: Trace = { params, inputs, clientStates: [], requests: [], responses: [], serverStates: [] };
  for (let k = 0; outbound.length > 0 && k < 6; k++) {
    t.clientStates.push(clients);
    t.serverStates.push(server);
    t.requests.push(new Map(outbound.map((o) => [o.to, o.message])));
    const next = new Map<string, ClientState>();
    const responses = new Map<string, ClientMessage>();
    for (const o of outbound) {
      const r = await clientStep(clients.get(o.to) as ClientState, o.message, stepOptions(o.to));
      next.set(o.to, r.state);
      if (r.outbound[0] !== undefined) responses.set(o.to, r.outbound[0]);
    }
    t.responses.push(responses);
    clients = next;
    outbound = [];
    for (const [from, message] of responses) {
      const r = await serverStep(server, { type: 'message', from, message });
      server = r.state;
      outbound = [...outbound, ...r.outbound];
    }
  }
  t.clientStates.push(clients);
  t.serverStates.push(server);
  return t;
}
