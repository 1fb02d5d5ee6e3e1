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
 * Bounded memory: at most `maxKeySets` key sets in all, `maxKeySetsPerPrincipal` per principal,
 * and `maxKeySetBytes` of estimated memory ({@link keySetMemoryBytes}: by N, the number of primes,
 * Galois keys and served models, so one N = 32768 key set weighs what it really holds, not "one").
 * A registration beyond a limit evicts the least recently used idle key sets (of that principal
 * first for the per-principal limit, so one client cannot flush everyone else's); when every key
 * set is loading or scoring, it is refused with `HE_SERVER_BUSY` (503, retry) rather than exceed
 * the limit. An evicted key set answers `HE_UNKNOWN_KEY_SET`, and the client registers it again.
 * Key sets with N above `maxPolyDegree` are refused before anything is loaded (422
 * `HE_PARAMETERS_INVALID`). A load the backend refuses with `WASM_OUT_OF_MEMORY` (the WebAssembly
 * heap past its budget) evicts least recently used idle key sets, so a retry fits, and is
 * answered 503.
 *
 * Re-registration by the owner with other bytes is checked before anything is replaced: the new
 * keys are loaded beside the old ones (the backend swaps a pair only once the new keys loaded), so
 * a damaged copy is refused and the working key set keeps serving. With a backend that cannot
 * swap (`replacesLoadedPairs` unset), the keys first registered stay and the answer is 200
 * (`created: false`).
 *
 * {@link KeySets} is the interface the routes use; {@link KeySetRegistry} (this module, memory of
 * one process) is the default, and `redis/registry.ts` keeps the same rules in Redis across
 * replicas, with a {@link KeySetRegistry} per replica as its local cache.
 *
 * Deliberately not here: HTTP, authentication, where the math runs (a {@link ScoringBackend}).
 *
 * @module
 */

import { HeError, isConfideError } from '../errors.ts';
import { decodeContainer } from '../he/container.ts';
import { planFromMetadata } from '../he/keys.ts';
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
  /** Estimated memory of all key sets held, bytes (default: unlimited). */
  readonly maxKeySetBytes?: number;
  /** Largest poly modulus degree accepted (default 32768). */
  readonly maxPolyDegree?: number;
}

/**
 * Estimated memory (bytes) one key set takes once loaded for `models` and used to score: for each
 * model, SEAL's Galois keys (per rotation step, one key-switching key per data prime, each two
 * polynomials of N coefficients over every prime, 8 bytes each) and the model's encoded weight
 * plaintexts (at most two per weight and intercept, N coefficients over the data primes), plus a
 * fixed 64 KiB of handles and bookkeeping.
 *
 * Calibration: the Galois-key term is the raw coefficient size times 1.25. Measured with node-seal
 * 7 as the growth of the WebAssembly heap (`heMemoryBytes()`) over 12 to 60 loads of the same keys
 * under fresh key-set ids (3 primes, 2 rotation steps): 1.75 MB per key set at N = 8192 (raw
 * 1.57 MB, x1.12), 3.85 MB at N = 16384 (x1.22), 7.51 MB at N = 32768 (x1.19). Key sets for the
 * batch layout alone hold no keys (0 bytes measured at load). To re-measure: load one exported
 * key container many times under new ids (`encodeContainer({ ...decodeContainer(keys), keySetId })`)
 * with `HeServer.create` and divide the heap growth by the count.
 */
export function keySetMemoryBytes(
  parameters: { readonly polyModulusDegree: number; readonly coeffModulusBits: readonly number[] },
  galoisSteps: number,
  models: readonly { readonly features: number; readonly outputs: number }[],
): number {
  const n = parameters.polyModulusDegree;
  const primes = parameters.coeffModulusBits.length;
  const dataPrimes = Math.max(1, primes - 1);
  const galois = Math.ceil(galoisSteps * dataPrimes * 2 * n * primes * 8 * 1.25);
  let total = 64 * 1024;
  for (const model of models) {
    total += galois + 2 * (model.features + 1) * model.outputs * n * dataPrimes * 8;
  }
  return total;
}

/** What a registration returns. */
export interface Registration {
  readonly keySetId: string;
  /** Ids of the served models these keys can score. */
  readonly models: readonly string[];
  /** False when these exact keys were already registered (nothing was loaded again). */
  readonly created: boolean;
  /** Estimated memory of the key set once loaded ({@link keySetMemoryBytes}). */
  readonly bytes: number;
}

/** An encrypted result and the digest of the model that scored it. */
export interface ScoredBatch {
  readonly result: Uint8Array;
  readonly modelDigest: string;
}

/**
 * The key sets a server scores with, as the routes see them: {@link KeySetRegistry} in one
 * process's memory, or the Redis registry shared by replicas. Both keep the same rules: a key
 * set belongs to the principal that registered it and is unknown to everyone else.
 */
export interface KeySets {
  /** The served models, in the order given. */
  readonly models: readonly ServedModel[];
  /** Key sets held (by this process; for the Redis registry, loaded in this replica). */
  readonly size: number;
  /** Estimated memory of the key sets loaded here, bytes. */
  readonly bytes: number;
  /** Registers evaluation keys for `owner` (see {@link KeySetRegistry.register}). */
  register(owner: string, evaluationKeys: Uint8Array): Promise<Registration>;
  /** Scores `batch` (see {@link KeySetRegistry.score}). */
  score(owner: string, keySetId: string, modelId: string, batch: Uint8Array): Promise<ScoredBatch>;
  /** Forgets every key set held here. */
  clear(): void;
  /** Resolves when what the key sets live in answers (Redis: `PING`); for `/readyz`. */
  ready?(): Promise<void>;
  /** Releases connections (Redis); the backend is closed by the server. */
  close?(): Promise<void>;
}

interface Entry {
  readonly keySetId: string;
  readonly owner: string;
  keysDigest: string;
  /** Estimated memory (see {@link keySetMemoryBytes}). */
  bytes: number;
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
export class KeySetRegistry implements KeySets {
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

  /** Estimated memory of the key sets held, bytes. */
  get bytes(): number {
    let total = 0;
    for (const entry of this.#entries.values()) total += entry.bytes;
    return total;
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
    const { plan } = planFromMetadata(header.metadata);
    const maxDegree = this.#limits.maxPolyDegree ?? 32768;
    if (plan.parameters.polyModulusDegree > maxDegree) {
      throw new HeError(
        'HE_PARAMETERS_INVALID',
        `these keys use polynomial degree N = ${plan.parameters.polyModulusDegree}; this server accepts N up to ${maxDegree}: generate keys with a smaller polyModulusDegree`,
      );
    }
    const keySetId = toHex(header.keySetId);
    const keysDigest = toHex(sha256(evaluationKeys));
    const distinct = new Map<string, ServedModel>();
    for (const served of this.#models.values()) distinct.set(served.digest, served);
    const estimate = (models: Iterable<ServedModel>) =>
      keySetMemoryBytes(
        plan.parameters,
        plan.galoisSteps.length,
        [...models].map((m) => ({ features: m.model.features.length, outputs: m.interface.outputs })),
      );
    const bytes = estimate(distinct.values());
    const budget = this.#limits.maxKeySetBytes ?? Number.POSITIVE_INFINITY;
    if (bytes > budget) {
      throw new HeError(
        'HE_CAPACITY_EXCEEDED',
        `these keys need about ${bytes} bytes of server memory, more than this server keeps for all key sets (${budget}): generate keys with a smaller polyModulusDegree or fewer layouts`,
      );
    }
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
        return { keySetId, models: [...existing.fits.keys()], created: false, bytes: existing.bytes };
      }
      // The owner re-exported its evaluation keys (fresh Galois keys for the same secret key):
      // the new upload is loaded beside the old one and replaces it only if it loads.
      return this.#replace(existing, evaluationKeys, keysDigest);
    }
    const entry: Entry = {
      keySetId,
      owner,
      keysDigest,
      bytes,
      fits: new Map(),
      loaded: new Set(),
      ready: Promise.resolve(),
      loading: true,
      inflight: 0,
      evicted: false,
    };
    this.#makeRoom(owner, bytes);
    this.#entries.set(keySetId, entry);
    entry.ready = this.#load(entry, evaluationKeys);
    entry.ready.catch(() => {}); // observed by this call; duplicates observe it themselves
    await entry.ready;
    entry.bytes = estimate([...entry.fits.keys()].map((id) => this.#models.get(id) as ServedModel));
    return { keySetId, models: [...entry.fits.keys()], created: true, bytes: entry.bytes };
  }

  async #replace(existing: Entry, evaluationKeys: Uint8Array, keysDigest: string): Promise<Registration> {
    await existing.ready.catch(() => {});
    if (this.#entries.get(existing.keySetId) !== existing || existing.loading) {
      throw new HeError(
        'HE_SERVER_BUSY',
        `key set ${existing.keySetId} is being registered right now: try again`,
      );
    }
    if (this.#backend.replacesLoadedPairs !== true) {
      // This backend keeps a pair it holds: the keys first registered go on serving (a fresh
      // export of the same key set is equivalent: same secret key), and nothing is replaced.
      this.#touch(existing);
      return {
        keySetId: existing.keySetId,
        models: [...existing.fits.keys()],
        created: false,
        bytes: existing.bytes,
      };
    }
    existing.loading = true; // not evicted while the new keys are checked
    try {
      const byDigest = new Map<string, ServedModel>();
      for (const served of this.#models.values()) byDigest.set(served.digest, served);
      for (const digest of existing.loaded) {
        const served = byDigest.get(digest) as ServedModel;
        const loaded = await this.#backend.load(evaluationKeys, served.model);
        // The entry holds the pair once already: release the hold this load took (the new keys stay).
        await this.#backend.unload(loaded.keySetId, loaded.modelDigest);
        if (loaded.keySetId !== existing.keySetId || loaded.modelDigest !== digest) {
          throw new HeError('HE_SERVER_ERROR', 'the scoring backend loaded other keys than it was given');
        }
      }
      existing.keysDigest = keysDigest;
    } catch (error) {
      if (isConfideError(error) && error.code === 'WASM_OUT_OF_MEMORY') this.#shed(existing);
      throw error;
    } finally {
      existing.loading = false;
      await this.#releaseIfDone(existing);
    }
    this.#touch(existing);
    return {
      keySetId: existing.keySetId,
      models: [...existing.fits.keys()],
      created: true,
      bytes: existing.bytes,
    };
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
      if (isConfideError(error) && error.code === 'WASM_OUT_OF_MEMORY') this.#shed(entry);
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
  async score(owner: string, keySetId: string, modelId: string, batch: Uint8Array): Promise<ScoredBatch> {
    const served = this.#models.get(modelId);
    if (served === undefined) {
      throw new HeError(
        'HE_UNKNOWN_MODEL',
        'this server serves no model under that id: GET /v1/models lists the served models',
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

  /**
   * SHA-256 (hex) of the evaluation-key bytes held for `keySetId` when it is loaded (or loading)
   * for `owner`, else `undefined`. Lets a cache tell whether it holds the keys another replica
   * registered.
   */
  keysDigestOf(owner: string, keySetId: string): string | undefined {
    const entry = this.#entries.get(keySetId);
    return entry === undefined || entry.evicted || entry.owner !== owner ? undefined : entry.keysDigest;
  }

  /** Drops one key set (its SEAL objects are freed once no request uses them). */
  forget(keySetId: string): void {
    const entry = this.#entries.get(keySetId);
    if (entry !== undefined) this.#evict(entry);
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
  #makeRoom(owner: string, bytes: number): void {
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
    const budget = this.#limits.maxKeySetBytes ?? Number.POSITIVE_INFINITY;
    let held = this.bytes;
    while (held + bytes > budget) {
      const victim = [...this.#entries.values()].find(idle);
      if (victim === undefined) throw full();
      held -= victim.bytes;
      this.#evict(victim);
    }
  }

  /**
   * After the WebAssembly heap ran past its budget: evicts least recently used idle key sets
   * (other than `except`) worth at least twice `except`'s estimate, so the retry finds room.
   */
  #shed(except: Entry): void {
    let freed = 0;
    for (const entry of [...this.#entries.values()]) {
      if (freed >= 2 * except.bytes) break;
      if (entry === except || entry.loading || entry.inflight > 0) continue;
      freed += entry.bytes;
      this.#evict(entry);
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
