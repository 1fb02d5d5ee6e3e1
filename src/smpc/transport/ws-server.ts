/**
 * The secure-aggregation server over WebSocket (Node only): {@link AggregationServer} accepts
 * authenticated clients, and for each round announces it, fixes the cohort from the clients that
 * join, plans the session, and drives the pure SecAgg+ server state machine (`protocol/server.ts`)
 * with the clients' frames and with `close` when a stage deadline passes. It holds no protocol
 * logic: what to accept, when to proceed with at least t responses and when to abort is the state
 * machine's decision; this file only moves frames, keeps time and keeps the books.
 *
 * Rules it enforces at the edge, before a byte reaches the state machine (research note §4):
 * - authentication first: the first frame must be `hello` with a registered id and its token
 *   (compared as SHA-256 digests in constant time, also for unknown ids); anything else closes
 *   the connection with `SMPC_UNAUTHENTICATED` and touches nothing. Connections that have not
 *   authenticated live in their own small pool with a short hello deadline, which can never
 *   exclude a client presenting a valid token (`connections.ts` says why; the oldest waiting
 *   connection of the busiest peer address is evicted with `SMPC_SERVER_BUSY` to make room);
 * - size limits: `ws`'s `maxPayload` and again `decodeFrame`; malformed frames close the
 *   connection with `SMPC_FRAME_MALFORMED`;
 * - one session per round, one round at a time; every round frame names the round and its random
 *   session tag, so frames from another round or session (replays, reordering) are refused (F.41);
 * - membership belongs to the connection that joined: a client that disconnects is dropped for the
 *   round, and if it reconnects (a new process, secrets lost) it waits for the next round, and
 *   nothing it sends for the old session is accepted (A.10, B.24);
 * - a late message from a client the state machine already moved past, and duplicates, are refused
 *   by the state machine (`SMPC_BAD_TRANSITION`) and never double-counted (A.8, A.9);
 * - per-stage deadlines: when a stage's time runs out, or when every client it still waits for has
 *   disconnected, the server sends `close`; the state machine proceeds with ≥ t or aborts (F.42);
 * - the payload's SHA-256 is bound into the protocol round id, so clients holding different payloads
 *   cannot complete one session (B.22);
 * - before authenticating a connection may send no more than a hello (a few KiB), so what
 *   strangers can make the server hold is `pendingMemoryBound(maxPendingConnections)`;
 * - a round whose estimated memory (`estimateRoundResources`) exceeds `maxMemoryBytes` is refused
 *   (`SMPC_PLAN_TOO_LARGE`) when it is asked for, before anything is announced;
 * - with a distributed-DP plan (`dp.ts`): the plan is validated against the round, sent with the
 *   announcement, run for at most its `rounds`; its `expectedClients` and `minSurvivors` become the
 *   state machine's cohort cap and floor (`RoundLimits`), so a larger cohort is refused and a sum of
 *   fewer inputs is never computed; the result carries the ε the round spent (research note E.38);
 * - in the `active` profile the registered identity keys go to the state machine, which checks every
 *   signature and excludes a client whose signature does not verify instead of relaying it (where
 *   every honest client would abort).
 *
 * The server state is saved to a {@link RoundStore} before the round is announced and at every
 * stage change, before that stage's requests go out (a stored round is never resumed, so per-message writes, which would cost O(n²·d) bytes
 * for a round, would buy nothing), and cleared when the round ends on its own. On `listen`, a
 * stored round means the previous server died (or closed) mid-round: it is reported aborted
 * (`SMPC_SERVER_RESTARTED`), its id retired for this server's lifetime, and the store cleared.
 *
 * Deliberately not here: TLS (put the server behind a TLS terminator or pass `wss://` through a
 * proxy), cohort selection beyond "who is connected and joins", adding DP noise (clients do, with
 * `privatize`), and parallel unmasking.
 *
 * @module
 */

import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { ConfideArgumentError } from '../../errors.ts';
import { assertBytes, assertInteger, assertOneOf, assertString } from '../../internal/assert.ts';
import { achievedEpsilon, type DpPlan, validateDpPlan } from '../dp.ts';
import { SmpcError } from '../errors.ts';
import { assertRoundFits, DEFAULT_MAX_ROUND_MEMORY_BYTES, estimateRoundResources } from '../estimate.ts';
import { PRG_ALGORITHMS, type PrgAlgorithm } from '../primitives/prg.ts';
import { randomBytes } from '../primitives/random.ts';
import { DEFAULT_RING_BITS, MAX_RING_BITS } from '../primitives/ring.ts';
import { isValidId } from '../primitives/session.ts';
import { DEFAULT_PROFILE, PROFILES, type Profile } from '../protocol/params.ts';
import { createServer, type Exclusion, type ServerState, serverStep } from '../protocol/server.ts';
import { serializeState } from '../protocol/state.ts';
import { decodeMessage, encodeMessage } from '../protocol/wire.ts';
import { MIN_COHORT, pendingSenders, planCohort } from './cohort.ts';
import {
  ClientRegistry,
  DEFAULT_HELLO_TIMEOUT_MS,
  DEFAULT_MAX_PENDING_CONNECTIONS,
  MAX_HEADER_BYTES,
  PendingConnections,
  type RegisteredClient,
} from './connections.ts';
import {
  DEFAULT_MAX_FRAME_BYTES,
  decodeFrame,
  encodeDp,
  encodeFrame,
  type Frame,
  MAX_ROUND_ID_LENGTH,
  payloadDigest,
  protocolRoundId,
  roundFrameBytes,
  SESSION_TAG_LENGTH,
  sameSession,
} from './frames.ts';
import { MemoryRoundStore, type RoundStore } from './store.ts';

export type { RegisteredClient } from './connections.ts';

/** Progress of the server. */
export type AggregationEvent =
  | { readonly type: 'listening'; readonly url: string }
  | { readonly type: 'client-connected'; readonly clientId: string }
  | { readonly type: 'client-disconnected'; readonly clientId: string; readonly code: number }
  | { readonly type: 'client-rejected'; readonly code: string; readonly reason: string }
  | {
      readonly type: 'frame-refused';
      readonly clientId: string;
      readonly code: string;
      readonly reason: string;
    }
  | { readonly type: 'round-announced'; readonly roundId: string; readonly clients: readonly string[] }
  | {
      readonly type: 'round-started';
      readonly roundId: string;
      readonly cohort: readonly string[];
      readonly graph: string;
      readonly degree: number;
      readonly threshold: number;
    }
  | {
      readonly type: 'client-declined';
      readonly roundId: string;
      readonly clientId: string;
      readonly code: string;
    }
  | { readonly type: 'stage'; readonly roundId: string; readonly stage: string }
  | {
      readonly type: 'stage-deadline';
      readonly roundId: string;
      readonly stage: string;
      readonly pending: number;
    }
  | {
      readonly type: 'client-dropped';
      readonly roundId: string;
      readonly clientId: string;
      readonly stage: string;
      /** What the client did (`Exclusion.code`), when the state machine excluded or marked it. */
      readonly code?: string;
      readonly reason: string;
    }
  | {
      readonly type: 'round-completed';
      readonly roundId: string;
      readonly survivors: number;
      readonly dropped: number;
    }
  | {
      readonly type: 'round-aborted';
      readonly roundId: string;
      readonly code: string;
      readonly reason: string;
    };

/** Options of {@link AggregationServer.listen}. */
export interface AggregationServerOptions {
  /** Interface to bind; default `127.0.0.1`. */
  readonly host?: string;
  /** Port; default 0 (any free port; read {@link AggregationServer.url}). */
  readonly port?: number;
  readonly clients: readonly RegisteredClient[];
  /** Largest frame accepted; default {@link DEFAULT_MAX_FRAME_BYTES}. */
  readonly maxFrameBytes?: number;
  /** Where the round in progress is kept; default a {@link MemoryRoundStore}. */
  readonly store?: RoundStore;
  readonly onEvent?: (event: AggregationEvent) => void;
  /** Time a new connection has from its accept to authenticate; default 5 000 ms. */
  readonly helloTimeoutMs?: number;
  /**
   * Connections that may wait to authenticate at once (1 to 65 536; default 64). When one more
   * arrives, the oldest of the busiest peer address is evicted (`SMPC_SERVER_BUSY`);
   * authenticated clients never count here.
   */
  readonly maxPendingConnections?: number;
  /**
   * Largest estimated memory of one round (`estimateRoundResources`, for every client connected
   * when `runRound` is called joining); a larger round is refused by `runRound` with
   * `SMPC_PLAN_TOO_LARGE` before it is announced. Default 4 GiB.
   */
  readonly maxMemoryBytes?: number;
}

/** Options of {@link AggregationServer.runRound}. */
export interface AggregationRoundOptions {
  /** This round's id (≤ 63 characters); never reused by this server. */
  readonly roundId: string;
  readonly vectorLength: number;
  /** Ring width b; default 32. */
  readonly ringBits?: number;
  /** Threat profile; default `semi-malicious` ({@link DEFAULT_PROFILE}, the same everywhere). */
  readonly profile?: Profile;
  /** Abort unless at least this many clients join (≥ 3). */
  readonly minClients: number;
  /** Time clients have to answer the announcement (their `prepare` runs then); default 30 000 ms. */
  readonly joinTimeoutMs?: number;
  /** Deadline of each protocol stage; default 30 000 ms. */
  readonly stageTimeoutMs?: number;
  /** Expected dropout rate for the planner, in [0, 1); default 0.1. */
  readonly expectedDropout?: number;
  /** Assumed fraction of corrupt clients for the planner, in [0, 1); default 0.05. */
  readonly corruptionRate?: number;
  /** Opaque bytes every client receives (e.g. the global model); bound into the session (B.22). */
  readonly payload?: Uint8Array;
  /**
   * A distributed-DP plan (`planDistributedDiscreteGaussian`), sent to the clients with the
   * announcement so each adds its noise (`privatize`). Its `dimension` and `ringBits` must match
   * the round's. The round aborts (`SMPC_COHORT_TOO_LARGE`) if more clients join than its
   * `expectedClients`, and (`SMPC_DP_TOO_FEW_SURVIVORS`) as soon as fewer than its `minSurvivors`
   * remain, before any unmask share is requested; clients enforce the floor too, refusing to unmask.
   */
  readonly dp?: DpPlan;
  /** Send the sum to the clients in the result frame; default false (status and survivors only). */
  readonly shareSum?: boolean;
  /** Mask PRG; default `aes-256-ctr`. */
  readonly prg?: PrgAlgorithm;
}

/** The outcome of a round. */
export interface RoundResult {
  readonly roundId: string;
  readonly status: 'completed' | 'aborted';
  /** Σ of the survivors' inputs mod 2^b, or null when aborted. */
  readonly sum: Uint32Array | null;
  /** Clients whose inputs are in the sum (empty when aborted). */
  readonly survivors: readonly string[];
  /** Clients of the cohort whose inputs are not in the sum. */
  readonly dropped: readonly string[];
  /** The clients that joined (the invited cohort of the session). */
  readonly cohort: readonly string[];
  /** Why the round aborted; `clients` names the clients whose messages caused it, when known. */
  readonly abort: {
    readonly code: string;
    readonly reason: string;
    readonly clients?: readonly string[];
  } | null;
  /**
   * Every client the state machine excluded or marked, with the stage and a code for what it sent
   * (a malformed message, a share outside the field, a bad signature, …). A client marked in
   * `unmask` still has its input in the sum.
   */
  readonly excluded: readonly Exclusion[];
  /** Session parameters, or null when the round aborted before planning. */
  readonly plan: { readonly graph: string; readonly degree: number; readonly threshold: number } | null;
  /** Wall-clock milliseconds per stage (`join` included). */
  readonly stageTimesMs: Readonly<Record<string, number>>;
  /** Bytes of round frames received and sent. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Milliseconds spent inside the server state machine (its cryptography and bookkeeping). */
  readonly protocolTimeMs: number;
  /**
   * With a DP plan: the ε this round's release spent, for its actual survivor count
   * (`achievedEpsilon(plan, [survivors])`; ≤ the plan's per-round share of its target). Compose
   * rounds with `achievedEpsilon(plan, counts)`. Null without a plan or when aborted.
   */
  readonly epsilon: number | null;
}

/** What the store holds for a round announced but not yet started. */
const ANNOUNCED = 'announced';
const MAX_HELLO_BYTES = 4 + 2 * (2 + 1024);
/** WebSocket close codes (RFC 6455 §7.4.1, and 4000–4999 for applications). */
const CLOSE_GOING_AWAY = 1001;
const CLOSE_POLICY = 1008;
const CLOSE_REPLACED = 4000;

interface Connection {
  readonly socket: WebSocket;
  id: string | null;
  open: boolean;
}

interface RoundRun {
  readonly roundId: string;
  readonly protocolRoundId: string;
  readonly session: Uint8Array;
  readonly options: Required<Omit<AggregationRoundOptions, 'payload' | 'dp' | 'prg'>> & {
    readonly prg: PrgAlgorithm;
  };
  /** The round's distributed-DP plan, validated, or null. */
  readonly dp: DpPlan | null;
  /** Connections the announcement went to, by id. */
  readonly announced: Map<string, Connection>;
  readonly answers: Map<string, 'join' | 'decline'>;
  /** The connections of the cohort, by id (a membership is the connection's, not the id's). */
  readonly members: Map<string, Connection>;
  readonly gone: Set<string>;
  phase: 'joining' | 'running' | 'finished';
  state: ServerState | null;
  stageSeq: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  queue: Promise<void>;
  readonly stageTimesMs: Record<string, number>;
  stageName: string;
  stageStart: number;
  bytesIn: number;
  bytesOut: number;
  protocolTimeMs: number;
  joinWake: (() => void) | null;
  finish: (result: RoundResult) => void;
  readonly done: Promise<RoundResult>;
}

/**
 * A WebSocket secure-aggregation server.
 *
 * @example
 * ```ts
 * const server = await AggregationServer.listen({ clients: [{ id: 'h1', token }, ...] });
 * await server.waitForClients(3, 30_000);
 * const result = await server.runRound({ roundId: 'r1', vectorLength: 10, minClients: 3 });
 * await server.close();
 * ```
 */
export class AggregationServer {
  /** `ws://host:port` of the listening server. */
  readonly url: string;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #registered: ClientRegistry;
  readonly #maxFrameBytes: number;
  readonly #store: RoundStore;
  readonly #onEvent: (event: AggregationEvent) => void;
  readonly #connected = new Map<string, Connection>();
  /** Connections that have not authenticated yet (their own pool, `connections.ts`). */
  readonly #pending: PendingConnections;
  readonly #maxMemoryBytes: number;
  readonly #usedRoundIds = new Set<string>();
  /** Rounds run under each DP plan object. */
  readonly #dpPlanUses = new WeakMap<DpPlan, number>();
  readonly #waiters = new Set<() => void>();
  #round: RoundRun | null = null;
  #closing = false;

  private constructor(
    http: Server,
    wss: WebSocketServer,
    url: string,
    registered: ClientRegistry,
    maxFrameBytes: number,
    store: RoundStore,
    onEvent: (event: AggregationEvent) => void,
    pending: PendingConnections,
    maxMemoryBytes: number,
  ) {
    this.#http = http;
    this.#wss = wss;
    this.url = url;
    this.#registered = registered;
    this.#maxFrameBytes = maxFrameBytes;
    this.#store = store;
    this.#onEvent = onEvent;
    this.#pending = pending;
    this.#maxMemoryBytes = maxMemoryBytes;
    // Every TCP connection is pending from its accept: before its upgrade request is even read.
    http.on('connection', (tcp: Socket) => {
      if (this.#closing) tcp.destroy();
      else pending.admit(tcp);
    });
    http.on('upgrade', (req, tcp: Socket, head: Buffer) => {
      if (this.#closing || !pending.isWaiting(tcp)) {
        tcp.destroy();
        return;
      }
      wss.handleUpgrade(req, tcp, head, (socket) => {
        pending.upgraded(tcp, socket);
        this.#accept(socket, tcp);
      });
    });
  }

  /**
   * Starts a server. A round left in the store by a previous server is reported aborted
   * (`SMPC_SERVER_RESTARTED`), its id retired, and the store cleared.
   *
   * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for invalid options (empty or duplicate client
   *   list, malformed token or key).
   * @throws {SmpcError} `SMPC_CONNECTION_CLOSED` when the port cannot be bound.
   */
  static async listen(options: AggregationServerOptions): Promise<AggregationServer> {
    if (typeof options !== 'object' || options === null) {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'options must be an object');
    }
    const host = options.host === undefined ? '127.0.0.1' : assertString(options.host, 'host', 256);
    const port = options.port === undefined ? 0 : assertInteger(options.port, 'port', 0, 65_535);
    const maxFrameBytes =
      options.maxFrameBytes === undefined
        ? DEFAULT_MAX_FRAME_BYTES
        : assertInteger(options.maxFrameBytes, 'maxFrameBytes', 1024, 2 ** 30);
    const helloTimeoutMs =
      options.helloTimeoutMs === undefined
        ? DEFAULT_HELLO_TIMEOUT_MS
        : assertInteger(options.helloTimeoutMs, 'helloTimeoutMs', 1, 3_600_000);
    const maxPending =
      options.maxPendingConnections === undefined
        ? DEFAULT_MAX_PENDING_CONNECTIONS
        : assertInteger(options.maxPendingConnections, 'maxPendingConnections', 1, 65_536);
    const maxMemoryBytes =
      options.maxMemoryBytes === undefined
        ? DEFAULT_MAX_ROUND_MEMORY_BYTES
        : assertInteger(options.maxMemoryBytes, 'maxMemoryBytes', 1, Number.MAX_SAFE_INTEGER);
    const registered = new ClientRegistry(options.clients);
    if (options.onEvent !== undefined && typeof options.onEvent !== 'function') {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'onEvent must be a function');
    }
    const store = options.store ?? new MemoryRoundStore();
    for (const method of ['load', 'save', 'clear'] as const) {
      if (typeof (store as unknown as Record<string, unknown>)[method] !== 'function') {
        throw new ConfideArgumentError('INVALID_ARGUMENT', `store must implement ${method}()`);
      }
    }
    const userOnEvent = options.onEvent;
    const onEvent = (event: AggregationEvent): void => {
      try {
        userOnEvent?.(event);
      } catch {
        // A throwing progress callback must not take the server down.
      }
    };

    const stale = await store.load();
    const retired: string[] = [];
    if (stale !== null) {
      retired.push(stale.roundId);
      onEvent({
        type: 'round-aborted',
        roundId: stale.roundId,
        code: 'SMPC_SERVER_RESTARTED',
        reason: 'the server restarted during this round; it was aborted and its id retired',
      });
      await store.clear();
    }

    const http = createHttpServer({ maxHeaderSize: MAX_HEADER_BYTES }, (_req, res) => {
      res
        .writeHead(426, { 'content-type': 'text/plain', connection: 'close' })
        .end('this endpoint speaks WebSocket only\n');
    });
    // Upgrades are handed over by hand (`noServer`), so only pooled connections reach `ws`.
    const wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes });
    await new Promise<void>((resolve, reject) => {
      const fail = (cause: unknown) =>
        reject(new SmpcError('SMPC_CONNECTION_CLOSED', `cannot listen on ${host}:${port}`, { cause }));
      http.once('error', fail);
      http.listen(port, host, () => {
        http.off('error', fail);
        resolve();
      });
    });
    // After listening, socket-level errors (a reset handshake, EMFILE on accept) concern one
    // connection, which ws closes; they must not take the server down.
    http.on('error', () => {});
    wss.on('error', () => {});
    const address = http.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const server = new AggregationServer(
      http,
      wss,
      `ws://${shownHost}:${address.port}`,
      registered,
      maxFrameBytes,
      store,
      onEvent,
      new PendingConnections({
        maxPending,
        helloTimeoutMs,
        onRefused: (code, reason) => onEvent({ type: 'client-rejected', code, reason }),
      }),
      maxMemoryBytes,
    );
    for (const id of retired) server.#usedRoundIds.add(id);
    onEvent({ type: 'listening', url: server.url });
    return server;
  }

  /** Ids of the authenticated clients connected now, sorted. */
  connectedClients(): readonly string[] {
    return [...this.#connected.keys()].sort();
  }

  /**
   * Resolves once at least `n` clients are connected.
   *
   * @throws {SmpcError} `SMPC_TIMEOUT` after `timeoutMs`; `SMPC_SERVER_CLOSING` if the server closes.
   */
  waitForClients(n: number, timeoutMs: number): Promise<readonly string[]> {
    const want = assertInteger(n, 'n', 1, this.#registered.size);
    const ms = assertInteger(timeoutMs, 'timeoutMs', 0, 2 ** 31 - 1);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.#closing) {
          cleanup();
          reject(new SmpcError('SMPC_SERVER_CLOSING', 'the server closed while waiting for clients'));
        } else if (this.#connected.size >= want) {
          cleanup();
          resolve(this.connectedClients());
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new SmpcError(
            'SMPC_TIMEOUT',
            `only ${this.#connected.size} of ${want} clients connected within ${ms} ms`,
          ),
        );
      }, ms);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /**
   * Runs one round: announce to the connected clients, take those that join within
   * `joinTimeoutMs` as the cohort, plan, run the protocol with per-stage deadlines, broadcast the
   * result. Resolves with the outcome whether the round completed or aborted; never with a sum it
   * could not verify.
   *
   * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for invalid options.
   * @throws {SmpcError} `SMPC_ROUND_CONFLICT` when a round is in progress or the id was used;
   *   `SMPC_SERVER_CLOSING` after `close()`.
   */
  async runRound(options: AggregationRoundOptions): Promise<RoundResult> {
    const o = this.#checkRoundOptions(options);
    if (this.#closing) throw new SmpcError('SMPC_SERVER_CLOSING', 'the server is closing');
    if (this.#round !== null) {
      throw new SmpcError('SMPC_ROUND_CONFLICT', 'a round is in progress: rounds run one at a time');
    }
    if (this.#usedRoundIds.has(o.roundId)) {
      throw new SmpcError('SMPC_ROUND_CONFLICT', `round id ${o.roundId} was used before: pick a new one`);
    }
    if (options.dp !== undefined) {
      // A plan is calibrated for its number of rounds: running more under it would spend more than
      // its ε. Counted per plan object — planning again is the operator's deliberate new budget.
      const key = options.dp;
      const uses = this.#dpPlanUses.get(key) ?? 0;
      if (uses >= options.dp.rounds) {
        throw new ConfideArgumentError(
          'INVALID_ARGUMENT',
          `this DP plan covers ${options.dp.rounds} round(s) and ran ${uses}: its privacy budget is spent; plan again`,
          { fields: ['dp'] },
        );
      }
      this.#dpPlanUses.set(key, uses + 1);
    }
    this.#usedRoundIds.add(o.roundId);
    const payload = options.payload === undefined ? new Uint8Array(0) : options.payload;
    const digest = payloadDigest(payload);
    let finish!: (result: RoundResult) => void;
    const done = new Promise<RoundResult>((resolve) => {
      finish = resolve;
    });
    const run: RoundRun = {
      roundId: o.roundId,
      protocolRoundId: protocolRoundId(o.roundId, digest),
      session: randomBytes(SESSION_TAG_LENGTH),
      options: o,
      dp: o.dp,
      announced: new Map(this.#connected),
      answers: new Map(),
      members: new Map(),
      gone: new Set(),
      phase: 'joining',
      state: null,
      stageSeq: 0,
      timer: undefined,
      queue: Promise.resolve(),
      stageTimesMs: {},
      stageName: 'join',
      stageStart: performance.now(),
      bytesIn: 0,
      bytesOut: 0,
      protocolTimeMs: 0,
      joinWake: null,
      finish,
      done,
    };
    this.#round = run;
    this.#onEvent({
      type: 'round-announced',
      roundId: run.roundId,
      clients: [...run.announced.keys()].sort(),
    });
    try {
      // Recorded before anyone hears of the round, so a crash from here on retires its id.
      await this.#store.save({ roundId: run.roundId, state: ANNOUNCED });
    } catch (e) {
      await this.#enqueue(run, () =>
        this.#end(run, 'SMPC_ABORTED', `cannot write the round store: ${messageOf(e)}`, true),
      );
      return done;
    }
    const announce = encodeFrame({
      kind: 'announce',
      roundId: run.roundId,
      session: run.session,
      vectorLength: o.vectorLength,
      ringBits: o.ringBits,
      profile: o.profile,
      payloadDigest: digest,
      payload,
      dp: run.dp,
      shareSum: o.shareSum,
    });
    for (const c of run.announced.values()) this.#send(c, announce, run);

    await this.#awaitJoins(run);
    if (run.phase === 'joining') await this.#start(run);
    return done;
  }

  /** {@link close} for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Closes the server: aborts a round in progress (`SMPC_SERVER_CLOSING`, its clients notified and
   * its stored record kept, so the next server on this store retires its id), closes every
   * connection and stops listening. Also called by `await using`.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    for (const w of [...this.#waiters]) w();
    const run = this.#round;
    if (run !== null) {
      run.joinWake?.();
      await this.#enqueue(run, async () => {
        if (run.phase !== 'finished') {
          await this.#end(run, 'SMPC_SERVER_CLOSING', 'the server is shutting down', false);
        }
      });
    }
    this.#pending.destroyAll();
    for (const c of this.#wss.clients) c.close(CLOSE_GOING_AWAY, 'server closing');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        for (const c of this.#wss.clients) c.terminate();
      }, 2_000);
      this.#wss.close(() => {
        this.#http.close(() => {
          clearTimeout(timer);
          resolve();
        });
        this.#http.closeAllConnections();
      });
    });
  }

  #checkRoundOptions(options: AggregationRoundOptions): RoundRun['options'] & { readonly dp: DpPlan | null } {
    if (typeof options !== 'object' || options === null) {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'round options must be an object');
    }
    const roundId = assertString(options.roundId, 'roundId', MAX_ROUND_ID_LENGTH);
    if (!isValidId(roundId))
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'roundId must be well-formed UTF-16');
    const rate = (value: unknown, label: string, fallback: number): number => {
      if (value === undefined) return fallback;
      if (typeof value !== 'number' || !(value >= 0 && value < 1)) {
        throw new ConfideArgumentError('INVALID_ARGUMENT', `${label} must be a number in [0, 1)`);
      }
      return value;
    };
    if (options.payload !== undefined) assertBytes(options.payload, 'payload');
    const dp = options.dp === undefined ? null : checkDpPlan(options.dp, options);
    if (options.shareSum !== undefined && typeof options.shareSum !== 'boolean') {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'shareSum must be a boolean');
    }
    const vectorLength = assertInteger(options.vectorLength, 'vectorLength', 1, 2 ** 26);
    // A masked vector (4 bytes a lane, plus check lanes and framing) must fit in one frame, and so
    // must the announcement with its payload, or every client would be cut off mid-round.
    const needed = roundFrameBytes(
      vectorLength,
      options.payload?.length ?? 0,
      dp === null ? 0 : encodeDp(dp).length,
    );
    if (needed > this.#maxFrameBytes) {
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        `a round of ${vectorLength} lanes with this payload needs frames of ${needed} bytes; ` +
          `maxFrameBytes is ${this.#maxFrameBytes}: raise it or shorten the vector or payload`,
      );
    }
    // Refused before anything is announced: the server's memory for the largest cohort possible
    // (the round is announced to the clients connected now; the cohort is among them).
    assertRoundFits(
      estimateRoundResources({ role: 'server', clients: Math.max(1, this.#connected.size), vectorLength }),
      this.#maxMemoryBytes,
      { shrink: 'shorten vectorLength or register fewer clients', raise: 'raise maxMemoryBytes' },
    );
    return {
      roundId,
      vectorLength,
      ringBits: assertInteger(options.ringBits ?? DEFAULT_RING_BITS, 'ringBits', 1, MAX_RING_BITS),
      profile: assertOneOf(options.profile ?? DEFAULT_PROFILE, 'profile', PROFILES),
      minClients: assertInteger(options.minClients, 'minClients', MIN_COHORT, this.#registered.size),
      joinTimeoutMs: assertInteger(options.joinTimeoutMs ?? 30_000, 'joinTimeoutMs', 1, 2 ** 31 - 1),
      stageTimeoutMs: assertInteger(options.stageTimeoutMs ?? 30_000, 'stageTimeoutMs', 1, 2 ** 31 - 1),
      expectedDropout: rate(options.expectedDropout, 'expectedDropout', 0.1),
      corruptionRate: rate(options.corruptionRate, 'corruptionRate', 0.05),
      shareSum: options.shareSum ?? false,
      prg: assertOneOf(options.prg ?? 'aes-256-ctr', 'prg', PRG_ALGORITHMS),
      dp,
    };
  }

  // ---- connections --------------------------------------------------------------------------

  #accept(socket: WebSocket, tcp: Socket): void {
    const conn: Connection = { socket, id: null, open: true };
    socket.on('message', (data, isBinary) => {
      if (!conn.open) return;
      const bytes = isBinary ? toBytes(data) : null;
      if (conn.id === null) {
        if (this.#pending.isWaiting(tcp)) this.#hello(conn, tcp, bytes);
      } else this.#receive(conn, bytes);
    });
    socket.on('close', (code) => this.#closed(conn, code));
    socket.on('error', () => {
      // ws reports oversized or invalid frames here and then closes the socket (1009 / 1002).
    });
  }

  #hello(conn: Connection, tcp: Socket, bytes: Uint8Array | null): void {
    let frame: Frame;
    const refuse = (reason: string): void => {
      conn.open = false;
      this.#pending.refuse(tcp, 'SMPC_UNAUTHENTICATED', reason);
    };
    try {
      if (bytes === null) throw new SmpcError('SMPC_FRAME_MALFORMED', 'text frames are not accepted');
      // An unauthenticated peer gets no more than a hello needs (two strings of ≤ 1024 bytes).
      frame = decodeFrame(bytes, { maxFrameBytes: MAX_HELLO_BYTES });
    } catch (e) {
      refuse(`the first frame must be a hello (${codeOf(e)})`);
      return;
    }
    if (frame.kind !== 'hello') {
      refuse('the first frame must be a hello');
      return;
    }
    if (!this.#registered.verify(frame.clientId, frame.token)) {
      refuse('unknown client id or wrong token');
      return;
    }
    this.#pending.authenticated(tcp);
    const id = frame.clientId;
    const previous = this.#connected.get(id);
    if (previous !== undefined) {
      // The newest connection wins: the old one is probably a dead process the OS has not noticed.
      previous.open = false;
      previous.socket.close(CLOSE_REPLACED, 'replaced by a new connection');
      this.#lost(previous);
    }
    conn.id = id;
    this.#connected.set(id, conn);
    this.#sendRaw(conn, encodeFrame({ kind: 'welcome', clientId: id, maxFrameBytes: this.#maxFrameBytes }));
    this.#onEvent({ type: 'client-connected', clientId: id });
    for (const w of [...this.#waiters]) w();
  }

  #closed(conn: Connection, code: number): void {
    const wasOpen = conn.open;
    conn.open = false;
    if (conn.id === null) return;
    if (this.#connected.get(conn.id) === conn) {
      this.#connected.delete(conn.id);
      this.#onEvent({ type: 'client-disconnected', clientId: conn.id, code });
    }
    if (wasOpen) this.#lost(conn);
  }

  /** A connection is gone: if it was in the round, the round loses that client. */
  #lost(conn: Connection): void {
    const run = this.#round;
    const id = conn.id;
    if (run === null || id === null || run.phase === 'finished') return;
    if (run.phase === 'joining' && run.announced.get(id) === conn) {
      run.answers.set(id, 'decline');
      run.gone.add(id);
      this.#checkJoins(run);
      return;
    }
    if (run.members.get(id) !== conn || run.gone.has(id)) return;
    run.gone.add(id);
    const stage = run.state?.stage ?? 'join';
    this.#onEvent({
      type: 'client-dropped',
      roundId: run.roundId,
      clientId: id,
      stage,
      reason: 'disconnected',
    });
    void this.#enqueue(run, () => this.#closeIfOnlyGonePending(run));
  }

  #receive(conn: Connection, bytes: Uint8Array | null): void {
    const id = conn.id as string;
    let frame: Frame;
    try {
      if (bytes === null) throw new SmpcError('SMPC_FRAME_MALFORMED', 'text frames are not accepted');
      frame = decodeFrame(bytes, { maxFrameBytes: this.#maxFrameBytes });
    } catch (e) {
      const code = codeOf(e);
      this.#onEvent({
        type: 'frame-refused',
        clientId: id,
        code,
        reason: 'undecodable frame; connection closed',
      });
      this.#sendRaw(conn, encodeFrame({ kind: 'error', code, message: 'undecodable frame' }));
      conn.socket.close(CLOSE_POLICY, code);
      return;
    }
    const run = this.#round;
    const refuse = (code: string, reason: string): void => {
      this.#onEvent({ type: 'frame-refused', clientId: id, code, reason });
    };
    if (frame.kind === 'error') {
      refuse(frame.code, `client reported: ${frame.message.slice(0, 200)}`);
      return;
    }
    if (frame.kind !== 'join' && frame.kind !== 'decline' && frame.kind !== 'protocol') {
      refuse('SMPC_FRAME_MALFORMED', `a client may not send ${frame.kind} frames`);
      return;
    }
    if (run === null || frame.roundId !== run.roundId || !sameSession(frame.session, run.session)) {
      refuse('SMPC_WRONG_SESSION', 'frame for another round or session');
      return;
    }
    if (frame.kind === 'join' || frame.kind === 'decline') {
      if (run.phase !== 'joining' || run.announced.get(id) !== conn || run.answers.has(id)) {
        refuse('SMPC_WRONG_SESSION', `${frame.kind} outside the join window or repeated`);
        return;
      }
      run.bytesIn += bytes?.length ?? 0;
      run.answers.set(id, frame.kind);
      if (frame.kind === 'decline') {
        this.#onEvent({ type: 'client-declined', roundId: run.roundId, clientId: id, code: frame.code });
      }
      this.#checkJoins(run);
      return;
    }
    if (run.phase !== 'running' || run.members.get(id) !== conn || run.gone.has(id)) {
      refuse('SMPC_WRONG_SESSION', 'protocol frame from a connection that is not in this session');
      return;
    }
    run.bytesIn += bytes?.length ?? 0;
    let message: unknown = null;
    try {
      message = decodeMessage(frame.message);
    } catch {
      // Undecodable protocol bytes reach the state machine as a refusal: it excludes the sender.
    }
    void this.#enqueue(run, () => this.#step(run, { type: 'message', from: id, message }));
  }

  // ---- the round ----------------------------------------------------------------------------

  #checkJoins(run: RoundRun): void {
    if ([...run.announced.keys()].every((id) => run.answers.has(id))) run.joinWake?.();
  }

  async #awaitJoins(run: RoundRun): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => wake(), run.options.joinTimeoutMs);
      const wake = (): void => {
        clearTimeout(timer);
        run.joinWake = null;
        resolve();
      };
      run.joinWake = wake;
      this.#checkJoins(run);
    });
  }

  async #start(run: RoundRun): Promise<void> {
    const o = run.options;
    const joined = [...run.announced.entries()]
      .filter(([id, c]) => run.answers.get(id) === 'join' && c.open && !run.gone.has(id))
      .filter(
        ([id]) => o.profile !== 'active' || (this.#registered.get(id)?.identityPublicKey ?? null) !== null,
      );
    for (const [id, c] of joined) run.members.set(id, c);
    const cohort = joined.map(([id]) => id).sort();
    this.#track(run, 'plan');
    if (cohort.length < o.minClients) {
      await this.#enqueue(run, () =>
        this.#end(
          run,
          'SMPC_TOO_FEW_CLIENTS',
          `${cohort.length} clients joined within ${o.joinTimeoutMs} ms; the round needs ${o.minClients}`,
          true,
        ),
      );
      return;
    }
    const dp = run.dp;
    let plan: ReturnType<typeof planCohort>;
    try {
      plan = planCohort(cohort.length, o.profile, o.expectedDropout, o.corruptionRate, o.ringBits);
    } catch (e) {
      await this.#enqueue(run, () => this.#end(run, codeOf(e), messageOf(e), true));
      return;
    }
    await this.#enqueue(run, async () => {
      if (run.phase !== 'joining') return; // closed meanwhile
      const started = performance.now();
      let start: ReturnType<typeof createServer>;
      try {
        // The DP floor and cohort cap are the state machine's to enforce: a cohort above the cap is
        // refused here, and a sum of fewer inputs than the floor is never computed.
        start = createServer(
          {
            roundId: run.protocolRoundId,
            profile: o.profile,
            clients: cohort,
            threshold: plan.threshold,
            graph: plan.graph,
            degree: plan.degree,
            graphSeed: randomBytes(32),
            ringBits: o.ringBits,
            vectorLength: o.vectorLength,
            prg: o.prg,
          },
          {
            ...(dp === null ? {} : { minSurvivors: dp.minSurvivors, maxCohort: dp.expectedClients }),
            identities: cohort.flatMap((id) => {
              const key = this.#registered.get(id)?.identityPublicKey ?? null;
              return key === null ? [] : [{ id, publicKey: key }];
            }),
          },
        );
      } catch (e) {
        if (!(e instanceof SmpcError)) throw e;
        await this.#end(run, e.code, e.message, true);
        return;
      }
      run.phase = 'running';
      this.#onEvent({ type: 'round-started', roundId: run.roundId, cohort, ...plan });
      run.protocolTimeMs += performance.now() - started;
      await this.#apply(run, start.state, start.outbound);
      // Clients that vanished during planning are already known gone.
      await this.#closeIfOnlyGonePending(run);
    });
  }

  #enqueue(run: RoundRun, task: () => Promise<void>): Promise<void> {
    const next = run.queue.then(task).catch(async (e) => {
      // A bug or an I/O failure (the store) ends the round rather than leaving it hanging.
      if (run.phase !== 'finished') await this.#end(run, codeOf(e), messageOf(e), false).catch(() => {});
    });
    run.queue = next;
    return next;
  }

  async #step(run: RoundRun, event: { type: 'message'; from: string; message: unknown } | { type: 'close' }) {
    if (run.phase !== 'running' || run.state === null) {
      if (event.type === 'message') {
        this.#onEvent({
          type: 'frame-refused',
          clientId: event.from,
          code: 'SMPC_WRONG_SESSION',
          reason: 'the session ended before this message was processed',
        });
      }
      return;
    }
    const started = performance.now();
    try {
      const r = await serverStep(run.state, event).finally(() => {
        run.protocolTimeMs += performance.now() - started;
      });
      await this.#apply(run, r.state, r.outbound);
      // The last live client may just have answered while the others it waits for are gone.
      if (event.type === 'message' && run.gone.size > 0) await this.#closeIfOnlyGonePending(run);
    } catch (e) {
      if (!(e instanceof SmpcError)) throw e;
      if (event.type === 'message') {
        // Late, repeated or out-of-stage: the state is unchanged and nothing is counted twice.
        this.#onEvent({ type: 'frame-refused', clientId: event.from, code: e.code, reason: e.message });
      }
    }
  }

  async #apply(run: RoundRun, state: ServerState, outbound: readonly { to: string; message: unknown }[]) {
    const before = run.state;
    run.state = state;
    for (const e of state.excluded.slice(before?.excluded.length ?? 0)) {
      this.#onEvent({
        type: 'client-dropped',
        roundId: run.roundId,
        clientId: e.id,
        stage: e.stage,
        ...(e.code === undefined ? {} : { code: e.code }),
        reason: e.reason,
      });
    }
    const stageChanged = before === null || before.stage !== state.stage;
    const finished = state.stage === 'done' || state.stage === 'aborted';
    // The stage is stored before its requests go out, so a crash after any client saw them leaves
    // a record that the next server reports and retires.
    if (stageChanged && !finished) {
      await this.#store.save({ roundId: run.roundId, state: serializeState(state) });
    }
    const encoded = new Map<unknown, Uint8Array>();
    for (const { to, message } of outbound) {
      const conn = run.members.get(to);
      if (conn === undefined || run.gone.has(to)) continue;
      let wire = encoded.get(message);
      if (wire === undefined) {
        wire = encodeMessage(message);
        encoded.set(message, wire);
      }
      this.#send(
        conn,
        encodeFrame({ kind: 'protocol', roundId: run.roundId, session: run.session, message: wire }),
        run,
      );
    }
    if (stageChanged) {
      if (finished) {
        await this.#end(run, state.abort?.code ?? 'SMPC_ABORTED', state.abort?.reason ?? '', true);
        return;
      }
      this.#track(run, state.stage);
      this.#onEvent({ type: 'stage', roundId: run.roundId, stage: state.stage });
      this.#arm(run);
    }
  }

  /** Starts the deadline of the current stage. */
  #arm(run: RoundRun): void {
    clearTimeout(run.timer);
    const seq = ++run.stageSeq;
    run.timer = setTimeout(() => {
      void this.#enqueue(run, async () => {
        if (run.stageSeq !== seq || run.phase !== 'running' || run.state === null) return;
        this.#onEvent({
          type: 'stage-deadline',
          roundId: run.roundId,
          stage: run.state.stage,
          pending: pendingSenders(run.state).length,
        });
        await this.#step(run, { type: 'close' });
      });
    }, run.options.stageTimeoutMs);
  }

  /** Closes the stage early when everyone it still waits for has disconnected. */
  async #closeIfOnlyGonePending(run: RoundRun): Promise<void> {
    if (run.phase !== 'running' || run.state === null) return;
    const pending = pendingSenders(run.state);
    if (pending.length > 0 && pending.every((id) => run.gone.has(id))) {
      await this.#step(run, { type: 'close' });
    }
  }

  #track(run: RoundRun, stage: string): void {
    const now = performance.now();
    run.stageTimesMs[run.stageName] = (run.stageTimesMs[run.stageName] ?? 0) + (now - run.stageStart);
    run.stageName = stage;
    run.stageStart = now;
  }

  /** Ends the round: result to everyone announced, store cleared (unless kept), promise resolved. */
  async #end(run: RoundRun, endCode: string, endReason: string, clearStore: boolean): Promise<void> {
    const code = endCode;
    const reason = endReason;
    if (run.phase === 'finished') return;
    clearTimeout(run.timer);
    run.phase = 'finished';
    run.joinWake?.();
    this.#track(run, 'finished');
    const state = run.state;
    // The DP floor was enforced by the state machine (it aborts before unmasking below it).
    const completed = state !== null && state.stage === 'done' && state.result !== null;
    const dp = run.dp;
    const cohort = [...run.members.keys()].sort();
    const survivors = completed ? [...(state?.survivors ?? [])].sort() : [];
    const inSum = new Set(survivors);
    const dropped = completed
      ? cohort.filter((id) => !inSum.has(id))
      : cohort.filter((id) => run.gone.has(id) || state?.excluded.some((e) => e.id === id));
    const abort = completed ? null : { code: isCode(code) ? code : 'SMPC_ABORTED', reason };
    const blamed = completed ? undefined : state?.abort?.clients;
    const result: RoundResult = {
      roundId: run.roundId,
      status: completed ? 'completed' : 'aborted',
      sum: completed ? Uint32Array.from(state?.result as Uint32Array) : null,
      survivors,
      dropped,
      cohort,
      abort: abort === null || blamed === undefined ? abort : { ...abort, clients: blamed },
      excluded: state?.excluded ?? [],
      plan:
        state === null
          ? null
          : { graph: state.params.graph, degree: state.params.degree, threshold: state.params.threshold },
      stageTimesMs: { ...run.stageTimesMs },
      bytesIn: run.bytesIn,
      bytesOut: 0,
      protocolTimeMs: 0,
      epsilon: completed && dp !== null ? achievedEpsilon(dp, [survivors.length]) : null,
    };
    const frame = encodeFrame({
      kind: 'result',
      roundId: run.roundId,
      session: run.session,
      status: result.status,
      survivors,
      dropped,
      abort,
      sum: completed && run.options.shareSum ? result.sum : null,
    });
    for (const [id, c] of run.announced) {
      const conn = run.members.get(id) ?? c;
      if (!run.gone.has(id)) this.#send(conn, frame, run);
    }
    this.#round = null;
    if (clearStore) await this.#store.clear().catch(() => {});
    if (completed) {
      this.#onEvent({
        type: 'round-completed',
        roundId: run.roundId,
        survivors: survivors.length,
        dropped: dropped.length,
      });
    } else {
      this.#onEvent({ type: 'round-aborted', roundId: run.roundId, code: abort?.code ?? '', reason });
    }
    run.finish({ ...result, bytesOut: run.bytesOut, protocolTimeMs: run.protocolTimeMs });
  }

  #send(conn: Connection, bytes: Uint8Array, run: RoundRun): void {
    if (this.#sendRaw(conn, bytes)) run.bytesOut += bytes.length;
  }

  #sendRaw(conn: Connection, bytes: Uint8Array): boolean {
    if (conn.socket.readyState !== conn.socket.OPEN) return false;
    conn.socket.send(bytes);
    return true;
  }
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (Array.isArray(data)) {
    const parts = data as Uint8Array[];
    const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  }
  return new Uint8Array(0);
}

function codeOf(e: unknown): string {
  return e instanceof SmpcError || e instanceof ConfideArgumentError ? e.code : 'SMPC_ABORTED';
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : 'unexpected failure';
}

function isCode(code: string): boolean {
  return /^[A-Z][A-Z0-9_]{2,63}$/.test(code);
}

/** Validates a DP plan against the round it is for (same dimension and ring). */
function checkDpPlan(value: unknown, options: AggregationRoundOptions): DpPlan {
  const plan = validateDpPlan(value);
  const ringBits = options.ringBits ?? DEFAULT_RING_BITS;
  if (plan.dimension !== options.vectorLength || plan.ringBits !== ringBits) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `the DP plan is for ${plan.dimension} lanes in a 2^${plan.ringBits} ring; the round has ` +
        `${options.vectorLength} lanes in 2^${ringBits}: plan for the round's vector`,
      { fields: ['dp'] },
    );
  }
  return plan;
}
