/**
 * A minimal ASN.1 DER reader and writer (ITU-T X.690 §8 and §10), just enough for public and
 * private key containers (RFC 5280 SubjectPublicKeyInfo, RFC 5208/5958 PKCS#8, RFC 5915 SEC1
 * ECPrivateKey) and for reaching the SubjectPublicKeyInfo inside an X.509 certificate.
 *
 * The reader is strict where it matters for keys: definite lengths only, minimal length
 * encodings, no trailing bytes after a top-level element, lengths bounded by the input. It never
 * interprets what it does not need; unknown tags are returned as raw TLVs.
 *
 * Deliberately not here: a general ASN.1 library, BER, X.509 path validation (certificate chains
 * are a job for a maintained verifier), time or string types.
 *
 * @module
 */

import { concat } from './bytes.ts';
import { ProvenanceError } from './errors.ts';

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

/** The children of a constructed element (SEQUENCE, context tag…). */
export function children(element: DerElement): DerElement[] {
  const out: DerElement[] = [];
  let offset = 0;
  while (offset < element.content.length) {
    const { element: child, next } = readElement(element.content, offset);
    out.push(child);
    offset = next;
  }
  return out;
}

/** Dotted-decimal form of an OBJECT IDENTIFIER element. */
export function oidToString(element: DerElement): string {
  if (element.tag !== TAG.OID || element.content.length === 0) malformed('expected an OID');
  const parts: number[] = [];
  let value = 0;
  for (const byte of element.content) {
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) malformed('OID arc too large');
    if (!(byte & 0x80)) {
      if (parts.length === 0)
        parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
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

/** A small non-negative INTEGER. */
export function encodeSmallInteger(value: number): Uint8Array {
  return encodeElement(TAG.INTEGER, Uint8Array.of(value));
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
