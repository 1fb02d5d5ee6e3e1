/**
 * Argument assertions used at every public entry point, before any WASM or I/O is touched.
 *
 * Each helper is named for what it asserts, returns the value so calls compose, and takes a
 * `label` that names the argument in the message. Messages carry types, lengths and ranges only,
 * never the value itself (it may be secret). All throw {@link ConfideArgumentError} with code
 * `INVALID_ARGUMENT`, so callers can rely on one code for "you called this wrongly".
 *
 * @module
 */

import { ConfideArgumentError } from '../errors.ts';

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return `a Uint8Array of ${value.length} bytes`;
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN';
  return typeof value === 'object'
    ? `an object (${Object.prototype.toString.call(value)})`
    : `a ${typeof value}`;
}

function fail(label: string, expected: string, value: unknown): never {
  throw new ConfideArgumentError('INVALID_ARGUMENT', `${label} must be ${expected}, got ${describe(value)}`, {
    fields: [label],
  });
}

/** Asserts a plain object (not null, not an array) and returns it. */
export function assertObject(value: unknown, label: string): Record<string, unknown> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return value as Record<string, unknown>;
  }
  return fail(label, 'an object', value);
}

/** Asserts a non-empty string (at most `maxLength` characters) and returns it. */
export function assertString(value: unknown, label: string, maxLength = 4096): string {
  if (typeof value === 'string' && value.length > 0 && value.length <= maxLength) return value;
  return fail(label, `a non-empty string of at most ${maxLength} characters`, value);
}

/** Asserts a finite number and returns it. */
export function assertFinite(value: unknown, label: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  return fail(label, 'a finite number', value);
}

/** Asserts an integer in [min, max] and returns it. */
export function assertInteger(value: unknown, label: string, min: number, max: number): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max) return value;
  return fail(label, `an integer from ${min} to ${max}`, value);
}

/** Asserts a `Uint8Array` (optionally of an exact length) and returns it. */
export function assertBytes(value: unknown, label: string, length?: number): Uint8Array {
  if (value instanceof Uint8Array && (length === undefined || value.length === length)) return value;
  return fail(label, length === undefined ? 'a Uint8Array' : `a Uint8Array of ${length} bytes`, value);
}

/** Asserts one of the listed string literals and returns it. */
export function assertOneOf<T extends string>(value: unknown, label: string, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  return fail(label, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
}

/** Asserts a boolean and returns it. */
export function assertBoolean(value: unknown, label: string): boolean {
  if (typeof value === 'boolean') return value;
  return fail(label, 'a boolean', value);
}
