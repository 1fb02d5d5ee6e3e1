/**
 * The small interface through which `HeServer` scores on a pool of workers: load a client's
 * evaluation keys for a model, score batches under the ids that returns, unload. The pool counts
 * its holders: every `load` is one hold on the pair and every `unload` releases one, and the pair
 * is freed when the last hold is released (so several `HeServer`s can share one pool and pair). The
 * `InferencePool` of `confide/worker` implements it as it is; so can anything else that runs
 * `HeServer`s elsewhere (another worker scheme, a remote service).
 *
 * Only our types cross it (bytes, the model, hex ids): no SEAL object, so `confide/he` stays free
 * of worker code, and a pool is handed in by the caller, never imported here.
 *
 * Deliberately not here: how a pool runs, schedules or splits work (`confide/worker`).
 *
 * @module
 */

import type { LinearModel } from './model.ts';

/** The ids a {@link ScoringPool} loaded a key set and model under. */
export interface LoadedPair {
  /** The key set's id (hex), as in every container made under it. */
  readonly keySetId: string;
  /** SHA-256 (hex) of the canonical model JSON. */
  readonly modelDigest: string;
}

/**
 * Somewhere else that scores encrypted batches: `InferencePool` from `confide/worker`, or any
 * object with these three methods. Results must be the bytes `HeServer.infer` returns.
 */
export interface ScoringPool {
  /**
   * Loads untrusted evaluation-key bytes for `model` and takes one hold on the pair. Loading a
   * pair already held takes another hold; a pool may also swap in the new key bytes then (a
   * fresh export of the same key set), once they loaded.
   */
  load(evaluationKeys: Uint8Array, model: LinearModel): Promise<LoadedPair>;
  /** Scores an encrypted-batch container; resolves with the encrypted-result container. */
  infer(keySetId: string, modelDigest: string, batch: Uint8Array): Promise<Uint8Array>;
  /**
   * Releases one hold on the pair; the last release frees what `load` made for it once its
   * accepted jobs finish (no-op when unknown). A `load` made while that is under way must end with
   * the pair loaded, not freed by the release before it.
   */
  unload(keySetId: string, modelDigest: string): Promise<void>;
}
