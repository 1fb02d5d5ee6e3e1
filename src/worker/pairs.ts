/**
 * The inference pool's loaded pairs (key set, model): which evaluation keys every worker holds,
 * loaded once per worker and replayed into replacements (`pool.ts`).
 *
 * - **Holds.** Each `load` takes one hold on its pair; the pair is freed on every worker when the
 *   last hold is released, after the jobs already accepted for it finish.
 * - **Other bytes of a held pair** (a fresh export of the same key set) are loaded on every worker
 *   and swapped in there once loaded, one replacement at a time, so a refused copy leaves the old
 *   keys serving. The key bytes are kept here for replacement workers; never a secret key.
 *
 * Deliberately not here: scheduling batches (`pool.ts`), the worker side (`entry.ts`).
 *
 * @module
 */

import { decodeContainer } from '../he/container.ts';
import { planFromMetadata } from '../he/keys.ts';
import { type LinearModel, modelDigest, parseLinearModel } from '../he/model.ts';
import { assertObject } from '../internal/assert.ts';
import { equalBytes, toHex } from '../internal/bytes.ts';
import { type InferenceWorkerApi, pairKey } from './api.ts';
import type { Scheduler, Slot } from './scheduler.ts';

/** The ids of a loaded key set and model, to pass to `InferencePool.infer`. */
export interface LoadedModel {
  /** The key set's id (hex), as in every container made under it. */
  readonly keySetId: string;
  /** SHA-256 (hex) of the canonical model JSON. */
  readonly modelDigest: string;
}

export interface Pair extends LoadedModel {
  readonly key: string;
  /** The key bytes every worker holds (replayed into replacement workers). */
  keys: Uint8Array;
  /** The last replacement of the keys (settled; replacements run one at a time). */
  replacing: Promise<void>;
  readonly model: LinearModel;
  readonly slots: number;
  loading: Promise<void>;
  ready: boolean;
  /** Loads not yet matched by an unload: the pair is freed when the last is released. */
  holds: number;
  /** Jobs accepted and not settled. */
  active: number;
  drained: (() => void) | undefined;
}

/** The pairs of one inference pool. */
export class Pairs {
  readonly #scheduler: Scheduler<InferenceWorkerApi>;
  readonly #assertOpen: () => void;
  readonly #pairs = new Map<string, Pair>();
  /** Pairs whose last hold was released and that are being freed on the workers. */
  readonly #unloading = new Map<string, Promise<void>>();

  constructor(scheduler: Scheduler<InferenceWorkerApi>, assertOpen: () => void) {
    this.#scheduler = scheduler;
    this.#assertOpen = assertOpen;
  }

  /** A pair loaded (or loading), by ids. */
  get(keySetId: string, digest: string): Pair | undefined {
    return this.#pairs.get(pairKey(keySetId, digest));
  }

  /** Every pair's loading, settled (for shutdown). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#pairs.values()].map((pair) => pair.loading));
  }

  /** Loads every pair on a fresh worker (a replacement), before it takes work. */
  async replay(slot: Slot<InferenceWorkerApi>): Promise<void> {
    for (const pair of this.#pairs.values()) {
      await this.#scheduler.call(slot, (api) =>
        api.load(pair.keySetId, pair.modelDigest, pair.keys, pair.model),
      );
    }
  }

  /** `InferencePool.load` once the arguments were checked. */
  async load(evaluationKeys: Uint8Array, model: LinearModel): Promise<LoadedModel> {
    const checked = parseLinearModel(assertObject(model, 'model'));
    const container = decodeContainer(evaluationKeys, 'evaluation-keys');
    const { plan } = planFromMetadata(container.metadata);
    const ids: LoadedModel = { keySetId: toHex(container.keySetId), modelDigest: modelDigest(checked) };
    const key = pairKey(ids.keySetId, ids.modelDigest);
    // A pair being freed is loaded afresh once that finished (the workers would drop it again).
    for (let unloading = this.#unloading.get(key); unloading; unloading = this.#unloading.get(key)) {
      await unloading;
    }
    this.#assertOpen();
    const existing = this.#pairs.get(key);
    if (existing) {
      await existing.loading;
      if (!equalBytes(existing.keys, evaluationKeys)) await this.#replaceKeys(existing, evaluationKeys);
      existing.holds++;
      return ids;
    }
    const pair: Pair = {
      ...ids,
      key,
      keys: evaluationKeys.slice(),
      replacing: Promise.resolve(),
      model: checked,
      slots: plan.slots,
      loading: Promise.resolve(),
      ready: false,
      holds: 0,
      active: 0,
      drained: undefined,
    };
    this.#pairs.set(key, pair);
    pair.loading = (async () => {
      const failed = await this.#loadOnEveryWorker(pair, pair.keys, false);
      if (failed) {
        this.#pairs.delete(key);
        await this.#broadcastUnload(pair);
        throw failed.reason;
      }
      pair.ready = true;
    })();
    await pair.loading;
    pair.holds++;
    return ids;
  }

  /** `InferencePool.unload` once the arguments were checked (`closed`: the pool is shut down). */
  async unload(keySetId: string, digest: string, closed: boolean): Promise<void> {
    const pair = this.#pairs.get(pairKey(keySetId, digest));
    if (!pair || closed) return;
    if (--pair.holds > 0) return;
    this.#pairs.delete(pair.key);
    const unloading = (async () => {
      await pair.loading.catch(() => {});
      if (pair.active > 0) {
        await new Promise<void>((resolve) => {
          pair.drained = resolve;
        });
      }
      await this.#broadcastUnload(pair);
    })().finally(() => {
      if (this.#unloading.get(pair.key) === unloading) this.#unloading.delete(pair.key);
    });
    this.#unloading.set(pair.key, unloading);
    await unloading;
  }

  /** Loads other key bytes for a held pair on every worker, one replacement at a time. */
  async #replaceKeys(pair: Pair, evaluationKeys: Uint8Array): Promise<void> {
    const keys = evaluationKeys.slice();
    const previous = pair.replacing;
    const replacing = (async () => {
      await previous;
      const failed = await this.#loadOnEveryWorker(pair, keys, true);
      // Workers that refused the copy keep the old keys (the same key set: they score alike).
      if (failed) throw failed.reason;
      pair.keys = keys;
    })();
    pair.replacing = replacing.catch(() => {});
    await replacing;
  }

  /**
   * Loads (or, with `replace`, replaces) `keys` for `pair` on every worker that started; a worker
   * that never started has nothing to load. Resolves with the first refusal, if any.
   */
  async #loadOnEveryWorker(
    pair: Pair,
    keys: Uint8Array,
    replace: boolean,
  ): Promise<PromiseRejectedResult | undefined> {
    const outcomes = await Promise.allSettled(
      this.#scheduler.slots.map(async (slot) => {
        try {
          await slot.ready;
        } catch {
          return;
        }
        await this.#scheduler.call(slot, (api) =>
          replace
            ? api.load(pair.keySetId, pair.modelDigest, keys, pair.model, true)
            : api.load(pair.keySetId, pair.modelDigest, keys, pair.model),
        );
      }),
    );
    return outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  }

  async #broadcastUnload(pair: Pair): Promise<void> {
    await Promise.allSettled(
      this.#scheduler.slots.map(async (slot) => {
        await slot.ready;
        await this.#scheduler.call(slot, (api) => api.unload(pair.keySetId, pair.modelDigest));
      }),
    );
  }
}
