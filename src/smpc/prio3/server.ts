/**
 * A Prio3 aggregator over WebSockets (Node): {@link Prio3AggregatorServer}, leader or helper, the
 * thin transport around the pure {@link Prio3Aggregation}. It reuses SecAgg+'s connection
 * machinery by import — the client registry (ids, SHA-256 token digests, constant-time check), the
 * pool of connections waiting to authenticate (hello deadline, pre-authentication byte limit,
 * eviction), the frames and their size limit, and the error codes — so the two modes have the
 * same authentication, limits and refusals.
 *
 * Roles: the leader drives rounds ({@link Prio3AggregatorServer.runRound}); it connects to the
 * helper as one more authenticated client (the helper's `leader` credentials) and exchanges the
 * peer messages of `codec.ts` over that link. The helper only follows. Clients connect to both and
 * send each its input share; the leader sends them the result.
 *
 * Deliberately not here: TLS (run behind `wss://`), persistence across restarts (a restarted
 * aggregator loses the round; the other aborts on the closed link), and several rounds at once.
 *
 * @module
 */

import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { ConfideArgumentError } from '../../errors.ts';
import { assertInteger, assertObject, assertOneOf, assertString } from '../../internal/assert.ts';
import { SmpcError } from '../errors.ts';
import {
  ClientRegistry,
  DEFAULT_HELLO_TIMEOUT_MS,
  DEFAULT_MAX_PENDING_CONNECTIONS,
  MAX_HEADER_BYTES,
  PendingConnections,
  type RegisteredClient,
} from '../transport/connections.ts';
import {
  DEFAULT_MAX_FRAME_BYTES,
  decodeFrame,
  encodeFrame,
  MAX_ROUND_ID_LENGTH,
  sameSession,
} from '../transport/frames.ts';
import { Prio3Channel } from './channel.ts';
import { decodeAggregateShare, decodePrio3Message, encodePrio3Message, type Prio3Message } from './codec.ts';
import {
  Prio3Aggregation,
  type Prio3DpConfig,
  type Prio3RoundConfig,
  planAggregatorNoise,
} from './protocol.ts';
import {
  type Prio3AggregatorOptions,
  type Prio3Event,
  type Prio3RoundOptions,
  type Prio3RoundResult,
  readConfig,
  readReports,
  readVerdicts,
} from './server-types.ts';
import { type Prio3Params, validatePrio3Params } from './vdaf.ts';

export type {
  Prio3AggregatorOptions,
  Prio3Event,
  Prio3RoundOptions,
  Prio3RoundResult,
} from './server-types.ts';

interface Conn {
  readonly socket: WebSocket;
  id: string | null;
}

interface Active {
  readonly agg: Prio3Aggregation;
  readonly session: Uint8Array;
  readonly inFlight: Set<Promise<unknown>>;
  /** Clients that sent a report this round (a repeated report does not count twice). */
  readonly senders: Set<string>;
}

const MAX_HELLO_BYTES = 4 + 2 * (2 + 1024);
const CLOSE_POLICY = 1008;
const HELPER_GRACE_MS = 5_000;

function toBytes(data: unknown): Uint8Array | null {
  if (data instanceof Uint8Array) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return null;
}

function codeOf(e: unknown): string {
  return e instanceof SmpcError || e instanceof ConfideArgumentError ? e.code : 'SMPC_ABORTED';
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function randomTag(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(16));
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A Prio3 aggregator (leader or helper) listening on a WebSocket port. */
export class Prio3AggregatorServer {
  readonly url: string;
  readonly role: 'leader' | 'helper';
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #registry: ClientRegistry;
  readonly #pending: PendingConnections;
  readonly #maxFrameBytes: number;
  readonly #peerTimeoutMs: number;
  readonly #leaderId: string | null;
  readonly #pinned: Prio3Params | null;
  readonly #floor: number;
  readonly #dp: Prio3AggregatorOptions['dp'];
  readonly #clientIds: ReadonlySet<string>;
  readonly #onEvent: (event: Prio3Event) => void;
  readonly #connected = new Map<string, Conn>();
  #peer: Prio3Channel | null = null;
  #round: Active | null = null;
  #closing = false;
  readonly #usedRoundIds = new Set<string>();

  private constructor(init: {
    url: string;
    role: 'leader' | 'helper';
    http: Server;
    wss: WebSocketServer;
    registry: ClientRegistry;
    pending: PendingConnections;
    maxFrameBytes: number;
    peerTimeoutMs: number;
    leaderId: string | null;
    pinned: Prio3Params | null;
    floor: number;
    dp: Prio3AggregatorOptions['dp'];
    clientIds: ReadonlySet<string>;
    onEvent: (event: Prio3Event) => void;
  }) {
    this.#pinned = init.pinned;
    this.#floor = init.floor;
    this.#dp = init.dp;
    this.url = init.url;
    this.role = init.role;
    this.#http = init.http;
    this.#wss = init.wss;
    this.#registry = init.registry;
    this.#pending = init.pending;
    this.#maxFrameBytes = init.maxFrameBytes;
    this.#peerTimeoutMs = init.peerTimeoutMs;
    this.#leaderId = init.leaderId;
    this.#clientIds = init.clientIds;
    this.#onEvent = init.onEvent;
    init.http.on('connection', (tcp: Socket) => {
      if (this.#closing) tcp.destroy();
      else this.#pending.admit(tcp);
    });
    init.http.on('upgrade', (req, tcp: Socket, head: Buffer) => {
      if (this.#closing || !this.#pending.isWaiting(tcp)) {
        tcp.destroy();
        return;
      }
      init.wss.handleUpgrade(req, tcp, head, (socket) => {
        this.#pending.upgraded(tcp, socket);
        this.#accept(socket, tcp);
      });
    });
  }

  /**
   * Starts an aggregator. A leader also connects to its helper.
   *
   * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for invalid options.
   * @throws {SmpcError} `SMPC_CONNECTION_CLOSED` when the port cannot be bound; the helper's
   *   refusal when the leader cannot authenticate there.
   */
  static async listen(options: Prio3AggregatorOptions): Promise<Prio3AggregatorServer> {
    const o = assertObject(options, 'options');
    const role = assertOneOf(o.role, 'role', ['leader', 'helper'] as const);
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
    const peerTimeoutMs =
      options.peerTimeoutMs === undefined
        ? 600_000
        : assertInteger(options.peerTimeoutMs, 'peerTimeoutMs', 1, 86_400_000);
    if (!Array.isArray(options.clients))
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'clients must be an array of { id, token }');
    new ClientRegistry(options.clients); // validates the list before anything else
    const clientIds = new Set(options.clients.map((c) => c.id));
    const floor =
      options.minReports === undefined ? 1 : assertInteger(options.minReports, 'minReports', 1, 1_000_000);
    if (options.params !== undefined) noisePlan(validatePrio3Params(options.params), options.dp);
    let leaderId: string | null = null;
    let registered: readonly RegisteredClient[] = options.clients;
    if (role === 'helper') {
      const leader = assertObject(options.leader, 'leader');
      leaderId = assertString(leader.id, 'leader.id', 256);
      registered = [
        ...options.clients,
        { id: leaderId, token: assertString(leader.token, 'leader.token', 512) },
      ];
    } else {
      const helper = assertObject(options.helper, 'helper');
      assertString(helper.url, 'helper.url', 2048);
      assertString(helper.id, 'helper.id', 256);
      assertString(helper.token, 'helper.token', 512);
    }
    const registry = new ClientRegistry(registered);
    const userOnEvent = options.onEvent;
    const onEvent = (event: Prio3Event): void => {
      try {
        userOnEvent?.(event);
      } catch {
        // A throwing progress callback must not take the aggregator down.
      }
    };
    const http = createHttpServer({ maxHeaderSize: MAX_HEADER_BYTES }, (_req, res) => {
      res
        .writeHead(426, { 'content-type': 'text/plain', connection: 'close' })
        .end('this endpoint speaks WebSocket only\n');
    });
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
    http.on('error', () => {});
    wss.on('error', () => {});
    const address = http.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const server = new Prio3AggregatorServer({
      url: `ws://${shownHost}:${address.port}`,
      role,
      http,
      wss,
      registry,
      pending: new PendingConnections({
        maxPending,
        helloTimeoutMs,
        onRefused: (code, reason) => onEvent({ type: 'client-rejected', code, reason }),
      }),
      maxFrameBytes,
      peerTimeoutMs,
      leaderId,
      pinned: options.params === undefined ? null : validatePrio3Params(options.params),
      floor,
      dp: options.dp,
      clientIds,
      onEvent,
    });
    if (role === 'leader') {
      const helper = options.helper as NonNullable<Prio3AggregatorOptions['helper']>;
      try {
        server.#peer = await Prio3Channel.connect({
          url: helper.url,
          id: helper.id,
          token: helper.token,
          maxFrameBytes,
          ...(options.WebSocket === undefined ? {} : { WebSocket: options.WebSocket }),
        });
      } catch (e) {
        await server.close();
        throw e;
      }
    }
    onEvent({ type: 'listening', url: server.url, role });
    return server;
  }

  /** Ids of the clients connected now (not the leader's link). */
  get connectedClients(): readonly string[] {
    return [...this.#connected.keys()].filter((id) => id !== this.#leaderId);
  }

  /** Resolves once `count` clients are connected, or rejects with `SMPC_TIMEOUT`. */
  async waitForClients(count: number, timeoutMs: number): Promise<void> {
    assertInteger(count, 'count', 0, 1_000_000);
    assertInteger(timeoutMs, 'timeoutMs', 0, 86_400_000);
    const deadline = Date.now() + timeoutMs;
    while (this.connectedClients.length < count) {
      if (Date.now() >= deadline)
        throw new SmpcError(
          'SMPC_TIMEOUT',
          `${this.connectedClients.length} of ${count} clients connected within ${timeoutMs} ms`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Leader: runs one round with the helper and returns how it ended. An abort (DP floor, a
   * disagreement with the helper, a lost link) is a result with `status: 'aborted'`, not a throw.
   *
   * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for invalid options.
   * @throws {SmpcError} `SMPC_ROUND_CONFLICT` for a reused round id or a round already running.
   */
  async runRound(options: Prio3RoundOptions): Promise<Prio3RoundResult> {
    if (this.role !== 'leader' || this.#peer === null)
      throw new SmpcError('SMPC_BAD_TRANSITION', 'only a leader runs rounds');
    const o = assertObject(options, 'options');
    const roundId = assertString(o.roundId, 'roundId', MAX_ROUND_ID_LENGTH);
    const params = validatePrio3Params(o.params);
    const minReports =
      options.minReports === undefined ? 1 : assertInteger(options.minReports, 'minReports', 1, 1_000_000);
    const expected =
      options.expectedReports === undefined
        ? this.#clientIds.size
        : assertInteger(options.expectedReports, 'expectedReports', 1, 1_000_000);
    const collectMs =
      options.collectMs === undefined ? 60_000 : assertInteger(options.collectMs, 'collectMs', 1, 86_400_000);
    if (this.#round !== null || this.#usedRoundIds.has(roundId))
      throw new SmpcError('SMPC_ROUND_CONFLICT', `round ${roundId} is running or was used before`);
    const dp = noisePlan(params, options.dp);
    this.#usedRoundIds.add(roundId);
    const config: Prio3RoundConfig = { roundId, params, minReports, dp };
    const verifyKey = randomTag();
    const agg = new Prio3Aggregation('leader', config, verifyKey);
    const session = randomTag();
    const active: Active = { agg, session, inFlight: new Set(), senders: new Set() };
    this.#round = active;
    const peer = this.#peer;
    const finish = (result: Prio3RoundResult): Prio3RoundResult => {
      this.#round = null;
      if (result.status === 'completed') {
        this.#onEvent({
          type: 'round-completed',
          roundId,
          accepted: result.accepted,
          rejected: result.rejected,
        });
      } else {
        const abort = result.abort as { code: string; reason: string };
        this.#onEvent({ type: 'round-aborted', roundId, ...abort });
      }
      return result;
    };
    const abortWith = (code: string, reason: string): Prio3RoundResult => {
      agg.abort();
      try {
        peer.send(roundId, session, { kind: 'abort', header: { code, reason }, blobs: [] });
      } catch {
        // The link is gone: the helper aborts on its own.
      }
      this.#broadcast(roundId, session, () => ({ kind: 'abort', header: { code, reason }, blobs: [] }));
      return finish({
        roundId,
        status: 'aborted',
        accepted: 0,
        rejected: agg.rejected,
        rejectedCounts: agg.rejectionCounts(),
        sum: null,
        dp,
        abort: { code, reason },
      });
    };
    try {
      peer.send(roundId, session, {
        kind: 'start',
        header: { config, verifyKey: hex(verifyKey) },
        blobs: [],
      });
      await peer.next(['start'], this.#peerTimeoutMs);
      this.#onEvent({ type: 'round-started', roundId });
      this.#broadcast(roundId, session, () => this.#announcement(config));
      const deadline = Date.now() + collectMs;
      while (active.senders.size < expected && Date.now() < deadline && !this.#closing)
        await new Promise((r) => setTimeout(r, 20));
      if (this.#closing) throw new SmpcError('SMPC_SERVER_CLOSING', 'the leader is shutting down');
      await Promise.allSettled([...active.inFlight]);
      const { reports, shares } = agg.leaderPrepShares();
      peer.send(roundId, session, { kind: 'prep', header: { reports }, blobs: shares });
      const answer = await peer.next(['verdicts'], this.#peerTimeoutMs);
      const verdicts = readVerdicts(answer.message);
      const accepted = agg.leaderFinish(verdicts, answer.message.blobs);
      const own = agg.leaderAggregate();
      peer.send(roundId, session, { kind: 'collect', header: { accepted }, blobs: [] });
      const theirs = await peer.next(['aggregate'], this.#peerTimeoutMs);
      const count = theirs.message.header.count;
      const blob = theirs.message.blobs[0];
      if (typeof count !== 'number' || blob === undefined)
        throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'the helper sent a malformed aggregate');
      const sum = agg.combine(own, { count, share: decodeAggregateShare(agg.vdaf, blob) });
      const rejected = agg.rejected;
      const acceptedClients = agg.acceptedClients();
      const sumText = sum.map(String);
      for (const [id, conn] of this.#connected) {
        if (id === this.#leaderId) continue;
        const mine = rejected.find((r) => r.clientId === id);
        // Accepted only if it is in the sum; a report that never arrived (or came too late) is neither.
        const yourReport = mine?.reason ?? (acceptedClients.has(id) ? 'accepted' : null);
        this.#send(conn, roundId, session, {
          kind: 'result',
          header: {
            status: 'completed',
            accepted: own.count,
            rejected: rejected.length,
            sum: sumText,
            dp,
            yourReport,
          },
          blobs: [],
        });
      }
      return finish({
        roundId,
        status: 'completed',
        accepted: own.count,
        rejected,
        rejectedCounts: agg.rejectionCounts(),
        sum,
        dp,
        abort: null,
      });
    } catch (e) {
      return abortWith(codeOf(e), messageOf(e));
    }
  }

  #announcement(config: Prio3RoundConfig): Prio3Message {
    return {
      kind: 'announce',
      header: {
        roundId: config.roundId,
        params: config.params,
        minReports: config.minReports,
        dp: config.dp,
        role: this.role,
      },
      blobs: [],
    };
  }

  #broadcast(roundId: string, session: Uint8Array, message: () => Prio3Message): void {
    for (const [id, conn] of this.#connected)
      if (id !== this.#leaderId) this.#send(conn, roundId, session, message());
  }

  #send(conn: Conn, roundId: string, session: Uint8Array, message: Prio3Message): void {
    if (conn.socket.readyState !== conn.socket.OPEN) return;
    conn.socket.send(
      encodeFrame({ kind: 'protocol', roundId, session, message: encodePrio3Message(message) }),
    );
  }

  // ---- helper side ---------------------------------------------------------------------------

  async #fromLeader(conn: Conn, roundId: string, session: Uint8Array, message: Prio3Message): Promise<void> {
    const reply = (m: Prio3Message) => this.#send(conn, roundId, session, m);
    const fail = (e: unknown) => {
      const code = codeOf(e);
      const reason = messageOf(e);
      this.#round?.agg.abort();
      reply({ kind: 'abort', header: { code, reason }, blobs: [] });
      if (this.#round !== null)
        this.#broadcast(roundId, this.#round.session, () => ({
          kind: 'abort',
          header: { code, reason },
          blobs: [],
        }));
      this.#onEvent({ type: 'round-aborted', roundId, code, reason });
      this.#round = null;
    };
    try {
      if (message.kind === 'start') {
        if (this.#round !== null || this.#usedRoundIds.has(roundId))
          throw new SmpcError('SMPC_ROUND_CONFLICT', `round ${roundId} is running or was used before`);
        const h = message.header;
        const config = readConfig(h.config, roundId);
        if (this.#pinned !== null && JSON.stringify(this.#pinned) !== JSON.stringify(config.params)) {
          throw new SmpcError(
            'SMPC_AGGREGATORS_DISAGREE',
            "the leader's round parameters differ from the ones this helper pins",
          );
        }
        if (config.minReports < this.#floor)
          throw new SmpcError(
            'SMPC_AGGREGATORS_DISAGREE',
            `the leader's floor of ${config.minReports} report(s) is below this helper's ${this.#floor}`,
          );
        const own = noisePlan(config.params, this.#dp);
        if (own !== null && (config.dp === null || config.dp.variance < own.variance))
          throw new SmpcError(
            'SMPC_AGGREGATORS_DISAGREE',
            "the leader's noise is below the DP plan this helper was given",
          );
        if (typeof h.verifyKey !== 'string' || !/^[0-9a-f]{32}$/.test(h.verifyKey))
          throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'the verify key must be 16 bytes of hex');
        this.#usedRoundIds.add(roundId);
        this.#round = {
          agg: new Prio3Aggregation('helper', config, Buffer.from(h.verifyKey, 'hex')),
          session,
          inFlight: new Set(),
          senders: new Set(),
        };
        reply({ kind: 'start', header: { ok: true }, blobs: [] });
        this.#onEvent({ type: 'round-started', roundId });
        this.#broadcast(roundId, session, () => this.#announcement(config));
        return;
      }
      const round = this.#round;
      if (message.kind === 'abort') {
        if (round !== null && round.agg.config.roundId === roundId) {
          round.agg.abort();
          const code = String(message.header.code ?? 'SMPC_ABORTED');
          const reason = String(message.header.reason ?? 'the leader aborted');
          this.#broadcast(roundId, round.session, () => ({
            kind: 'abort',
            header: { code, reason },
            blobs: [],
          }));
          this.#onEvent({ type: 'round-aborted', roundId, code, reason });
          this.#round = null;
        }
        return;
      }
      if (round === null || round.agg.config.roundId !== roundId || !sameSession(round.session, session)) {
        throw new SmpcError('SMPC_WRONG_SESSION', 'peer message for another round or session');
      }
      if (message.kind === 'prep') {
        const reports = readReports(message.header.reports);
        // Reports the leader has may still be on their way here: wait a little for them.
        const deadline = Date.now() + HELPER_GRACE_MS;
        while (Date.now() < deadline && round.agg.held + round.agg.rejected.length < reports.length)
          await new Promise((r) => setTimeout(r, 20));
        await Promise.allSettled([...round.inFlight]);
        const { verdicts, messages } = await round.agg.helperVerdicts(reports, message.blobs);
        reply({ kind: 'verdicts', header: { verdicts }, blobs: [...messages] });
      } else if (message.kind === 'collect') {
        const accepted = message.header.accepted;
        if (!Array.isArray(accepted) || !accepted.every((x) => typeof x === 'string'))
          throw new SmpcError('SMPC_MALFORMED_MESSAGE', 'collect needs the accepted ids');
        const share = round.agg.helperCollect(accepted as string[]);
        reply({
          kind: 'aggregate',
          header: { count: share.count },
          blobs: [new Uint8Array(round.agg.vdaf.encodeAggregatorShare(share.share))],
        });
        this.#onEvent({
          type: 'round-completed',
          roundId,
          accepted: share.count,
          rejected: round.agg.rejected,
        });
        this.#round = null;
      } else if (message.kind === 'report') {
        // A report counts at the helper only when its client authenticated here with the token
        // only the helper and that client hold — never when the leader relays one.
        throw new SmpcError(
          'SMPC_UNAUTHENTICATED',
          "the leader's link may not carry reports: a client reports to the helper over its own authenticated connection",
        );
      } else throw new SmpcError('SMPC_MALFORMED_MESSAGE', `the leader may not send ${message.kind}`);
    } catch (e) {
      fail(e);
    }
  }

  // ---- connections ---------------------------------------------------------------------------

  #accept(socket: WebSocket, tcp: Socket): void {
    const conn: Conn = { socket, id: null };
    let queue = Promise.resolve();
    socket.on('message', (data, isBinary) => {
      const bytes = isBinary ? toBytes(data) : null;
      if (conn.id === null) {
        if (this.#pending.isWaiting(tcp)) this.#hello(conn, tcp, bytes);
        return;
      }
      // One message at a time per connection, in order (the handlers await the VDAF).
      queue = queue.then(() => this.#receive(conn, bytes));
    });
    socket.on('close', () => {
      if (conn.id !== null && this.#connected.get(conn.id) === conn) this.#connected.delete(conn.id);
      // Helper: the leader's link is gone mid-round, so the round can never finish. Abort it (its
      // clients are told) rather than hold it, and the next round's start, forever.
      const round = this.#round;
      if (conn.id !== null && conn.id === this.#leaderId && round !== null) {
        const roundId = round.agg.config.roundId;
        const reason = 'the connection to the leader closed mid-round';
        round.agg.abort();
        this.#round = null;
        this.#broadcast(roundId, round.session, () => ({
          kind: 'abort',
          header: { code: 'SMPC_CONNECTION_CLOSED', reason },
          blobs: [],
        }));
        this.#onEvent({ type: 'round-aborted', roundId, code: 'SMPC_CONNECTION_CLOSED', reason });
      }
    });
    socket.on('error', () => {});
  }

  #hello(conn: Conn, tcp: Socket, bytes: Uint8Array | null): void {
    let frame: ReturnType<typeof decodeFrame> | null = null;
    try {
      if (bytes !== null) frame = decodeFrame(bytes, { maxFrameBytes: MAX_HELLO_BYTES });
    } catch {
      frame = null;
    }
    if (frame === null || frame.kind !== 'hello') {
      this.#pending.refuse(tcp, 'SMPC_UNAUTHENTICATED', 'the first frame must be a hello');
      return;
    }
    if (!this.#registry.verify(frame.clientId, frame.token)) {
      this.#pending.refuse(
        tcp,
        'SMPC_UNAUTHENTICATED',
        "unknown client id or wrong token: check the client id and that the token is the one registered for it in the aggregator's client list",
      );
      return;
    }
    this.#pending.authenticated(tcp);
    const previous = this.#connected.get(frame.clientId);
    if (previous !== undefined) previous.socket.close(4000, 'replaced by a new connection');
    conn.id = frame.clientId;
    this.#connected.set(frame.clientId, conn);
    conn.socket.send(
      encodeFrame({ kind: 'welcome', clientId: frame.clientId, maxFrameBytes: this.#maxFrameBytes }),
    );
    if (frame.clientId !== this.#leaderId) {
      this.#onEvent({ type: 'client-connected', clientId: frame.clientId });
      // A client connecting mid-round still hears of the round.
      const round = this.#round;
      if (round !== null)
        this.#send(conn, round.agg.config.roundId, round.session, this.#announcement(round.agg.config));
    }
  }

  async #receive(conn: Conn, bytes: Uint8Array | null): Promise<void> {
    const id = conn.id as string;
    let roundId: string;
    let session: Uint8Array;
    let message: Prio3Message;
    try {
      if (bytes === null) throw new SmpcError('SMPC_FRAME_MALFORMED', 'text frames are not accepted');
      const frame = decodeFrame(bytes, { maxFrameBytes: this.#maxFrameBytes });
      if (frame.kind !== 'protocol')
        throw new SmpcError('SMPC_FRAME_MALFORMED', `a peer may not send ${frame.kind} frames`);
      roundId = frame.roundId;
      session = frame.session;
      message = decodePrio3Message(frame.message);
    } catch (e) {
      const code = codeOf(e);
      this.#onEvent({ type: 'client-rejected', code, reason: messageOf(e) });
      if (conn.socket.readyState === conn.socket.OPEN)
        conn.socket.send(encodeFrame({ kind: 'error', code, message: 'undecodable frame' }));
      conn.socket.close(CLOSE_POLICY, code);
      return;
    }
    if (id === this.#leaderId) {
      await this.#fromLeader(conn, roundId, session, message);
      return;
    }
    const round = this.#round;
    const receipt = (status: string, code?: string) =>
      this.#send(conn, roundId, session, {
        kind: 'receipt',
        header: code === undefined ? { status } : { status, code },
        blobs: [],
      });
    if (message.kind !== 'report') {
      this.#onEvent({
        type: 'client-rejected',
        code: 'SMPC_MALFORMED_MESSAGE',
        reason: `a client may not send ${message.kind}`,
      });
      return;
    }
    if (round === null || round.agg.config.roundId !== roundId || !sameSession(round.session, session)) {
      receipt('refused', 'SMPC_WRONG_SESSION');
      this.#onEvent({ type: 'report', roundId, clientId: id, status: 'refused' });
      return;
    }
    const reportId = message.header.reportId;
    const [publicShare, inputShare] = message.blobs;
    if (
      typeof reportId !== 'string' ||
      publicShare === undefined ||
      inputShare === undefined ||
      message.blobs.length !== 2
    ) {
      receipt('refused', 'SMPC_MALFORMED_MESSAGE');
      return;
    }
    round.senders.add(id);
    const work = round.agg.receiveReport(id, reportId, publicShare, inputShare);
    round.inFlight.add(work);
    try {
      const status = await work;
      receipt(status);
      this.#onEvent({ type: 'report', roundId, clientId: id, status });
    } catch (e) {
      receipt('refused', codeOf(e));
      this.#onEvent({ type: 'report', roundId, clientId: id, status: 'refused' });
    } finally {
      round.inFlight.delete(work);
    }
  }

  /** Stops listening and closes every connection (and the leader's link to the helper). */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#peer?.close();
    this.#pending.destroyAll();
    for (const c of this.#wss.clients) c.close(1001, 'server closing');
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

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The noise each aggregator adds for a DP plan over `params`, or null without one. */
function noisePlan(
  params: Prio3Params,
  plan: { readonly epsilon: number; readonly delta: number; readonly rounds: number } | null | undefined,
): Prio3DpConfig | null {
  if (plan === undefined || plan === null) return null;
  const d = assertObject(plan, 'dp');
  const half = 2 ** (params.bits - 1);
  const l2Sensitivity =
    params.circuit === 'l2' ? Math.sqrt(Number(params.normBound)) : Math.sqrt(params.length) * half;
  return planAggregatorNoise({
    epsilon: d.epsilon as number,
    delta: d.delta as number,
    rounds: d.rounds as number,
    l2Sensitivity,
    dimension: params.length,
  });
}
