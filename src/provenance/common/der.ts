/**
 * A minimal ASN.1 DER reader and writer (ITU-T X.690 §8 and §10), just enough for public and
 * private key containers (RFC 5280 SubjectPublicKeyInfo, RFC 5208/5958 PKCS#8, RFC 5915 SEC1
 * ECPrivateKey) and for reaching the SubjectPublicKeyInfo inside an X.509 certificate, plus
 * {@link assertCanonicalDer}, which refuses bytes that are BER but not DER (the certificate parser,
 * PKI.js over asn1js, reads BER).
 *
 * The reader is strict: definite lengths only, minimal length encodings, no trailing bytes after
 * a top-level element, lengths bounded by the input, OBJECT IDENTIFIER arcs in their one
 * canonical form (X.690 §8.19.2: no leading 0x80 octet, no final octet with bit 8 set). It never
 * interprets what it does not need; unknown tags are returned as raw TLVs.
 *
 * Deliberately not here: a general ASN.1 library, X.509 parsing and path validation (PKI.js and
 * `certificate-path.ts`), string types.
 *
 * @module
 */

import { ProvenanceError } from '../errors.ts';
import { concat } from './bytes.ts';

/** One DER element: its tag byte, its content bytes, and its full encoding. */
export interface DerElement {
  readonly tag: number;
  readonly content: Uint8Array;
  readonly encoded: Uint8Array;
}

export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  SEQUENCE: 0x30,
  CONTEXT_0: 0xa0,
  CONTEXT_1: 0xa1,
} as const;

function malformed(what: string): never {
  throw new ProvenanceError('PROV_KEY_INVALID', `malformed DER: ${what}`);
}

/** Reads one element at `offset`; returns it and the offset after it. */
export function readElement(bytes: Uint8Array, offset = 0): { element: DerElement; next: number } {
  if (offset + 2 > bytes.length) malformed('truncated header');
  const tag = bytes[offset] ?? 0;
  if ((tag & 0x1f) === 0x1f) malformed('multi-byte tags are not supported');
  let length = bytes[offset + 1] ?? 0;
  let headerLength = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0) malformed('indefinite length');
    if (count > 4) malformed('length too large');
    if (offset + 2 + count > bytes.length) malformed('truncated length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (bytes[offset + 2 + i] ?? 0);
    if (length < 0x80 || (count > 1 && (bytes[offset + 2] ?? 0) === 0)) malformed('non-minimal length');
    headerLength += count;
  }
  const start = offset + headerLength;
  const end = start + length;
  if (end > bytes.length) malformed('content runs past the end');
  return {
    element: { tag, content: bytes.subarray(start, end), encoded: bytes.subarray(offset, end) },
    next: end,
  };
}

/** Parses exactly one element spanning all of `bytes`. */
export function parseDer(bytes: Uint8Array): DerElement {
  const { element, next } = readElement(bytes, 0);
  if (next !== bytes.length) malformed('trailing bytes');
  return element;
}

/** The children of a constructed element (SEQUENCE, SET, constructed context tag…). */
export function children(element: DerElement): DerElement[] {
  if ((element.tag & 0x20) === 0) malformed('expected a constructed element');
  const out: DerElement[] = [];
  let offset = 0;
  while (offset < element.content.length) {
    const { element: child, next } = readElement(element.content, offset);
    out.push(child);
    offset = next;
  }
  return out;
}

/**
 * Dotted-decimal form of an OBJECT IDENTIFIER element. Refuses every encoding that is not the
 * canonical one (X.690 §8.19.2): an arc padded with a leading 0x80 octet (`55 80 1d 13`) and a
 * last arc left open by a final octet with bit 8 set (`55 1d 13 81`) are malformed, not read as
 * `2.5.29.19`.
 */
export function oidToString(element: DerElement): string {
  if (element.tag !== TAG.OID || element.content.length === 0) malformed('expected an OID');
  const parts: number[] = [];
  let value = 0;
  let arcStart = true;
  for (const byte of element.content) {
    if (arcStart && byte === 0x80) malformed('an OID arc is not minimally encoded');
    arcStart = false;
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) malformed('OID arc too large');
    if (!(byte & 0x80)) {
      if (parts.length === 0)
        parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else parts.push(value);
      value = 0;
      arcStart = true;
    }
  }
  if (!arcStart) malformed('the last OID arc is truncated');
  return parts.join('.');
}

/** X.690 §11.6: the elements of a SET OF in ascending order of their encodings. */
function setOrdered(items: readonly DerElement[]): boolean {
  for (let i = 1; i < items.length; i++) {
    const a = (items[i - 1] as DerElement).encoded;
    const b = (items[i] as DerElement).encoded;
    const n = Math.max(a.length, b.length);
    for (let j = 0; j < n; j++) {
      const x = a[j] ?? 0;
      const y = b[j] ?? 0;
      if (x < y) break;
      if (x > y) return false;
    }
  }
  return true;
}

/** Universal tag numbers that DER writes constructed (SEQUENCE, SET); every other one is primitive. */
const UNIVERSAL_CONSTRUCTED = new Set([0x10, 0x11]);
const DIGITS = (n: number) => new RegExp(`^[0-9]{${n}}Z$`);
const UTC_TIME = DIGITS(12);
const GENERALIZED_TIME = DIGITS(14);

function checkCanonical(element: DerElement, depth: number): void {
  if (depth > 32) malformed('nested too deeply');
  const { tag, content } = element;
  const constructed = (tag & 0x20) !== 0;
  if ((tag & 0xc0) === 0 && constructed !== UNIVERSAL_CONSTRUCTED.has(tag & 0x1f)) {
    malformed(`universal tag 0x${tag.toString(16)} in the ${constructed ? 'constructed' : 'primitive'} form`);
  }
  if (constructed) {
    const items = children(element);
    if (tag === 0x31 && !setOrdered(items)) malformed('a SET OF is not in ascending order');
    for (const item of items) checkCanonical(item, depth + 1);
    return;
  }
  switch (tag) {
    case 0x01:
      if (content.length !== 1 || (content[0] !== 0x00 && content[0] !== 0xff)) {
        malformed('a BOOLEAN is not 0x00 or 0xff');
      }
      break;
    case TAG.INTEGER:
    case 0x0a: {
      const [a, b] = [content[0], content[1]];
      if (a === undefined) malformed('an empty INTEGER');
      if (b !== undefined && ((a === 0 && b < 0x80) || (a === 0xff && b >= 0x80))) {
        malformed('an INTEGER is not minimally encoded');
      }
      break;
    }
    case TAG.BIT_STRING: {
      const unused = content[0];
      const last = content[content.length - 1] ?? 0;
      if (unused === undefined || unused > 7 || (content.length === 1 && unused !== 0)) {
        malformed('a BIT STRING has an invalid unused-bits count');
      }
      if ((last & ((1 << unused) - 1)) !== 0) malformed('a BIT STRING has unused bits set');
      break;
    }
    case TAG.NULL:
      if (content.length !== 0) malformed('a NULL has content');
      break;
    case TAG.OID:
      oidToString(element);
      break;
    case 0x17:
    case 0x18:
      if (!(tag === 0x17 ? UTC_TIME : GENERALIZED_TIME).test(String.fromCharCode(...content))) {
        malformed('a time is not in its DER form (YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ)');
      }
      break;
  }
}

/**
 * Refuses `bytes` unless they are one element in distinguished encoding (X.690 §10 and §11):
 * besides what {@link readElement} refuses (indefinite and non-minimal lengths), constructed
 * forms of primitive types (BER's segmented strings), BOOLEANs other than 0x00/0xff, INTEGERs with
 * redundant leading octets, BIT STRINGs with unused bits set, non-canonical OIDs, times with
 * fractions, offsets or missing seconds, and SET OF elements out of order. Content of OCTET and
 * BIT STRINGs is not descended into (callers check what they know to be DER inside them).
 *
 * @throws {ProvenanceError} `PROV_KEY_INVALID` naming the first violation.
 */
export function assertCanonicalDer(bytes: Uint8Array): void {
  checkCanonical(parseDer(bytes), 0);
}

/** Encodes a TLV with a minimal definite length. */
export function encodeElement(tag: number, content: Uint8Array): Uint8Array {
  let header: number[];
  const n = content.length;
  if (n < 0x80) header = [tag, n];
  else if (n < 0x100) header = [tag, 0x81, n];
  else if (n < 0x10000) header = [tag, 0x82, n >> 8, n & 0xff];
  else header = [tag, 0x83, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  return concat(Uint8Array.from(header), content);
}

/** Encodes a dotted-decimal OID. */
export function encodeOid(oid: string): Uint8Array {
  const arcs = oid.split('.').map(Number);
  const first = (arcs[0] ?? 0) * 40 + (arcs[1] ?? 0);
  const bytes: number[] = [];
  for (const arc of [first, ...arcs.slice(2)]) {
    const chunk: number[] = [arc & 0x7f];
    let rest = Math.floor(arc / 128);
    while (rest > 0) {
      chunk.unshift((rest & 0x7f) | 0x80);
      rest = Math.floor(rest / 128);
    }
    bytes.push(...chunk);
  }
  return encodeElement(TAG.OID, Uint8Array.from(bytes));
}

/** A SEQUENCE of already-encoded elements. */
export function encodeSequence(...items: readonly Uint8Array[]): Uint8Array {
  return encodeElement(TAG.SEQUENCE, concat(...items));
}

/** A small non-negative INTEGER (0–255; a leading 0x00 keeps 128–255 positive, X.690 §8.3). */
export function encodeSmallInteger(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > 255) malformed('a small INTEGER must be 0–255');
  return encodeElement(TAG.INTEGER, value < 0x80 ? Uint8Array.of(value) : Uint8Array.of(0, value));
}

/** A BIT STRING with zero unused bits. */
export function encodeBitString(bytes: Uint8Array): Uint8Array {
  return encodeElement(TAG.BIT_STRING, concat(Uint8Array.of(0), bytes));
}

/** The bytes of a BIT STRING with zero unused bits. */
export function bitStringBytes(element: DerElement): Uint8Array {
  if (element.tag !== TAG.BIT_STRING || element.content[0] !== 0) malformed('expected a BIT STRING');
  return element.content.subarray(1);
}
