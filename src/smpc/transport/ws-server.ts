/**
 * The secure-aggregation server over WebSocket (Node only): {@link AggregationServer} binds the
 * round runner (`round-runner.ts`, one transport-agnostic session per `RoundSession`, driven
 * through a `Channel`) and the connection pool (`connections.ts`) to `ws`. This file authenticates
 * and routes frames, runs a round's sessions one after another (retries and bans, `retry.ts`), and
 * keeps the round store across restarts. What to accept, when to proceed with at least t responses
 * and when to abort is the state machine's decision (`protocol/server.ts`); the join window,
 * cohort, deadlines and result are the runner's.
 *
 * Rules it enforces at the edge, before a byte reaches the state machine:
 * - authentication first: the first frame must be `hello` with a registered id and its token
 *   (compared as SHA-256 digests in constant time, also for unknown ids); anything else closes
 *   the connection with `SMPC_UNAUTHENTICATED` and touches nothing. Connections that have not
 *   authenticated live in their own small pool with a short hello deadline, which can never
 *   exclude a client presenting a valid token (`connections.ts` says why; the oldest waiting
 *   connection of the busiest peer address is evicted with `SMPC_SERVER_BUSY` to make room);
 * - size limits: `ws`'s `maxPayload` and again `decodeFrame`; malformed frames close the
 *   connection with `SMPC_FRAME_MALFORMED`;
 * - one session per round, one round at a time; every round frame names the round and its random
 *   session tag, so frames from another round or session (replays, reordering) are refused;
 * - membership belongs to the connection that joined: a client that disconnects is dropped for the
 *   round, and if it reconnects (a new process, secrets lost) it waits for the next round, and
 *   nothing it sends for the old session is accepted;
 * - a late message from a client the state machine already moved past, and duplicates, are refused
 *   by the state machine (`SMPC_BAD_TRANSITION`) and never double-counted;
 * - per-stage deadlines: when a stage's time runs out, or when every client it still waits for has
 *   disconnected, the server sends `close`; the state machine proceeds with ≥ t or aborts;
 * - the payload's SHA-256 is bound into the protocol round id, so clients holding different payloads
 *   cannot complete one session;
 * - before authenticating a connection may send no more than a hello (a few KiB), so what
 *   strangers can make the server hold is `pendingMemoryBound(maxPendingConnections)`;
 * - a round whose estimated memory (`estimateRoundResources`) exceeds `maxMemoryBytes` is refused
 *   (`SMPC_PLAN_TOO_LARGE`) when it is asked for, before anything is announced;
 * - with a distributed-DP plan (`dp.ts`): the plan is validated against the round, sent with the
 *   announcement, run for at most its `rounds`; its `expectedClients` and `minSurvivors` become the
 *   state machine's cohort cap and floor (`RoundLimits`), so a larger cohort is refused and a sum of
 *   fewer inputs is never computed; the result carries the ε the round spent;
 * - in the `active` profile the registered identity keys go to the state machine, which checks every
 *   signature and excludes a client whose signature does not verify instead of relaying it (where
 *   every honest client would abort);
 * - a session that aborts on a code one client's own messages cause, naming it (check lanes,
 *   inconsistent shares), is retried: a fresh session `<roundId>.retry<n>` runs without the named
 *   clients, up to `maxRetries`; only a client whose fault the code proves (check lanes) is banned
 *   (`banMs`), one named by inconsistent shares may be innocent and may join the next round (rules
 *   and their security argument in `retry.ts`); a DP plan is charged once per `runRound`.
 *
 * The server state is saved to a {@link RoundStore} before the round is announced and at every
 * stage change, before that stage's requests go out (a stored round is never resumed, so
 * per-message writes, which would cost O(n²·d) bytes for a round, would buy nothing), and cleared when the round ends on its own. On `listen`, a
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
import { assertInteger, assertString } from '../../internal/assert.ts';
import type { DpPlan } from '../dp.ts';
import { SmpcError } from '../errors.ts';
import { DEFAULT_MAX_ROUND_MEMORY_BYTES } from '../estimate.ts';
import { decodeMessage } from '../protocol/wire.ts';
import {
  ClientRegistry,
  DEFAULT_HELLO_TIMEOUT_MS,
  DEFAULT_MAX_PENDING_CONNECTIONS,
  MAX_HEADER_BYTES,
  PendingConnections,
  type RefusalDetail,
  type RegisteredClient,
} from './connections.ts';
import {
  DEFAULT_MAX_FRAME_BYTES,
  decodeFrame,
  encodeFrame,
  type Frame,
  MAX_ROUND_ID_LENGTH,
  sameSession,
} from './frames.ts';
import { BanList, MAX_RETRIES, parseRetryRoundId, retryRoundId, runWithRetries } from './retry.ts';
import { type Channel, codeOf, RoundSession } from './round-runner.ts';
import {
  type AggregationEvent,
  type AggregationRoundOptions,
  checkRoundOptions,
  type RoundResult,
  type SessionOptions,
  type SessionResult,
} from './round-types.ts';
import { MemoryRoundStore, type RoundStore } from './store.ts';
import { MAX_UNMASK_WORKERS, UnmaskPool } from './unmask-pool.ts';

export type { RegisteredClient } from './connections.ts';

export type {
  AggregationEvent,
  AggregationRoundOptions,
  BannedClient,
  RoundResult,
} from './round-types.ts';

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
  /**
   * How long a client whose own messages provably made a session abort (`ABORT_FAULT` in
   * `retry.ts`) stays banned (not announced to, refused at hello with `SMPC_CLIENT_BANNED`);
   * default: for the server's lifetime.
   */
  readonly banMs?: number;
  /**
   * Worker threads for the unmask step (0 to {@link MAX_UNMASK_WORKERS}; default 0: on the calling
   * thread). The sum is the same either way; a worker crash aborts the round with
   * `SMPC_UNMASK_FAILED` (`unmask-pool.ts`).
   */
  readonly unmaskWorkers?: number;
}

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
  /** Clients banned because a session aborted on their messages. */
  readonly #banned: BanList;
  readonly #connected = new Map<string, Connection>();
  /** Connections that have not authenticated yet (their own pool, `connections.ts`). */
  readonly #pending: PendingConnections;
  readonly #maxMemoryBytes: number;
  readonly #usedRoundIds = new Set<string>();
  /** Rounds run under each DP plan object. */
  readonly #dpPlanUses = new WeakMap<DpPlan, number>();
  readonly #waiters = new Set<() => void>();
  #round: RoundSession<Connection> | null = null;
  /** How a round session reaches a connection. */
  readonly #channel: Channel<Connection> = {
    send: (conn, bytes) => this.#sendRaw(conn, bytes),
    isOpen: (conn) => conn.open,
  };
  /** The unmask workers, when `unmaskWorkers` > 0. */
  #unmaskPool: UnmaskPool | null = null;
  /** A round (one or more sessions) is running. */
  #busy = false;
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
    banMs: number,
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
    this.#banned = new BanList(banMs);
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
    const banMs =
      options.banMs === undefined
        ? Number.POSITIVE_INFINITY
        : assertInteger(options.banMs, 'banMs', 0, Number.MAX_SAFE_INTEGER);
    const unmaskWorkers =
      options.unmaskWorkers === undefined
        ? 0
        : assertInteger(options.unmaskWorkers, 'unmaskWorkers', 0, MAX_UNMASK_WORKERS);
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

    const pool = unmaskWorkers === 0 ? null : await UnmaskPool.create({ size: unmaskWorkers });
    let stale: Awaited<ReturnType<RoundStore['load']>>;
    try {
      stale = await store.load();
    } catch (e) {
      await pool?.close();
      throw e;
    }
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
      const fail = (cause: unknown) => {
        void pool?.close();
        reject(new SmpcError('SMPC_CONNECTION_CLOSED', `cannot listen on ${host}:${port}`, { cause }));
      };
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
        onRefused: (code, reason, detail) =>
          onEvent({ type: 'client-rejected', code, reason, ...(detail === undefined ? {} : detail) }),
      }),
      maxMemoryBytes,
      banMs,
    );
    server.#unmaskPool = pool;
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
    const o = checkRoundOptions(options, {
      maxFrameBytes: this.#maxFrameBytes,
      maxMemoryBytes: this.#maxMemoryBytes,
      connected: this.#connected.size,
      registered: this.#registered.size,
    });
    const maxRetries =
      options.maxRetries === undefined ? 2 : assertInteger(options.maxRetries, 'maxRetries', 0, MAX_RETRIES);
    if (parseRetryRoundId(o.roundId).attempt !== 0) {
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        'roundId must not end in .retry<n>: that suffix names retry sessions',
        { fields: ['roundId'] },
      );
    }
    if (maxRetries > 0 && retryRoundId(o.roundId, maxRetries).length > MAX_ROUND_ID_LENGTH) {
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        `roundId leaves no room for the .retry<n> suffix: use at most ${MAX_ROUND_ID_LENGTH - 7} characters or maxRetries 0`,
        { fields: ['roundId'] },
      );
    }
    if (this.#closing) throw new SmpcError('SMPC_SERVER_CLOSING', 'the server is closing');
    if (this.#round !== null || this.#busy) {
      throw new SmpcError('SMPC_ROUND_CONFLICT', 'a round is in progress: rounds run one at a time');
    }
    for (let a = 0; a <= maxRetries; a++) {
      if (this.#usedRoundIds.has(retryRoundId(o.roundId, a))) {
        throw new SmpcError('SMPC_ROUND_CONFLICT', `round id ${o.roundId} was used before: pick a new one`);
      }
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
      // One use per round, retries included: an aborted session released no sum (retry.ts).
      this.#dpPlanUses.set(key, uses + 1);
    }
    for (let a = 0; a <= maxRetries; a++) this.#usedRoundIds.add(retryRoundId(o.roundId, a));
    // Held across the sessions of this round, so no other round starts between two of them.
    this.#busy = true;
    try {
      return await runWithRetries(
        o.roundId,
        maxRetries,
        (roundId, excluded) => this.#runSession({ ...o, roundId }, options.payload, excluded),
        (banned) => {
          this.#banned.ban(banned.clientId);
          this.#onEvent({ type: 'client-banned', ...banned });
          const conn = this.#connected.get(banned.clientId);
          if (conn !== undefined)
            this.#reject(conn, 'SMPC_CLIENT_BANNED', 'banned: a round aborted on its messages');
        },
        () => this.#closing,
        (sidelined) => this.#onEvent({ type: 'client-sidelined', ...sidelined }),
      );
    } finally {
      this.#busy = false;
    }
  }

  async #runSession(
    o: SessionOptions,
    payload: Uint8Array | undefined,
    excluded: ReadonlySet<string>,
  ): Promise<SessionResult> {
    const announced = new Map(
      [...this.#connected].filter(([id]) => !this.#banned.has(id) && !excluded.has(id)),
    );
    const run = new RoundSession<Connection>(o, payload, announced, {
      channel: this.#channel,
      store: this.#store,
      onEvent: this.#onEvent,
      identityKey: (id) => this.#registered.get(id)?.identityPublicKey ?? null,
      onFinished: () => {
        if (this.#round === run) this.#round = null;
      },
      ...(this.#unmaskPool === null ? {} : { unmask: this.#unmaskPool.run }),
    });
    this.#round = run;
    return run.run();
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
    await this.#round?.abort('SMPC_SERVER_CLOSING', 'the server is shutting down');
    await this.#unmaskPool?.close();
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
    const refuse = (reason: string, detail?: RefusalDetail): void => {
      conn.open = false;
      this.#pending.refuse(tcp, 'SMPC_UNAUTHENTICATED', reason, detail);
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
      // The peer learns neither which of the two it got wrong nor whether the id exists; the log does.
      refuse(
        "unknown client id or wrong token: check the client id and that the token is the one registered for it in the server's client list",
        {
          clientId: printable(frame.clientId.slice(0, 64)),
          registered: this.#registered.get(frame.clientId) !== undefined,
        },
      );
      return;
    }
    const id = frame.clientId;
    if (this.#banned.has(id)) {
      conn.open = false;
      this.#pending.refuse(
        tcp,
        'SMPC_CLIENT_BANNED',
        'this client is banned: a round aborted on its messages',
      );
      return;
    }
    this.#pending.authenticated(tcp);
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

  /** Closes an authenticated connection with a coded error frame (a ban). */
  #reject(conn: Connection, code: string, reason: string): void {
    this.#onEvent({ type: 'client-rejected', code, reason });
    this.#sendRaw(conn, encodeFrame({ kind: 'error', code, message: reason }));
    conn.open = false;
    conn.socket.close(CLOSE_POLICY, code);
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
    if (conn.id !== null) this.#round?.lost(conn.id, conn);
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
    const refusal =
      frame.kind === 'protocol'
        ? run.protocol(id, conn, bytes?.length ?? 0, decodeOrNull(frame.message))
        : run.answer(
            id,
            conn,
            frame.kind === 'join'
              ? { kind: 'join', ...(frame.logSize === undefined ? {} : { logSize: frame.logSize }) }
              : { kind: 'decline', code: frame.code, reason: printable(frame.reason) },
            bytes?.length ?? 0,
          );
    if (refusal !== null) refuse('SMPC_WRONG_SESSION', refusal);
  }

  #sendRaw(conn: Connection, bytes: Uint8Array): boolean {
    if (conn.socket.readyState !== conn.socket.OPEN) return false;
    conn.socket.send(bytes);
    return true;
  }
}

/** A protocol message, or null when its bytes do not decode (the state machine then excludes its sender). */
function decodeOrNull(bytes: Uint8Array): unknown {
  try {
    return decodeMessage(bytes);
  } catch {
    return null;
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

/** Text a peer sent, fit for one log line: at most 200 characters, control characters as `?`. */
function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing them is the point.
  return text.slice(0, 200).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
}
