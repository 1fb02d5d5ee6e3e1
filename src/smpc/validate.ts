/**
 * Argument assertions specific to secure aggregation (typed arrays, ring widths, moduli), in the
 * style of `src/internal/assert.ts`: each returns its value, labels its message, and throws
 * {@link ConfideArgumentError} with code `INVALID_ARGUMENT`. Messages carry types, lengths and
 * ranges only, never values (they may be secret).
 *
 * Deliberately not here: the generic helpers (`assertInteger`, `assertBytes`, ...), which live in
 * `src/internal/assert.ts` and are imported from there.
 *
 * @module
 */

import { ConfideArgumentError } from '../errors.ts';

function fail(label: string, expected: string, got: string): never {
  throw new ConfideArgumentError('INVALID_ARGUMENT', `${label} must be ${expected}, got ${got}`);
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  return `a ${typeof value}`;
}

/** Asserts a `Uint32Array`, optionally of an exact length, and returns it. */
export function assertUint32Array(value: unknown, label: string, length?: number): Uint32Array {
  if (value instanceof Uint32Array && (length === undefined || value.length === length)) return value;
  if (value instanceof Uint32Array)
    return fail(label, `a Uint32Array of length ${length}`, `length ${value.length}`);
  return fail(label, 'a Uint32Array', kind(value));
}

/** Asserts a `Uint8Array` whose length lies in [min, max] and returns it. */
export function assertBytesInRange(value: unknown, label: string, min: number, max: number): Uint8Array {
  if (value instanceof Uint8Array && value.length >= min && value.length <= max) return value;
  if (value instanceof Uint8Array) return fail(label, `from ${min} to ${max} bytes`, `${value.length} bytes`);
  return fail(label, 'a Uint8Array', kind(value));
}

/**
 * Asserts an array-like of finite numbers (`Float64Array`, `Float32Array` or `number[]`) and
 * returns it. NaN and infinities are rejected: they have no quantized value.
 */
export function assertFiniteVector(value: unknown, label: string): ArrayLike<number> {
  if (!(value instanceof Float64Array || value instanceof Float32Array || Array.isArray(value))) {
    return fail(label, 'a Float64Array, Float32Array or array of numbers', kind(value));
  }
  const v = value as ArrayLike<unknown>;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      return fail(`${label}[${i}]`, 'a finite number', typeof x === 'number' ? String(x) : typeof x);
    }
  }
  return v as ArrayLike<number>;
}

/** Asserts a positive finite number (or `undefined`) and returns it. */
export function assertOptionalPositive(value: unknown, label: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value;
  return fail(label, 'a positive finite number', kind(value));
}

/** Asserts a function and returns it. */
export function assertFunction<T extends (...args: never[]) => unknown>(value: unknown, label: string): T {
  if (typeof value === 'function') return value as T;
  return fail(label, 'a function', kind(value));
}
