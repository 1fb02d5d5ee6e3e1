/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): one byte sequence for each JSON value, so that
 * hashes and signatures over JSON do not depend on who serialised it.
 *
 * Follows RFC 8785 §3.2: no whitespace; object members sorted by the UTF-16 code units of their
 * names (§3.2.3, which is exactly JavaScript's default string order); strings escaped as
 * ECMAScript `JSON.stringify` does (§3.2.2.2: `\b \t \n \f \r \" \\`, other controls as
 * lowercase `\u00xx`, everything else literal, no Unicode normalisation); numbers in the
 * ECMAScript `Number.prototype.toString` form (§3.2.2.3, so `-0` → `0`, `1e+21`, `1e-7`).
 * The output is UTF-8 (§3.2.4).
 *
 * The input must be I-JSON (RFC 7493), which RFC 8785 §3.1 requires, so this module refuses
 * with `PROV_JCS_UNSUPPORTED_VALUE`: non-finite numbers, lone surrogates in strings or names,
 * `undefined`, functions, symbols, bigints, class instances (including `Date`), and cycles or
 * nesting deeper than 1000. It never calls `toJSON`.
 *
 * Deliberately not here: parsing. Duplicate member names cannot be detected after `JSON.parse`
 * (the last one wins); callers hashing untrusted JSON text should canonicalise what they parsed
 * and compare, not trust the text.
 *
 * @module
 */

import { ProvenanceError } from '../errors.ts';
import { utf8 } from './bytes.ts';

/** A JSON value as `JSON.parse` produces it. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

const MAX_DEPTH = 1000;
// A lone surrogate: a high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function unsupported(path: string, what: string): never {
  throw new ProvenanceError('PROV_JCS_UNSUPPORTED_VALUE', `${path}: ${what} has no RFC 8785 canonical form`, {
    fields: [path],
  });
}

function serialiseString(value: string, path: string): string {
  if (LONE_SURROGATE.test(value)) unsupported(path, 'a string with a lone surrogate');
  // ECMAScript JSON.stringify escapes exactly as RFC 8785 §3.2.2.2 requires for well-formed strings.
  return JSON.stringify(value);
}

function serialise(value: unknown, path: string, depth: number, seen: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return serialiseString(value, path);
    case 'number':
      if (!Number.isFinite(value)) unsupported(path, String(value));
      return String(value); // ES6 Number.prototype.toString; String(-0) === '0'
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (depth >= MAX_DEPTH) unsupported(path, `nesting deeper than ${MAX_DEPTH}`);
      if (seen.has(value)) unsupported(path, 'a cycle');
      seen.add(value);
      let out: string;
      if (Array.isArray(value)) {
        const parts: string[] = [];
        for (let i = 0; i < value.length; i++)
          parts.push(serialise(value[i], `${path}[${i}]`, depth + 1, seen));
        out = `[${parts.join(',')}]`;
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) unsupported(path, 'a class instance');
        const record = value as Record<string, unknown>;
        const keys = Object.keys(record).sort(); // UTF-16 code-unit order, RFC 8785 §3.2.3
        const parts: string[] = [];
        for (const key of keys) {
          const childPath = `${path}.${key}`;
          parts.push(
            `${serialiseString(key, childPath)}:${serialise(record[key], childPath, depth + 1, seen)}`,
          );
        }
        out = `{${parts.join(',')}}`;
      }
      seen.delete(value);
      return out;
    }
    default:
      return unsupported(path, `a value of type ${typeof value}`);
  }
}

/**
 * Returns the RFC 8785 canonical JSON text of a value.
 *
 * @throws {ProvenanceError} `PROV_JCS_UNSUPPORTED_VALUE` for values that are not I-JSON (see the
 *   module notes); `fields` holds the path of the offending value.
 * @example
 * ```ts
 * canonicalize({ b: [1e21, -0], a: 'é' }); // '{"a":"é","b":[1e+21,0]}'
 * ```
 */
export function canonicalize(value: unknown): string {
  return serialise(value, '$', 0, new Set());
}

/**
 * Returns the RFC 8785 canonical form of a value as UTF-8 bytes: the bytes to hash or sign.
 *
 * @throws {ProvenanceError} `PROV_JCS_UNSUPPORTED_VALUE`, as {@link canonicalize}.
 */
export function canonicalizeToBytes(value: unknown): Uint8Array {
  return utf8(canonicalize(value));
}
