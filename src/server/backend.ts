/**
 * Where the inference server's homomorphic work runs. {@link ScoringBackend} is the small
 * interface the server needs (load a key set for a model, score, unload, close); its shape is the
 * worker pool's (`confide/worker`), so a pool plugs in as it is. {@link InProcessBackend} is the
 * default: one {@link HeServer} per (key set, model), on the server's own thread.
 *
 * In-process scoring is synchronous SEAL work on the event loop: while one batch is scored, the
 * server answers nothing else. That is fine for one core and small batches; with `--workers N`
 * the pool moves the work off the event loop.
 *
 * Deliberately not here: which key sets to keep (the registry's job), HTTP.
 *
 * @module
 */

import { HeError } from '../errors.ts';
import type { LinearModel } from '../he/model.ts';
import { HeServer } from '../he/server.ts';

/** What loading a key set for one model yields: the ids to score under. */
export interface LoadedKeySet {
  /** The key-set id (hex) the evaluation keys carry. */
  readonly keySetId: string;
  /** SHA-256 (hex) of the canonical JSON of the model the keys were loaded for. */
  readonly modelDigest: string;
}

/**
 * Runs encrypted scoring for the server. Implementations own every SEAL object they create and
 * free them in {@link ScoringBackend.unload} and {@link ScoringBackend.close}.
 */
export interface ScoringBackend {
  /** Loads untrusted evaluation-key bytes for `model` (idempotent for the same keys and model). */
  load(evaluationKeys: Uint8Array, model: LinearModel): Promise<LoadedKeySet>;
  /** Scores an encrypted-batch container; resolves with the encrypted-result container. */
  infer(keySetId: string, modelDigest: string, batch: Uint8Array): Promise<Uint8Array>;
  /** Frees what {@link ScoringBackend.load} made for this pair (no-op when nothing is loaded). */
  unload(keySetId: string, modelDigest: string): Promise<void>;
  /** Frees everything; later calls fail with `WORKER_CLOSED`. */
  close(): Promise<void>;
}

/** The default backend: one {@link HeServer} per (key set, model) on the calling thread. */
export class InProcessBackend implements ScoringBackend {
  readonly #servers = new Map<string, HeServer>();
  #closed = false;

  #assertOpen(): void {
    if (this.#closed) throw new HeError('WORKER_CLOSED', 'the scoring backend is closed');
  }

  async load(evaluationKeys: Uint8Array, model: LinearModel): Promise<LoadedKeySet> {
    this.#assertOpen();
    const server = await HeServer.create(evaluationKeys, model);
    const loaded = { keySetId: server.keySetId, modelDigest: server.modelDigest };
    const key = `${loaded.keySetId}/${loaded.modelDigest}`;
    if (this.#closed || this.#servers.has(key)) server.dispose();
    else this.#servers.set(key, server);
    this.#assertOpen();
    return loaded;
  }

  async infer(keySetId: string, modelDigest: string, batch: Uint8Array): Promise<Uint8Array> {
    this.#assertOpen();
    const server = this.#servers.get(`${keySetId}/${modelDigest}`);
    if (server === undefined) {
      throw new HeError('HE_UNKNOWN_KEY_SET', `key set ${keySetId} is not loaded for this model`);
    }
    return server.infer(batch);
  }

  async unload(keySetId: string, modelDigest: string): Promise<void> {
    const key = `${keySetId}/${modelDigest}`;
    this.#servers.get(key)?.dispose();
    this.#servers.delete(key);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const server of this.#servers.values()) server.dispose();
    this.#servers.clear();
  }

  /** How many (key set, model) pairs are loaded. */
  get loaded(): number {
    return this.#servers.size;
  }
}
