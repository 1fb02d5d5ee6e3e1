/**
 * How a confide error becomes an HTTP response: one table from {@link ConfideErrorCode} to status,
 * and one body shape, `{ "error": { "code", "message" } }`, the same codes the library throws.
 * Status semantics and `Retry-After` follow RFC 9110 (§15, §10.2.3).
 *
 * The classes, in the order a request meets them: 401 no valid credentials; 404 unknown route,
 * model or key set (a key set registered by another principal is "unknown" too, so its existence
 * is not revealed); 408 the upload took too long; 413 a body or container over a limit; 415 not
 * `application/octet-stream`; 400 bytes that are not a well-formed container; 409 a conflict with
 * what the server holds (another key set, other parameters); 422 a well-formed upload the served
 * model cannot use (wrong kind, model or layout); 429 rate limit; 503 busy, closing, not ready or
 * a worker lost (with `Retry-After`); 500 anything else.
 *
 * Deliberately not here: messages for errors that are not confide errors. Those become
 * `HE_SERVER_ERROR` with a fixed message, so stack traces and internal details never reach clients.
 *
 * @module
 */

import { type ConfideErrorCode, isConfideError } from '../errors.ts';

const STATUS: Readonly<Partial<Record<ConfideErrorCode, number>>> = {
  INVALID_ARGUMENT: 400,
  HE_BAD_REQUEST: 400,
  HE_CONTAINER_TRUNCATED: 400,
  HE_CONTAINER_MALFORMED: 400,
  HE_CONTAINER_CORRUPT: 400,
  HE_CONTAINER_VERSION: 400,
  HE_NATIVE_INVALID_ARGUMENT: 400,
  HE_TRANSPARENT_CIPHERTEXT: 400,
  HE_VALUE_OUT_OF_RANGE: 400,
  HE_UNAUTHENTICATED: 401,
  HE_UNKNOWN_KEY_SET: 404,
  HE_UNKNOWN_MODEL: 404,
  HE_UNKNOWN_JOB: 404,
  PROV_LOG_RANGE: 404,
  HE_ROUTE_NOT_FOUND: 404,
  HE_REQUEST_TIMEOUT: 408,
  HE_KEY_SET_CONFLICT: 409,
  HE_KEY_SET_MISMATCH: 409,
  HE_PARAMETERS_MISMATCH: 409,
  HE_REQUEST_TOO_LARGE: 413,
  HE_CONTAINER_TOO_LARGE: 413,
  HE_UNSUPPORTED_MEDIA_TYPE: 415,
  HE_WRONG_KIND: 422,
  HE_MODEL_MISMATCH: 422,
  HE_LAYOUT_UNAVAILABLE: 422,
  HE_PARAMETERS_INSECURE: 422,
  HE_PARAMETERS_INVALID: 422,
  HE_PLAN_INFEASIBLE: 422,
  HE_CAPACITY_EXCEEDED: 422,
  HE_RATE_LIMITED: 429,
  HE_SERVER_BUSY: 503,
  HE_QUEUE_FULL: 503,
  HE_KEY_SETS_BUSY: 503,
  HE_SERVER_CLOSING: 503,
  HE_NOT_READY: 503,
  WORKER_CRASHED: 503,
  WORKER_CLOSED: 503,
  WORKER_QUEUE_FULL: 503,
  WASM_OUT_OF_MEMORY: 503,
  REDIS_UNAVAILABLE: 503,
  REDIS_AUTH_FAILED: 503,
};

/** Codes whose response carries `Retry-After`: the same request may succeed later. */
const RETRYABLE: ReadonlySet<ConfideErrorCode> = new Set<ConfideErrorCode>([
  'HE_SERVER_BUSY',
  'HE_QUEUE_FULL',
  'HE_KEY_SETS_BUSY',
  'HE_NOT_READY',
  'WORKER_CRASHED',
  'WORKER_CLOSED',
  'WORKER_QUEUE_FULL',
  'WASM_OUT_OF_MEMORY',
  'REDIS_UNAVAILABLE',
]);

/** The JSON body of every error response. */
export interface ErrorBody {
  readonly error: { readonly code: ConfideErrorCode; readonly message: string };
}

/** A response the server is about to send for an error: status, body and whether to add `Retry-After`. */
export interface ErrorResponse {
  readonly status: number;
  readonly body: ErrorBody;
  readonly retryable: boolean;
}

/** The HTTP status for a confide error code (500 for codes the table does not name). */
export function statusForCode(code: ConfideErrorCode): number {
  return STATUS[code] ?? 500;
}

/** Turns anything thrown while serving a request into the response to send. */
export function errorResponse(error: unknown): ErrorResponse {
  if (isConfideError(error)) {
    return {
      status: statusForCode(error.code),
      body: { error: { code: error.code, message: error.message } },
      retryable: RETRYABLE.has(error.code),
    };
  }
  return {
    status: 500,
    body: {
      error: {
        code: 'HE_SERVER_ERROR',
        message: 'the server failed while handling this request; the operator can find the cause in its log',
      },
    },
    retryable: false,
  };
}
