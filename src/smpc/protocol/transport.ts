/**
 * Transports carry encoded protocol messages between the server and clients; the state machines
 * never see them. This file defines the adapter interface and the in-memory implementation used
 * by tests and the simulator. Every message is encoded with `encodeJson` on send and decoded on
 * receipt, so a run in memory exercises exactly the serialised form a network transport would
 * carry, and the transport can count the bytes each party sends.
 *
 * Deliberately not here: network transports (WebSocket, HTTP; the next issue), retries, ordering
 * guarantees beyond FIFO per recipient, authentication of senders.
 *
 * @module
 */

import { decodeJson, encodeJson } from './codec.ts';

/** UTF-8 length of a string, without allocating an encoded copy. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** The server's address on every transport. */
export const SERVER_ADDRESS = '@server';

/** A delivered message: sender address and the decoded (still unvalidated) payload. */
export interface Delivery {
  readonly from: string;
  readonly message: unknown;
}

/** What the protocol drivers need from a transport. */
export interface Transport {
  /** Queues `message` from `from` to `to`. */
  send(from: string, to: string, message: unknown): void;
  /** Removes and returns every message queued for `to`, in arrival order. */
  receive(to: string): Delivery[];
}

/**
 * An in-memory, FIFO-per-recipient transport that serialises every message and counts the bytes
 * each sender sent.
 *
 * @example
 * ```ts
 * const net = new InMemoryTransport();
 * net.send('a', SERVER_ADDRESS, { v: 1, type: 'advertise', ... });
 * net.receive(SERVER_ADDRESS); // [{ from: 'a', message: {...} }]
 * ```
 */
export class InMemoryTransport implements Transport {
  readonly #queues = new Map<string, { from: string; data: string }[]>();
  readonly #sent = new Map<string, number>();
  /** Encodings of message objects already sent (broadcasts share one object): encode once. */
  readonly #encoded = new WeakMap<object, { data: string; bytes: number }>();

  send(from: string, to: string, message: unknown): void {
    let encoded = typeof message === 'object' && message !== null ? this.#encoded.get(message) : undefined;
    if (encoded === undefined) {
      const data = encodeJson(message);
      encoded = { data, bytes: utf8Length(data) };
      if (typeof message === 'object' && message !== null) this.#encoded.set(message, encoded);
    }
    const queue = this.#queues.get(to) ?? [];
    queue.push({ from, data: encoded.data });
    this.#queues.set(to, queue);
    this.#sent.set(from, (this.#sent.get(from) ?? 0) + encoded.bytes);
  }

  receive(to: string): Delivery[] {
    const queue = this.#queues.get(to) ?? [];
    this.#queues.set(to, []);
    return queue.map(({ from, data }) => ({ from, message: decodeJson(data) }));
  }

  /** Bytes sent so far by `address` (UTF-8 length of the encoded messages). */
  bytesSent(address: string): number {
    return this.#sent.get(address) ?? 0;
  }
}
