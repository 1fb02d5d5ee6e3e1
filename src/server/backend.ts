/**
 * Where the inference server's homomorphic work runs. {@link ScoringBackend} is the small
 * interface the server needs: `confide/he`'s `ScoringPool` (load a key set for a model, score,
 * unload), which the worker pool (`confide/worker`) implements, plus `close`, so a pool plugs in
 * as it is. {@link InProcessBackend} is the
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
import type { LoadedPair, ScoringPool } from '../he/scoring-pool.ts';
import { HeServer } from '../he/server.ts';

/** What loading a key set for one model yields: the ids to score under. */
export type LoadedKeySet = LoadedPair;

/**
 * Runs encrypted scoring for the server. Implementations own every SEAL object they create and
 * free them in `unload` and {@link ScoringBackend.close}.
 */
export interface ScoringBackend extends ScoringPool {
  /** Frees everything; later calls fail with `WORKER_CLOSED`. */
  close(): Promise<void>;
  /**
   * True when `load` of a pair already held loads the new keys and swaps them in only once they
   * loaded (so a refused copy leaves the old keys serving). Backends without it keep the keys
   * first registered.
   */
  readonly replacesLoadedPairs?: boolean;
}

/** The default backend: one {@link HeServer} per (key set, model) on the calling thread. */
export class InProcessBackend implements ScoringBackend {
  readonly replacesLoadedPairs = true;
  readonly #servers = new Map<string, { server: HeServer; holds: number }>();
  #closed = false;

  #assertOpen(): void {
    if (this.#closed) throw new HeError('WORKER_CLOSED', 'the scoring backend is closed');
  }

  /**
   * Loads keys for a model and takes one hold on the pair (see `ScoringPool`). Loading a pair
   * already held takes another hold and replaces its keys only once the new keys have loaded:
   * when they are refused, the old ones keep serving. A load that grows SEAL's heap past its
   * budget (`limitHeMemory`) is undone by `HeServer.create` and refused with `WASM_OUT_OF_MEMORY`.
   */
  async load(evaluationKeys: Uint8Array, model: LinearModel): Promise<LoadedKeySet> {
    this.#assertOpen();
    const server = await HeServer.create(evaluationKeys, model);
    const loaded = { keySetId: server.keySetId, modelDigest: server.modelDigest };
    const key = `${loaded.keySetId}/${loaded.modelDigest}`;
    if (this.#closed) server.dispose();
    else {
      const previous = this.#servers.get(key);
      this.#servers.set(key, { server, holds: (previous?.holds ?? 0) + 1 });
      previous?.server.dispose();
    }
    this.#assertOpen();
    return loaded;
  }

  async infer(keySetId: string, modelDigest: string, batch: Uint8Array): Promise<Uint8Array> {
    this.#assertOpen();
    const held = this.#servers.get(`${keySetId}/${modelDigest}`);
    if (held === undefined) {
      throw new HeError('HE_UNKNOWN_KEY_SET', `key set ${keySetId} is not loaded for this model`);
    }
    return (await held.server.infer(batch)).result;
  }

  /** Releases one hold on the pair; the last release frees its keys. */
  async unload(keySetId: string, modelDigest: string): Promise<void> {
    const key = `${keySetId}/${modelDigest}`;
    const held = this.#servers.get(key);
    if (held === undefined || --held.holds > 0) return;
    held.server.dispose();
    this.#servers.delete(key);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const { server } of this.#servers.values()) server.dispose();
    this.#servers.clear();
  }

  /** {@link close} for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** How many (key set, model) pairs are loaded. */
  get loaded(): number {
    return this.#servers.size;
  }
}
