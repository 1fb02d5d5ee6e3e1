/**
 * The inference server's options, their defaults, and the one function that checks them before
 * anything starts. Every limit is a plain number here so the CLI, tests and embedders set the same
 * knobs.
 *
 * Defaults are sized for one machine serving a few hundred clients: 32 MiB per upload (a full
 * 4096-row batch of the 30-feature demo model is about 3 MiB; Galois keys for the single layout
 * at N = 8192 about 1.7 MiB), 256 key sets in all and 16 per principal within 1 GiB of estimated
 * key-set memory, 64 scoring requests in flight and 8 body uploads per principal, 256 MiB of
 * request bodies in flight in all and 64 MiB per principal, 600 requests per minute per
 * principal, 10 s to send the headers, uploads no slower than 16 KiB/s after a 5 s grace, two
 * minutes to receive a whole request, 30 s of socket silence. The worst-case memory these bound is
 * stated in README.md ("Memory bound of he serve").
 *
 * Deliberately not here: reading files or the environment (the CLI does), the HTTP framework.
 *
 * @module
 */

import { HeError } from '../errors.ts';
import type { LinearModel, WeightBounds } from '../he/model.ts';
import type { PrivateKey, ReceiptLog } from '../provenance/sign.ts';
import type { Authenticator } from './auth.ts';
import type { ScoringBackend } from './backend.ts';
import type { RedisServerOptions } from './redis/index.ts';
import type { RequestLogOptions } from './request-log.ts';

/** A request-rate limit: at most `max` requests per `windowMs` per principal. */
export interface RateLimit {
  readonly max: number;
  readonly windowMs: number;
}

/** Options of {@link createInferenceServer}. */
export interface InferenceServerOptions {
  /** The models to serve, by id (`[A-Za-z0-9._-]`, 1 to 64 characters). */
  readonly models: Readonly<Record<string, LinearModel>>;
  /** Where scoring runs (default: in-process, one `HeServer` per key set and model). The server closes it. */
  readonly backend?: ScoringBackend;
  /**
   * Keep the key sets in Redis, shared by every replica given the same Redis and prefix, and
   * optionally queue large batches for `confide he worker` processes (default: in this process's
   * memory only). See `src/server/redis/`.
   */
  readonly redis?: RedisServerOptions;
  /** Accepted bearer tokens / API keys; each names a principal. */
  readonly tokens?: readonly string[];
  /**
   * Weight bounds to list in `GET /v1/models` instead of the models' own (their powers of two
   * above the L1 norm and |intercept|), so clients do not learn those: a ceiling the operator
   * chooses, at least every served model's true bounds (refused otherwise). Larger bounds plan
   * larger parameters.
   */
  readonly weightBoundCeiling?: WeightBounds;
  /** A custom authenticator instead of `tokens`. */
  readonly authenticate?: Authenticator;
  /** Serve without authentication (every client is the principal `anonymous`). Off by default. */
  readonly allowUnauthenticated?: boolean;
  /** Largest evaluation-key upload in bytes (default 32 MiB). */
  readonly maxKeyBytes?: number;
  /** Largest encrypted-batch upload in bytes (default 32 MiB). */
  readonly maxBatchBytes?: number;
  /** Scoring requests in flight (receiving, queued or scoring) beyond which the server answers 503 (default 64). */
  readonly maxConcurrency?: number;
  /** Per-principal request rate on `/v1/*`, or `false` for none (default 600 per minute). */
  readonly rateLimit?: RateLimit | false;
  /**
   * Request-body bytes in flight in all (default 256 MiB): each upload reserves its declared
   * `Content-Length` before a byte is read (chunked uploads reserve as bytes arrive); beyond it the
   * server answers 503 `HE_SERVER_BUSY` with `Retry-After` without reading the body.
   */
  readonly maxBytesInFlight?: number;
  /** Request-body bytes in flight per principal (default 64 MiB), reserved the same way. */
  readonly maxBytesInFlightPerPrincipal?: number;
  /** Body uploads (key registrations and scoring) in flight per principal (default 8). */
  readonly maxConcurrencyPerPrincipal?: number;
  /**
   * Slowest accepted upload, bytes per second averaged since the body started (default 16 KiB/s);
   * a slower body is cut with 408 `HE_REQUEST_TIMEOUT` once {@link InferenceServerOptions.uploadGraceMs} has passed.
   */
  readonly minUploadBytesPerSecond?: number;
  /** Time an upload may take before the minimum rate applies (default 5 s). */
  readonly uploadGraceMs?: number;
  /** Time to receive the request headers (default 10 s; Node's `server.headersTimeout`). */
  readonly headersTimeoutMs?: number;
  /** Open connections in all (default 1024; Node's `server.maxConnections`); beyond it new sockets are closed. */
  readonly maxConnections?: number;
  /**
   * Estimated memory of the key sets held (default 1 GiB), from their parameters (see
   * `keySetMemoryBytes` in registry.ts); beyond it the least recently used idle key sets are evicted.
   */
  readonly maxKeySetBytes?: number;
  /**
   * Largest polynomial modulus degree N accepted in evaluation keys (default 32768: all; 4096,
   * 8192, 16384 or 32768). Larger key sets are refused at registration with 422 `HE_PARAMETERS_INVALID`.
   */
  readonly maxPolyDegree?: number;
  /**
   * Budget of SEAL's WebAssembly heap on the server's thread (default 3 GiB of the 4 GiB the module
   * can address). A key-set load that grows the heap past it is undone and answered 503
   * `WASM_OUT_OF_MEMORY`; the remainder up to 4 GiB is the reserve that keeps SEAL's own allocator
   * from ever failing (see `limitHeMemory` in src/he/runtime.ts). The budget is per thread: with
   * the default in-process backend the server sets it for its own thread (the last server created
   * in a process wins); a worker pool given as `backend` has its own (`InferencePool`'s
   * `wasmHeapBudgetBytes`, which `confide he serve --workers` sets to this value).
   */
  readonly wasmHeapBudgetBytes?: number;
  /** Key sets held in all (default 256); beyond it the least recently used is evicted. */
  readonly maxKeySets?: number;
  /** Key sets held per principal (default 16). */
  readonly maxKeySetsPerPrincipal?: number;
  /** Time to receive one whole request, headers and body (default 120 s). */
  readonly requestTimeoutMs?: number;
  /** Idle time after which a socket is closed (default 30 s). */
  readonly connectionTimeoutMs?: number;
  /** Idle time of a kept-alive connection between requests (default 5 s). */
  readonly keepAliveTimeoutMs?: number;
  /** `Retry-After` seconds sent with 503 responses (default 1). */
  readonly retryAfterSeconds?: number;
  /** Browser origins allowed to call the server (CORS), e.g. `http://127.0.0.1:5173`. None by default. */
  readonly corsOrigins?: readonly string[];
  /** Called with every error that is not a confide error (a bug or an environment failure). */
  readonly onUnexpectedError?: (error: unknown) => void;
  /**
   * Write one JSON line per request (fastify's pino logger): principal digest prefix, route,
   * status, bytes in and out, milliseconds; never tokens or payloads. Off when absent.
   */
  readonly requestLog?: RequestLogOptions;
  /**
   * Sign a receipt for every scoring request and append it to a log (`routes/log.ts`): the
   * receipt key (Ed25519; it signs the receipts and the log's checkpoints), the open log, and the
   * model_signing root digest of each model's file by model id, when known.
   */
  readonly receipts?: ReceiptOptions;
}

/** {@link InferenceServerOptions.receipts}. */
export interface ReceiptOptions {
  readonly key: PrivateKey;
  readonly log: ReceiptLog;
  readonly modelSigningDigests?: Readonly<Record<string, string>>;
}

/** The options with every default filled in. */
export interface ResolvedServerOptions {
  readonly maxKeyBytes: number;
  readonly maxBatchBytes: number;
  readonly maxConcurrency: number;
  readonly rateLimit: RateLimit | false;
  readonly maxBytesInFlight: number;
  readonly maxBytesInFlightPerPrincipal: number;
  readonly maxConcurrencyPerPrincipal: number;
  readonly minUploadBytesPerSecond: number;
  readonly uploadGraceMs: number;
  readonly headersTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxKeySetBytes: number;
  readonly maxPolyDegree: number;
  readonly wasmHeapBudgetBytes: number;
  readonly maxKeySets: number;
  readonly maxKeySetsPerPrincipal: number;
  readonly requestTimeoutMs: number;
  readonly connectionTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly retryAfterSeconds: number;
  readonly corsOrigins: readonly string[];
}

const MiB = 1024 * 1024;
/** A model id: what URLs and the `--model ID=PATH` flag accept. */
export const MODEL_ID = /^[A-Za-z0-9._-]{1,64}$/;

function positiveInteger(value: number | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      `${name} must be a whole number from 1 to ${max}, got ${value}`,
    );
  }
  return value;
}

/**
 * Checks the options and fills in defaults.
 *
 * @throws {@link HeError} `HE_PARAMETERS_INVALID` for an out-of-range limit, a bad model id, no
 *   models, or no authentication without `allowUnauthenticated`
 */
export function resolveServerOptions(options: InferenceServerOptions): ResolvedServerOptions {
  if (typeof options !== 'object' || options === null) {
    throw new HeError('HE_PARAMETERS_INVALID', 'the server options must be an object');
  }
  const ids = Object.keys(options.models ?? {});
  if (ids.length === 0) throw new HeError('HE_PARAMETERS_INVALID', 'serve at least one model');
  for (const id of ids) {
    if (!MODEL_ID.test(id)) {
      throw new HeError(
        'HE_PARAMETERS_INVALID',
        `model id "${id.slice(0, 80)}" must be 1 to 64 letters, digits, dots, dashes or underscores`,
      );
    }
  }
  const authenticated = options.authenticate !== undefined || (options.tokens?.length ?? 0) > 0;
  if (!authenticated && options.allowUnauthenticated !== true) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      'no tokens given: pass tokens (--token-file or CONFIDE_TOKENS) or allow unauthenticated access explicitly',
    );
  }
  let rateLimit: RateLimit | false = { max: 600, windowMs: 60_000 };
  if (options.rateLimit === false) rateLimit = false;
  else if (options.rateLimit !== undefined) {
    rateLimit = {
      max: positiveInteger(options.rateLimit.max, 'rateLimit.max', 600, 1e9),
      windowMs: positiveInteger(options.rateLimit.windowMs, 'rateLimit.windowMs', 60_000, 86_400_000),
    };
  }
  const origins = options.corsOrigins ?? [];
  for (const origin of origins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new HeError(
        'HE_PARAMETERS_INVALID',
        `a CORS origin is a scheme, host and optional port, like http://127.0.0.1:5173; got "${origin.slice(0, 80)}"`,
      );
    }
  }
  const maxKeySets = positiveInteger(options.maxKeySets, 'maxKeySets', 256, 1_000_000);
  const maxKeyBytes = positiveInteger(options.maxKeyBytes, 'maxKeyBytes', 32 * MiB, 2 ** 31 - 1);
  const maxBatchBytes = positiveInteger(options.maxBatchBytes, 'maxBatchBytes', 32 * MiB, 2 ** 31 - 1);
  const maxBytesInFlight = positiveInteger(options.maxBytesInFlight, 'maxBytesInFlight', 256 * MiB, 2 ** 40);
  const maxBytesInFlightPerPrincipal = positiveInteger(
    options.maxBytesInFlightPerPrincipal,
    'maxBytesInFlightPerPrincipal',
    Math.min(64 * MiB, maxBytesInFlight),
    2 ** 40,
  );
  const largest = Math.max(maxKeyBytes, maxBatchBytes);
  if (maxBytesInFlightPerPrincipal > maxBytesInFlight || maxBytesInFlightPerPrincipal < largest) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      `maxBytesInFlightPerPrincipal (${maxBytesInFlightPerPrincipal}) must be at least the largest upload (${largest}) and at most maxBytesInFlight (${maxBytesInFlight})`,
    );
  }
  const maxPolyDegree = positiveInteger(options.maxPolyDegree, 'maxPolyDegree', 32768, 32768);
  if (![4096, 8192, 16384, 32768].includes(maxPolyDegree)) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      `maxPolyDegree must be 4096, 8192, 16384 or 32768, got ${maxPolyDegree}`,
    );
  }
  const requestTimeoutMs = positiveInteger(options.requestTimeoutMs, 'requestTimeoutMs', 120_000, 86_400_000);
  return {
    maxKeyBytes,
    maxBatchBytes,
    maxConcurrency: positiveInteger(options.maxConcurrency, 'maxConcurrency', 64, 100_000),
    maxBytesInFlight,
    maxBytesInFlightPerPrincipal,
    maxConcurrencyPerPrincipal: positiveInteger(
      options.maxConcurrencyPerPrincipal,
      'maxConcurrencyPerPrincipal',
      8,
      100_000,
    ),
    minUploadBytesPerSecond: positiveInteger(
      options.minUploadBytesPerSecond,
      'minUploadBytesPerSecond',
      16 * 1024,
      2 ** 40,
    ),
    uploadGraceMs: positiveInteger(options.uploadGraceMs, 'uploadGraceMs', 5_000, 3_600_000),
    headersTimeoutMs: Math.min(
      requestTimeoutMs,
      positiveInteger(options.headersTimeoutMs, 'headersTimeoutMs', 10_000, 3_600_000),
    ),
    maxConnections: positiveInteger(options.maxConnections, 'maxConnections', 1024, 1_000_000),
    maxKeySetBytes: positiveInteger(options.maxKeySetBytes, 'maxKeySetBytes', 1024 * MiB, 2 ** 42),
    maxPolyDegree,
    wasmHeapBudgetBytes: positiveInteger(
      options.wasmHeapBudgetBytes,
      'wasmHeapBudgetBytes',
      3072 * MiB,
      4095 * MiB,
    ),
    rateLimit,
    maxKeySets,
    maxKeySetsPerPrincipal: Math.min(
      maxKeySets,
      positiveInteger(options.maxKeySetsPerPrincipal, 'maxKeySetsPerPrincipal', 16, 1_000_000),
    ),
    requestTimeoutMs,
    connectionTimeoutMs: positiveInteger(
      options.connectionTimeoutMs,
      'connectionTimeoutMs',
      30_000,
      86_400_000,
    ),
    keepAliveTimeoutMs: positiveInteger(options.keepAliveTimeoutMs, 'keepAliveTimeoutMs', 5_000, 3_600_000),
    retryAfterSeconds: positiveInteger(options.retryAfterSeconds, 'retryAfterSeconds', 1, 3600),
    corsOrigins: origins,
  };
}
