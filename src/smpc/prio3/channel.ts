/**
 * One authenticated WebSocket to a Prio3 aggregator, from a client or from the leader to the
 * helper: the SecAgg+ frames of `transport/frames.ts` (`hello` → `welcome`, then `protocol`
 * frames carrying the Prio3 messages of `codec.ts`, `error` frames for coded refusals), with the
 * same authentication (client id and bearer token) and frame-size limit. Browser-safe: takes any
 * standard `WebSocket` constructor.
 *
 * Deliberately not here: reconnection and retries (a lost connection fails the round for this
 * participant), and round logic.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertInteger, assertString } from '../../internal/assert.ts';
import { SMPC_ERROR_CODES, SmpcError, type SmpcErrorCode } from '../errors.ts';
import {
  DEFAULT_MAX_FRAME_BYTES,
  decodeFrame,
  encodeFrame,
  SESSION_TAG_LENGTH,
} from '../transport/frames.ts';
import type { WebSocketConstructor, WebSocketLike } from '../transport/ws-client.ts';
import { decodePrio3Message, encodePrio3Message, type Prio3Kind, type Prio3Message } from './codec.ts';

/** A Prio3 message received in a round. */
export interface Prio3Envelope {
  readonly roundId: string;
  readonly session: Uint8Array;
  readonly message: Prio3Message;
}

/** Options of {@link Prio3Channel.connect}. */
export interface Prio3ChannelOptions {
  readonly url: string;
  readonly id: string;
  readonly token: string;
  /** Default `globalThis.WebSocket`. */
  readonly WebSocket?: WebSocketConstructor;
  /** Default 30 000 ms. */
  readonly connectTimeoutMs?: number;
  /** Default {@link DEFAULT_MAX_FRAME_BYTES}. */
  readonly maxFrameBytes?: number;
}

const OPEN = 1;

function toBytes(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (data instanceof Uint8Array) return data;
  return null;
}

function asCode(code: string): SmpcErrorCode {
  return (SMPC_ERROR_CODES as readonly string[]).includes(code)
    ? (code as SmpcErrorCode)
    : 'SMPC_CONNECTION_CLOSED';
}

/** An authenticated connection carrying Prio3 messages. */
export class Prio3Channel {
  readonly url: string;
  readonly #socket: WebSocketLike;
  readonly #maxFrameBytes: number;
  readonly #queue: Prio3Envelope[] = [];
  #waiter: (() => void) | null = null;
  #failure: SmpcError | null = null;

  private constructor(url: string, socket: WebSocketLike, maxFrameBytes: number) {
    this.url = url;
    this.#socket = socket;
    this.#maxFrameBytes = maxFrameBytes;
  }

  /**
   * Connects and authenticates.
   *
   * @throws {SmpcError} the server's refusal code (`SMPC_UNAUTHENTICATED`, `SMPC_SERVER_BUSY`, …),
   *   `SMPC_TIMEOUT`, or `SMPC_CONNECTION_CLOSED`.
   */
  static async connect(options: Prio3ChannelOptions): Promise<Prio3Channel> {
    if (typeof options !== 'object' || options === null)
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'options must be an object');
    const url = assertString(options.url, 'url', 2048);
    if (!/^wss?:\/\//.test(url))
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'url must start with ws:// or wss://', {
        fields: ['url'],
      });
    const id = assertString(options.id, 'id', 256);
    const token = assertString(options.token, 'token', 512);
    const timeoutMs =
      options.connectTimeoutMs === undefined
        ? 30_000
        : assertInteger(options.connectTimeoutMs, 'connectTimeoutMs', 1, 3_600_000);
    const maxFrameBytes =
      options.maxFrameBytes === undefined
        ? DEFAULT_MAX_FRAME_BYTES
        : assertInteger(options.maxFrameBytes, 'maxFrameBytes', 1024, 2 ** 30);
    const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (Ctor === undefined)
      throw new SmpcError('SMPC_BACKEND_UNAVAILABLE', 'no WebSocket constructor: pass options.WebSocket');
    const socket = new Ctor(url);
    socket.binaryType = 'arraybuffer';
    const channel = new Prio3Channel(url, socket, maxFrameBytes);
    await new Promise<void>((resolve, reject) => {
      let welcomed = false;
      const timer = setTimeout(() => {
        reject(new SmpcError('SMPC_TIMEOUT', `no welcome from ${url} within ${timeoutMs} ms`));
        socket.close(1000, 'timeout');
      }, timeoutMs);
      socket.addEventListener('open', () => socket.send(encodeFrame({ kind: 'hello', clientId: id, token })));
      socket.addEventListener('message', (event) => {
        const bytes = toBytes(event.data);
        let frame: ReturnType<typeof decodeFrame>;
        try {
          if (bytes === null) throw new SmpcError('SMPC_FRAME_MALFORMED', 'text frames are not accepted');
          frame = decodeFrame(bytes, { maxFrameBytes });
        } catch (e) {
          channel.#fail(
            e instanceof SmpcError ? e : new SmpcError('SMPC_FRAME_MALFORMED', 'unreadable frame'),
          );
          socket.close(1008, 'malformed frame');
          return;
        }
        if (frame.kind === 'welcome' && !welcomed) {
          welcomed = true;
          clearTimeout(timer);
          resolve();
        } else if (frame.kind === 'error') {
          const error = new SmpcError(asCode(frame.code), `${url}: ${frame.message}`);
          channel.#fail(error);
          if (!welcomed) {
            clearTimeout(timer);
            reject(error);
          }
        } else if (frame.kind === 'protocol' && welcomed) {
          try {
            channel.#push({
              roundId: frame.roundId,
              session: frame.session,
              message: decodePrio3Message(frame.message),
            });
          } catch (e) {
            channel.#fail(e as SmpcError);
            socket.close(1008, 'malformed message');
          }
        }
      });
      socket.addEventListener('close', (event) => {
        channel.#fail(
          new SmpcError(
            'SMPC_CONNECTION_CLOSED',
            `${url} closed the connection (${event.code}${event.reason ? ` ${event.reason}` : ''})`,
          ),
        );
        if (!welcomed) {
          clearTimeout(timer);
          reject(channel.#failure);
        }
      });
      socket.addEventListener('error', () => {});
    });
    return channel;
  }

  #push(envelope: Prio3Envelope): void {
    this.#queue.push(envelope);
    this.#waiter?.();
  }

  #fail(error: SmpcError): void {
    if (this.#failure === null) this.#failure = error;
    this.#waiter?.();
  }

  /** Sends one Prio3 message of a round. */
  send(roundId: string, session: Uint8Array, message: Prio3Message): void {
    if (this.#failure !== null) throw this.#failure;
    if (this.#socket.readyState !== OPEN)
      throw new SmpcError('SMPC_CONNECTION_CLOSED', `${this.url} is not open`);
    if (session.length !== SESSION_TAG_LENGTH)
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'session must be 16 bytes');
    const bytes = encodeFrame({ kind: 'protocol', roundId, session, message: encodePrio3Message(message) });
    if (bytes.length > this.#maxFrameBytes) {
      throw new SmpcError(
        'SMPC_FRAME_TOO_LARGE',
        `a ${message.kind} of ${bytes.length} bytes exceeds the ${this.#maxFrameBytes}-byte frame limit`,
      );
    }
    this.#socket.send(bytes);
  }

  /**
   * The next message (of one of `kinds`, others are dropped), waiting at most `timeoutMs`.
   *
   * @throws {SmpcError} `SMPC_TIMEOUT`, the peer's `error` code, or `SMPC_CONNECTION_CLOSED`.
   */
  async next(kinds: readonly Prio3Kind[], timeoutMs: number): Promise<Prio3Envelope> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#queue.length > 0) {
        const e = this.#queue.shift() as Prio3Envelope;
        if (e.message.kind === 'abort') {
          const code = typeof e.message.header.code === 'string' ? e.message.header.code : 'SMPC_ABORTED';
          const reason = typeof e.message.header.reason === 'string' ? e.message.header.reason : 'aborted';
          throw new SmpcError(asCode(code), `${this.url} aborted round ${e.roundId}: ${reason}`);
        }
        if (kinds.includes(e.message.kind)) return e;
      }
      if (this.#failure !== null) throw this.#failure;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new SmpcError('SMPC_TIMEOUT', `no ${kinds.join('/')} from ${this.url} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = null;
    }
  }

  /** Closes the connection. */
  close(): void {
    this.#failure ??= new SmpcError('SMPC_CONNECTION_CLOSED', 'closed by this side');
    this.#socket.close(1000, 'done');
  }

  /** Same as {@link close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
