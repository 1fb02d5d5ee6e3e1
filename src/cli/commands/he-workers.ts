/**
 * `--workers N` of `he encrypt` and `he decrypt`: worker threads only when the work pays for
 * starting them.
 *
 * Starting a client pool (a thread per worker, SEAL instantiated in each, the secret key loaded)
 * costs more than encrypting or decrypting a few ciphertexts on this thread, so `he decrypt
 * --workers 2` on a one-ciphertext result was slower than `--workers 1`. The rule: a worker is
 * started only for at least {@link MIN_CIPHERTEXTS_PER_WORKER} ciphertexts of work, so N workers
 * run only on N × that many, fewer on less, and this thread alone below twice that
 * ({@link workersFor}). The work is counted from what is known first: a version-1 result's header
 * (its ciphertext count, before the rest is read), or the first chunk of a chunked stream (exact
 * when it is the only chunk; otherwise scaled by the file's size, and unbounded for a pipe).
 *
 * {@link SizedCipher} is the `ChunkCipher` that applies it: it starts the pool in the background
 * as soon as the size is known, so the start overlaps reading, and hands every chunk to the pool
 * once started (to this thread before). Results are the same either way (same format; decrypted
 * scores equal).
 *
 * Deliberately not here: the pools themselves (`confide/worker`), CSV, files.
 *
 * @module
 */

import { stat } from 'node:fs/promises';
import {
  type ChunkCipher,
  type DecryptedScores,
  defaultChunkRows,
  type HeClient,
  type HePlan,
  type Layout,
} from '../../he/index.ts';
import { HeClientPool } from '../../worker/index.ts';

/**
 * Ciphertexts of work each worker must get before `--workers` starts it. Starting one costs about
 * as much as encrypting or decrypting this many ciphertexts on this thread (README, "Workers").
 */
export const MIN_CIPHERTEXTS_PER_WORKER = 128;

/** Workers worth starting for `ciphertexts` (at least) when `requested` were asked for; 1 = this thread. */
export function workersFor(requested: number | undefined, ciphertexts: number): number {
  if (requested === undefined || requested <= 1) return 1;
  const worth = Math.floor(ciphertexts / MIN_CIPHERTEXTS_PER_WORKER);
  return worth < 2 ? 1 : Math.min(requested, worth);
}

/**
 * The default `--chunk-rows` of `he encrypt` for `workers` (README, "--chunk-rows"): one worker
 * keeps `defaultChunkRows` (4 × slots in the batch layout, 256 in the single layout), so the file
 * format does not change. In the batch layout, more workers get smaller chunks, so a file has
 * more of them to spread (`he infer --workers N` holds up to 2N at once) and memory stays flat:
 * 4 groups of `slots` rows up to 4 workers, 2 up to 8, 1 beyond. Single-layout chunks (one
 * ciphertext per row) are already cut row by row across any number of workers.
 */
export function chunkRowsFor(plan: HePlan, layout: Layout, workers: number | undefined): number {
  if (layout === 'single' || workers === undefined || workers <= 4) return defaultChunkRows(plan, layout);
  return (workers <= 8 ? 2 : 1) * plan.slots;
}

/**
 * Result chunks `he decrypt --workers N` keeps in flight: each is cut into its ciphertexts
 * (groups × outputs, 4 at the default for one output), so N + 1 chunks keep N workers busy for any
 * N; two at least, one without workers.
 */
export function decryptChunksInFlight(workers: number | undefined): number {
  return workers === undefined || workers <= 1 ? 1 : Math.max(2, workers + 1);
}

/** The size of `path` when it is a regular file, else undefined (a pipe: of unknown length). */
export async function fileSize(path: string, regular: boolean): Promise<number | undefined> {
  if (!regular) return undefined;
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

/**
 * The ciphertexts of a whole stream, from its first chunk: exact when that chunk is the only one
 * (fewer rows than a full chunk), else scaled by the bytes the chunk took out of the file's size,
 * and unbounded for input of unknown size.
 */
export function streamCiphertexts(
  first: { readonly ciphertexts: number; readonly rows: number; readonly bytes: number },
  chunkRows: number,
  totalBytes: number | undefined,
): number {
  if (first.rows < chunkRows) return first.ciphertexts;
  if (totalBytes === undefined || first.bytes <= 0) return Number.POSITIVE_INFINITY;
  return Math.ceil((first.ciphertexts * totalBytes) / first.bytes);
}

/**
 * This thread's client until the work is known to be worth `requested` workers; then a client
 * pool, started in the background, takes every later chunk.
 */
export class SizedCipher implements ChunkCipher {
  readonly #client: HeClient;
  readonly #requested: number;
  #pool: Promise<HeClientPool> | undefined;
  #decided = false;
  /** Workers started (1: none). */
  workers = 1;

  readonly #onStart: ((workers: number) => void) | undefined;

  /** `onStart` is told how many workers are being started, when any are. */
  constructor(client: HeClient, requested: number | undefined, onStart?: (workers: number) => void) {
    this.#client = client;
    this.#requested = requested ?? 1;
    this.#onStart = onStart;
  }

  get plan(): HePlan {
    return this.#client.plan;
  }

  /** Chunks worth having in flight: two keep a pool busy while one is assembled. */
  get concurrency(): number {
    return this.#requested > 1 ? 2 : 1;
  }

  /** Whether {@link SizedCipher.expect} was called. */
  get decided(): boolean {
    return this.#decided;
  }

  /**
   * Sizes the work (in ciphertexts, at least) once; starts the pool, without waiting for it,
   * when that is worth two or more workers. Later calls are ignored.
   */
  expect(ciphertexts: number): void {
    if (this.#decided) return;
    this.#decided = true;
    const workers = workersFor(this.#requested, ciphertexts);
    if (workers < 2) return;
    this.workers = workers;
    this.#onStart?.(workers);
    this.#pool = HeClientPool.fromClientSecret(this.#client, { size: workers });
    this.#pool.catch(() => {}); // surfaced by the first chunk that needs it
  }

  async encryptChunk(rows: readonly Float64Array[], layout: Layout): Promise<Uint8Array> {
    if (this.#pool) return (await this.#pool).encrypt(rows, { layout });
    return this.#client.encrypt(rows as Float64Array[], { layout });
  }

  async decryptChunk(bytes: Uint8Array): Promise<DecryptedScores> {
    if (this.#pool) return (await this.#pool).decrypt(bytes);
    return this.#client.decrypt(bytes);
  }

  /** Stops the pool, if one was started. */
  async close(): Promise<void> {
    const pool = this.#pool;
    if (pool === undefined) return;
    await (await pool.catch(() => undefined))?.close();
  }
}
