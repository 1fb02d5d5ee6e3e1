/**
 * Errors of the worker pool, and how coded errors cross the worker boundary.
 *
 * comlink's built-in `throw` handler keeps only `name`, `message` and `stack`, so a worker's
 * `HeError('HE_KEY_SET_MISMATCH', …)` would arrive as a bare `Error`. Instead every worker method
 * returns an envelope (`{ ok: true, value }` or `{ ok: false, error }`) whose error is the plain
 * {@link WireError} below: `name`, `code`, `message`, `fields`, the worker's stack and, a few
 * levels deep, the `cause`. {@link fromWire} rebuilds it on the calling thread as the matching
 * confide class, so `code`, `fields`, `instanceof HeError` and `isConfideError` all hold. This
 * touches no comlink global (its `transferHandlers` map is shared by every comlink user in the
 * realm).
 *
 * Messages carry what the worker said, which by the error model never includes secret material.
 *
 * Deliberately not here: the pool's crash handling (`pool.ts`), error codes (`src/errors.ts`).
 *
 * @module
 */

import { ConfideArgumentError, ConfideError, HeError, isConfideError, WasmError } from '../errors.ts';

/** An error of the worker pool itself: `WORKER_*` codes. */
export class WorkerError extends ConfideError {}

/** The structured-cloneable form of an error thrown inside a worker. */
export interface WireError {
  readonly name: string;
  /** Present when the error was a confide error. */
  readonly code?: string;
  readonly message: string;
  readonly fields?: readonly string[];
  readonly stack?: string;
  readonly cause?: WireError;
}

const MAX_CAUSE_DEPTH = 3;

/** Classes rebuilt by name; any other confide error becomes a {@link ConfideError} with its name. */
const CLASSES: Readonly<Record<string, typeof ConfideError>> = {
  ConfideError,
  ConfideArgumentError,
  HeError,
  WasmError,
  WorkerError,
};

function classForCode(code: string): typeof ConfideError {
  if (code === 'INVALID_ARGUMENT') return ConfideArgumentError;
  if (code.startsWith('HE_')) return HeError;
  if (code.startsWith('WASM_')) return WasmError;
  if (code.startsWith('WORKER_')) return WorkerError;
  return ConfideError;
}

/** Turns anything thrown into plain data that survives `postMessage`. */
export function toWire(error: unknown, depth = 0): WireError {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    message?: unknown;
    stack?: unknown;
    cause?: unknown;
  };
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const message = typeof e.message === 'string' ? e.message : String(error);
  const cause = depth < MAX_CAUSE_DEPTH && e.cause !== undefined ? toWire(e.cause, depth + 1) : undefined;
  const stack = typeof e.stack === 'string' ? e.stack : undefined;
  const fields = isConfideError(error) && error.fields !== undefined ? [...error.fields] : undefined;
  return {
    name,
    message,
    ...(isConfideError(error) ? { code: error.code } : {}),
    ...(fields ? { fields } : {}),
    ...(stack ? { stack } : {}),
    ...(cause ? { cause } : {}),
  };
}

/**
 * Rebuilds a {@link WireError} on this thread: a confide error of the class its name says
 * (`HeError`, `WasmError`, …) when it carries a code, a plain `Error` otherwise. The worker's
 * stack is appended to this thread's, under a `--- in the worker ---` line.
 */
export function fromWire(wire: WireError): Error {
  const cause = wire.cause ? fromWire(wire.cause) : undefined;
  const options = {
    ...(cause ? { cause } : {}),
    ...(wire.fields ? { fields: [...wire.fields] } : {}),
  };
  const probe = { code: wire.code, message: wire.message };
  let error: Error;
  if (isConfideError(probe)) {
    // By name first; by code prefix when a minifier renamed the classes on either side.
    const Class = Object.hasOwn(CLASSES, wire.name)
      ? (CLASSES[wire.name] as typeof ConfideError)
      : classForCode(probe.code);
    error = new Class(probe.code, wire.message, options);
    if (error.name !== wire.name) error.name = wire.name;
  } else {
    error = new Error(wire.message, cause ? { cause } : undefined);
    error.name = wire.name;
  }
  if (wire.stack)
    error.stack = `${error.stack ?? `${error.name}: ${error.message}`}\n    --- in the worker ---\n${wire.stack}`;
  return error;
}
