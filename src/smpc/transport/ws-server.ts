/**
 * The secure-aggregation server over WebSocket (Node only): {@link AggregationServer} binds the
 * round runner (`round-runner.ts`, one transport-agnostic session per `RoundSession`, driven
 * through a `Channel`) and the connection pool (`connections.ts`) to `ws`. This file authenticates
 * and routes frames, runs a round's sessions one after another (retries and bans, `retry.ts`), and
 * keeps the round store across restarts (options: `server-options.ts`; the HTTP binding:
 * `ws-listen.ts`; used round ids and DP plan budgets: `round-ledger.ts`). What to accept, when to proceed with at least t responses
 * and when to abort is the state machine's decision (`protocol/server.ts`); the join window,
 * cohort, deadlines and result are the runner's.
 *
 * Rules it enforces at the edge, before a byte reaches the state machine:
 * - authentication first: the first frame must be a `hello` with a registered id and its token
 *   (`checkHello` in `connections.ts`); anything else closes the connection with
 *   `SMPC_UNAUTHENTICATED`. Connections that have not authenticated live in their own small pool
 *   with a short hello deadline, which can never exclude a client presenting a valid token
 *   (`connections.ts` says why);
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
 * - what strangers can make the server hold is `pendingMemoryBound(maxPendingConnections)`;
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

import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocket, WebSocketServer } from 'ws';
import { assertInteger } from '../../internal/assert.ts';
import { SmpcError } from '../errors.ts';
import { type ClientRegistry, checkHello, PendingConnections } from './connections.ts';
import { decodeFrame, encodeFrame, type Frame } from './frames.ts';
import { routeClientFrame } from './inbound.ts';
import { BanList, runWithRetries } from './retry.ts';
import { checkMaxRetries, RoundLedger } from './round-ledger.ts';
import { type Channel, codeOf, RoundSession } from './round-runner.ts';
import {
  type AggregationEvent,
  type AggregationRoundOptions,
  checkRoundOptions,
  type RoundResult,
  type SessionOptions,
  type SessionResult,
} from './round-types.ts';
import { type AggregationServerOptions, checkServerOptions } from './server-options.ts';
import type { RoundStore } from './store.ts';
import { UnmaskPool } from './unmask-pool.ts';
import {
  admitThroughPool,
  CLOSE_GOING_AWAY,
  CLOSE_POLICY,
  CLOSE_REPLACED,
  closeWebSocket,
  listenWebSocket,
  toBytes,
} from './ws-listen.ts';

export type { RegisteredClient } from './connections.ts';
export type {
  AggregationEvent,
  AggregationRoundOptions,
  BannedClient,
  RoundResult,
} from './round-types.ts';
export type { AggregationServerOptions } from './server-options.ts';

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
  /** Round ids used and rounds run under each DP plan. */
  readonly #ledger = new RoundLedger();
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
    admitThroughPool(
      { http, wss, url },
      pending,
      () => this.#closing,
      (socket, tcp) => this.#accept(socket, tcp),
    );
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
    const {
      host,
      port,
      maxFrameBytes,
      helloTimeoutMs,
      maxPending,
      maxMemoryBytes,
      banMs,
      unmaskWorkers,
      registered,
      store,
      onEvent,
    } = checkServerOptions(options);
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

    let bound: Awaited<ReturnType<typeof listenWebSocket>>;
    try {
      bound = await listenWebSocket(host, port, maxFrameBytes);
    } catch (e) {
      await pool?.close();
      throw e;
    }
    const { http, wss, url } = bound;
    const server = new AggregationServer(
      http,
      wss,
      url,
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
    for (const id of retired) server.#ledger.retire(id);
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
    const maxRetries = checkMaxRetries(o.roundId, options.maxRetries);
    if (this.#closing) throw new SmpcError('SMPC_SERVER_CLOSING', 'the server is closing');
    if (this.#round !== null || this.#busy) {
      throw new SmpcError('SMPC_ROUND_CONFLICT', 'a round is in progress: rounds run one at a time');
    }
    this.#ledger.claim(o.roundId, maxRetries, options.dp);
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
    await closeWebSocket({ http: this.#http, wss: this.#wss });
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
    const hello = checkHello(bytes, this.#registered);
    if (!hello.ok) {
      conn.open = false;
      this.#pending.refuse(tcp, hello.code, hello.reason, hello.detail);
      return;
    }
    const id = hello.clientId;
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
    if (frame.kind === 'error') {
      const reason = `client reported: ${frame.message.slice(0, 200)}`;
      this.#onEvent({ type: 'frame-refused', clientId: id, code: frame.code, reason });
      return;
    }
    const refusal = routeClientFrame(this.#round, id, conn, frame, bytes?.length ?? 0);
    if (refusal !== null) this.#onEvent({ type: 'frame-refused', clientId: id, ...refusal });
  }

  #sendRaw(conn: Connection, bytes: Uint8Array): boolean {
    if (conn.socket.readyState !== conn.socket.OPEN) return false;
    conn.socket.send(bytes);
    return true;
  }
}
