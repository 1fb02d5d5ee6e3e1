/**
 * The error model of confide: one {@link ConfideError} base with a stable, namespaced `code`,
 * a message that says what was wrong and what to do, and an optional `cause`.
 *
 * Codes are part of the public contract (the CLI prints them, the HTTP server will return them,
 * scripts match on them): a code is never renamed or reused for another meaning. Messages may
 * improve between releases; match on `code`, never on `message`.
 *
 * Messages never carry secret material: only types, lengths, labels and counts.
 *
 * Deliberately not here: mapping of node-seal's native exceptions (that lives next to the WASM
 * loader, in `src/he/runtime.ts`, so importing this module stays free of WASM).
 *
 * @module
 */

import type { ProvenanceErrorCode, VerificationErrorCode } from './provenance/errors.ts';
import type { RedisErrorCode } from './redis/errors.ts';
import type { SmpcErrorCode } from './smpc/errors.ts';

/** Codes of {@link HeError}: encrypted inference (`confide/he`). */
export type HeErrorCode =
  | 'HE_NOT_INITIALISED'
  | 'HE_INIT_FAILED'
  | 'HE_SELF_TEST_FAILED'
  | 'HE_PARAMETERS_INSECURE'
  | 'HE_PARAMETERS_INVALID'
  | 'HE_PLAN_INFEASIBLE'
  | 'HE_CAPACITY_EXCEEDED'
  | 'HE_VALUE_OUT_OF_RANGE'
  | 'HE_MODEL_INVALID'
  | 'HE_ONNX_INVALID'
  | 'HE_ONNX_UNSUPPORTED_OP'
  | 'HE_CSV_INVALID'
  | 'HE_MISSING_FEATURE'
  | 'HE_CONTAINER_TRUNCATED'
  | 'HE_CONTAINER_MALFORMED'
  | 'HE_CONTAINER_CORRUPT'
  | 'HE_CONTAINER_TOO_LARGE'
  | 'HE_CONTAINER_VERSION'
  | 'HE_WRONG_KIND'
  | 'HE_PARAMETERS_MISMATCH'
  | 'HE_KEY_SET_MISMATCH'
  | 'HE_MODEL_MISMATCH'
  | 'HE_LAYOUT_UNAVAILABLE'
  | 'HE_USE_AFTER_DISPOSE'
  | 'HE_SERVER_POOLED'
  | 'HE_NATIVE_INVALID_ARGUMENT'
  | 'HE_NATIVE_LOGIC_ERROR'
  | 'HE_NATIVE_ERROR'
  | 'HE_TRANSPARENT_CIPHERTEXT'
  | 'HE_IO'
  | 'HE_INPUT_TOO_LARGE'
  | 'HE_FILE_EXISTS'
  // the inference server (`confide he serve`, `confide/server`) and its HTTP client
  | 'HE_UNAUTHENTICATED'
  | 'HE_RATE_LIMITED'
  | 'HE_SERVER_BUSY'
  | 'HE_QUEUE_FULL'
  | 'HE_KEY_SETS_BUSY'
  | 'HE_SERVER_CLOSING'
  | 'HE_NOT_READY'
  | 'HE_UNKNOWN_KEY_SET'
  | 'HE_UNKNOWN_MODEL'
  | 'HE_KEY_SET_CONFLICT'
  | 'HE_UNKNOWN_JOB'
  | 'HE_REQUEST_TOO_LARGE'
  | 'HE_REQUEST_TIMEOUT'
  | 'HE_BAD_REQUEST'
  | 'HE_UNSUPPORTED_MEDIA_TYPE'
  | 'HE_ROUTE_NOT_FOUND'
  | 'HE_SERVER_ERROR'
  | 'HE_SERVER_UNREACHABLE'
  | 'HE_SERVER_RESPONSE_INVALID'
  // the CLI client (`confide he score`) refusing to go on
  | 'HE_INSECURE_TRANSPORT'
  | 'HE_MODEL_CHANGED';

/** Codes of {@link WasmError}: loading and running WebAssembly. */
export type WasmErrorCode = 'WASM_UNSUPPORTED' | 'WASM_LOAD_FAILED' | 'WASM_OUT_OF_MEMORY';

/** Codes of the worker pool's `WorkerError` (`confide/worker`). */
export type WorkerErrorCode =
  | 'WORKER_CRASHED'
  | 'WORKER_CLOSED'
  | 'WORKER_QUEUE_FULL'
  | 'WORKER_START_FAILED'
  | 'WORKER_NOT_LOADED';

/**
 * Every error code confide can throw: the union of each namespace's codes, so a `switch` over it
 * can be exhaustive. Each namespace keeps its own list next to its error class (the secure-
 * aggregation codes in `smpc/errors.ts`, the provenance codes in `provenance/errors.ts`).
 */
export type ConfideErrorCode =
  // generic argument validation, shared by every module
  | 'INVALID_ARGUMENT'
  | HeErrorCode
  | WasmErrorCode
  | WorkerErrorCode
  | SmpcErrorCode
  | ProvenanceErrorCode
  | VerificationErrorCode
  // the Redis connection shared by replicas, workers and the aggregation cluster (`src/redis`)
  | RedisErrorCode;

/** Options accepted by every confide error constructor. */
export interface ConfideErrorOptions {
  /** The lower-level error that caused this one, kept for debugging. */
  readonly cause?: unknown;
  /** Dotted paths of the input fields that were wrong, when there are several. */
  readonly fields?: readonly string[];
}

/** The plain-data form of a confide error, as `toJSON()` returns it and as it crosses workers and HTTP. */
export interface ConfideErrorJSON {
  readonly name: string;
  readonly code: ConfideErrorCode;
  readonly message: string;
  readonly fields?: readonly string[];
}

/**
 * Base class of every error confide throws on purpose.
 *
 * @example
 * ```ts
 * try { await runInference(); } catch (e) { if (isConfideError(e)) console.error(e.code, e.message); }
 * ```
 */
export class ConfideError extends Error {
  /** Stable, machine-readable code; see {@link ConfideErrorCode}. */
  readonly code: ConfideErrorCode;
  /** Input field paths that were wrong, when the error concerns several. */
  readonly fields: readonly string[] | undefined;

  constructor(code: ConfideErrorCode, message: string, options: ConfideErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.fields = options.fields;
  }

  /** Plain data for logs, JSON output and transfer across realms (never includes `cause`). */
  toJSON(): ConfideErrorJSON {
    return this.fields === undefined
      ? { name: this.name, code: this.code, message: this.message }
      : { name: this.name, code: this.code, message: this.message, fields: this.fields };
  }
}

/** An argument of the wrong type or outside its allowed range, caught before any work starts. */
export class ConfideArgumentError extends ConfideError {}

/** An error from the encrypted-inference module (`confide/he`). */
export class HeError extends ConfideError {}

/** An error while loading or running WebAssembly. */
export class WasmError extends ConfideError {}

/**
 * Structural check for a confide error. Works across realms, workers and bundle copies, where
 * `instanceof` fails.
 */
export function isConfideError(value: unknown): value is ConfideError {
  if (typeof value !== 'object' || value === null) return false;
  const code = (value as { code?: unknown }).code;
  return (
    typeof code === 'string' &&
    /^(INVALID_ARGUMENT|(HE|SMPC|PROV|WASM|WORKER|REDIS)_[A-Z0-9_]+)$/.test(code) &&
    typeof (value as { message?: unknown }).message === 'string'
  );
}
