/**
 * Transports carry encoded protocol messages between the server and clients; the state machines
 * never see them. This file defines the adapter interface and the in-memory implementation used
 * by tests and the simulator. Every message is encoded on send — in the binary wire format of
 * `wire.ts` by default, or as JSON (`codec.ts`) for debugging — and decoded on receipt, so a run
 * in memory exercises exactly the serialised form a network transport would carry, and the
 * transport can count the bytes each party sends.
 *
 * Deliberately not here: network transports (the WebSocket transport is `src/smpc/transport/`), retries, ordering
 * guarantees beyond FIFO per recipient, authentication of senders.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { SmpcError } from '../errors.ts';
import { decodeJson, encodeJson } from './codec.ts';
import { decodeMessage, encodeMessage } from './wire.ts';

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
  /** Set when the bytes did not decode (then `message` is null). */
  readonly error?: SmpcError;
}

/** What the protocol drivers need from a transport. */
export interface Transport {
  /** Queues `message` from `from` to `to`. */
  send(from: string, to: string, message: unknown): void;
  /** Removes and returns every message queued for `to`, in arrival order. */
  receive(to: string): Delivery[];
}

/** How {@link InMemoryTransport} encodes messages: the binary wire format (default) or JSON. */
export type WireEncoding = 'binary' | 'json';

/** Options of {@link InMemoryTransport}. */
export interface InMemoryTransportOptions {
  /** `binary` (default, `wire.ts`) or `json` (`codec.ts`, for debugging). */
  readonly encoding?: WireEncoding;
}

/**
 * An in-memory, FIFO-per-recipient transport that serialises every message and counts the bytes
 * each sender sent. Bytes that do not decode are delivered as `{ message: null, error }`, which
 * every state machine refuses as malformed (the server excludes that sender): hostile bytes never
 * reach a state machine as anything but a refusal.
 *
 * @example
 * ```ts
 * const net = new InMemoryTransport();
 * net.send('a', SERVER_ADDRESS, { v: 1, type: 'advertise', ... });
 * net.receive(SERVER_ADDRESS); // [{ from: 'a', message: {...} }]
 * ```
 */
export class InMemoryTransport implements Transport {
  readonly encoding: WireEncoding;
  readonly #queues = new Map<string, { from: string; data: Uint8Array | string }[]>();
  readonly #sent = new Map<string, number>();
  /** Encodings of message objects already sent (broadcasts share one object): encode once. */
  readonly #encoded = new WeakMap<object, { data: Uint8Array | string; bytes: number }>();

  constructor(options: InMemoryTransportOptions = {}) {
    const encoding = options.encoding ?? 'binary';
    if (encoding !== 'binary' && encoding !== 'json') {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'encoding must be "binary" or "json"');
    }
    this.encoding = encoding;
  }

  send(from: string, to: string, message: unknown): void {
    let encoded = typeof message === 'object' && message !== null ? this.#encoded.get(message) : undefined;
    if (encoded === undefined) {
      if (this.encoding === 'binary') {
        const data = encodeMessage(message);
        encoded = { data, bytes: data.length };
      } else {
        const data = encodeJson(message);
        encoded = { data, bytes: utf8Length(data) };
      }
      if (typeof message === 'object' && message !== null) this.#encoded.set(message, encoded);
    }
    this.#enqueue(from, to, encoded.data, encoded.bytes);
  }

  /** Queues already-encoded (possibly hostile) bytes or text, as a network would deliver them. */
  sendRaw(from: string, to: string, data: Uint8Array | string): void {
    this.#enqueue(from, to, data, typeof data === 'string' ? utf8Length(data) : data.length);
  }

  #enqueue(from: string, to: string, data: Uint8Array | string, bytes: number): void {
    const queue = this.#queues.get(to) ?? [];
    queue.push({ from, data });
    this.#queues.set(to, queue);
    this.#sent.set(from, (this.#sent.get(from) ?? 0) + bytes);
  }

  receive(to: string): Delivery[] {
    const queue = this.#queues.get(to) ?? [];
    this.#queues.set(to, []);
    return queue.map(({ from, data }) => {
      try {
        return { from, message: typeof data === 'string' ? decodeJson(data) : decodeMessage(data) };
      } catch (cause) {
        const error =
          cause instanceof SmpcError
            ? cause
            : new SmpcError('SMPC_MALFORMED_MESSAGE', 'undecodable message', { cause });
        return { from, message: null, error };
      }
    });
  }

  /** Bytes sent so far by `address` (binary length, or UTF-8 length of the JSON). */
  bytesSent(address: string): number {
    return this.#sent.get(address) ?? 0;
  }
}
