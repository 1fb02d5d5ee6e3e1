// Shared helpers for the network tests: a registered cohort, a live server, clients with known
// inputs, and the plain sum to compare against. Everything runs over real loopback sockets.
import { expect } from 'vitest';
import {
  AggregationClient,
  type AggregationClientOptions,
  type ClientRoundRecord,
  createRing,
  ringSum,
} from '../../../src/smpc/index.ts';
import {
  type AggregationEvent,
  AggregationServer,
  type AggregationServerOptions,
  type RegisteredClient,
  type RoundResult,
} from '../../../src/smpc/server.ts';

export function tokenFor(id: string): string {
  return `token-${id}-0123456789abcdef`;
}

export function registry(n: number, prefix = 'c'): RegisteredClient[] {
  return Array.from({ length: n }, (_, i) => {
    const id = `${prefix}${i}`;
    return { id, token: tokenFor(id) };
  });
}

/** A deterministic input for client `id` in round `roundId` (ring values, some near the top). */
export function inputFor(id: string, roundId: string, length: number, ringBits = 32): Uint32Array {
  const out = new Uint32Array(length);
  let h = 2166136261;
  for (const ch of `${id}/${roundId}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  for (let i = 0; i < length; i++) {
    h = Math.imul(h ^ i, 2246822519) >>> 0;
    out[i] = ringBits === 32 ? h : h % 2 ** ringBits;
  }
  return out;
}

export function plainSum(
  ids: readonly string[],
  roundId: string,
  length: number,
  ringBits = 32,
): Uint32Array {
  return ringSum(
    ids.map((id) => inputFor(id, roundId, length, ringBits)),
    createRing(ringBits),
  );
}

export interface Harness {
  readonly server: AggregationServer;
  readonly events: AggregationEvent[];
}

export async function startServer(
  clients: readonly RegisteredClient[],
  options: Partial<AggregationServerOptions> = {},
): Promise<Harness> {
  const events: AggregationEvent[] = [];
  const server = await AggregationServer.listen({
    clients,
    onEvent: (e) => {
      events.push(e);
      options.onEvent?.(e);
    },
    ...Object.fromEntries(Object.entries(options).filter(([k]) => k !== 'onEvent')),
  });
  return { server, events };
}

export async function connectClient(
  url: string,
  id: string,
  extra: Partial<AggregationClientOptions> = {},
): Promise<AggregationClient> {
  return AggregationClient.connect({
    url,
    id,
    token: tokenFor(id),
    prepare: (round) => inputFor(id, round.roundId, round.vectorLength, round.ringBits),
    ...extra,
  });
}

/** The invariant of every test: the sum is exact over the survivors, or the round aborted. */
export function expectExactOrAborted(result: RoundResult, length: number, ringBits = 32): void {
  if (result.status === 'completed') {
    expect(result.sum).not.toBeNull();
    expect(Array.from(result.sum as Uint32Array)).toEqual(
      Array.from(plainSum(result.survivors, result.roundId, length, ringBits)),
    );
    expect(result.abort).toBeNull();
  } else {
    expect(result.sum).toBeNull();
    expect(result.abort?.code).toMatch(/^SMPC_/);
  }
}

export function expectExact(result: RoundResult, length: number, ringBits = 32): void {
  expect(result.status, JSON.stringify(result.abort)).toBe('completed');
  expectExactOrAborted(result, length, ringBits);
}

/** Resolves when `client` has recorded a result for `roundId`. */
export async function resultOf(
  client: AggregationClient,
  roundId: string,
  timeoutMs = 30_000,
): Promise<ClientRoundRecord> {
  const start = Date.now();
  for (;;) {
    const r = client.rounds.find((x) => x.roundId === roundId);
    if (r !== undefined) return r;
    if (Date.now() - start > timeoutMs) throw new Error(`no result for ${roundId} at ${client.id}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
