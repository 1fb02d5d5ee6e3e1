/**
 * The options of the WebSocket aggregation server (`ws-server.ts`) and their validation, done once
 * in `AggregationServer.listen` before anything is bound or loaded. Node only (the store and the
 * registry are the server's).
 *
 * Deliberately not here: the options of one round (`round-types.ts`, `checkRoundOptions`).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertInteger, assertString } from '../../internal/assert.ts';
import { DEFAULT_MAX_ROUND_MEMORY_BYTES } from '../estimate.ts';
import {
  ClientRegistry,
  DEFAULT_HELLO_TIMEOUT_MS,
  DEFAULT_MAX_PENDING_CONNECTIONS,
  type RegisteredClient,
} from './connections.ts';
import { DEFAULT_MAX_FRAME_BYTES } from './frames.ts';
import type { AggregationEvent } from './round-types.ts';
import { MemoryRoundStore, type RoundStore } from './store.ts';
import { MAX_UNMASK_WORKERS } from './unmask-pool.ts';

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

/** The options every WebSocket endpoint of the service takes (the server and the cluster fronts). */
export interface EndpointOptions {
  readonly host?: string;
  readonly port?: number;
  readonly maxFrameBytes?: number;
  readonly helloTimeoutMs?: number;
  readonly maxPendingConnections?: number;
}

/**
 * Checks {@link EndpointOptions} and fills in their defaults (`127.0.0.1`, any free port, the
 * default frame size, hello deadline and pending pool).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` naming the first invalid option.
 */
export function checkEndpointOptions(options: EndpointOptions): {
  host: string;
  port: number;
  maxFrameBytes: number;
  helloTimeoutMs: number;
  maxPending: number;
} {
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
  return { host, port, maxFrameBytes, helloTimeoutMs, maxPending };
}

/** {@link AggregationServerOptions} checked, with their defaults. */
export interface CheckedServerOptions {
  readonly host: string;
  readonly port: number;
  readonly maxFrameBytes: number;
  readonly helloTimeoutMs: number;
  readonly maxPending: number;
  readonly maxMemoryBytes: number;
  readonly banMs: number;
  readonly unmaskWorkers: number;
  readonly registered: ClientRegistry;
  readonly store: RoundStore;
  /** `onEvent`, made safe: a throwing callback is ignored. */
  readonly onEvent: (event: AggregationEvent) => void;
}

/**
 * Checks the options of `AggregationServer.listen`.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` naming the first invalid option.
 */
export function checkServerOptions(options: AggregationServerOptions): CheckedServerOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'options must be an object');
  }
  const { host, port, maxFrameBytes, helloTimeoutMs, maxPending } = checkEndpointOptions(options);
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
  return {
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
  };
}
