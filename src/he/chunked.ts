/**
 * Chunked containers (format version 2): an encrypted batch or result as a sequence of
 * independently verifiable chunks, so a file of any row count is written, scored and read in
 * bounded memory. Each chunk is exactly one version-1 container (`container.ts`) of the same kind
 * for a slice of rows, so whatever handles one v1 batch or result (`HeClient`, `HeServer`, the
 * worker pool) handles one chunk unchanged. Version-1 files stay readable everywhere.
 *
 * Layout (little-endian):
 *
 * | part | size | field |
 * | --- | --- | --- |
 * | header | 4 | magic `CNFD` |
 * | | 2 | format version (2) |
 * | | 1 | kind (3 encrypted batch, 4 encrypted result) |
 * | | 1 | reserved, 0 |
 * | | 32 | parameter fingerprint |
 * | | 16 | key-set id |
 * | | 16 | stream id (random for a batch; derived from the batch's header digest for its result) |
 * | | 4 | rows per chunk R (every chunk but the last holds exactly R rows) |
 * | | 4 | metadata length M (≤ 64 KiB) |
 * | | 32 | header digest: SHA-256 over the 80 bytes above and the metadata |
 * | | M | metadata, UTF-8 JSON (`layout`, `features` or `outputs`, `interface`, …) |
 * | chunk i | 4 | tag `CHNK` |
 * | | 4 | chunk index i (0, 1, 2, …) |
 * | | 4 | length L |
 * | | 32 | link: SHA-256("confide/chunk" ‖ header digest ‖ u32 i ‖ the chunk's own v1 digest) |
 * | | L | a v1 container of the header's kind, fingerprint and key set |
 * | end | 4 | tag `CEND` |
 * | | 4 | chunk count K |
 * | | 8 | total rows |
 * | | 32 | SHA-256("confide/chunk-list" ‖ header digest ‖ link 0 ‖ … ‖ link K−1 ‖ u32 K ‖ u64 rows) |
 *
 * **Commitment: a digest list, closed by the end record, not a Merkle root.** A streaming
 * writer knows neither the chunk count nor any chunk's digest when it writes the header, so the
 * header cannot commit to the chunks; instead every chunk's link binds it to the header (random
 * stream id included) and to its index, and the end record commits to the list of all links, the
 * count and the rows. Chunks are only ever read in order, so a Merkle tree's one advantage
 * (proving one chunk without the others) buys nothing here. The link covers the chunk's own v1
 * digest (bytes 64–95 of the chunk), not its bytes: the calling thread checks the links (32-byte
 * hashes), and whoever decodes a chunk (`decodeContainer`, in a worker or not) checks its bytes
 * against that digest. Together, a flipped bit anywhere, a reordered, duplicated, dropped or
 * foreign chunk (from another file, even under the same keys) and a cut file are each refused
 * with a coded {@link HeError} that names the chunk.
 *
 * The end record arrives last: a reader hands out chunks before it has seen it, so consumers
 * must treat their output as provisional until the reader finishes without error (the CLI writes
 * to a temporary file and moves it into place only then).
 *
 * Digests detect corruption, not tampering (anyone can recompute them); authenticity is
 * provenance's job, as for v1.
 *
 * Deliberately not here: SEAL, encryption, scoring (`stream.ts`), files (the CLI).
 *
 * @module
 */

import { HeError } from '../errors.ts';
import { ByteWriter, equalBytes, randomBytes, sha256 } from '../internal/bytes.ts';
import { CONTAINER_VERSION, peekContainer } from './container.ts';

/** The chunked container format version. */
export const CHUNKED_VERSION = 2;

/** The kinds a chunked container holds. */
export type ChunkedKind = 'encrypted-batch' | 'encrypted-result';

const KIND_CODES: Readonly<Record<ChunkedKind, number>> = { 'encrypted-batch': 3, 'encrypted-result': 4 };
const MAGIC = Uint8Array.of(0x43, 0x4e, 0x46, 0x44); // "CNFD"
const CHUNK_TAG = Uint8Array.of(0x43, 0x48, 0x4e, 0x4b); // "CHNK"
const END_TAG = Uint8Array.of(0x43, 0x45, 0x4e, 0x44); // "CEND"
const HEADER_FIXED = 112;
const FRAME_FIXED = 44;
const END_BYTES = 48;
const MAX_METADATA_BYTES = 64 * 1024;
const MAX_CHUNKS = 2 ** 32 - 1;
const LINK_LABEL = new TextEncoder().encode('confide/chunk');
const LIST_LABEL = new TextEncoder().encode('confide/chunk-list');
const RESULT_LABEL = new TextEncoder().encode('confide/result-stream');

/** The header of a chunked container. */
export interface ChunkedHeader {
  readonly kind: ChunkedKind;
  readonly fingerprint: Uint8Array;
  readonly keySetId: Uint8Array;
  readonly streamId: Uint8Array;
  /** Rows in every chunk but the last (which holds 1 to `chunkRows`). */
  readonly chunkRows: number;
  readonly metadata: Record<string, unknown>;
  /** SHA-256 over the fixed header fields and the metadata. */
  readonly digest: Uint8Array;
  /** The header's bytes, as written. */
  readonly bytes: Uint8Array;
}

/** One chunk as read: its index and its v1 container (a fresh copy, safe to transfer). */
export interface Chunk {
  readonly index: number;
  readonly rows: number;
  readonly bytes: Uint8Array;
}

function u32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, true);
  return out;
}

function u64(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
}

/** Is `head` (at least 6 bytes) the start of a chunked container? */
export function isChunked(head: Uint8Array): boolean {
  return (
    head.length >= 6 &&
    equalBytes(head.subarray(0, 4), MAGIC) &&
    new DataView(head.buffer, head.byteOffset, 6).getUint16(4, true) === CHUNKED_VERSION
  );
}

/** Writes a chunked header. `streamId` defaults to 16 random bytes. */
export function encodeChunkedHeader(input: {
  kind: ChunkedKind;
  fingerprint: Uint8Array;
  keySetId: Uint8Array;
  chunkRows: number;
  metadata: Record<string, unknown>;
  streamId?: Uint8Array;
}): ChunkedHeader {
  const metadata = new TextEncoder().encode(JSON.stringify(input.metadata));
  if (metadata.length > MAX_METADATA_BYTES)
    throw new HeError('HE_CONTAINER_TOO_LARGE', 'chunked container metadata exceeds 64 KiB');
  const streamId = input.streamId ?? randomBytes(16);
  const fixed = new ByteWriter()
    .bytes(MAGIC)
    .u16(CHUNKED_VERSION)
    .u8(KIND_CODES[input.kind])
    .u8(0)
    .bytes(input.fingerprint)
    .bytes(input.keySetId)
    .bytes(streamId)
    .u32(input.chunkRows)
    .u32(metadata.length)
    .finish();
  const digest = sha256(fixed, metadata);
  const bytes = new Uint8Array(HEADER_FIXED + metadata.length);
  bytes.set(fixed, 0);
  bytes.set(digest, 80);
  bytes.set(metadata, HEADER_FIXED);
  return {
    kind: input.kind,
    fingerprint: input.fingerprint,
    keySetId: input.keySetId,
    streamId,
    chunkRows: input.chunkRows,
    metadata: input.metadata,
    digest,
    bytes,
  };
}

/** The stream id of the result of the batch with header digest `batchDigest`: deterministic, so results are reproducible byte for byte. */
export function resultStreamId(batchDigest: Uint8Array): Uint8Array {
  return sha256(RESULT_LABEL, batchDigest).subarray(0, 16);
}

function link(header: ChunkedHeader, index: number, chunk: Uint8Array): Uint8Array {
  return sha256(LINK_LABEL, header.digest, u32(index), chunk.subarray(64, 96));
}

/**
 * Writes chunks in order under one header: {@link ChunkWriter.chunk} returns each frame's bytes,
 * {@link ChunkWriter.end} the end record.
 */
export class ChunkWriter {
  readonly #header: ChunkedHeader;
  readonly #links: Uint8Array[] = [];
  #rows = 0;
  #ended = false;

  constructor(header: ChunkedHeader) {
    this.#header = header;
  }

  /** Frames chunk `this.count` (a v1 container of the header's kind and binding). */
  chunk(container: Uint8Array, rows: number): Uint8Array {
    if (this.#ended) throw new HeError('HE_CONTAINER_MALFORMED', 'the chunked container was already ended');
    const index = this.#links.length;
    checkChunkBinding(this.#header, index, container);
    const l = link(this.#header, index, container);
    this.#links.push(l);
    this.#rows += rows;
    const out = new Uint8Array(FRAME_FIXED + container.length);
    const view = new DataView(out.buffer);
    out.set(CHUNK_TAG, 0);
    view.setUint32(4, index, true);
    view.setUint32(8, container.length, true);
    out.set(l, 12);
    out.set(container, FRAME_FIXED);
    return out;
  }

  /** The end record, committing to every chunk written. */
  end(): Uint8Array {
    if (this.#links.length === 0)
      throw new HeError('HE_CONTAINER_MALFORMED', 'a chunked container needs at least one chunk');
    this.#ended = true;
    return endRecord(this.#header, this.#links, this.#rows);
  }
}

function endRecord(header: ChunkedHeader, links: readonly Uint8Array[], rows: number): Uint8Array {
  const out = new Uint8Array(END_BYTES);
  const view = new DataView(out.buffer);
  out.set(END_TAG, 0);
  view.setUint32(4, links.length, true);
  view.setBigUint64(8, BigInt(rows), true);
  out.set(sha256(LIST_LABEL, header.digest, ...links, u32(links.length), u64(rows)), 16);
  return out;
}

/** Checks a chunk's own v1 header against the stream header (kind, version, binding); not its digest. */
function checkChunkBinding(header: ChunkedHeader, index: number, chunk: Uint8Array): number {
  const peek = peekContainer(chunk);
  const version = chunk.length >= 6 ? new DataView(chunk.buffer, chunk.byteOffset, 6).getUint16(4, true) : -1;
  if (peek === undefined || version !== CONTAINER_VERSION) {
    throw new HeError('HE_CONTAINER_MALFORMED', `chunk ${index} is not a version-1 confide container`);
  }
  if (peek.kind !== header.kind) {
    throw new HeError(
      'HE_WRONG_KIND',
      `chunk ${index} holds ${peek.kind}, but this file holds ${header.kind}`,
    );
  }
  if (
    !equalBytes(chunk.subarray(8, 40), header.fingerprint) ||
    !equalBytes(chunk.subarray(40, 56), header.keySetId)
  ) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `chunk ${index} was made with other parameters or another key set than the file's header: it does not belong to this file`,
    );
  }
  const rows = peek.metadata.rows;
  if (typeof rows !== 'number' || !Number.isSafeInteger(rows) || rows < 1 || rows > header.chunkRows) {
    throw new HeError(
      'HE_CONTAINER_MALFORMED',
      `chunk ${index} declares ${String(rows)} rows; chunks of this file hold 1 to ${header.chunkRows}`,
    );
  }
  for (const field of ['layout', 'interface'] as const) {
    if (peek.metadata[field] !== header.metadata[field]) {
      throw new HeError(
        'HE_CONTAINER_MALFORMED',
        `chunk ${index} has another ${field} than the file's header: it does not belong to this file`,
      );
    }
  }
  return rows;
}

/** Buffers an async byte source and hands out exact byte counts. */
class Pull {
  readonly #source: AsyncIterator<Uint8Array>;
  #pending: Uint8Array[] = [];
  #buffered = 0;
  #done = false;

  constructor(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    if (
      source === null ||
      typeof source !== 'object' ||
      !(Symbol.asyncIterator in source || Symbol.iterator in source)
    ) {
      throw new HeError(
        'HE_CONTAINER_MALFORMED',
        'a chunked container source must be an iterable of Uint8Arrays',
      );
    }
    this.#source =
      Symbol.asyncIterator in source
        ? source[Symbol.asyncIterator]()
        : (async function* () {
            yield* source;
          })();
  }

  /** Fills the buffer to at least `count` bytes; false when the source ends first. */
  async #fill(count: number): Promise<boolean> {
    while (this.#buffered < count) {
      if (this.#done) return false;
      const next = await this.#source.next();
      if (next.done) {
        this.#done = true;
        return false;
      }
      if (!(next.value instanceof Uint8Array)) {
        throw new HeError('HE_CONTAINER_MALFORMED', 'a chunked container source must yield Uint8Arrays');
      }
      if (next.value.length > 0) {
        this.#pending.push(next.value);
        this.#buffered += next.value.length;
      }
    }
    return true;
  }

  /** Exactly `count` bytes in a fresh plain Uint8Array, or `undefined` when the source ends first. */
  async take(count: number): Promise<Uint8Array | undefined> {
    if (!(await this.#fill(count))) return undefined;
    const out = new Uint8Array(count);
    let offset = 0;
    while (offset < count) {
      const head = this.#pending[0] as Uint8Array;
      const n = Math.min(head.length, count - offset);
      out.set(head.subarray(0, n), offset);
      offset += n;
      if (n === head.length) this.#pending.shift();
      else this.#pending[0] = head.subarray(n);
    }
    this.#buffered -= count;
    return out;
  }

  /** Whether any byte is left. */
  async atEnd(): Promise<boolean> {
    return !(await this.#fill(1));
  }

  async close(): Promise<void> {
    await this.#source.return?.();
  }
}

function cut(what: string): HeError {
  return new HeError(
    'HE_CONTAINER_TRUNCATED',
    `the chunked file is truncated (${what}): it was cut short; copy or send it again`,
  );
}

/** Options of {@link readChunked}. */
export interface ReadChunkedOptions {
  /** Largest chunk accepted, in bytes (default 256 MiB). */
  readonly maxChunkBytes?: number;
}

/**
 * Reads a chunked container in order: first the header (returned by `header()` once the first
 * value is requested), then one {@link Chunk} per frame, after checking its tag, index, length,
 * link and binding. The generator completes only after the end record matched; any error names
 * the chunk. Chunk contents are checked against their own digest by whoever decodes them.
 */
export async function* readChunked(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  kind: ChunkedKind,
  onHeader: (header: ChunkedHeader) => void,
  options: ReadChunkedOptions = {},
): AsyncGenerator<Chunk, void, undefined> {
  const maxChunkBytes = options.maxChunkBytes ?? 256 * 1024 * 1024;
  const pull = new Pull(source);
  try {
    const fixed = await pull.take(HEADER_FIXED);
    if (fixed === undefined) throw cut('the header is missing');
    if (!equalBytes(fixed.subarray(0, 4), MAGIC))
      throw new HeError(
        'HE_CONTAINER_MALFORMED',
        `this is not a confide container (no CNFD magic); expected ${kind}`,
      );
    const view = new DataView(fixed.buffer);
    const version = view.getUint16(4, true);
    if (version !== CHUNKED_VERSION)
      throw new HeError(
        'HE_CONTAINER_VERSION',
        `expected a chunked (version ${CHUNKED_VERSION}) container, got version ${version}`,
      );
    const kindCode = view.getUint8(6);
    if (kindCode !== KIND_CODES[kind]) {
      throw new HeError(
        'HE_WRONG_KIND',
        `this chunked container does not hold ${kind} (kind ${kindCode}): check which file you passed`,
      );
    }
    if (view.getUint8(7) !== 0)
      throw new HeError('HE_CONTAINER_MALFORMED', 'the container has a non-zero reserved byte');
    const chunkRows = view.getUint32(72, true);
    const metadataLength = view.getUint32(76, true);
    if (chunkRows < 1)
      throw new HeError('HE_CONTAINER_MALFORMED', 'the chunked header declares 0 rows per chunk');
    if (metadataLength > MAX_METADATA_BYTES)
      throw new HeError(
        'HE_CONTAINER_TOO_LARGE',
        `the chunked header declares ${metadataLength} bytes of metadata; at most 64 KiB are allowed`,
      );
    const metadataBytes = await pull.take(metadataLength);
    if (metadataBytes === undefined) throw cut('the header metadata is missing');
    const digest = fixed.slice(80, 112);
    if (!equalBytes(sha256(fixed.subarray(0, 80), metadataBytes), digest)) {
      throw new HeError(
        'HE_CONTAINER_CORRUPT',
        'the chunked header digest does not match: the header was corrupted (or altered)',
      );
    }
    let metadata: unknown;
    try {
      metadata = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(metadataBytes));
    } catch (cause) {
      throw new HeError('HE_CONTAINER_MALFORMED', 'the chunked header metadata is not valid UTF-8 JSON', {
        cause,
      });
    }
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
      throw new HeError('HE_CONTAINER_MALFORMED', 'the chunked header metadata must be a JSON object');
    const bytes = new Uint8Array(HEADER_FIXED + metadataLength);
    bytes.set(fixed, 0);
    bytes.set(metadataBytes, HEADER_FIXED);
    const header: ChunkedHeader = {
      kind,
      fingerprint: fixed.slice(8, 40),
      keySetId: fixed.slice(40, 56),
      streamId: fixed.slice(56, 72),
      chunkRows,
      metadata: metadata as Record<string, unknown>,
      digest,
      bytes,
    };
    onHeader(header);
    const links: Uint8Array[] = [];
    let rows = 0;
    let lastRows = chunkRows;
    for (;;) {
      const index = links.length;
      const tag = await pull.take(4);
      if (tag === undefined) throw cut(`chunk ${index} or the end record is missing`);
      if (equalBytes(tag, END_TAG)) break;
      if (!equalBytes(tag, CHUNK_TAG))
        throw new HeError(
          'HE_CONTAINER_MALFORMED',
          `chunk ${index}: expected a chunk or the end record, found neither`,
        );
      if (lastRows !== chunkRows) {
        throw new HeError(
          'HE_CONTAINER_MALFORMED',
          `chunk ${index - 1} holds ${lastRows} rows, fewer than ${chunkRows}, but is not the last chunk`,
        );
      }
      const frame = await pull.take(FRAME_FIXED - 4);
      if (frame === undefined) throw cut(`chunk ${index}'s frame header is cut`);
      const frameView = new DataView(frame.buffer);
      const declared = frameView.getUint32(0, true);
      const length = frameView.getUint32(4, true);
      if (declared !== index) {
        throw new HeError(
          'HE_CONTAINER_MALFORMED',
          `chunk ${declared} arrived where chunk ${index} was expected: chunks were reordered, duplicated or dropped`,
        );
      }
      if (length > maxChunkBytes)
        throw new HeError(
          'HE_CONTAINER_TOO_LARGE',
          `chunk ${index} declares ${length} bytes; at most ${maxChunkBytes} are allowed`,
        );
      const chunk = await pull.take(length);
      if (chunk === undefined) throw cut(`chunk ${index} is cut short`);
      const chunkRowsHere = checkChunkBinding(header, index, chunk);
      const expected = link(header, index, chunk);
      if (!equalBytes(expected, frame.subarray(8, 40))) {
        throw new HeError(
          'HE_CONTAINER_CORRUPT',
          `chunk ${index} does not belong to this file at this place (its link digest does not match): it was corrupted, or copied from another file`,
        );
      }
      links.push(expected);
      rows += chunkRowsHere;
      lastRows = chunkRowsHere;
      yield { index, rows: chunkRowsHere, bytes: chunk };
      if (links.length > MAX_CHUNKS) throw new HeError('HE_CONTAINER_TOO_LARGE', 'too many chunks');
    }
    const rest = await pull.take(END_BYTES - 4);
    if (rest === undefined) throw cut(`the end record after chunk ${links.length - 1} is cut short`);
    if (links.length === 0) throw new HeError('HE_CONTAINER_MALFORMED', 'the chunked file holds no chunk');
    const record = new Uint8Array(END_BYTES);
    record.set(END_TAG, 0);
    record.set(rest, 4);
    const expected = endRecord(header, links, rows);
    const declaredCount = new DataView(record.buffer).getUint32(4, true);
    if (declaredCount !== links.length) {
      throw new HeError(
        'HE_CONTAINER_TRUNCATED',
        `the end record declares ${declaredCount} chunks, but the file holds ${links.length}: chunk ${links.length} onwards is missing or extra chunks were added`,
      );
    }
    if (!equalBytes(record, expected))
      throw new HeError(
        'HE_CONTAINER_CORRUPT',
        `the end record (after chunk ${links.length - 1}) does not match the chunks read`,
      );
    if (!(await pull.atEnd()))
      throw new HeError(
        'HE_CONTAINER_MALFORMED',
        'the chunked file has unexpected bytes after its end record',
      );
  } finally {
    await pull.close();
  }
}
