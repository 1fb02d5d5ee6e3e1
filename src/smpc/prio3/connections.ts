/**
 * The transport of a Prio3 aggregator (Node): the HTTP server and WebSocket upgrade, the pool of
 * connections waiting to authenticate (SecAgg+'s {@link PendingConnections}: hello deadline,
 * pre-authentication byte limit, eviction), the hello check (`auth.ts`), one authenticated
 * connection per id, and sending Prio3 messages in `protocol` frames. Each authenticated
 * connection's frames are handed to the owner one at a time, in order.
 *
 * Deliberately not here: what the messages mean (`server.ts`, `helper.ts`), TLS.
 *
 * @module
 */

import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { SmpcError } from '../errors.ts';
import { type ClientRegistry, MAX_HEADER_BYTES, PendingConnections } from '../transport/connections.ts';
import { encodeFrame } from '../transport/frames.ts';
import { authenticateHello } from './auth.ts';
import { encodePrio3Message, type Prio3Message } from './codec.ts';

/** One authenticated connection (its id is set once the hello passed). */
export interface Prio3Conn {
  readonly socket: WebSocket;
  id: string | null;
}

/** What the owner of the connections is told. */
export interface Prio3ConnectionHandlers {
  /** A connection authenticated as `conn.id` (after its welcome). */
  readonly onAuthenticated: (conn: Prio3Conn) => void;
  /** A frame from an authenticated connection (null: not a binary frame). */
  readonly onFrame: (conn: Prio3Conn, bytes: Uint8Array | null) => Promise<void>;
  /** An authenticated connection closed (out of the map, unless a newer one replaced it there). */
  readonly onClosed: (conn: Prio3Conn) => void;
  /** A connection was refused before or at its hello. */
  readonly onRefused: (code: string, reason: string) => void;
}

function toBytes(data: unknown): Uint8Array | null {
  if (data instanceof Uint8Array) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return null;
}

/** The listening side of one aggregator. */
export class Prio3Connections {
  readonly url: string;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #registry: ClientRegistry;
  readonly #pending: PendingConnections;
  readonly #maxFrameBytes: number;
  readonly #handlers: Prio3ConnectionHandlers;
  readonly #connected = new Map<string, Prio3Conn>();
  #closing = false;

  private constructor(
    url: string,
    http: Server,
    wss: WebSocketServer,
    registry: ClientRegistry,
    pending: PendingConnections,
    maxFrameBytes: number,
    handlers: Prio3ConnectionHandlers,
  ) {
    this.url = url;
    this.#http = http;
    this.#wss = wss;
    this.#registry = registry;
    this.#pending = pending;
    this.#maxFrameBytes = maxFrameBytes;
    this.#handlers = handlers;
    http.on('connection', (tcp: Socket) => {
      if (this.#closing) tcp.destroy();
      else this.#pending.admit(tcp);
    });
    http.on('upgrade', (req, tcp: Socket, head: Buffer) => {
      if (this.#closing || !this.#pending.isWaiting(tcp)) {
        tcp.destroy();
        return;
      }
      wss.handleUpgrade(req, tcp, head, (socket) => {
        this.#pending.upgraded(tcp, socket);
        this.#accept(socket, tcp);
      });
    });
  }

  /**
   * Binds `host:port` (arguments already validated by the caller).
   *
   * @throws {SmpcError} `SMPC_CONNECTION_CLOSED` when the port cannot be bound.
   */
  static async listen(init: {
    readonly host: string;
    readonly port: number;
    readonly maxFrameBytes: number;
    readonly helloTimeoutMs: number;
    readonly maxPending: number;
    readonly registry: ClientRegistry;
    readonly handlers: Prio3ConnectionHandlers;
  }): Promise<Prio3Connections> {
    const { host, port } = init;
    const http = createHttpServer({ maxHeaderSize: MAX_HEADER_BYTES }, (_req, res) => {
      res
        .writeHead(426, { 'content-type': 'text/plain', connection: 'close' })
        .end('this endpoint speaks WebSocket only\n');
    });
    const wss = new WebSocketServer({ noServer: true, maxPayload: init.maxFrameBytes });
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
    const pending = new PendingConnections({
      maxPending: init.maxPending,
      helloTimeoutMs: init.helloTimeoutMs,
      onRefused: init.handlers.onRefused,
    });
    return new Prio3Connections(
      `ws://${shownHost}:${address.port}`,
      http,
      wss,
      init.registry,
      pending,
      init.maxFrameBytes,
      init.handlers,
    );
  }

  get maxFrameBytes(): number {
    return this.#maxFrameBytes;
  }

  /** The authenticated connections by id. */
  get connected(): ReadonlyMap<string, Prio3Conn> {
    return this.#connected;
  }

  /** Sends one Prio3 message of a round (dropped when the socket is no longer open). */
  send(conn: Prio3Conn, roundId: string, session: Uint8Array, message: Prio3Message): void {
    if (conn.socket.readyState !== conn.socket.OPEN) return;
    conn.socket.send(
      encodeFrame({ kind: 'protocol', roundId, session, message: encodePrio3Message(message) }),
    );
  }

  /** Sends a coded error frame and closes the connection with a policy violation. */
  refuse(conn: Prio3Conn, code: string, message: string): void {
    if (conn.socket.readyState === conn.socket.OPEN)
      conn.socket.send(encodeFrame({ kind: 'error', code, message }));
    conn.socket.close(1008, code);
  }

  #accept(socket: WebSocket, tcp: Socket): void {
    const conn: Prio3Conn = { socket, id: null };
    let queue = Promise.resolve();
    socket.on('message', (data, isBinary) => {
      const bytes = isBinary ? toBytes(data) : null;
      if (conn.id === null) {
        if (this.#pending.isWaiting(tcp)) this.#hello(conn, tcp, bytes);
        return;
      }
      // One message at a time per connection, in order (the handlers await the VDAF).
      queue = queue.then(() => this.#handlers.onFrame(conn, bytes));
    });
    socket.on('close', () => {
      if (conn.id === null) return;
      if (this.#connected.get(conn.id) === conn) this.#connected.delete(conn.id);
      this.#handlers.onClosed(conn);
    });
    socket.on('error', () => {});
  }

  #hello(conn: Prio3Conn, tcp: Socket, bytes: Uint8Array | null): void {
    const outcome = authenticateHello(this.#registry, bytes);
    if (!outcome.ok) {
      this.#pending.refuse(tcp, outcome.code, outcome.reason);
      return;
    }
    this.#pending.authenticated(tcp);
    const previous = this.#connected.get(outcome.clientId);
    if (previous !== undefined) previous.socket.close(4000, 'replaced by a new connection');
    conn.id = outcome.clientId;
    this.#connected.set(outcome.clientId, conn);
    conn.socket.send(
      encodeFrame({ kind: 'welcome', clientId: outcome.clientId, maxFrameBytes: this.#maxFrameBytes }),
    );
    this.#handlers.onAuthenticated(conn);
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
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
}
