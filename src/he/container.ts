/**
 * The versioned container every serialized confide/he object travels in: secret keys, evaluation
 * keys, encrypted batches and encrypted results. One definition, used by writer and reader.
 *
 * Layout (little-endian):
 *
 * | offset | size | field |
 * | --- | --- | --- |
 * | 0 | 4 | magic `CNFD` |
 * | 4 | 2 | format version (1) |
 * | 6 | 1 | kind (1 secret keys, 2 evaluation keys, 3 encrypted batch, 4 encrypted result) |
 * | 7 | 1 | reserved, 0 |
 * | 8 | 32 | parameter fingerprint (SHA-256, see `context.ts`) |
 * | 40 | 16 | key-set id |
 * | 56 | 4 | metadata length M (≤ 64 KiB) |
 * | 60 | 4 | item count K |
 * | 64 | 32 | SHA-256 over bytes 0–63, the metadata and the items section |
 * | 96 | M | metadata, UTF-8 JSON |
 * | 96+M | … | K items, each a u32 length and that many bytes (a SEAL object) |
 *
 * The reader checks, in order: length, magic, version, kind, reserved byte, declared lengths
 * against the bytes present (never reading past the end), no trailing bytes, the digest (so a
 * flipped bit anywhere is caught before any field is trusted), then the metadata's JSON shape.
 * Comparing the fingerprint and key-set id with the caller's is the caller's job, with the
 * expected values in hand.
 *
 * The digest detects corruption, not tampering: anyone can recompute it. Authenticity is
 * provenance's job (signed attestations over these bytes).
 *
 * Format version 2 is the chunked form of encrypted batches and results, a header, a sequence of
 * version-1 containers and an end record, streamed in bounded memory: `chunked.ts` documents it.
 * This reader refuses it with `HE_CONTAINER_VERSION`; callers that accept both look at the
 * version first (`isChunked`).
 *
 * Deliberately not here: parsing SEAL's own bytes (`seal-bytes.ts`), any WASM.
 *
 * @module
 */

import { HeError } from '../errors.ts';
import { ByteReader, ByteWriter, equalBytes, sha256 } from '../internal/bytes.ts';

/** What a container holds. */
export type ContainerKind = 'secret-keys' | 'evaluation-keys' | 'encrypted-batch' | 'encrypted-result';

const KIND_CODES: Readonly<Record<ContainerKind, number>> = {
  'secret-keys': 1,
  'evaluation-keys': 2,
  'encrypted-batch': 3,
  'encrypted-result': 4,
};
const KIND_NAMES = new Map<number, ContainerKind>(
  Object.entries(KIND_CODES).map(([name, code]) => [code, name as ContainerKind]),
);

const MAGIC = Uint8Array.of(0x43, 0x4e, 0x46, 0x44); // "CNFD"
/** The container format version this code writes and reads. */
export const CONTAINER_VERSION = 1;
const MAX_METADATA_BYTES = 64 * 1024;
const MAX_ITEMS = 1 << 20;

/** A decoded container. `items` are views into the input bytes (no copies). */
export interface Container {
  readonly kind: ContainerKind;
  readonly fingerprint: Uint8Array;
  readonly keySetId: Uint8Array;
  readonly metadata: Record<string, unknown>;
  readonly items: readonly Uint8Array[];
}

/** What to write. */
export interface ContainerInput {
  readonly kind: ContainerKind;
  readonly fingerprint: Uint8Array;
  readonly keySetId: Uint8Array;
  readonly metadata: Record<string, unknown>;
  readonly items: readonly Uint8Array[];
}

/** Serializes a container. */
export function encodeContainer(input: ContainerInput): Uint8Array {
  const metadata = new TextEncoder().encode(JSON.stringify(input.metadata));
  if (metadata.length > MAX_METADATA_BYTES)
    throw new HeError('HE_CONTAINER_TOO_LARGE', 'container metadata exceeds 64 KiB');
  if (input.items.length > MAX_ITEMS)
    throw new HeError('HE_CONTAINER_TOO_LARGE', `a container holds at most ${MAX_ITEMS} items`);
  const head = new ByteWriter()
    .bytes(MAGIC)
    .u16(CONTAINER_VERSION)
    .u8(KIND_CODES[input.kind])
    .u8(0)
    .bytes(input.fingerprint)
    .bytes(input.keySetId)
    .u32(metadata.length)
    .u32(input.items.length)
    .finish();
  // Write straight into the final buffer (payloads are megabytes), then fill in the digest.
  const total = head.length + 32 + metadata.length + input.items.reduce((n, item) => n + 4 + item.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(head, 0);
  let offset = head.length + 32;
  out.set(metadata, offset);
  offset += metadata.length;
  for (const item of input.items) {
    view.setUint32(offset, item.length, true);
    out.set(item, offset + 4);
    offset += 4 + item.length;
  }
  out.set(sha256(head, out.subarray(head.length + 32)), head.length);
  return out;
}

function truncated(what: string): HeError {
  return new HeError(
    'HE_CONTAINER_TRUNCATED',
    `the container is truncated (${what} is missing): the file or upload was cut short; send it again`,
  );
}

/**
 * Reads and checks a container.
 *
 * @param bytes - untrusted bytes
 * @param expectedKind - the kind the caller needs; another kind is refused with `HE_WRONG_KIND`
 * @throws {@link HeError} `HE_CONTAINER_TRUNCATED`, `HE_CONTAINER_MALFORMED`, `HE_CONTAINER_VERSION`,
 *   `HE_WRONG_KIND`, `HE_CONTAINER_TOO_LARGE`, `HE_CONTAINER_CORRUPT`
 */
export function decodeContainer(bytes: Uint8Array, expectedKind: ContainerKind): Container {
  if (!(bytes instanceof Uint8Array)) {
    throw new HeError('HE_CONTAINER_MALFORMED', `expected the ${expectedKind} container as a Uint8Array`);
  }
  if (bytes.length >= 4 && !equalBytes(bytes.subarray(0, 4), MAGIC)) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `this is not a confide container (no CNFD magic); expected ${expectedKind}`,
    );
  }
  // A plain Uint8Array view: node-seal's bindings refuse subclasses such as Node's Buffer.
  const view =
    bytes.constructor === Uint8Array
      ? bytes
      : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reader = new ByteReader(view, truncated);
  reader.bytes(4, 'the magic');
  const version = reader.u16('the format version');
  if (version !== CONTAINER_VERSION) {
    throw new HeError(
      'HE_CONTAINER_VERSION',
      `container format version ${version} is not supported (this confide reads version ${CONTAINER_VERSION}): upgrade confide or re-create the file`,
    );
  }
  const kindCode = reader.u8('the kind');
  const kind = KIND_NAMES.get(kindCode);
  if (kind === undefined) throw new HeError('HE_CONTAINER_MALFORMED', `unknown container kind ${kindCode}`);
  if (kind !== expectedKind) {
    throw new HeError(
      'HE_WRONG_KIND',
      `this container holds ${kind}, but ${expectedKind} was expected: check which file you passed`,
    );
  }
  if (reader.u8('the reserved byte') !== 0)
    throw new HeError('HE_CONTAINER_MALFORMED', 'the container has a non-zero reserved byte');
  const fingerprint = reader.bytes(32, 'the parameter fingerprint');
  const keySetId = reader.bytes(16, 'the key-set id');
  const metadataLength = reader.u32('the metadata length');
  const itemCount = reader.u32('the item count');
  if (metadataLength > MAX_METADATA_BYTES)
    throw new HeError(
      'HE_CONTAINER_TOO_LARGE',
      `container metadata declares ${metadataLength} bytes; at most ${MAX_METADATA_BYTES} are allowed`,
    );
  if (itemCount > MAX_ITEMS)
    throw new HeError(
      'HE_CONTAINER_TOO_LARGE',
      `container declares ${itemCount} items; at most ${MAX_ITEMS} are allowed`,
    );
  const digest = reader.bytes(32, 'the digest');
  const bodyStart = reader.offset;
  const metadataBytes = reader.bytes(metadataLength, 'the metadata');
  const items: Uint8Array[] = [];
  for (let i = 0; i < itemCount; i++) {
    const length = reader.u32(`the length of item ${i}`);
    items.push(reader.bytes(length, `item ${i} (${length} bytes declared)`));
  }
  if (reader.remaining !== 0) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `the container has ${reader.remaining} unexpected bytes after its last item`,
    );
  }
  const actual = sha256(bytes.subarray(0, 64), bytes.subarray(bodyStart));
  if (!equalBytes(actual, digest)) {
    throw new HeError(
      'HE_CONTAINER_CORRUPT',
      'the container digest does not match its contents: the bytes were corrupted (or altered) in storage or transit',
    );
  }
  let metadata: unknown;
  try {
    metadata = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(metadataBytes));
  } catch (error) {
    throw new HeError('HE_CONTAINER_MALFORMED', 'the container metadata is not valid UTF-8 JSON', {
      cause: error,
    });
  }
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new HeError('HE_CONTAINER_MALFORMED', 'the container metadata must be a JSON object');
  }
  return {
    kind,
    fingerprint,
    keySetId,
    metadata: metadata as Record<string, unknown>,
    items,
  };
}

/** Reads a required integer metadata field in [min, max]. */
export function metaInteger(meta: Record<string, unknown>, field: string, min: number, max: number): number {
  const value = meta[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `container metadata field "${field}" must be an integer from ${min} to ${max}`,
    );
  }
  return value;
}

/** Reads a required string metadata field, optionally one of `allowed`. */
export function metaString<T extends string>(
  meta: Record<string, unknown>,
  field: string,
  allowed?: readonly T[],
): T {
  const value = meta[field];
  if (
    typeof value !== 'string' ||
    value.length > 1024 ||
    (allowed && !(allowed as readonly string[]).includes(value))
  ) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `container metadata field "${field}" must be ${allowed ? `one of ${allowed.join(', ')}` : 'a string'}`,
    );
  }
  return value as T;
}

/** What {@link peekContainer} reads: the header and metadata, unchecked. */
export interface ContainerPeek {
  readonly kind: ContainerKind;
  readonly metadata: Record<string, unknown>;
  readonly itemCount: number;
}

/**
 * Reads a container's kind, item count and metadata without checking its digest or walking its
 * items: a few header bytes and at most 64 KiB of JSON, whatever the container's size. For
 * planning work (how many parts to cut a batch into) and summaries of results this process
 * produced, never for trusting content: whatever is scored or decrypted goes through
 * {@link decodeContainer}. Answers `undefined` instead of throwing when the bytes do not look
 * like a container.
 */
export function peekContainer(bytes: Uint8Array): ContainerPeek | undefined {
  if (!(bytes instanceof Uint8Array) || bytes.length < 96 || !equalBytes(bytes.subarray(0, 4), MAGIC)) {
    return undefined;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kind = KIND_NAMES.get(view.getUint8(6));
  const metadataLength = view.getUint32(56, true);
  if (kind === undefined || metadataLength > MAX_METADATA_BYTES || 96 + metadataLength > bytes.length) {
    return undefined;
  }
  try {
    const metadata: unknown = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(96, 96 + metadataLength)),
    );
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return undefined;
    return { kind, metadata: metadata as Record<string, unknown>, itemCount: view.getUint32(60, true) };
  } catch {
    return undefined;
  }
}
