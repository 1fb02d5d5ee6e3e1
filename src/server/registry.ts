/**
 * The key sets an inference server holds: who registered each, which served models it fits, and
 * which to drop when memory would grow past the limits.
 *
 * A key set is identified by the random 128-bit id its evaluation-key container carries (the id
 * the client's batches carry too). Registering the same bytes again is idempotent; the owner
 * registering other bytes under its id (a fresh export of the same key set: Galois keys are
 * randomised) replaces them; anyone else registering under an id already held is refused
 * (`HE_KEY_SET_CONFLICT`), so no one can replace another client's keys. A key set belongs to the principal that registered it: to anyone else it
 * is unknown (`HE_UNKNOWN_KEY_SET`), exactly as if it did not exist.
 *
 * Bounded memory: at most `maxKeySets` key sets in all and `maxKeySetsPerPrincipal` per principal.
 * A registration beyond either limit evicts the least recently used idle key set (of that
 * principal first, so one client cannot flush everyone else's); when every key set is loading or
 * scoring, it is refused with `HE_SERVER_BUSY` (503, retry) rather than exceed the limit. An
 * evicted key set answers `HE_UNKNOWN_KEY_SET`, and the client registers it again.
 *
 * Deliberately not here: HTTP, authentication, where the math runs (a {@link ScoringBackend}).
 *
 * @module
 */

import { HeError, isConfideError } from '../errors.ts';
import { decodeContainer } from '../he/container.ts';
import {
  type LinearModel,
  type ModelInterface,
  modelDigest,
  modelInterface,
  parseLinearModel,
} from '../he/model.ts';
import { sha256, toHex } from '../internal/bytes.ts';
import type { ScoringBackend } from './backend.ts';

/** A model the server scores with, under the id clients name it by. */
export interface ServedModel {
  readonly id: string;
  readonly model: LinearModel;
  /** SHA-256 (hex) of the model's canonical JSON, sent with every result it scores. */
  readonly digest: string;
  /** The weight-free interface clients may read. */
  readonly interface: ModelInterface;
}

/** Limits on what the registry holds. */
export interface RegistryLimits {
  readonly maxKeySets: number;
  readonly maxKeySetsPerPrincipal: number;
}

/** What a registration returns. */
export interface Registration {
  readonly keySetId: string;
  /** Ids of the served models these keys can score. */
  readonly models: readonly string[];
  /** False when these exact keys were already registered (nothing was loaded again). */
  readonly created: boolean;
}

interface Entry {
  readonly keySetId: string;
  readonly owner: string;
  readonly keysDigest: string;
  /** Model id → model digest, for the served models these keys fit; filled when loading ends. */
  readonly fits: Map<string, string>;
  /** Model digests loaded in the backend. */
  readonly loaded: Set<string>;
  ready: Promise<void>;
  loading: boolean;
  inflight: number;
  evicted: boolean;
}

/**
 * Makes the served-model record for `model` under `id` (a validated, frozen copy of the model).
 *
 * @throws {@link HeError} `HE_MODEL_INVALID`
 */
export function serveModel(id: string, model: LinearModel): ServedModel {
  const checked = parseLinearModel(model);
  return Object.freeze({
    id,
    model: checked,
    digest: modelDigest(checked),
    interface: modelInterface(checked),
  });
}

/** The key sets a server holds, bounded, each bound to its owner. */
export class KeySetRegistry {
  readonly #backend: ScoringBackend;
  readonly #models: ReadonlyMap<string, ServedModel>;
  readonly #limits: RegistryLimits;
  /** Insertion order is recency order: the first entry is the least recently used. */
  readonly #entries = new Map<string, Entry>();

  constructor(backend: ScoringBackend, models: readonly ServedModel[], limits: RegistryLimits) {
    this.#backend = backend;
    this.#models = new Map(models.map((m) => [m.id, m]));
    this.#limits = limits;
  }

  /** How many key sets are held (loading ones included). */
  get size(): number {
    return this.#entries.size;
  }

  /** The served models, in the order given. */
  get models(): readonly ServedModel[] {
    return [...this.#models.values()];
  }

  /**
   * Registers evaluation keys for `owner`: loads them for every served model they fit.
   *
   * @throws {@link HeError} container errors, `HE_KEY_SET_CONFLICT`, `HE_MODEL_MISMATCH` when the
   *   keys fit no served model, `HE_SERVER_BUSY` when the key set was evicted while loading
   */
  async register(owner: string, evaluationKeys: Uint8Array): Promise<Registration> {
    const header = decodeContainer(evaluationKeys, 'evaluation-keys');
    const keySetId = toHex(header.keySetId);
    const keysDigest = toHex(sha256(evaluationKeys));
    const existing = this.#entries.get(keySetId);
    if (existing !== undefined) {
      if (existing.owner !== owner) {
        throw new HeError(
          'HE_KEY_SET_CONFLICT',
          `key set ${keySetId} is already registered by another client: generate a new key set`,
        );
      }
      if (existing.keysDigest === keysDigest) {
        await existing.ready;
        this.#touch(existing);
        return { keySetId, models: [...existing.fits.keys()], created: false };
      }
      // The owner re-exported its evaluation keys (fresh Galois keys for the same secret key):
      // the new upload replaces the old one once the old one has loaded.
      await existing.ready.catch(() => {});
      if (this.#entries.get(keySetId) === existing) this.#evict(existing);
      if (this.#entries.has(keySetId)) {
        throw new HeError('HE_SERVER_BUSY', `key set ${keySetId} is being registered right now: try again`);
      }
    }
    const entry: Entry = {
      keySetId,
      owner,
      keysDigest,
      fits: new Map(),
      loaded: new Set(),
      ready: Promise.resolve(),
      loading: true,
      inflight: 0,
      evicted: false,
    };
    this.#makeRoom(owner);
    this.#entries.set(keySetId, entry);
    entry.ready = this.#load(entry, evaluationKeys);
    entry.ready.catch(() => {}); // observed by this call; duplicates observe it themselves
    await entry.ready;
    return { keySetId, models: [...entry.fits.keys()], created: true };
  }

  async #load(entry: Entry, evaluationKeys: Uint8Array): Promise<void> {
    const mismatches: string[] = [];
    try {
      const byDigest = new Map<string, ServedModel[]>();
      for (const served of this.#models.values()) {
        byDigest.set(served.digest, [...(byDigest.get(served.digest) ?? []), served]);
      }
      for (const [digest, served] of byDigest) {
        try {
          const loaded = await this.#backend.load(evaluationKeys, (served[0] as ServedModel).model);
          entry.loaded.add(loaded.modelDigest);
          if (loaded.keySetId !== entry.keySetId || loaded.modelDigest !== digest) {
            throw new HeError('HE_SERVER_ERROR', 'the scoring backend loaded other keys than it was given');
          }
          for (const s of served) entry.fits.set(s.id, digest);
        } catch (error) {
          if (!isConfideError(error) || error.code !== 'HE_MODEL_MISMATCH') throw error;
          mismatches.push(...served.map((s) => s.id));
        }
      }
      if (entry.fits.size === 0) {
        throw new HeError(
          'HE_MODEL_MISMATCH',
          `these evaluation keys were generated for a model this server does not serve (served: ${mismatches.join(', ')}): generate keys for one of the served models`,
        );
      }
      if (entry.evicted) {
        throw new HeError(
          'HE_SERVER_BUSY',
          'the server is holding as many key sets as it may, and evicted this one while it loaded: try again',
        );
      }
    } catch (error) {
      entry.evicted = true;
      if (this.#entries.get(entry.keySetId) === entry) this.#entries.delete(entry.keySetId);
      throw error;
    } finally {
      entry.loading = false;
      await this.#releaseIfDone(entry);
    }
  }

  /**
   * Scores `batch` with model `modelId` under key set `keySetId`, registered by `owner`.
   *
   * @throws {@link HeError} `HE_UNKNOWN_MODEL`, `HE_UNKNOWN_KEY_SET`, `HE_MODEL_MISMATCH` when the
   *   key set does not fit the model, and whatever scoring throws
   */
  async score(
    owner: string,
    keySetId: string,
    modelId: string,
    batch: Uint8Array,
  ): Promise<{ result: Uint8Array; modelDigest: string }> {
    const served = this.#models.get(modelId);
    if (served === undefined) {
      throw new HeError(
        'HE_UNKNOWN_MODEL',
        `this server serves no model "${modelId.slice(0, 64)}": GET /v1/models lists the served models`,
      );
    }
    const entry = this.#entries.get(keySetId);
    if (entry === undefined || entry.owner !== owner || entry.evicted) throw unknownKeySet(keySetId);
    entry.inflight++;
    try {
      await entry.ready.catch(() => {
        throw unknownKeySet(keySetId);
      });
      const digest = entry.fits.get(modelId);
      if (digest === undefined) {
        throw new HeError(
          'HE_MODEL_MISMATCH',
          `key set ${keySetId} was generated for another model than "${modelId}" (it fits ${[...entry.fits.keys()].join(', ')})`,
        );
      }
      this.#touch(entry);
      try {
        return { result: await this.#backend.infer(keySetId, digest, batch), modelDigest: digest };
      } catch (error) {
        // The backend lost this key set (a pool that could not reload it): the client registers again.
        if (isConfideError(error) && error.code === 'WORKER_NOT_LOADED') {
          if (this.#entries.get(keySetId) === entry) this.#evict(entry);
          throw unknownKeySet(keySetId);
        }
        throw error;
      }
    } finally {
      entry.inflight--;
      await this.#releaseIfDone(entry);
    }
  }

  /** Key sets held per principal (for metrics and tests). */
  countFor(owner: string): number {
    let n = 0;
    for (const entry of this.#entries.values()) if (entry.owner === owner) n++;
    return n;
  }

  /** Forgets every key set (the backend's `close` frees their SEAL objects). */
  clear(): void {
    for (const entry of this.#entries.values()) entry.evicted = true;
    this.#entries.clear();
  }

  #touch(entry: Entry): void {
    if (this.#entries.get(entry.keySetId) !== entry) return;
    this.#entries.delete(entry.keySetId);
    this.#entries.set(entry.keySetId, entry);
  }

  /**
   * Evicts least-recently-used idle key sets (not loading, nothing in flight) until one more
   * fits, the owner's own first. When every candidate is busy, refuses instead of growing.
   */
  #makeRoom(owner: string): void {
    const idle = (entry: Entry) => !entry.loading && entry.inflight === 0;
    const full = () =>
      new HeError(
        'HE_SERVER_BUSY',
        'the server holds as many key sets as it may and all of them are in use: try again shortly',
      );
    while (this.countFor(owner) >= this.#limits.maxKeySetsPerPrincipal) {
      const victim = [...this.#entries.values()].find((e) => e.owner === owner && idle(e));
      if (victim === undefined) throw full();
      this.#evict(victim);
    }
    while (this.#entries.size >= this.#limits.maxKeySets) {
      const victim = [...this.#entries.values()].find(idle);
      if (victim === undefined) throw full();
      this.#evict(victim);
    }
  }

  #evict(entry: Entry): void {
    entry.evicted = true;
    this.#entries.delete(entry.keySetId);
    void this.#releaseIfDone(entry);
  }

  async #releaseIfDone(entry: Entry): Promise<void> {
    if (!entry.evicted || entry.loading || entry.inflight > 0 || entry.loaded.size === 0) return;
    const digests = [...entry.loaded];
    entry.loaded.clear();
    await Promise.all(digests.map((d) => this.#backend.unload(entry.keySetId, d).catch(() => {})));
  }
}

function unknownKeySet(keySetId: string): HeError {
  return new HeError(
    'HE_UNKNOWN_KEY_SET',
    `this server holds no key set ${keySetId.slice(0, 64)} for you (never registered, or evicted to bound memory): POST the evaluation keys to /v1/keys again`,
  );
}
