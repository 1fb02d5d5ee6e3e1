/**
 * JSON encoding of protocol messages and states: plain JSON in which a `Uint8Array` becomes
 * `{"$bytes": "<base64>"}` and a `Uint32Array` becomes `{"$u32": "<base64 of little-endian lanes>"}`.
 * Every message crosses transports in this form and every state can be persisted in it, so the
 * in-memory transport round-trips everything through it to prove that nothing depends on object
 * identity.
 *
 * Decoding only restores the byte types; whether the result is a valid message or state is
 * checked by `messages.ts` and the state machines (validate at the edge).
 *
 * Deliberately not here: compression, a binary wire format, schema validation.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';

const CHUNK = 0x8000;

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += CHUNK) s += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  let s: string;
  try {
    s = atob(text);
  } catch (cause) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'invalid base64 in encoded message', { cause });
  }
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function u32ToBytes(v: Uint32Array): Uint8Array {
  const out = new Uint8Array(v.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < v.length; i++) view.setUint32(4 * i, v[i] as number, true);
  return out;
}

function bytesToU32(b: Uint8Array): Uint32Array {
  if (b.length % 4 !== 0)
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'a $u32 value must be a multiple of 4 bytes');
  const out = new Uint32Array(b.length / 4);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(4 * i, true);
  return out;
}

/**
 * Encodes a value of plain data, `Uint8Array` and `Uint32Array` as a JSON string.
 *
 * @example
 * ```ts
 * decodeJson(encodeJson({ key: new Uint8Array([1, 2]) })); // { key: Uint8Array [1, 2] }
 * ```
 */
export function encodeJson(value: unknown): string {
  return JSON.stringify(value, function replacer(this: unknown, key: string, v: unknown) {
    const raw = (this as Record<string, unknown>)[key];
    if (raw instanceof Uint8Array) return { $bytes: toBase64(raw) };
    if (raw instanceof Uint32Array) return { $u32: toBase64(u32ToBytes(raw)) };
    return v;
  });
}

/**
 * Decodes a string produced by {@link encodeJson}, restoring byte arrays. Returns `unknown`:
 * validate the result before use.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for invalid JSON or base64.
 */
export function decodeJson(text: string): unknown {
  if (typeof text !== 'string')
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'encoded message must be a string');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text, (_key, v: unknown) => {
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
        const o = v as Record<string, unknown>;
        const keys = Object.keys(o);
        if (keys.length === 1 && typeof o.$bytes === 'string') return fromBase64(o.$bytes);
        if (keys.length === 1 && typeof o.$u32 === 'string') return bytesToU32(fromBase64(o.$u32));
      }
      return v;
    });
  } catch (cause) {
    if (cause instanceof ConfideArgumentError) throw cause;
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'encoded message is not valid JSON', { cause });
  }
  return parsed;
}
