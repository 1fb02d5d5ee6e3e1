/**
 * The streaming side of `confide he encrypt | infer | decrypt`: CSV → chunked batch (`encrypt`),
 * chunked batch → chunked result (`inferChunked`, called by `he infer` for a version-2 input) and
 * result → predictions.csv (`decrypt`, chunked or version 1), plus the flags and helpers the `he`
 * commands share. Chunk encryption and decryption go through one `ChunkCipher` (the in-process
 * `HeClient` here), the seam for a client pool. Outputs are written through `stream-io.ts`: a
 * temporary file moved into place only once the input's end record matched.
 *
 * Deliberately not here: command registration and the whole-file commands (`he.ts`).
 *
 * @module
 */

import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { HeError } from '../../errors.ts';
import { isChunked } from '../../he/chunked.ts';
import { peekContainer } from '../../he/container.ts';
import { formatPredictionsCsv, readCsvRows } from '../../he/csv.ts';
import {
  type ChunkCipher,
  type DecryptedScores,
  decryptStream,
  encryptStream,
  HeClient,
  type HeServer,
  inferStream,
  type Layout,
} from '../../he/index.ts';
import { createIo, INPUT_LIMITS } from '../io.ts';
import { readModelFile } from '../model-inputs.ts';
import { createProgress, type Progress } from '../progress.ts';
import { openStream, readAll, writeStreamAtomic } from '../stream-io.ts';
import { SECRET_KEY_FILE } from './he-keys.ts';
import {
  chunkRowsFor,
  decryptChunksInFlight,
  fileSize,
  SizedCipher,
  streamCiphertexts,
} from './he-workers.ts';

const { readBytes, writeAtomic } = createIo('HE');

/** The progress reporter of one `he` command, on stderr; `--quiet` silences it. */
export function startProgress(
  label: string,
  flags: { quiet?: boolean },
  total?: number,
  unit?: string,
): Progress {
  return createProgress({
    label,
    stream: process.stderr,
    quiet: flags.quiet === true,
    ...(total === undefined ? {} : { total }),
    ...(unit === undefined ? {} : { unit }),
  });
}

/** Machine output (`--json`) on stdout. */
export function json(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Flags of `confide he infer`. */
export interface InferFlags {
  evalKeys: string;
  model: string;
  in: string;
  out: string;
  featureNames?: string;
  json?: boolean;
  workers?: number;
  attestKey?: string;
  attestation?: string;
  modelAttestation?: string;
  maxInputBytes?: number;
  passwordFile?: string;
  quiet?: boolean;
}

/** What one scored batch contributes to its attestation. */
export interface ScoredBatch {
  /** SHA-256 (hex) of the batch file's bytes. */
  readonly batchDigest: string;
  /** SHA-256 (hex) of the result file's bytes. */
  readonly resultDigest: string;
  readonly keySetId: string;
  readonly parameters: { readonly [key: string]: JsonValue };
}

export type JsonValue = import('../../provenance/index.ts').JsonValue;

/** The longest CSV record `he encrypt` reads without `--max-input-bytes` (records stream one at a time). */
const CSV_RECORD_LIMIT = 1024 * 1024;

/** Counts the rows `onChunk` reports into a progress reporter. */
export function rowTicker(progress: Progress): (rowsDone: number) => void {
  let reported = 0;
  return (rowsDone) => {
    progress.tick(rowsDone - reported);
    reported = rowsDone;
  };
}

/** SHA-256 (hex) of every piece passing through, for attestations of streamed files; `source` itself without one. */
function hashing<T extends Uint8Array | string>(
  source: AsyncIterable<T>,
  into: ReturnType<typeof createHash> | undefined,
): AsyncIterable<T> {
  if (into === undefined) return source;
  return (async function* () {
    for await (const piece of source) {
      into.update(piece);
      yield piece;
    }
  })();
}

/** Counts the bytes (or characters) passing through into `counter.bytes`. */
function counting<T extends Uint8Array | string>(
  source: AsyncIterable<T>,
  counter: { bytes: number },
): AsyncIterable<T> {
  return (async function* () {
    for await (const piece of source) {
      counter.bytes += piece.length;
      yield piece;
    }
  })();
}

/** A version-1 file's ciphertext count from its header, read on its own (undefined when not readable). */
async function peekItems(path: string): Promise<number | undefined> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, 'r');
    const head = new Uint8Array(96 + 64 * 1024);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return peekContainer(head.subarray(0, bytesRead))?.itemCount;
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

/**
 * `confide he encrypt`: CSV rows → chunks of `--chunk-rows` rows → one v1 encrypted batch per
 * chunk → a chunked (version 2) file, streamed, in bounded memory. Chunk encryption goes through
 * one {@link ChunkCipher}: the in-process client here; a parallel client pool plugs in the same way.
 */
export async function encrypt(flags: {
  keys: string;
  model: string;
  in: string;
  out: string;
  layout: string;
  chunkRows?: number;
  featureNames?: string;
  maxInputBytes?: number;
  quiet?: boolean;
  workers?: number;
}): Promise<void> {
  const maxBytes = flags.maxInputBytes;
  if (flags.layout === 'both')
    throw new HeError('HE_PARAMETERS_INVALID', '--layout for encrypt must be auto, batch or single');
  const model = await readModelFile(flags.model, 'model', flags.featureNames, maxBytes);
  const input = await openStream(flags.in, 'CSV');
  try {
    const limit = maxBytes ?? CSV_RECORD_LIMIT;
    const read = { bytes: 0 };
    const totalBytes = await fileSize(flags.in, input.regular);
    const reader = readCsvRows(counting(input.pieces, read), model.features, {
      maxRecordChars: limit,
      onRecordTooLong: (line) =>
        new HeError(
          'HE_INPUT_TOO_LARGE',
          `the CSV record at line ${line} of '${flags.in}' is larger than ${limit} bytes; records are read one at a time: raise the limit with --max-input-bytes`,
        ),
    });
    // The header and the first rows are checked before the keys are read, as a whole-file read would.
    const first = await reader.next();
    const parsed = { rows: 0 };
    const rows = (async function* () {
      if (!first.done) {
        parsed.rows += first.value.length;
        yield first.value;
      }
      for await (const batch of reader) {
        parsed.rows += batch.length;
        yield batch;
      }
    })();
    const client = await HeClient.fromSecretKeys(
      await readBytes(join(flags.keys, SECRET_KEY_FILE), 'secret key file', { kind: 'container', maxBytes }),
      model,
    );
    try {
      const layout = flags.layout === 'auto' ? 'auto' : (flags.layout as Layout);
      // One worker: the default chunk size; more: smaller batch chunks, more of them (he-workers.ts).
      const chunkRows =
        flags.chunkRows ?? chunkRowsFor(client.plan, layout === 'single' ? 'single' : 'batch', flags.workers);
      const progress = startProgress('he encrypt', flags, undefined, 'row');
      // Workers only for work that pays for starting them (he-workers.ts), sized by the first chunk.
      const sized = new SizedCipher(client, flags.workers, (n) => progress.phase(`starting ${n} workers`));
      const { slots, features } = client.plan;
      const cipher: ChunkCipher = {
        plan: client.plan,
        encryptChunk: (chunk, chunkLayout) => {
          if (!sized.decided) {
            const ciphertexts =
              chunkLayout === 'batch' ? Math.ceil(chunk.length / slots) * features : chunk.length;
            sized.expect(
              streamCiphertexts(
                { ciphertexts, rows: chunk.length, bytes: read.bytes },
                chunkRows,
                totalBytes,
              ),
            );
          }
          return sized.encryptChunk(chunk, chunkLayout);
        },
        decryptChunk: (bytes) => sized.decryptChunk(bytes),
      };
      try {
        progress.phase(`encrypting rows in chunks of ${chunkRows}`);
        await writeStreamAtomic(
          flags.out,
          encryptStream(cipher, rows, {
            layout,
            chunkRows,
            concurrency: sized.concurrency,
            onChunk: rowTicker(progress),
          }),
        );
      } finally {
        await sized.close();
      }
      progress.done();
    } finally {
      client.dispose();
    }
  } finally {
    await input.close();
  }
}

/**
 * `he infer` on a chunked batch: chunks stream from the file to the scorer (with `--workers N`,
 * up to 2N chunks in flight on the pool, each worker checking and scoring only its chunks) and
 * the scored chunks stream, in order, to a temporary file moved into place once the batch's end
 * record has matched.
 */
export async function inferChunked(
  flags: InferFlags,
  server: HeServer,
  input: { readonly pieces: AsyncIterable<Uint8Array> },
  progress: Progress,
  attest: ((scored: ScoredBatch) => Promise<string>) | undefined,
): Promise<void> {
  const workers = flags.workers;
  // Hashed on the way through only when an attestation needs the files' digests.
  const batchHash = attest === undefined ? undefined : createHash('sha256');
  const resultHash = attest === undefined ? undefined : createHash('sha256');
  let meta: Readonly<Record<string, unknown>> = {};
  let chunkRows = 0;
  let rows = 0;
  let chunks = 0;
  const tick = rowTicker(progress);
  progress.phase('scoring the encrypted batch chunk by chunk');
  const started = performance.now();
  const resultBytes = await writeStreamAtomic(
    flags.out,
    hashing(
      inferStream(server, hashing(input.pieces, batchHash), {
        concurrency: workers === undefined ? 1 : 2 * workers,
        ...(flags.maxInputBytes === undefined ? {} : { maxChunkBytes: flags.maxInputBytes }),
        onHeader: (metadata, perChunk) => {
          meta = metadata;
          chunkRows = perChunk;
        },
        onChunk: (done) => {
          rows = done;
          chunks++;
          tick(done);
        },
      }),
      resultHash,
    ),
  );
  const millis = performance.now() - started;
  const summary = { layout: meta.layout, rows, chunks, chunkRows, modelDigest: meta.model };
  const extra = workers === undefined ? {} : { workers };
  let attestation: string | undefined;
  if (attest !== undefined) {
    const { polyModulusDegree, coeffModulusBits, scaleBits } = server.plan.parameters;
    attestation = await attest({
      batchDigest: (batchHash as ReturnType<typeof createHash>).digest('hex'),
      resultDigest: (resultHash as ReturnType<typeof createHash>).digest('hex'),
      keySetId: server.keySetId,
      parameters: {
        layout: String(meta.layout),
        rows,
        chunks,
        chunkRows,
        modelCanonicalDigest: server.modelDigest,
        ckks: { polyModulusDegree, coeffModulusBits: [...coeffModulusBits], scaleBits },
        ...extra,
      },
    });
  }
  progress.done();
  if (flags.json)
    json({
      ...summary,
      keySetId: server.keySetId,
      millis,
      resultBytes,
      ...extra,
      ...(attestation === undefined ? {} : { attestation }),
    });
}

/** `he decrypt`: a chunked result streams chunk by chunk into predictions.csv; a v1 result is read whole. */
export async function decrypt(flags: {
  keys: string;
  in: string;
  out: string;
  maxInputBytes?: number;
  quiet?: boolean;
  workers?: number;
}): Promise<void> {
  const maxBytes = flags.maxInputBytes;
  const progress = startProgress('he decrypt', flags, undefined, 'row');
  const client = await HeClient.fromSecretKeys(
    await readBytes(join(flags.keys, SECRET_KEY_FILE), 'secret key file', { kind: 'container', maxBytes }),
  );
  try {
    const input = await openStream(flags.in, 'encrypted result');
    // Workers only for work that pays for starting them (he-workers.ts).
    const sized = new SizedCipher(client, flags.workers, (n) => progress.phase(`starting ${n} workers`));
    if (isChunked(input.head)) {
      try {
        const totalBytes = await fileSize(flags.in, input.regular);
        let chunkRows = 0;
        const cipher: ChunkCipher = {
          plan: client.plan,
          encryptChunk: (rows, layout) => sized.encryptChunk(rows, layout),
          decryptChunk: (bytes) => {
            if (!sized.decided) {
              // Sized by the first chunk: its ciphertexts, and its share of the file.
              const peek = peekContainer(bytes);
              const rows = Number(peek?.metadata.rows ?? chunkRows);
              const first = { ciphertexts: peek?.itemCount ?? 0, rows, bytes: bytes.length };
              sized.expect(streamCiphertexts(first, chunkRows, totalBytes));
            }
            return sized.decryptChunk(bytes);
          },
        };
        try {
          progress.phase('decrypting the result chunk by chunk');
          const scores = decryptStream(cipher, input.pieces, {
            ...(maxBytes === undefined ? {} : { maxChunkBytes: maxBytes }),
            concurrency: decryptChunksInFlight(flags.workers),
            onHeader: (_metadata, perChunk) => {
              chunkRows = perChunk;
            },
            onChunk: rowTicker(progress),
          });
          await writeStreamAtomic(
            flags.out,
            (async function* () {
              let header = true;
              for await (const chunk of scores) {
                yield formatPredictionsCsv(client.model, chunk.predictions, { header });
                header = false;
              }
            })(),
          );
        } finally {
          await sized.close();
        }
        progress.done();
      } finally {
        await input.close();
      }
      return;
    }
    let predictions: DecryptedScores['predictions'];
    try {
      // A version-1 file's header gives its ciphertexts: a pool worth starting starts while the
      // rest is read.
      const items = input.regular && sized.concurrency > 1 ? await peekItems(flags.in) : undefined;
      if (items !== undefined) sized.expect(items);
      const piped = input.regular
        ? undefined
        : await readAll(input, maxBytes ?? INPUT_LIMITS.container, 'encrypted result', flags.in);
      await input.close();
      const result =
        piped ?? (await readBytes(flags.in, 'encrypted result', { kind: 'container', maxBytes }));
      sized.expect(peekContainer(result)?.itemCount ?? 0);
      progress.phase('decrypting the result');
      ({ predictions } = await sized.decryptChunk(result));
    } finally {
      await sized.close();
    }
    progress.tick(predictions.length);
    progress.phase(`writing ${predictions.length} predictions`);
    await writeAtomic(flags.out, formatPredictionsCsv(client.model, predictions), { overwrite: true });
    progress.done();
  } finally {
    client.dispose();
  }
}
