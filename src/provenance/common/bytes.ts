/**
 * Text encodings of the provenance core: strict base64 (RFC 4648 §4 and §5), the lowercase-hex
 * shape check and code-point ordering, all on `Uint8Array` so the core runs unchanged in browsers.
 * Hex, UTF-8, concatenation and byte equality are the package's one byte layer,
 * `src/internal/bytes.ts`, re-exported here under the same names; base64 stays here because it is
 * strict in a way the rest of the package does not need.
 *
 * Base64 decoding is strict on purpose: it accepts the standard and the URL-safe alphabet (DSSE
 * allows both for input), with or without padding, and refuses anything else (whitespace, stray
 * characters, non-zero trailing bits), because a lenient decoder lets two different strings stand
 * for the same signature. Encoding always writes standard base64 with padding, as DSSE and the
 * Sigstore bundle JSON do.
 *
 * Deliberately not here: `Buffer` (Node only), streaming codecs.
 *
 * @module
 */

import { ProvenanceError } from '../errors.ts';

export {
  concatBytes as concat,
  decodeUtf8,
  equalBytes,
  fromHex,
  toHex,
  utf8,
} from '../../internal/bytes.ts';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) DECODE[ALPHABET.charCodeAt(i)] = i;
DECODE['-'.charCodeAt(0)] = 62; // RFC 4648 §5 (URL-safe)
DECODE['_'.charCodeAt(0)] = 63;

/** Encodes bytes as standard base64 with padding (RFC 4648 §4). */
export function toBase64(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += ALPHABET.charAt(n >>> 18) + ALPHABET.charAt((n >>> 12) & 63);
    out += ALPHABET.charAt((n >>> 6) & 63) + ALPHABET.charAt(n & 63);
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = (bytes[i] ?? 0) << 16;
    out += `${ALPHABET.charAt(n >>> 18)}${ALPHABET.charAt((n >>> 12) & 63)}==`;
  } else if (rest === 2) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8);
    out += `${ALPHABET.charAt(n >>> 18)}${ALPHABET.charAt((n >>> 12) & 63)}${ALPHABET.charAt((n >>> 6) & 63)}=`;
  }
  return out;
}

/**
 * Decodes standard or URL-safe base64, padded or not.
 *
 * @throws {ProvenanceError} `PROV_BASE64_INVALID` for any character outside the alphabets,
 *   misplaced padding, an impossible length or non-zero trailing bits.
 */
export function fromBase64(text: string, label = 'base64 text'): Uint8Array {
  const fail = (why: string): never => {
    throw new ProvenanceError('PROV_BASE64_INVALID', `${label} is not valid base64: ${why}`);
  };
  let end = text.length;
  if (end % 4 === 0 && end > 0) {
    if (text.charCodeAt(end - 1) === 61) end--;
    if (text.charCodeAt(end - 1) === 61) end--;
  }
  if (end % 4 === 1) fail(`impossible length ${text.length}`);
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? (DECODE[c] ?? -1) : -1;
    if (v < 0) fail(`unexpected character at offset ${i}`);
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) fail('non-zero trailing bits');
  return out;
}

/** True when `text` is lowercase hex of exactly `bytes` bytes. */
export function isLowerHex(text: unknown, bytes: number): text is string {
  return typeof text === 'string' && text.length === bytes * 2 && /^[0-9a-f]*$/.test(text);
}

/**
 * Compares two strings by Unicode code point (not UTF-16 code unit, not locale), the order
 * Python's `sorted()` and the OMS spec use for names.
 */
export function compareCodePoints(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i) ?? 0;
    const cb = b.codePointAt(j) ?? 0;
    if (ca !== cb) return ca < cb ? -1 : 1;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  return a.length - i === b.length - j ? 0 : i < a.length ? 1 : -1;
}
