/**
 * A front of the secure-aggregation cluster (`confide smpc serve --redis URL --front`): it
 * terminates clients' WebSocket connections, authenticates them with the single-process server's
 * code (`checkHello` and the pending pool in `transport/connections.ts`, the binding in
 * `transport/ws-listen.ts`: hello first, tokens compared as digests in constant time, the pool of
 * connections waiting to authenticate, `maxPayload` and `decodeFrame` size limits, the same error
 * codes), and relays frames both ways through Redis Streams: what an authenticated client sends goes
 * to `smpc:in` for the coordinator, what the coordinator adds to this front's `smpc:out:<front>` goes
 * to the named connection. Any number of fronts serve one deployment; a client may connect to any.
 *
 * The front keeps a heartbeat key (`smpc:front:<id>`, expiring after `heartbeatMs × 3`): when it
 * dies, the coordinator sees the key expire and counts the front's clients as disconnected
 * (dropouts of the round in progress). Each authenticated connection is also listed in the
 * `smpc:clients` hash, so a coordinator that takes over knows who is connected; after Redis comes
 * back empty, the front lists its connections again.
 *
 * Flood bounds: each client id has a token bucket at the front (`clientFrameBurst` frames, refilled
 * at `clientFrameRate` per second; its connects count too). A client that relays faster is told
 * `SMPC_SERVER_BUSY` and disconnected, and nothing more of it reaches Redis; the frames it sent
 * within its bucket are forwarded. Every relay to `smpc:in` carries `MAXLEN ~` (`streams.ts`,
 * {@link streamBounds}), so even many fronts cannot grow the stream without bound.
 *
 * Deliberately not here: rounds, cohorts, deadlines (the coordinator's), TLS (put a terminator in
 * front, as for `smpc serve`).
 *
 * @module
 */

import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocket, WebSocketServer } from 'ws';
import { ConfideArgumentError } from '../../errors.ts';
import { assertInteger } from '../../internal/assert.ts';
import type { RedisHandle } from '../../redis/index.ts';
import { SmpcError } from '../errors.ts';
import { toHex } from '../primitives/encoding.ts';
import { randomBytes } from '../primitives/random.ts';
import {
  ClientRegistry,
  checkHello,
  PendingConnections,
  type RegisteredClient,
} from '../transport/connections.ts';
import { decodeFrame, encodeFrame, type Frame } from '../transport/frames.ts';
import { checkEndpointOptions } from '../transport/server-options.ts';
import {
  admitThroughPool,
  CLOSE_GOING_AWAY,
  CLOSE_POLICY,
  CLOSE_REPLACED,
  closeWebSocket,
  listenWebSocket,
  toBytes,
} from '../transport/ws-listen.ts';
import {
  type ClusterKeys,
  clusterKeys,
  DEFAULT_CLIENT_FRAME_BURST,
  DEFAULT_CLIENT_FRAME_RATE,
  type StreamEntry,
  StreamReader,
  streamBounds,
  text,
} from './streams.ts';

/** Options of {@link ClusterFront.listen}. */
export interface ClusterFrontOptions {
  readonly redis: RedisHandle;
  readonly clients: readonly RegisteredClient[];
  readonly host?: string;
  readonly port?: number;
  readonly maxFrameBytes?: number;
  readonly helloTimeoutMs?: number;
  readonly maxPendingConnections?: number;
  /** Heartbeat period; the key expires after three. Default 1 000 ms. */
  readonly heartbeatMs?: number;
  /** Frames (connects included) one client may relay at once; default {@link DEFAULT_CLIENT_FRAME_BURST}. */
  readonly clientFrameBurst?: number;
  /** Frames per second a client's bucket refills; default {@link DEFAULT_CLIENT_FRAME_RATE}. */
  readonly clientFrameRate?: number;
  readonly onEvent?: (event: FrontEvent) => void;
}

/** What a front reports. */
export type FrontEvent =
  | { readonly type: 'listening'; readonly url: string; readonly front: string }
  | { readonly type: 'client-connected'; readonly clientId: string }
  | { readonly type: 'client-disconnected'; readonly clientId: string; readonly code: number }
  | { readonly type: 'client-rejected'; readonly code: string; readonly reason: string }
  | { readonly type: 'redis-unavailable'; readonly reason: string };

interface Connection {
  readonly socket: WebSocket;
  readonly conn: string;
  id: string | null;
  open: boolean;
}

/** One front process's WebSocket server, relaying to the coordinator through Redis. */
export class ClusterFront {
  readonly url: string;
  /** This front's random id (names its outbound stream and heartbeat key). */
  readonly front: string;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #redis: RedisHandle;
  readonly #keys: ClusterKeys;
  readonly #registry: ClientRegistry;
  readonly #pending: PendingConnections;
  readonly #maxFrameBytes: number;
  readonly #onEvent: (event: FrontEvent) => void;
  readonly #byConn = new Map<string, Connection>();
  readonly #byId = new Map<string, Connection>();
  readonly #reader: StreamReader;
  readonly #heartbeat: ReturnType<typeof setInterval>;
  readonly #heartbeatMs: number;
  readonly #burst: number;
  readonly #rate: number;
  readonly #inboundMaxLen: string;
  /** Each client id's bucket: tokens left and when it was last refilled (ms). */
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  #seq = 0;
  #closing = false;
  #redisDown = false;

  private constructor(
    init: {
      http: Server;
      wss: WebSocketServer;
      url: string;
      front: string;
      registry: ClientRegistry;
      pending: PendingConnections;
      maxFrameBytes: number;
      heartbeatMs: number;
      burst: number;
      rate: number;
    },
    options: ClusterFrontOptions,
    onEvent: (event: FrontEvent) => void,
  ) {
    this.#http = init.http;
    this.#wss = init.wss;
    this.url = init.url;
    this.front = init.front;
    this.#redis = options.redis;
    this.#keys = clusterKeys(options.redis.options.prefix);
    this.#registry = init.registry;
    this.#pending = init.pending;
    this.#maxFrameBytes = init.maxFrameBytes;
    this.#heartbeatMs = init.heartbeatMs;
    this.#burst = init.burst;
    this.#rate = init.rate;
    this.#inboundMaxLen = String(streamBounds(options.clients.length, init.burst).inbound);
    this.#onEvent = onEvent;
    admitThroughPool(
      init,
      this.#pending,
      () => this.#closing,
      (socket, tcp) => this.#accept(socket, tcp),
    );
    this.#reader = new StreamReader({
      handle: this.#redis,
      key: this.#keys.outbound(this.front),
      from: '0-0',
      onEntries: (entries) => this.#deliver(entries),
      onError: () => this.#down('reading the outbound stream failed'),
    });
    this.#heartbeat = setInterval(() => void this.#beat(), this.#heartbeatMs);
  }

  /**
   * Starts a front: registers its heartbeat and listens.
   *
   * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for invalid options.
   * @throws {SmpcError} `SMPC_CONNECTION_CLOSED` when the port cannot be bound.
   */
  static async listen(options: ClusterFrontOptions): Promise<ClusterFront> {
    if (typeof options !== 'object' || options === null) {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'options must be an object');
    }
    if (typeof options.redis?.key !== 'function') {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'redis must be a connected Redis handle');
    }
    const { host, port, maxFrameBytes, helloTimeoutMs, maxPending } = checkEndpointOptions(options);
    const heartbeatMs =
      options.heartbeatMs === undefined
        ? 1000
        : assertInteger(options.heartbeatMs, 'heartbeatMs', 50, 60_000);
    const burst =
      options.clientFrameBurst === undefined
        ? DEFAULT_CLIENT_FRAME_BURST
        : assertInteger(options.clientFrameBurst, 'clientFrameBurst', 8, 1_000_000);
    const rate =
      options.clientFrameRate === undefined
        ? DEFAULT_CLIENT_FRAME_RATE
        : assertInteger(options.clientFrameRate, 'clientFrameRate', 1, 1_000_000);
    const registry = new ClientRegistry(options.clients);
    const onEvent = (event: FrontEvent): void => {
      try {
        options.onEvent?.(event);
      } catch {
        // A throwing progress callback must not take the front down.
      }
    };
    const front = toHex(randomBytes(8));
    await options.redis.run((r) =>
      r.set(clusterKeys(options.redis.options.prefix).front(front), '1', 'PX', heartbeatMs * 3),
    );
    const { http, wss, url } = await listenWebSocket(host, port, maxFrameBytes);
    const pending = new PendingConnections({
      maxPending,
      helloTimeoutMs,
      onRefused: (code, reason) => onEvent({ type: 'client-rejected', code, reason }),
    });
    const server = new ClusterFront(
      {
        http,
        wss,
        url,
        front,
        registry,
        pending,
        maxFrameBytes,
        heartbeatMs,
        burst,
        rate,
      },
      options,
      onEvent,
    );
    onEvent({ type: 'listening', url: server.url, front });
    return server;
  }

  /** Ids of the clients connected to this front, sorted. */
  connectedClients(): readonly string[] {
    return [...this.#byId.keys()].sort();
  }

  async #beat(): Promise<void> {
    if (this.#closing) return;
    try {
      // `GET` tells whether the key survived: after Redis came back empty, list the clients again.
      const before = await this.#redis.client.set(
        this.#keys.front(this.front),
        '1',
        'PX',
        this.#heartbeatMs * 3,
        'GET',
      );
      if (before === null && this.#byId.size > 0) {
        const fields: string[] = [];
        for (const [id, c] of this.#byId) fields.push(id, `${this.front}/${c.conn}`);
        await this.#redis.client.hset(this.#keys.clients, ...fields);
        for (const [id, c] of this.#byId) await this.#announce('c', id, c.conn);
      }
      this.#redisDown = false;
    } catch {
      this.#down('the heartbeat failed');
    }
  }

  #down(reason: string): void {
    if (this.#redisDown || this.#closing) return;
    this.#redisDown = true;
    this.#onEvent({ type: 'redis-unavailable', reason });
  }

  /** Tells the coordinator about a connection: `c` connected, `l` lost, `f` a frame. */
  async #announce(kind: 'c' | 'l' | 'f', id: string, conn: string, bytes?: Uint8Array): Promise<void> {
    const args: (string | Buffer)[] = ['t', kind, 'f', this.front, 'c', conn, 'i', id];
    if (bytes !== undefined) args.push('b', Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    try {
      await this.#redis.client.xadd(this.#keys.inbound, 'MAXLEN', '~', this.#inboundMaxLen, '*', ...args);
    } catch {
      // The frame is lost with Redis; the coordinator aborts the round (deadline or its own outage).
      this.#down('forwarding to the coordinator failed');
    }
  }

  #deliver(entries: readonly StreamEntry[]): void {
    for (const e of entries) {
      const bytes = e.fields.get('b');
      const close = text(e, 'x');
      for (const conn of text(e, 'c').split(',')) {
        const c = this.#byConn.get(conn);
        if (c === undefined || !c.open) continue;
        if (bytes !== undefined && c.socket.readyState === c.socket.OPEN) c.socket.send(bytes);
        if (close !== '') {
          c.open = false;
          c.socket.close(CLOSE_POLICY, close.slice(0, 100));
        }
      }
    }
  }

  #accept(socket: WebSocket, tcp: Socket): void {
    const conn: Connection = { socket, conn: String(++this.#seq), id: null, open: true };
    socket.on('message', (data, isBinary) => {
      if (!conn.open) return;
      const bytes = isBinary ? toBytes(data) : null;
      if (conn.id === null) {
        if (this.#pending.isWaiting(tcp)) void this.#hello(conn, tcp, bytes);
      } else this.#receive(conn, bytes);
    });
    socket.on('close', (code) => this.#closed(conn, code));
    socket.on('error', () => {});
  }

  async #hello(conn: Connection, tcp: Socket, bytes: Uint8Array | null): Promise<void> {
    const refuse = (code: string, reason: string): void => {
      conn.open = false;
      this.#pending.refuse(tcp, code, reason);
    };
    const hello = checkHello(bytes, this.#registry);
    if (!hello.ok) {
      conn.open = false;
      this.#pending.refuse(tcp, hello.code, hello.reason, hello.detail);
      return;
    }
    const id = hello.clientId;
    let until: string | null = null;
    try {
      until = await this.#redis.client.hget(this.#keys.banned, id);
    } catch {
      refuse('SMPC_SERVER_BUSY', 'the aggregation service is unavailable (Redis): retry shortly');
      return;
    }
    if (until !== null && Number(until) > Date.now()) {
      refuse('SMPC_CLIENT_BANNED', 'this client is banned: a round aborted on its messages');
      return;
    }
    if (!conn.open || !this.#pending.isWaiting(tcp)) return;
    // A connect and its later loss are two entries in Redis: a reconnect flood spends the bucket too.
    if (!this.#spend(id, 2)) {
      refuse('SMPC_SERVER_BUSY', 'this client connects too often: wait a few seconds and connect again');
      return;
    }
    this.#pending.authenticated(tcp);
    const previous = this.#byId.get(id);
    if (previous !== undefined) {
      previous.open = false;
      previous.socket.close(CLOSE_REPLACED, 'replaced by a new connection');
      this.#forget(previous);
    }
    conn.id = id;
    this.#byConn.set(conn.conn, conn);
    this.#byId.set(id, conn);
    conn.socket.send(encodeFrame({ kind: 'welcome', clientId: id, maxFrameBytes: this.#maxFrameBytes }));
    try {
      await this.#redis.client.hset(this.#keys.clients, id, `${this.front}/${conn.conn}`);
    } catch {
      this.#down('listing a client failed');
    }
    await this.#announce('c', id, conn.conn);
    this.#onEvent({ type: 'client-connected', clientId: id });
  }

  #receive(conn: Connection, bytes: Uint8Array | null): void {
    const id = conn.id as string;
    let frame: Frame;
    try {
      if (bytes === null) throw new SmpcError('SMPC_FRAME_MALFORMED', 'text frames are not accepted');
      frame = decodeFrame(bytes, { maxFrameBytes: this.#maxFrameBytes });
    } catch (e) {
      const code = e instanceof SmpcError ? e.code : 'SMPC_FRAME_MALFORMED';
      conn.socket.send(encodeFrame({ kind: 'error', code, message: 'undecodable frame' }));
      conn.socket.close(CLOSE_POLICY, code);
      return;
    }
    // Only what the coordinator acts on is forwarded; the rest a client may not send.
    if (frame.kind !== 'join' && frame.kind !== 'decline' && frame.kind !== 'protocol') return;
    if (!this.#spend(id, 1)) {
      conn.open = false;
      conn.socket.send(
        encodeFrame({
          kind: 'error',
          code: 'SMPC_SERVER_BUSY',
          message: `more than ${this.#burst} frames at once (${this.#rate} per second after): slow down`,
        }),
      );
      conn.socket.close(CLOSE_POLICY, 'SMPC_SERVER_BUSY');
      return;
    }
    void this.#announce('f', id, conn.conn, bytes);
  }

  /** Takes `cost` tokens from client `id`'s bucket; false (nothing taken) when it has too few. */
  #spend(id: string, cost: number): boolean {
    const now = Date.now();
    const bucket = this.#buckets.get(id) ?? { tokens: this.#burst, at: now };
    bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.at) * this.#rate) / 1000);
    bucket.at = now;
    this.#buckets.set(id, bucket);
    if (bucket.tokens < cost) return false;
    bucket.tokens -= cost;
    return true;
  }

  #closed(conn: Connection, code: number): void {
    conn.open = false;
    if (conn.id === null || this.#byConn.get(conn.conn) !== conn) return;
    this.#forget(conn);
    this.#onEvent({ type: 'client-disconnected', clientId: conn.id, code });
  }

  #forget(conn: Connection): void {
    const id = conn.id as string;
    this.#byConn.delete(conn.conn);
    if (this.#byId.get(id) === conn) this.#byId.delete(id);
    const value = `${this.front}/${conn.conn}`;
    void this.#redis.client
      .eval(
        "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0",
        1,
        this.#keys.clients,
        id,
        value,
      )
      .catch(() => {});
    void this.#announce('l', id, conn.conn);
  }

  /** Stops: closes every connection, removes the heartbeat (its clients count as gone at once). */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#heartbeat);
    this.#pending.destroyAll();
    for (const c of [...this.#byConn.values()]) {
      c.open = false;
      c.socket.close(CLOSE_GOING_AWAY, 'front closing');
      this.#forget(c);
    }
    await this.#reader.stop();
    await this.#redis.client.del(this.#keys.front(this.front)).catch(() => {});
    await closeWebSocket({ http: this.#http, wss: this.#wss });
  }
}
