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
 * Deliberately not here: starting, calling and replacing workers (`scheduler.ts`, shared with
 * the client pool), the loaded pairs (`pairs.ts`), HTTP, the worker side (`entry.ts`), how a
 * runtime spawns workers (`spawn-node.ts`, `spawn-browser.ts`).
 *
 * @module
 */

import { type Remote, transfer } from 'comlink';
import type { SealLoadOptions } from '../../wasm/seal.ts';
import type { LinearModel } from '../he/model.ts';
import { batchUnits, joinScoredParts, partRange, type ScoredPart } from '../he/partition.ts';
import { assertBytes, assertInteger, assertObject, assertString } from '../internal/assert.ts';
import type { Envelope, InferenceWorkerApi, WorkerCounters } from './api.ts';
import { SharedBuffers } from './buffers.ts';
import { WorkerError } from './errors.ts';
import type { Spawn } from './host.ts';
import { type LoadedModel, type Pair, Pairs } from './pairs.ts';
import { commonPoolOptions, sealModuleForWorkers } from './pool-options.ts';
import { DEPTH, describe, loadSpawner, Scheduler, type Slot } from './scheduler.ts';

export type { LoadedModel } from './pairs.ts';

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

type Worker = Slot<InferenceWorkerApi>;

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
  readonly #workers: Scheduler<InferenceWorkerApi>;
  readonly #pairs: Pairs;
  /** Jobs accepted and not sent, in order. */
  #queue: Job[] = [];
  #pumpQueued = false;
  readonly #buffers: SharedBuffers | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;

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
    this.#workers = new Scheduler<InferenceWorkerApi>({
      role: 'inference',
      spawn,
      prepare: async (slot) => {
        await this.#workers.call(slot, (api) => api.init(this.#module, this.#heapBudget));
        // A replacement loads everything its predecessor had before it takes work.
        await this.#pairs.replay(slot);
      },
      pump: () => this.#pump(),
    });
    this.#pairs = new Pairs(this.#workers, () => this.#assertOpen());
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
    const maxQueue =
      options.maxQueue === undefined
        ? DEFAULT_MAX_QUEUE
        : assertInteger(options.maxQueue, 'options.maxQueue', 0, 1 << 20);
    const { size, heapBudget } = commonPoolOptions(options);
    const module = await sealModuleForWorkers(options.seal);
    const spawn = await loadSpawner(options.workerScript);
    const pool = new InferencePool(CONSTRUCT, size, maxQueue, module, spawn, heapBudget);
    try {
      await pool.#workers.start(size);
    } catch (error) {
      pool.#closing = true;
      pool.#workers.close();
      await pool.#workers.stopAll();
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
    return await this.#pairs.load(evaluationKeys, model);
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
    const pair = this.#pairs.get(keySetId, modelDigest);
    if (!pair?.ready) {
      throw new WorkerError(
        'WORKER_NOT_LOADED',
        `no evaluation keys are loaded for key set ${keySetId} and model ${modelDigest.slice(0, 16)}…: call load() first`,
      );
    }
    // Jobs that can be sent at once do not count as waiting.
    const waiting = this.#queue.length - this.#workers.room();
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
    await this.#pairs.unload(keySetId, modelDigest, this.#closed !== undefined);
  }

  /**
   * Counters of every worker (loads, jobs, loaded pairs, SEAL heap) and of the queue.
   *
   * @throws {@link WorkerError} `WORKER_CLOSED`
   */
  async stats(): Promise<InferencePoolStats> {
    this.#assertOpen();
    const workers = await this.#workers.perWorker((api) => api.counters());
    return {
      size: this.#size,
      queued: this.#queue.length,
      running: this.#workers.running,
      crashes: this.#workers.crashes,
      workers,
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
    this.#workers.close();
    const closed = new WorkerError('WORKER_CLOSED', 'the inference pool was closed before this job started');
    for (const job of [...this.#queue]) this.#fail(job, closed);
    this.#closed = (async () => {
      await this.#workers.drain();
      await this.#pairs.settled();
      await this.#workers.stopAll();
    })();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #assertOpen(): void {
    if (this.#closing) throw new WorkerError('WORKER_CLOSED', 'the inference pool is closed');
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      const job = this.#queue[0] as Job;
      if (job.settled) {
        this.#queue.shift();
        continue;
      }
      const ready = this.#workers.ready();
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
      if (!slot && this.#queue.length >= ready.length) slot = this.#workers.leastBusy();
      if (!slot) break;
      this.#queue.shift();
      this.#runWhole(slot, job);
    }
    if (this.#queue.length > 0) {
      const error = this.#workers.noWorkerLeft();
      if (error) for (const job of [...this.#queue]) this.#fail(job, error);
    }
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

  #send<T>(slot: Worker, invoke: (api: Remote<InferenceWorkerApi>) => Promise<Envelope<T>>): Promise<T> {
    return this.#workers.send(slot, invoke);
  }

  #runWhole(slot: Worker, job: Job): void {
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

  #runParts(job: Job, slots: readonly Worker[]): void {
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
}
