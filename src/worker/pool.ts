/**
 * The inference pool: encrypted batches scored on several workers at once.
 *
 * - **SEAL compiled once.** {@link InferencePool.create} compiles SEAL's WebAssembly on this thread
 *   (or reuses the module this thread already loaded) and hands the compiled `WebAssembly.Module`
 *   to every worker, which only instantiates it.
 * - **Keys loaded once per worker.** {@link InferencePool.load} decodes the evaluation-key
 *   container here (ids, plan) and has every worker build one `HeServer` for the pair (key set,
 *   model), which then scores every job for that pair. A replacement worker replays the loads
 *   before it takes work. The key bytes are kept here for that, never a secret key.
 * - **Whole batches while the queue is deep, split only to fill idle workers.**
 *   {@link InferencePool.infer} does not read the batch: it queues it. A queued batch goes whole to
 *   an idle worker, and whole into the port of a busy one (so it never waits for this thread) when
 *   enough batches wait for every worker to get one. Only when fewer batches wait than there are
 *   workers and two or more workers are idle is a batch cut, into one range of whole chunks (batch
 *   layout) or rows (single layout) per idle worker; the cut is read from the batch's header
 *   without its digest (`batchUnits`). Calls made in one turn of the event loop are scheduled
 *   together, so a burst of batches is sent whole rather than the first one cut.
 * - **The checks run in the worker that scores.** Every worker that scores a batch or a range of
 *   it checks the whole container first (digest, kind, binding, shape: `HeServer.infer` /
 *   `scoreBatchPart` in `he/server.ts`), so a corrupted batch is refused with the same code as in process, and
 *   this thread neither hashes nor re-writes uploads. The parts' result ciphertexts come back as
 *   they are and {@link joinScoredParts} writes the one result container: the bytes
 *   `HeServer.infer` returns for the whole batch. When parts fail, the job fails with the error of
 *   the first part (in batch order) that failed, as in process.
 * - **One copy per batch, no allocation.** The caller's bytes are never detached, so each batch
 *   is copied once. In Node the copy goes into a recycled `SharedArrayBuffer` (`buffers.ts`: a
 *   fresh buffer of megabytes costs ten times the copy) that every worker scoring it reads in
 *   place; in browsers (where `SharedArrayBuffer` needs cross-origin isolation, and `TextDecoder`
 *   refuses shared memory) each worker gets its own copy, transferred. Results come back
 *   transferred.
 * - **Bounded queue.** Each worker holds at most two batches or parts (the one it scores and the
 *   next, already in its port). At most `maxQueue` further jobs wait; beyond that `infer` rejects
 *   at once with `WORKER_QUEUE_FULL`, so callers (the HTTP server) can shed load instead of
 *   buffering without bound.
 * - **Errors and crashes.** Workers answer with envelopes, so their coded errors are rethrown
 *   here as the same class with the same `code`, `message` and `fields`. A worker that exits or
 *   throws an uncaught exception fails the calls it had in flight with `WORKER_CRASHED` (never a
 *   hang) and is replaced; a replacement that cannot start is not retried.
 * - **Shutdown.** {@link InferencePool.close} rejects jobs that have not started with
 *   `WORKER_CLOSED`, lets started ones finish, then terminates the workers. Idle workers do not
 *   keep a Node process alive.
 *
 * Deliberately not here: HTTP, the worker side (`entry.ts`), how a runtime spawns workers
 * (`spawn-node.ts`, `spawn-browser.ts`).
 *
 * @module
 */

import { type Remote, transfer, wrap } from 'comlink';
import { compileSeal, type SealLoadOptions, wasmSupportHint } from '../../wasm/seal.ts';
import { ConfideArgumentError, isConfideError, WasmError } from '../errors.ts';
import { decodeContainer } from '../he/container.ts';
import { planFromMetadata } from '../he/keys.ts';
import { type LinearModel, modelDigest, parseLinearModel } from '../he/model.ts';
import { batchUnits, joinScoredParts, partRange, type ScoredPart } from '../he/partition.ts';
import { compiledSealModule, DEFAULT_HEAP_BUDGET } from '../he/runtime.ts';
import { assertBytes, assertInteger, assertObject, assertString } from '../internal/assert.ts';
import { equalBytes, toHex } from '../internal/bytes.ts';
import { type Envelope, type InferenceWorkerApi, pairKey, type WorkerCounters } from './api.ts';
import { SharedBuffers } from './buffers.ts';
import { fromWire, WorkerError } from './errors.ts';
import type { Spawn, WorkerHost, WorkerRole } from './host.ts';

/** Options for {@link InferencePool.create}. */
export interface InferencePoolOptions {
  /** Number of workers (default: the cores available, `navigator.hardwareConcurrency`). */
  readonly size?: number;
  /** Jobs that may wait for a worker before `infer` rejects with `WORKER_QUEUE_FULL` (default 64). */
  readonly maxQueue?: number;
  /**
   * The worker script, when it is not the built `worker/entry.js` next to confide's `dist/`
   * (bundlers that move it, or a wrapper script). A path or `file:` URL in Node, a URL in browsers.
   */
  readonly workerScript?: string | URL;
  /**
   * How to find SEAL's WebAssembly on the calling thread, when it has not loaded SEAL itself
   * (`module`, `wasmBinary` or `locateFile`, as for `initHe`); needed in bundled browser code.
   */
  readonly seal?: SealLoadOptions;
  /**
   * Budget of each worker's SEAL heap in bytes (as `limitHeMemory` on the calling thread; default
   * 3 GiB of the 4 GiB a module can address, 0 for none). A key load that grows a worker's heap
   * past it is undone there and refused with `WASM_OUT_OF_MEMORY`.
   */
  readonly wasmHeapBudgetBytes?: number;
}

/** The ids of a loaded key set and model, to pass to {@link InferencePool.infer}. */
export interface LoadedModel {
  /** The key set's id (hex), as in every container made under it. */
  readonly keySetId: string;
  /** SHA-256 (hex) of the canonical model JSON. */
  readonly modelDigest: string;
}

/** One worker's state and counters, from {@link InferencePool.stats}. */
export interface WorkerStats extends WorkerCounters {
  readonly index: number;
  /** 0 for the first worker in this place, +1 for each replacement. */
  readonly generation: number;
}

/** A snapshot of the pool. */
export interface InferencePoolStats {
  readonly size: number;
  /** Jobs waiting for a worker. */
  readonly queued: number;
  /** Batches and parts of batches being scored right now. */
  readonly running: number;
  /** Workers that stopped unexpectedly since the pool started. */
  readonly crashes: number;
  /** Workers that answered (a worker being replaced is left out). */
  readonly workers: readonly WorkerStats[];
}

const DEFAULT_MAX_QUEUE = 64;
const MAX_SIZE = 256;

type SlotState = 'starting' | 'ready' | 'dead';

/**
 * Batches or parts sent to one worker at a time: the next already waits in the worker's port while
 * it scores the current one, so it never idles while this thread sends.
 */
const DEPTH = 2;

interface Slot {
  readonly index: number;
  readonly generation: number;
  readonly host: WorkerHost;
  readonly api: Remote<InferenceWorkerApi>;
  state: SlotState;
  /** Batches and parts sent and not answered (at most {@link DEPTH}). */
  inflight: number;
  ready: Promise<void>;
  /** Calls in flight; each rejects when the worker stops. */
  readonly pending: Set<(error: Error) => void>;
}

interface Pair extends LoadedModel {
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

/** One outcome per part of a split job, filled in as workers answer. */
type PartOutcome =
  | { readonly ok: true; readonly part: ScoredPart }
  | { readonly ok: false; readonly error: unknown };

interface Job {
  readonly pair: Pair;
  /** The caller's bytes, read (copied) only when the job is sent. */
  readonly batch: Uint8Array;
  /** Chunks or rows, from the header (unchecked; 1 when unreadable, so never split). */
  readonly units: number;
  /** Set once sent: jobs not yet sent are the queue. */
  sent: boolean;
  settled: boolean;
  readonly resolve: (result: Uint8Array) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Node's worker_threads read shared memory; browsers have `SharedArrayBuffer` only when
 * cross-origin isolated (and their `TextDecoder` refuses it).
 */
const SHARE =
  typeof SharedArrayBuffer === 'function' &&
  typeof (globalThis as { process?: { getBuiltinModule?: unknown } }).process?.getBuiltinModule ===
    'function';

/** Idle shared buffers kept for reuse, at most, per worker (`buffers.ts`): 16 MiB per batch it holds. */
const IDLE_BYTES_PER_WORKER = 32 * 1024 * 1024;

/** The copies of one batch sent to `count` workers, and how to give them back. */
interface Copies {
  readonly bytes: readonly Uint8Array[];
  release(): void;
}

export function defaultSize(): number {
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  return typeof cores === 'number' && Number.isInteger(cores) && cores > 0 ? Math.min(cores, MAX_SIZE) : 1;
}

/** The spawner of this runtime (shared with the client pool, `client-pool.ts`). */
export async function loadSpawner(
  script: string | URL | undefined,
  role: WorkerRole = 'inference',
): Promise<Spawn> {
  const hasNode =
    typeof (globalThis as { process?: { getBuiltinModule?: unknown } }).process?.getBuiltinModule ===
    'function';
  if (hasNode) return (await import('./spawn-node.ts')).nodeSpawner(script, role);
  if (typeof Worker === 'function') return (await import('./spawn-browser.ts')).browserSpawner(script, role);
  throw new WorkerError('WORKER_START_FAILED', 'this runtime has neither worker_threads nor Web Workers');
}

export function describe(error: unknown): string {
  if (isConfideError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** A comlink-level failure (not an envelope): the call never reached the worker's code. */
export function callError(error: unknown): Error {
  if (isConfideError(error)) return error;
  if ((error as { name?: unknown } | null)?.name === 'DataCloneError') {
    return new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `the arguments cannot be sent to a worker (not structured-cloneable): ${describe(error)}`,
      { cause: error },
    );
  }
  return new WorkerError('WORKER_CRASHED', `the worker call failed: ${describe(error)}`, { cause: error });
}

const CONSTRUCT = Symbol('InferencePool.create');

/**
 * A pool of workers scoring encrypted batches with evaluation keys only. Node `worker_threads`
 * and browser Web Workers behind one API.
 *
 * @example
 * ```ts
 * const pool = await InferencePool.create({ size: 2 });
 * const { keySetId, modelDigest } = await pool.load(evaluationKeyBytes, model); // once
 * const resultBytes = await pool.infer(keySetId, modelDigest, batchBytes);     // many times
 * await pool.close();
 * ```
 */
export class InferencePool {
  readonly #size: number;
  readonly #maxQueue: number;
  readonly #module: WebAssembly.Module;
  readonly #heapBudget: number;
  /**
   * `load` of a pair already held with other key bytes loads them on every worker and swaps them
   * in once loaded (a refused copy leaves the old keys serving), as the HTTP server's registry
   * expects of its backend (`ScoringBackend.replacesLoadedPairs`).
   */
  readonly replacesLoadedPairs = true;
  readonly #spawn: Spawn;
  readonly #slots: Slot[] = [];
  readonly #pairs = new Map<string, Pair>();
  /** Pairs whose last hold was released and that are being freed on the workers. */
  readonly #unloading = new Map<string, Promise<void>>();
  /** Jobs accepted and not sent, in order. */
  #queue: Job[] = [];
  #pumpQueued = false;
  readonly #buffers: SharedBuffers | undefined;
  #running = 0;
  #crashes = 0;
  #closing = false;
  #closed: Promise<void> | undefined;
  #drained: (() => void) | undefined;

  private constructor(
    token: symbol,
    size: number,
    maxQueue: number,
    module: WebAssembly.Module,
    spawn: Spawn,
    heapBudget: number,
  ) {
    if (token !== CONSTRUCT) throw new TypeError('use InferencePool.create()');
    this.#size = size;
    this.#maxQueue = maxQueue;
    this.#module = module;
    this.#heapBudget = heapBudget;
    this.#spawn = spawn;
    this.#buffers = SHARE ? new SharedBuffers(size * DEPTH + 2, size * IDLE_BYTES_PER_WORKER) : undefined;
  }

  /**
   * Compiles SEAL once on this thread and starts `size` workers, each loading SEAL from that
   * compiled module. Resolves when every worker is ready.
   *
   * @throws {@link WorkerError} `WORKER_START_FAILED` (cause: what failed), `INVALID_ARGUMENT`
   * @throws {@link WasmError} `WASM_UNSUPPORTED`, `WASM_LOAD_FAILED`
   */
  static async create(options: InferencePoolOptions = {}): Promise<InferencePool> {
    assertObject(options, 'options');
    const size =
      options.size === undefined ? defaultSize() : assertInteger(options.size, 'options.size', 1, MAX_SIZE);
    const maxQueue =
      options.maxQueue === undefined
        ? DEFAULT_MAX_QUEUE
        : assertInteger(options.maxQueue, 'options.maxQueue', 0, 1 << 20);
    const heapBudget =
      options.wasmHeapBudgetBytes === undefined
        ? DEFAULT_HEAP_BUDGET
        : assertInteger(options.wasmHeapBudgetBytes, 'options.wasmHeapBudgetBytes', 0, 4 * 1024 ** 3);
    if (options.workerScript !== undefined && !(options.workerScript instanceof URL)) {
      assertString(options.workerScript, 'options.workerScript');
    }
    const hint = wasmSupportHint();
    if (hint) throw new WasmError('WASM_UNSUPPORTED', hint);
    const sealOptions: SealLoadOptions =
      options.seal === undefined ? {} : (assertObject(options.seal, 'options.seal') as SealLoadOptions);
    let module = compiledSealModule();
    if (!module) {
      try {
        module = await compileSeal(sealOptions);
      } catch (error) {
        throw new WasmError('WASM_LOAD_FAILED', `could not compile SEAL's WebAssembly: ${describe(error)}`, {
          cause: error,
        });
      }
    }
    const pool = new InferencePool(
      CONSTRUCT,
      size,
      maxQueue,
      module,
      await loadSpawner(options.workerScript),
      heapBudget,
    );
    try {
      for (let i = 0; i < size; i++) pool.#slots.push(pool.#start(i, 0));
      await Promise.all(pool.#slots.map((slot) => slot.ready));
    } catch (error) {
      pool.#closing = true;
      await Promise.allSettled(pool.#slots.map((slot) => pool.#stop(slot)));
      throw new WorkerError(
        'WORKER_START_FAILED',
        `could not start ${size} inference worker${size === 1 ? '' : 's'}: ${describe(error)}`,
        { cause: error },
      );
    }
    return pool;
  }

  /** Number of workers. */
  get size(): number {
    return this.#size;
  }

  /**
   * Loads a client's evaluation keys for `model` on every worker, once, and takes one hold on the
   * pair: it stays loaded until every `load` is matched by an {@link InferencePool.unload}.
   * Loading a pair already held takes another hold and returns the same ids; with the same key
   * bytes nothing is loaded, with other bytes (a fresh export of the same key set) they are loaded
   * on every worker and swapped in there once loaded, so a refused copy leaves the old keys
   * serving (and takes no hold).
   *
   * @throws {@link HeError} container errors and `HE_MODEL_INVALID` (checked here),
   *   `HE_MODEL_MISMATCH` and key errors (from the workers)
   * @throws {@link WorkerError} `WORKER_CLOSED`, `WORKER_CRASHED`
   */
  async load(evaluationKeys: Uint8Array, model: LinearModel): Promise<LoadedModel> {
    this.#assertOpen();
    assertBytes(evaluationKeys, 'evaluationKeys');
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

  /**
   * Scores an encrypted batch with a loaded pair and returns the encrypted-result container: the
   * same bytes `HeServer.infer` returns. The batch goes whole to one worker, or, when workers
   * would otherwise idle, in parts to several; the worker(s) check it. The caller's `batch` is
   * never modified or detached, but it is read when the job is sent: do not modify it before the
   * promise settles.
   *
   * @throws {@link WorkerError} `WORKER_NOT_LOADED`, `WORKER_QUEUE_FULL`, `WORKER_CRASHED`,
   *   `WORKER_CLOSED`
   * @throws {@link HeError} every error of `HeServer.infer` (`HE_CONTAINER_CORRUPT`,
   *   `HE_KEY_SET_MISMATCH`, …), from the worker that found it
   */
  async infer(keySetId: string, modelDigest: string, batch: Uint8Array): Promise<Uint8Array> {
    this.#assertOpen();
    assertString(keySetId, 'keySetId', 64);
    assertString(modelDigest, 'modelDigest', 128);
    assertBytes(batch, 'batch');
    const pair = this.#pairs.get(pairKey(keySetId, modelDigest));
    if (!pair?.ready) {
      throw new WorkerError(
        'WORKER_NOT_LOADED',
        `no evaluation keys are loaded for key set ${keySetId} and model ${modelDigest.slice(0, 16)}…: call load() first`,
      );
    }
    // Jobs that can be sent at once do not count as waiting.
    const room = this.#slots.reduce((n, s) => n + (s.state === 'ready' ? DEPTH - s.inflight : 0), 0);
    const waiting = this.#queue.length - room;
    if (waiting >= this.#maxQueue) {
      throw new WorkerError(
        'WORKER_QUEUE_FULL',
        `${waiting} jobs are already waiting for a worker (maxQueue ${this.#maxQueue}): retry later`,
      );
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      const job: Job = {
        pair,
        batch,
        units: this.#size === 1 ? 1 : (batchUnits(batch, pair.slots) ?? 1),
        sent: false,
        settled: false,
        resolve,
        reject,
      };
      pair.active++;
      this.#queue.push(job);
      // Scheduled after this turn, so a burst of calls is seen whole (and sent whole).
      if (!this.#pumpQueued) {
        this.#pumpQueued = true;
        queueMicrotask(() => {
          this.#pumpQueued = false;
          this.#pump();
        });
      }
    });
  }

  /**
   * Releases one hold on a loaded pair. The last release frees the pair on every worker after the
   * jobs already accepted for it finish; new `infer` calls for it then fail with
   * `WORKER_NOT_LOADED` at once. Unknown pairs are ignored.
   */
  async unload(keySetId: string, modelDigest: string): Promise<void> {
    assertString(keySetId, 'keySetId', 64);
    assertString(modelDigest, 'modelDigest', 128);
    const pair = this.#pairs.get(pairKey(keySetId, modelDigest));
    if (!pair || this.#closed) return;
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

  /**
   * Counters of every worker (loads, jobs, loaded pairs, SEAL heap) and of the queue.
   *
   * @throws {@link WorkerError} `WORKER_CLOSED`
   */
  async stats(): Promise<InferencePoolStats> {
    this.#assertOpen();
    const workers = await Promise.all(
      this.#slots.map(async (slot): Promise<WorkerStats | undefined> => {
        try {
          await slot.ready;
          const counters = await this.#call(slot, (api) => api.counters());
          return { index: slot.index, generation: slot.generation, ...counters };
        } catch {
          return undefined;
        }
      }),
    );
    return {
      size: this.#size,
      queued: this.#queue.length,
      running: this.#running,
      crashes: this.#crashes,
      workers: workers.filter((w): w is WorkerStats => w !== undefined),
    };
  }

  /**
   * Shuts the pool down: jobs that have not started are rejected with `WORKER_CLOSED`, started
   * ones finish, then every worker is terminated. Idempotent; later calls of other methods
   * reject with `WORKER_CLOSED`.
   */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#pump(); // what can start now has started, and finishes
    this.#closing = true;
    const closed = new WorkerError('WORKER_CLOSED', 'the inference pool was closed before this job started');
    for (const job of [...this.#queue]) this.#fail(job, closed);
    this.#closed = (async () => {
      if (this.#running > 0) {
        await new Promise<void>((resolve) => {
          this.#drained = resolve;
        });
      }
      await Promise.allSettled([...this.#pairs.values()].map((pair) => pair.loading));
      await Promise.allSettled(this.#slots.map((slot) => this.#stop(slot)));
    })();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #assertOpen(): void {
    if (this.#closing) throw new WorkerError('WORKER_CLOSED', 'the inference pool is closed');
  }

  #start(index: number, generation: number): Slot {
    const host = this.#spawn(index);
    const slot: Slot = {
      index,
      generation,
      host,
      api: wrap<InferenceWorkerApi>(host.endpoint),
      state: 'starting',
      inflight: 0,
      ready: Promise.resolve(),
      pending: new Set(),
    };
    host.onStop((reason, cause) => this.#onStop(slot, reason, cause));
    slot.ready = (async () => {
      await this.#call(slot, (api) => api.init(this.#module, this.#heapBudget));
      // A replacement loads everything its predecessor had before it takes work.
      for (const pair of this.#pairs.values()) {
        await this.#call(slot, (api) => api.load(pair.keySetId, pair.modelDigest, pair.keys, pair.model));
      }
    })();
    slot.ready.then(
      () => {
        if (slot.state !== 'starting') return;
        slot.state = 'ready';
        this.#pump();
      },
      () => {
        if (slot.state === 'dead') return;
        slot.state = 'dead';
        void host.terminate().catch(() => {});
        this.#pump();
      },
    );
    return slot;
  }

  /** Calls a worker method; settles from its envelope, or with `WORKER_CRASHED` if it stops. */
  #call<T>(slot: Slot, invoke: (api: Remote<InferenceWorkerApi>) => Promise<Envelope<T>>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (slot.state === 'dead') {
        reject(new WorkerError('WORKER_CRASHED', `inference worker ${slot.index} has stopped`));
        return;
      }
      const onStop = (error: Error) => reject(error);
      slot.pending.add(onStop);
      slot.host.keepAlive(true);
      const settle = () => {
        slot.pending.delete(onStop);
        if (slot.pending.size === 0) slot.host.keepAlive(false);
      };
      invoke(slot.api).then(
        (envelope) => {
          settle();
          if (envelope.ok) resolve(envelope.value);
          else reject(fromWire(envelope.error));
        },
        (error) => {
          settle();
          reject(callError(error));
        },
      );
    });
  }

  #onStop(slot: Slot, reason: string, cause: unknown): void {
    if (slot.state === 'dead') return;
    const wasStarting = slot.state === 'starting';
    slot.state = 'dead';
    this.#crashes++;
    const error = new WorkerError(
      'WORKER_CRASHED',
      `inference worker ${slot.index} ${reason}; the work it had in hand is lost${this.#closing || wasStarting ? '' : ' (the worker is being replaced)'}`,
      cause === undefined ? {} : { cause },
    );
    for (const reject of [...slot.pending]) reject(error);
    slot.pending.clear();
    void slot.host.terminate().catch(() => {});
    // A worker that dies while starting is not replaced again: that would loop.
    if (!this.#closing && !wasStarting)
      this.#slots[slot.index] = this.#start(slot.index, slot.generation + 1);
    this.#pump();
  }

  /** Terminates a worker on purpose; calls still in flight on it fail with `WORKER_CLOSED`. */
  async #stop(slot: Slot): Promise<void> {
    slot.state = 'dead';
    const error = new WorkerError('WORKER_CLOSED', `inference worker ${slot.index} was stopped`);
    for (const reject of [...slot.pending]) reject(error);
    slot.pending.clear();
    await slot.host.terminate();
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      const job = this.#queue[0] as Job;
      if (job.settled) {
        this.#queue.shift();
        continue;
      }
      const ready = this.#slots.filter((s) => s.state === 'ready');
      const idle = ready.filter((s) => s.inflight === 0);
      // Cut a batch only when workers would otherwise idle: fewer jobs wait than there are
      // workers, and two or more have nothing to do.
      if (this.#queue.length < ready.length && idle.length >= 2 && job.units >= 2) {
        this.#queue.shift();
        this.#runParts(job, idle.slice(0, Math.min(idle.length, job.units)));
        continue;
      }
      // Whole: to an idle worker, or behind a busy one's batch when enough jobs wait for every
      // worker to get one (a tail batch waits for an idle worker rather than queue behind).
      let slot = idle[0];
      if (!slot && this.#queue.length >= ready.length) {
        for (const s of ready) if (s.inflight < DEPTH && (!slot || s.inflight < slot.inflight)) slot = s;
      }
      if (!slot) break;
      this.#queue.shift();
      this.#runWhole(slot, job);
    }
    if (this.#queue.length > 0 && this.#slots.every((s) => s.state === 'dead')) {
      const error = this.#closing
        ? new WorkerError('WORKER_CLOSED', 'the inference pool was closed before this job could finish')
        : new WorkerError('WORKER_START_FAILED', 'no inference worker is left: replacements failed to start');
      for (const job of [...this.#queue]) this.#fail(job, error);
    }
    if (this.#drained && this.#running === 0 && this.#queue.length === 0) {
      const drained = this.#drained;
      this.#drained = undefined;
      drained();
    }
  }

  /** Sends one call to a worker, counting it against the worker's depth until it answers. */
  #send<T>(slot: Slot, invoke: (api: Remote<InferenceWorkerApi>) => Promise<Envelope<T>>): Promise<T> {
    slot.inflight++;
    this.#running++;
    return this.#call(slot, invoke).finally(() => {
      this.#running--;
      slot.inflight--;
      this.#pump();
    });
  }

  /**
   * The batch for `count` workers: in Node one shared copy in a recycled buffer, read by all of
   * them; elsewhere one copy each, transferred. Released once every worker answered.
   */
  #copies(batch: Uint8Array, count: number): Copies {
    if (this.#buffers) {
      const shared = this.#buffers.copy(batch);
      return { bytes: new Array<Uint8Array>(count).fill(shared.bytes), release: shared.release };
    }
    const bytes = Array.from({ length: count }, () => batch.slice());
    return { bytes: bytes.map((b) => transfer(b, [b.buffer as ArrayBuffer])), release: () => {} };
  }

  #runWhole(slot: Slot, job: Job): void {
    job.sent = true;
    const copies = this.#copies(job.batch, 1);
    const bytes = copies.bytes[0] as Uint8Array;
    const { keySetId, modelDigest: digest } = job.pair;
    this.#send(slot, (api) => api.score(keySetId, digest, bytes)).then(
      (result) => {
        copies.release();
        this.#finish(job, result);
      },
      (error: unknown) => {
        copies.release();
        this.#fail(job, error);
      },
    );
  }

  #runParts(job: Job, slots: readonly Slot[]): void {
    job.sent = true;
    const count = slots.length;
    const copies = this.#copies(job.batch, count);
    const outcomes: (PartOutcome | undefined)[] = new Array(count).fill(undefined);
    let remaining = count;
    const { keySetId, modelDigest: digest } = job.pair;
    const settle = (index: number, outcome: PartOutcome) => {
      outcomes[index] = outcome;
      if (--remaining > 0) return;
      copies.release(); // every worker has answered: none reads the batch any more
      // Every part checks the whole batch, so they fail alike on the container; on a ciphertext,
      // the first part in batch order that failed is the error in-process scoring would give.
      const failed = outcomes.find((o) => o?.ok === false);
      if (failed && !failed.ok) {
        this.#fail(job, failed.error);
        return;
      }
      try {
        this.#finish(job, joinScoredParts(outcomes.map((o) => (o as { part: ScoredPart }).part)));
      } catch (error) {
        this.#fail(job, error);
      }
    };
    slots.forEach((slot, index) => {
      const { first, end } = partRange(job.units, index, count);
      const bytes = copies.bytes[index] as Uint8Array;
      this.#send(slot, (api) => api.scorePart(keySetId, digest, bytes, first, end)).then(
        (part) => settle(index, { ok: true, part }),
        (error: unknown) => settle(index, { ok: false, error }),
      );
    });
  }

  #settle(job: Job): boolean {
    if (job.settled) return false;
    job.settled = true;
    if (!job.sent) this.#queue = this.#queue.filter((j) => j !== job);
    const pair = job.pair;
    if (--pair.active === 0 && pair.drained) {
      const drained = pair.drained;
      pair.drained = undefined;
      drained();
    }
    return true;
  }

  #finish(job: Job, result: Uint8Array): void {
    if (this.#settle(job)) job.resolve(result);
  }

  #fail(job: Job, error: unknown): void {
    if (this.#settle(job)) job.reject(error);
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
      this.#slots.map(async (slot) => {
        try {
          await slot.ready;
        } catch {
          return;
        }
        await this.#call(slot, (api) =>
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
      this.#slots.map(async (slot) => {
        await slot.ready;
        await this.#call(slot, (api) => api.unload(pair.keySetId, pair.modelDigest));
      }),
    );
  }
}
