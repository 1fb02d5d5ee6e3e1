// Shared helpers for the network tests: a registered cohort, a live server, clients with known
// inputs, and the plain sum to compare against. Everything runs over real loopback sockets.
import { expect } from 'vitest';
import {
  AggregationClient,
  type AggregationClientOptions,
  type ClientRoundRecord,
  type WebSocketConstructor,
  type WebSocketLike,
} from '../../../src/smpc/index.ts';
import { createRing, ringSum } from '../../../src/smpc/primitives/index.ts';
import { decodeFrame, decodeMessage } from '../../../src/smpc/protocol/index.ts';
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

/** The protocol message type inside an outgoing frame, or the frame kind for control frames. */
export function frameType(bytes: Uint8Array): string {
  const frame = decodeFrame(bytes);
  if (frame.kind !== 'protocol') return frame.kind;
  return (decodeMessage(frame.message) as { type: string }).type;
}

/** What a send hook can do with one outgoing frame. */
export interface SendControl {
  /** Sends bytes on the real socket. */
  readonly send: (bytes: Uint8Array) => void;
  /** Closes the real socket (a crash, as the server sees it). */
  readonly close: () => void;
}

/**
 * A `WebSocket` constructor whose `send` goes through `hook`: it can pass, drop, delay, duplicate or
 * rewrite each outgoing frame, or close the connection. Incoming traffic is untouched.
 */
export function tamperingWebSocket(
  hook: (bytes: Uint8Array, control: SendControl) => void | Promise<void>,
): WebSocketConstructor {
  const Base = (globalThis as unknown as { WebSocket: new (url: string) => WebSocket }).WebSocket;
  return class implements WebSocketLike {
    readonly #ws: WebSocket;
    constructor(url: string) {
      this.#ws = new Base(url);
    }
    get binaryType(): string {
      return this.#ws.binaryType;
    }
    set binaryType(value: string) {
      this.#ws.binaryType = value as BinaryType;
    }
    get readyState(): number {
      return this.#ws.readyState;
    }
    send(data: Uint8Array): void {
      const control: SendControl = {
        send: (b) => {
          if (this.#ws.readyState === 1) this.#ws.send(b as Uint8Array<ArrayBuffer>);
        },
        close: () => this.#ws.close(),
      };
      void hook(data, control);
    }
    close(code?: number, reason?: string): void {
      this.#ws.close(code, reason);
    }
    addEventListener(type: string, listener: (event: never) => void): void {
      this.#ws.addEventListener(type, listener as unknown as EventListener);
    }
  } as unknown as WebSocketConstructor;
}

/** Resolves at the first server event matching `match` (already seen or future). */
export function whenEvent(
  harness: Harness,
  match: (e: AggregationEvent) => boolean,
  timeoutMs = 30_000,
): Promise<AggregationEvent> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const poll = (): void => {
      const e = harness.events.find(match);
      if (e !== undefined) resolve(e);
      else if (Date.now() - start > timeoutMs) reject(new Error('event did not happen'));
      else setTimeout(poll, 5);
    };
    poll();
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The frame-refused events, typed, optionally of one client. */
export function refusals(
  events: readonly AggregationEvent[],
  clientId?: string,
): Extract<AggregationEvent, { type: 'frame-refused' }>[] {
  return events.filter(
    (e): e is Extract<AggregationEvent, { type: 'frame-refused' }> =>
      e.type === 'frame-refused' && (clientId === undefined || e.clientId === clientId),
  );
}
