/**
 * Session ids: the 32-byte value every key in a SecAgg round is bound to (HKDF salt in
 * `kdf.ts`, associated data in `aead.ts`). As in fcp's `compute_session_id.cc`, it is SHA-256
 * over the length-prefixed list of every participant's advertised public keys, so two clients
 * shown different rosters (a substituted key, an extra Sybil, a missing peer) derive different
 * keys and nothing they exchange decrypts or cancels. Unlike fcp it also hashes caller-supplied
 * `context` bytes (round id, model hash, canonical parameters), which binds those into every key
 * as well.
 *
 * Encoding (normative; `test/vectors/smpc/README.md` §Session id):
 *   SHA-256( LP("secagg/v1/session") ‖ LP(context) ‖ BE32(count)
 *            ‖ for each participant in ascending UTF-8 byte order of id:
 *                LP(UTF-8 id) ‖ LP(encryptionKey) ‖ LP(maskingKey) )
 *
 * Participants are sorted by the bytes of their UTF-8 ids, not by JavaScript string order (which
 * compares UTF-16 code units and disagrees with UTF-8 for characters beyond U+FFFF), so every
 * language computes the same order. Duplicate ids and any repeated public key are refused.
 *
 * Deliberately not here: signatures over the roster (the active profile's job) and deciding who
 * is on the roster.
 *
 * @module
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { ConfideArgumentError } from '../../errors.ts';
import { assertBytes, assertString } from '../../internal/assert.ts';
import { SmpcError } from '../errors.ts';
import { assertBytesInRange } from '../validate.ts';
import { concatBytes, lengthPrefixed, toHex, u32be, utf8 } from './encoding.ts';
import { X25519_KEY_LENGTH } from './ka.ts';

/** A participant's advertised public keys. */
export interface RosterEntry {
  /** Participant id: any non-empty string up to 256 characters. */
  readonly id: string;
  /** X25519 public key for share envelopes (c_u^PK). */
  readonly encryptionKey: Uint8Array;
  /** X25519 public key for pairwise masks (s_u^PK). */
  readonly maskingKey: Uint8Array;
}

/** Largest roster accepted. */
export const MAX_ROSTER = 1 << 20;

/** A lone UTF-16 surrogate: such a string has no UTF-8 encoding of its own. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether `id` is a well-formed participant id: 1–256 UTF-16 units, no lone surrogates. */
export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= 256 && !LONE_SURROGATE.test(id);
}

/**
 * Compares two ids by the bytes of their UTF-8 encodings: negative, zero or positive.
 * This is the canonical participant order everywhere in `confide/smpc`. UTF-8 byte order is
 * Unicode code point order, so this compares code points directly (no encoding, no allocation);
 * ids are well-formed (validated by {@link isValidId}), so the two orders agree.
 */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i) as number;
    const y = b.codePointAt(j) as number;
    if (x !== y) return x - y;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
  }
  return a.length - i - (b.length - j);
}

/**
 * The session id of a roster under `context`.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for malformed entries or an empty roster.
 * @throws {SmpcError} `SMPC_ROSTER_INVALID` for a duplicate id or a public key used twice.
 * @example
 * ```ts
 * const sessionId = computeSessionId([{ id: 'a', encryptionKey, maskingKey }, ...], modelHash);
 * ```
 */
export function computeSessionId(
  roster: readonly RosterEntry[],
  context: Uint8Array = new Uint8Array(0),
): Uint8Array {
  if (!Array.isArray(roster) || roster.length === 0 || roster.length > MAX_ROSTER) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `roster must be an array of 1 to ${MAX_ROSTER} entries`,
    );
  }
  assertBytesInRange(context, 'context', 0, 1 << 16);
  const ids = new Set<string>();
  const keys = new Set<string>();
  const entries = roster.map((e, i) => {
    const id = assertString(e?.id, `roster[${i}].id`, 256);
    if (!isValidId(id))
      throw new SmpcError('SMPC_ROSTER_INVALID', 'a participant id is not well-formed UTF-16');
    const encryptionKey = assertBytes(e.encryptionKey, `roster[${i}].encryptionKey`, X25519_KEY_LENGTH);
    const maskingKey = assertBytes(e.maskingKey, `roster[${i}].maskingKey`, X25519_KEY_LENGTH);
    if (ids.has(id)) throw new SmpcError('SMPC_ROSTER_INVALID', `participant id appears twice in the roster`);
    ids.add(id);
    for (const k of [toHex(encryptionKey), toHex(maskingKey)]) {
      if (keys.has(k)) throw new SmpcError('SMPC_ROSTER_INVALID', `a public key appears twice in the roster`);
      keys.add(k);
    }
    return { id, encryptionKey, maskingKey };
  });
  entries.sort((a, b) => compareIds(a.id, b.id));
  const parts: Uint8Array[] = [lengthPrefixed(utf8('secagg/v1/session'), context), u32be(entries.length)];
  for (const e of entries) parts.push(lengthPrefixed(utf8(e.id), e.encryptionKey, e.maskingKey));
  return sha256(concatBytes(...parts));
}
