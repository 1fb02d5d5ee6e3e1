/**
 * Streaming encrypted inference over chunked containers (`chunked.ts`): {@link encryptStream}
 * (feature rows → chunked batch), {@link inferStream} (chunked batch → chunked result) and
 * {@link decryptStream} (chunked result → scores per chunk), each an async generator of bytes or
 * scores, so the same code runs in Node and browsers and memory stays bounded by the chunks in
 * flight, whatever the row count.
 *
 * Every chunk is one version-1 container, encrypted, scored and decrypted by the unchanged
 * one-container code: chunk encryption and decryption go through one small interface,
 * {@link ChunkCipher} (an {@link HeClient} is one; a pool of client workers can be another), and
 * scoring through `HeServer.infer` (on this thread or its worker pool). Results are in input
 * order, and a result stream's bytes depend only on the batch stream's bytes (its stream id is
 * derived from the batch header), so one worker and N workers write identical files.
 *
 * Errors keep their codes and name the chunk (`chunk 3: …`); row numbers in encryption errors
 * count from the first row of the stream.
 *
 * Deliberately not here: files, CSV (`csv-reader.ts`), worker pools (handed in).
 *
 * @module
 */

import { ConfideArgumentError, ConfideError, HeError } from '../errors.ts';
import { assertInteger, assertObject } from '../internal/assert.ts';
import {
  type ChunkedHeader,
  ChunkWriter,
  encodeChunkedHeader,
  readChunked,
  resultStreamId,
} from './chunked.ts';
import type { DecryptedScores, HeClient } from './client.ts';
import { peekContainer } from './container.ts';
import type { HePlan, Layout } from './params.ts';
import type { HeServer } from './server.ts';

/**
 * Encrypts and decrypts one chunk: the seam where a client-side worker pool plugs in. An
 * {@link HeClient} is used through this interface as it is.
 */
export interface ChunkCipher {
  /** The plan of the keys (for the layout and default chunk size). */
  readonly plan: HePlan;
  /** Encrypts rows (model feature order, unscaled) into one version-1 encrypted-batch container. */
  encryptChunk(rows: readonly Float64Array[], layout: Layout): Promise<Uint8Array>;
  /** Decrypts one version-1 encrypted-result container. */
  decryptChunk(bytes: Uint8Array): Promise<DecryptedScores>;
}

/** Options of {@link encryptStream}. */
export interface EncryptStreamOptions {
  /** `auto` (default): batch, unless all rows fit in one chunk and single costs fewer bytes. */
  readonly layout?: Layout | 'auto';
  /** Rows per chunk (default {@link defaultChunkRows}). */
  readonly chunkRows?: number;
  /** Chunks being encrypted at once (default 1; more only helps a parallel {@link ChunkCipher}). */
  readonly concurrency?: number;
  /** Called after each chunk is written, with the rows written so far. */
  readonly onChunk?: (rowsDone: number) => void;
}

/** Options of {@link inferStream} and {@link decryptStream}. */
export interface ChunkStreamOptions {
  /** Chunks in flight at once (default 1; `2 × workers` suits a worker pool). */
  readonly concurrency?: number;
  /** Largest chunk accepted, in bytes (default 256 MiB). */
  readonly maxChunkBytes?: number;
  /** Called after each chunk, with the rows done so far. */
  readonly onChunk?: (rowsDone: number) => void;
  /** Called once with the result's header metadata (`layout`, `outputs`, `model`, `interface`) and rows per chunk. */
  readonly onHeader?: (metadata: Readonly<Record<string, unknown>>, chunkRows: number) => void;
}

/**
 * The default rows per chunk: 4 ciphertext groups (4 × slots rows, 16,384 at N = 8192) in the
 * batch layout, 256 rows (one ciphertext each) in the single layout.
 */
export function defaultChunkRows(plan: HePlan, layout: Layout = 'batch'): number {
  return layout === 'single' ? 256 : 4 * plan.slots;
}

function asCipher(client: HeClient | ChunkCipher): ChunkCipher {
  assertObject(client, 'client');
  if ('encryptChunk' in client) return client;
  return {
    plan: client.plan,
    encryptChunk: async (rows, layout) => client.encrypt(rows as Float64Array[], { layout }),
    decryptChunk: async (bytes) => client.decrypt(bytes),
  };
}

/**
 * The same error (class and code), its message prefixed with the chunk, or, for an error naming a
 * data row, that row counted from the stream's first row (`firstRow` = rows before the chunk).
 */
function inChunk(error: unknown, index: number, firstRow = 0): unknown {
  if (!(error instanceof ConfideError) || error.message.startsWith(`chunk ${index}`)) return error;
  const named = /^data row (\d+)/.exec(error.message);
  // A row number counted from the stream's first row names the place already.
  if (named !== null && firstRow === 0) return error;
  const message =
    named === null
      ? `chunk ${index}: ${error.message}`
      : error.message.replace(/^data row (\d+)/, (_, r: string) => `data row ${Number(r) + firstRow}`);
  const Kind = error.constructor as new (
    code: string,
    message: string,
    options: { cause: unknown; fields?: readonly string[] },
  ) => ConfideError;
  return new Kind(error.code, message, {
    cause: error,
    ...(error.fields === undefined ? {} : { fields: error.fields }),
  });
}

/** Runs `start(item)` for up to `limit` items at once and yields their results in order. */
async function* ordered<T, R>(
  items: AsyncIterable<T>,
  limit: number,
  start: (item: T) => Promise<R>,
): AsyncGenerator<R, void, undefined> {
  const queue: Promise<R>[] = [];
  for await (const item of items) {
    const job = start(item);
    job.catch(() => {}); // awaited in order below; never an unhandled rejection meanwhile
    queue.push(job);
    if (queue.length >= limit) yield await (queue.shift() as Promise<R>);
  }
  while (queue.length > 0) yield await (queue.shift() as Promise<R>);
}

/** Cuts row batches of any size into chunks of exactly `size` rows (the last may be shorter). */
async function* rechunk(
  source: AsyncIterable<readonly Float64Array[]> | Iterable<readonly Float64Array[]>,
  size: number,
): AsyncGenerator<Float64Array[], void, undefined> {
  let buffer: Float64Array[] = [];
  for await (const batch of source) {
    if (!Array.isArray(batch)) {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'rows must yield arrays of feature rows');
    }
    for (const row of batch) {
      buffer.push(row as Float64Array);
      if (buffer.length === size) {
        yield buffer;
        buffer = [];
      }
    }
  }
  if (buffer.length > 0) yield buffer;
}

function headerFromChunk(
  kind: 'encrypted-batch' | 'encrypted-result',
  chunk: Uint8Array,
  chunkRows: number,
  streamId?: Uint8Array,
): ChunkedHeader {
  const peek = peekContainer(chunk);
  if (peek === undefined || peek.kind !== kind) {
    throw new HeError('HE_CONTAINER_MALFORMED', `chunk 0 is not an ${kind} container`);
  }
  const { rows: _rows, chunks: _chunks, ...metadata } = peek.metadata;
  return encodeChunkedHeader({
    kind,
    fingerprint: chunk.slice(8, 40),
    keySetId: chunk.slice(40, 56),
    chunkRows,
    metadata,
    ...(streamId === undefined ? {} : { streamId }),
  });
}

/**
 * Encrypts feature rows into a chunked encrypted batch, yielding its bytes in order (header,
 * chunks, end record). `rows` yields arrays of rows of any size (e.g. what `readCsvRows` reads);
 * they are cut into chunks of `chunkRows`.
 *
 * @throws {@link HeError} every error of `HeClient.encrypt`, naming the chunk and the row
 */
export async function* encryptStream(
  client: HeClient | ChunkCipher,
  rows: AsyncIterable<readonly Float64Array[]> | Iterable<readonly Float64Array[]>,
  options: EncryptStreamOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const cipher = asCipher(client);
  assertObject(options, 'options');
  const plan = cipher.plan;
  const requested = options.layout ?? 'auto';
  if (requested !== 'auto' && !plan.layouts.includes(requested)) {
    throw new HeError(
      'HE_LAYOUT_UNAVAILABLE',
      `these keys support the ${plan.layouts.join(' and ')} layout, not ${String(requested)}: generate keys with that layout`,
    );
  }
  const chunkRows =
    options.chunkRows === undefined
      ? defaultChunkRows(plan, requested === 'single' ? 'single' : 'batch')
      : assertInteger(options.chunkRows, 'options.chunkRows', 1, 1 << 24);
  const concurrency =
    options.concurrency === undefined
      ? 1
      : assertInteger(options.concurrency, 'options.concurrency', 1, 1024);
  const chunks = rechunk(rows, chunkRows);
  const first = await chunks.next();
  if (first.done) throw new HeError('HE_VALUE_OUT_OF_RANGE', 'there are no rows to encrypt');
  const second = await chunks.next();
  let layout: Layout;
  if (requested !== 'auto') layout = requested;
  else if (plan.layouts.length === 1) layout = plan.layouts[0] as Layout;
  else if (second.done) {
    const n = first.value.length;
    layout = n < Math.ceil(n / plan.slots) * plan.features ? 'single' : 'batch';
  } else layout = 'batch';
  async function* all(): AsyncGenerator<{ index: number; rows: Float64Array[] }> {
    let index = 0;
    yield { index: index++, rows: first.value as Float64Array[] };
    if (second.done) return;
    yield { index: index++, rows: second.value };
    for await (const rows of chunks) yield { index: index++, rows };
  }
  let writer: ChunkWriter | undefined;
  let done = 0;
  const encrypted = ordered(all(), concurrency, async ({ index, rows }) => {
    try {
      return { rows: rows.length, bytes: await cipher.encryptChunk(rows, layout) };
    } catch (error) {
      throw inChunk(error, index, index * chunkRows);
    }
  });
  for await (const chunk of encrypted) {
    if (writer === undefined) {
      const header = headerFromChunk('encrypted-batch', chunk.bytes, chunkRows);
      writer = new ChunkWriter(header);
      yield header.bytes;
    }
    yield writer.chunk(chunk.bytes, chunk.rows);
    done += chunk.rows;
    options.onChunk?.(done);
  }
  yield (writer as ChunkWriter).end();
}

/**
 * Scores a chunked encrypted batch chunk by chunk with `server` (on its worker pool when it has
 * one: each worker checks and scores only the chunks it is given), yielding the chunked
 * encrypted result's bytes in order. Byte for byte the same whatever the concurrency or pool size.
 * The output is final only when the generator completes: the batch's end record comes last.
 *
 * @throws {@link HeError} every error of `HeServer.infer` and of the chunked reader, naming the chunk
 */
export async function* inferStream(
  server: HeServer,
  batch: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ChunkStreamOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  assertObject(server, 'server');
  assertObject(options, 'options');
  const concurrency =
    options.concurrency === undefined
      ? 1
      : assertInteger(options.concurrency, 'options.concurrency', 1, 1024);
  let batchHeader: ChunkedHeader | undefined;
  const chunks = readChunked(
    batch,
    'encrypted-batch',
    (h) => {
      batchHeader = h;
    },
    options.maxChunkBytes === undefined ? {} : { maxChunkBytes: options.maxChunkBytes },
  );
  const scored = ordered(chunks, concurrency, async (chunk) => {
    try {
      return { rows: chunk.rows, bytes: (await server.infer(chunk.bytes)).result };
    } catch (error) {
      throw inChunk(error, chunk.index);
    }
  });
  let writer: ChunkWriter | undefined;
  let done = 0;
  for await (const chunk of scored) {
    if (writer === undefined) {
      const source = batchHeader as ChunkedHeader;
      const header = headerFromChunk(
        'encrypted-result',
        chunk.bytes,
        source.chunkRows,
        resultStreamId(source.digest),
      );
      writer = new ChunkWriter(header);
      options.onHeader?.(header.metadata, header.chunkRows);
      yield header.bytes;
    }
    yield writer.chunk(chunk.bytes, chunk.rows);
    done += chunk.rows;
    options.onChunk?.(done);
  }
  if (writer === undefined) throw new HeError('HE_CONTAINER_MALFORMED', 'the chunked batch holds no chunk');
  yield writer.end();
}

/**
 * Decrypts a chunked encrypted result chunk by chunk, yielding each chunk's scores and
 * predictions in row order. The predictions are final only when the generator completes: the
 * result's end record comes last.
 *
 * @throws {@link HeError} every error of `HeClient.decrypt` and of the chunked reader, naming the chunk
 */
export async function* decryptStream(
  client: HeClient | ChunkCipher,
  result: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ChunkStreamOptions = {},
): AsyncGenerator<DecryptedScores, void, undefined> {
  const cipher = asCipher(client);
  assertObject(options, 'options');
  const concurrency =
    options.concurrency === undefined
      ? 1
      : assertInteger(options.concurrency, 'options.concurrency', 1, 1024);
  const chunks = readChunked(
    result,
    'encrypted-result',
    (h) => options.onHeader?.(h.metadata, h.chunkRows),
    options.maxChunkBytes === undefined ? {} : { maxChunkBytes: options.maxChunkBytes },
  );
  let done = 0;
  const decrypted = ordered(chunks, concurrency, async (chunk) => {
    try {
      return await cipher.decryptChunk(chunk.bytes);
    } catch (error) {
      throw inChunk(error, chunk.index);
    }
  });
  for await (const scores of decrypted) {
    done += scores.predictions.length;
    options.onChunk?.(done);
    yield scores;
  }
}
