/**
 * Runs one whole SecAgg+ round in memory: a server, a cohort of clients and a transport, with a
 * scripted dropout schedule. This is the deterministic harness behind the protocol tests (and
 * later the simulator CLI): it only wires the pure state machines to a {@link Transport}, and
 * optionally round-trips every state through `serializeState` between steps to prove the round
 * does not depend on anything but serialised state.
 *
 * Dropouts: `dropAt[id] = stage` makes client `id` vanish at the start of that stage — it never
 * answers that stage's request nor any later one (it may already have answered earlier ones).
 * When no more messages are in flight and the server still waits, the harness sends `close` (the
 * stage deadline).
 *
 * Deliberately not here: timing, concurrency, malicious behaviour (tests script that by driving the
 * state machines directly), and quantization.
 *
 * @module
 */

import { SmpcError } from '../errors.ts';
import type { RandomSource } from '../primitives/random.ts';
import type { Identity } from '../primitives/signing.ts';
import {
  type ClientPolicy,
  type ClientState,
  type ClientStepOptions,
  clientStep,
  createClient,
} from './client.ts';
import type { RoundLimits, RoundParams } from './params.ts';
import { createServer, type ServerState, serverStep } from './server.ts';
import { deserializeClientState, deserializeServerState, serializeState } from './state.ts';
import { InMemoryTransport, SERVER_ADDRESS, type Transport } from './transport.ts';
import type { UnmaskRunner } from './unmask.ts';

/** Points at which a client can vanish, named after the stage whose request it never answers. */
export const DROP_POINTS = ['advertise', 'share-keys', 'masked-input', 'consistency', 'unmask'] as const;
/** One of {@link DROP_POINTS}. */
export type DropPoint = (typeof DROP_POINTS)[number];

const REQUEST_STAGE: Record<string, DropPoint> = {
  'advertise-request': 'advertise',
  'share-keys-request': 'share-keys',
  'masked-input-request': 'masked-input',
  'consistency-request': 'consistency',
  'unmask-request': 'unmask',
};

/** Options of {@link runRound}. */
export interface RunRoundOptions {
  readonly params: RoundParams;
  /** Each client's ring vector, by id (every id in `params.clients`). */
  readonly inputs: ReadonlyMap<string, Uint32Array>;
  readonly dropAt?: ReadonlyMap<string, DropPoint>;
  readonly policy?: ClientPolicy;
  readonly transport?: Transport;
  /**
   * Randomness for client secrets; defaults to the CSPRNG. Tests only: not in the published
   * declarations.
   * @internal
   */
  readonly random?: RandomSource;
  /** Long-term Ed25519 identities by client id (required by the `active` profile). */
  readonly identities?: ReadonlyMap<string, Identity>;
  /** Serialise and restore every state between steps (default false). */
  readonly persist?: boolean;
  /** The server's limits (floor, cap, identities); the identities default to `identities`' keys. */
  readonly limits?: RoundLimits;
  /** Runs the server's unmask job (default: on this thread; see `unmask-pool.ts` for workers). */
  readonly unmask?: UnmaskRunner;
}

/** What happened in a round. */
export interface RoundOutcome {
  readonly server: ServerState;
  readonly clients: ReadonlyMap<string, ClientState>;
  /** Σ of the survivors' inputs mod 2^b, or null if the round aborted. */
  readonly result: Uint32Array | null;
  readonly survivors: readonly string[];
  /** Messages the state machines refused as out of stage (dropped), for diagnostics. */
  readonly refused: number;
  /** Wall-clock milliseconds the server spent in each stage (clients' work included). */
  readonly stageTimesMs: Readonly<Record<string, number>>;
}

/**
 * Runs a round to completion or abort.
 *
 * @example
 * ```ts
 * const out = await runRound({ params, inputs, dropAt: new Map([['c3', 'masked-input']]) });
 * out.result; // sum of every input except c3's
 * ```
 */
export async function runRound(options: RunRoundOptions): Promise<RoundOutcome> {
  const { params, inputs } = options;
  const net = options.transport ?? new InMemoryTransport();
  const persist = options.persist ?? false;
  const clients = new Map<string, ClientState>();
  const trustedIdentities = [...(options.identities ?? new Map<string, Identity>())].map(
    ([id, identity]) => ({
      id,
      publicKey: identity.publicKey,
    }),
  );
  for (const id of params.clients) {
    const input = inputs.get(id);
    if (input === undefined)
      throw new SmpcError('SMPC_ROSTER_INVALID', 'every client in the cohort needs an input');
    clients.set(
      id,
      createClient({
        id,
        input,
        ringBits: params.ringBits,
        trustedIdentities,
        ...(options.policy ? { policy: options.policy } : {}),
      }),
    );
  }
  const start = createServer(params, {
    identities: trustedIdentities,
    ...(options.limits ?? {}),
  });
  let server = start.state;
  for (const o of start.outbound) net.send(SERVER_ADDRESS, o.to, o.message);
  let refused = 0;
  const serverOptions = options.unmask === undefined ? {} : { unmask: options.unmask };
  const stepOptionsFor = (id: string): ClientStepOptions => {
    const secretKey = options.identities?.get(id)?.secretKey;
    return {
      ...(options.random === undefined ? {} : { random: options.random }),
      ...(secretKey === undefined ? {} : { identitySecretKey: secretKey }),
    };
  };

  const stageTimesMs: Record<string, number> = {};
  let lastStage: string = server.stage;
  let stageStart = performance.now();
  const track = (): void => {
    if (server.stage === lastStage) return;
    const now = performance.now();
    stageTimesMs[lastStage] = (stageTimesMs[lastStage] ?? 0) + (now - stageStart);
    lastStage = server.stage;
    stageStart = now;
  };
  for (let guard = 0; guard < 10_000; guard++) {
    let activity = false;
    for (const id of params.clients) {
      for (const { message } of net.receive(id)) {
        activity = true;
        const drop = options.dropAt?.get(id);
        const type = (message as { type?: unknown }).type;
        const stage = typeof type === 'string' ? REQUEST_STAGE[type] : undefined;
        if (
          drop !== undefined &&
          (stage === undefined || DROP_POINTS.indexOf(stage) >= DROP_POINTS.indexOf(drop))
        ) {
          continue; // vanished
        }
        let state = clients.get(id) as ClientState;
        if (persist) state = deserializeClientState(serializeState(state));
        try {
          const r = await clientStep(state, message, stepOptionsFor(id));
          clients.set(id, r.state);
          for (const m of r.outbound) net.send(id, SERVER_ADDRESS, m);
        } catch (e) {
          if (!(e instanceof SmpcError)) throw e;
          refused++;
        }
      }
    }
    for (const { from, message } of net.receive(SERVER_ADDRESS)) {
      activity = true;
      if (persist) server = deserializeServerState(serializeState(server));
      try {
        const r = await serverStep(server, { type: 'message', from, message }, serverOptions);
        server = r.state;
        track();
        for (const o of r.outbound) net.send(SERVER_ADDRESS, o.to, o.message);
      } catch (e) {
        if (!(e instanceof SmpcError)) throw e;
        refused++;
      }
    }
    if (activity) continue;
    if (server.stage === 'done' || server.stage === 'aborted') break;
    const r = await serverStep(server, { type: 'close' }, serverOptions);
    server = r.state;
    track();
    for (const o of r.outbound) net.send(SERVER_ADDRESS, o.to, o.message);
  }
  return {
    server,
    clients,
    result: server.result,
    survivors: server.survivors ?? [],
    refused,
    stageTimesMs,
  };
}
