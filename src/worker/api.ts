/**
 * The protocol between the pool and its workers: the object each worker exposes over comlink and
 * the plain data that travels both ways. One definition, used by `entry.ts` (the worker) and
 * `pool.ts` (the calling thread).
 *
 * Every method answers with an {@link Envelope} instead of throwing, so coded errors cross the
 * boundary intact (see `errors.ts`). Byte arrays in answers are transferred, not copied.
 *
 * Deliberately not here: scheduling, spawning, crash handling.
 *
 * @module
 */

import type { LinearModel } from '../he/model.ts';
import type { ScoredPart } from '../he/partition.ts';
import type { WireError } from './errors.ts';

/** A worker's answer: the value, or the error it threw in plain form. */
export type Envelope<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: WireError };

/** What a worker says after loading (or finding already loaded) a key set and model. */
export interface LoadReply {
  readonly keySetId: string;
  readonly modelDigest: string;
  /** True when this call created the server; false when it was already loaded. */
  readonly created: boolean;
}

/** Counters kept by one worker since it started. */
export interface WorkerCounters {
  /** Evaluation-key loads (one `HeServer.create` each). */
  readonly loads: number;
  /** Batches and parts of batches scored. */
  readonly jobs: number;
  /** Key set and model pairs currently loaded. */
  readonly loaded: number;
  /** Size of the worker's SEAL heap, in bytes. */
  readonly heapBytes: number;
}

/** The object a worker exposes. */
export interface InferenceWorkerApi {
  /** Loads SEAL from the module compiled by the pool (once per worker) with this heap budget (`limitHeMemory`). */
  init(module: WebAssembly.Module, heapBudget: number): Promise<Envelope<null>>;
  /**
   * Loads evaluation keys for a model under the ids the pool computed from them, once; later
   * calls for the same pair only report it (without decoding the keys again), unless `replace`:
   * then the new keys are loaded and swapped in once loaded (when they are refused, the old ones
   * stay).
   */
  load(
    keySetId: string,
    modelDigest: string,
    evaluationKeys: Uint8Array,
    model: LinearModel,
    replace?: boolean,
  ): Promise<Envelope<LoadReply>>;
  /**
   * Checks and scores a whole batch with a loaded pair (`HeServer.infer`); the result container is
   * transferred back.
   */
  score(keySetId: string, modelDigest: string, batch: Uint8Array): Promise<Envelope<Uint8Array>>;
  /**
   * Checks a whole batch and scores units [first, end) of it (`scoreBatchPart` in `he/server.ts`); the result
   * ciphertexts are transferred back.
   */
  scorePart(
    keySetId: string,
    modelDigest: string,
    batch: Uint8Array,
    first: number,
    end: number,
  ): Promise<Envelope<ScoredPart>>;
  /** Frees a loaded pair; false when it was not loaded. */
  unload(keySetId: string, modelDigest: string): Promise<Envelope<boolean>>;
  /** The worker's counters. */
  counters(): Promise<Envelope<WorkerCounters>>;
}

/** The key under which a key set and model pair is held. */
export function pairKey(keySetId: string, modelDigest: string): string {
  return `${keySetId}/${modelDigest}`;
}
