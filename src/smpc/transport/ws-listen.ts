/**
 * Binding a WebSocket endpoint to `node:http` the way the aggregation server (`ws-server.ts`) and
 * the cluster's fronts (`cluster/front.ts`) do: a plain HTTP request gets 426, upgrades are handed
 * to `ws` by hand (`noServer`) only for connections still waiting in the pending pool
 * (`connections.ts`), frames above `maxFrameBytes` are refused by `ws` itself (`maxPayload`), and
 * closing gives connections two seconds before they are cut. Node only.
 *
 * Deliberately not here: authentication and anything about rounds.
 *
 * @module
 */

import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { SmpcError } from '../errors.ts';
import { MAX_HEADER_BYTES, type PendingConnections } from './connections.ts';

/** WebSocket close codes (RFC 6455 §7.4.1, and 4000–4999 for applications). */
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_POLICY = 1008;
export const CLOSE_REPLACED = 4000;

/** A listening HTTP server with its WebSocket endpoint. */
export interface BoundWebSocket {
  readonly http: Server;
  readonly wss: WebSocketServer;
  /** `ws://host:port` as bound (IPv6 hosts in brackets). */
  readonly url: string;
}

/**
 * Listens on `host:port` (0: any free port).
 *
 * @throws {SmpcError} `SMPC_CONNECTION_CLOSED` when the port cannot be bound.
 */
export async function listenWebSocket(
  host: string,
  port: number,
  maxFrameBytes: number,
): Promise<BoundWebSocket> {
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
  return { http, wss, url: `ws://${shownHost}:${address.port}` };
}

/**
 * Puts every TCP connection in `pending` from its accept, before its upgrade request is even read,
 * and upgrades only those still waiting; `accept` gets each upgraded WebSocket.
 */
export function admitThroughPool(
  bound: BoundWebSocket,
  pending: PendingConnections,
  isClosing: () => boolean,
  accept: (socket: WebSocket, tcp: Socket) => void,
): void {
  bound.http.on('connection', (tcp: Socket) => {
    if (isClosing()) tcp.destroy();
    else pending.admit(tcp);
  });
  bound.http.on('upgrade', (req, tcp: Socket, head: Buffer) => {
    if (isClosing() || !pending.isWaiting(tcp)) {
      tcp.destroy();
      return;
    }
    bound.wss.handleUpgrade(req, tcp, head, (socket) => {
      pending.upgraded(tcp, socket);
      accept(socket, tcp);
    });
  });
}

/** Stops listening once `ws` has closed; connections still open after two seconds are cut. */
export function closeWebSocket(bound: Pick<BoundWebSocket, 'http' | 'wss'>): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      for (const c of bound.wss.clients) c.terminate();
    }, 2_000);
    bound.wss.close(() => {
      bound.http.close(() => {
        clearTimeout(timer);
        resolve();
      });
      bound.http.closeAllConnections();
    });
  });
}

/** The bytes of a binary `ws` message (a Buffer, an ArrayBuffer, or fragments). */
export function toBytes(data: unknown): Uint8Array {
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
