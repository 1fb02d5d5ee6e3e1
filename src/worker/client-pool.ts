/**
 * The client pool: encryption and decryption with one secret key on several workers at once, in
 * Node (`worker_threads`) and browsers (module Web Workers), beside the inference pool and on the
 * same worker host and spawners (`host.ts`, `spawn-node.ts`, `spawn-browser.ts`).
 *
 * - **The secret key travels only through a `Secret` factory.** {@link HeClientPool.fromSecretKeys}
 *   (a secret key file) and {@link HeClientPool.fromClientSecret} (an `HeClient`) check the key
 *   file's container on this thread, then send each worker its own copy (transferred, zeroed by
 *   the worker once loaded). One copy stays here, private, to load into a worker that replaces a
 *   crashed one; `close()` zeroes it, has every worker free its key (SEAL clears a secret key's
 *   memory when it is freed) and terminates them. No method returns the key; nothing logs it.
 * - **Same bytes as in process.** `encrypt` checks every value on this thread exactly as
 *   `HeClient.encrypt` does, before any worker is asked, then cuts the ciphertexts into ranges of
 *   ciphertexts in container order (batch layout: even one chunk is shared) or rows (single
 *   layout), one per worker, and writes one v1
 *   encrypted-batch container from their ciphertexts in order (`client-parts.ts`). `decrypt`
 *   checks the result container as `HeClient.decrypt` does, cuts its ciphertexts the same way and
 *   joins the rounded scores: the same `DecryptedScores`.
 * - **Every core.** A call is cut into one range per worker while fewer ranges wait than there are
 *   workers; under a deep queue each call goes whole to one worker. Each worker holds at most two
 *   ranges (the one it works on and the next, already in its port).
 *   `encrypt` and `decrypt` fit a chunked pipeline's per-chunk calls as they are
 *   (`(rows) => pool.encrypt(rows)`, `(bytes) => pool.decrypt(bytes)`): even one batch-layout chunk
 *   is shared by the workers, and chunks in flight at once spread over them.
 * - **Errors and crashes.** Coded errors cross the boundary as the inference pool's do
 *   (`errors.ts`); when ranges of one call fail, the call fails with the error of the first range
 *   in order. A worker that stops fails the ranges it held with `WORKER_CRASHED` (never a hang) and
 *   is replaced with the key reloaded; a replacement that cannot start is not retried.
 * - **Shutdown.** {@link HeClientPool.close} fails ranges not yet started with `WORKER_CLOSED`, lets
 *   started ones finish, then frees the keys and stops the workers.
 *
 * Deliberately not here: starting, calling and replacing workers (`scheduler.ts`, shared with the
 * inference pool), key generation (`HeClient.create`), HTTP, CSV.
 *
 * @module
 */

import { type Remote, transfer } from 'comlink';
import type { SealLoadOptions } from '../../wasm/seal.ts';
import { ConfideArgumentError, HeError, isConfideError } from '../errors.ts';
import type { DecryptedScores, EncryptOptions, HeClient } from '../he/client.ts';
import { decodeContainer } from '../he/container.ts';
import { type LinearModel, type ModelInterface, modelInterfaceDigest } from '../he/model.ts';
import { assertBytes, assertObject } from '../internal/assert.ts';
import type { Envelope } from './api.ts';
import type { ClientKeyInfo, ClientPartsApi, ClientWorkerCounters } from './client-api.ts';
import { assembleBatch, assembleScores, planDecrypt, planEncrypt } from './client-parts.ts';
import { WorkerError } from './errors.ts';
import type { Spawn } from './host.ts';
import { commonPoolOptions, sealModuleForWorkers } from './pool-options.ts';
import { describe, loadSpawner, Scheduler } from './scheduler.ts';

/** One client worker's counters, from {@link HeClientPool.stats}. */
export interface ClientWorkerStats extends ClientWorkerCounters {
  readonly index: number;
  /** 0 for the first worker in this place, +1 for each replacement. */
  readonly generation: number;
}

/** A snapshot of the client pool. */
export interface HeClientPoolStats {
  readonly size: number;
  /** Ranges waiting for a worker. */
  readonly queued: number;
  /** Ranges being encrypted or decrypted right now. */
  readonly running: number;
  /** Workers that stopped unexpectedly since the pool started. */
  readonly crashes: number;
  /** Workers that answered (a worker being replaced is left out). */
  readonly workers: readonly ClientWorkerStats[];
}

/** Options for {@link HeClientPool.fromSecretKeys} and {@link HeClientPool.fromClientSecret}. */
export interface HeClientPoolOptions {
  /** Number of workers (default: the cores available, `navigator.hardwareConcurrency`). */
  readonly size?: number;
  /** Check that the keys were generated for this model (as `HeClient.fromSecretKeys`). */
  readonly model?: LinearModel | ModelInterface;
  /**
   * The worker script, when it is not the built `worker/client-entry.js` next to confide's
   * `dist/`. A path or `file:` URL in Node, a URL in browsers.
   */
  readonly workerScript?: string | URL;
  /** How to find SEAL's WebAssembly on the calling thread when it has not loaded SEAL itself. */
  readonly seal?: SealLoadOptions;
  /** Budget of each worker's SEAL heap in bytes (default 3 GiB, 0 for none). */
  readonly wasmHeapBudgetBytes?: number;
}

/** One range of one call, waiting for or running on a worker. */
interface Task {
  readonly run: (api: Remote<ClientPartsApi>) => Promise<Envelope<unknown>>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

const CONSTRUCT = Symbol('HeClientPool');

/**
 * Encryption and decryption with one secret key on a pool of workers. Node `worker_threads` and
 * browser Web Workers behind one API; `encrypt` and `decrypt` give what `HeClient`'s give.
 *
 * @example
 * ```ts
 * await using pool = await HeClientPool.fromSecretKeys(secretKeyBytes, { size: 4 });
 * const batch = await pool.encrypt(rows);                 // one container, every core
 * const { predictions } = await pool.decrypt(resultBytes);
 * ```
 */
export class HeClientPool {
  readonly #size: number;
  readonly #module: WebAssembly.Module;
  readonly #heapBudget: number;
  /** The secret key file, private to this object: replayed into replacement workers, zeroed on close. */
  readonly #secret: Uint8Array;
  readonly #workers: Scheduler<ClientPartsApi>;
  #info: ClientKeyInfo | undefined;
  #queue: Task[] = [];
  #closing = false;
  #closed: Promise<void> | undefined;

  private constructor(
    token: symbol,
    size: number,
    module: WebAssembly.Module,
    spawn: Spawn,
    heapBudget: number,
    secret: Uint8Array,
  ) {
    if (token !== CONSTRUCT) throw new TypeError('use HeClientPool.fromSecretKeys()');
    this.#size = size;
    this.#module = module;
    this.#heapBudget = heapBudget;
    this.#secret = secret;
    this.#workers = new Scheduler<ClientPartsApi>({
      role: 'client',
      spawn,
      prepare: async (slot) => {
        await this.#workers.call(slot, (api) => api.init(this.#module, this.#heapBudget));
        const copy = this.#secret.slice();
        const info = await this.#workers.call(slot, (api) =>
          api.loadSecretKeys(transfer(copy, [copy.buffer as ArrayBuffer])),
        );
        if (this.#info && info.keySetId !== this.#info.keySetId) {
          throw new WorkerError('WORKER_START_FAILED', `client worker ${slot.index} loaded another key set`);
        }
        this.#info ??= info;
      },
      pump: () => this.#pump(),
    });
  }

  /**
   * Starts `size` workers and loads the secret key file (as written by `HeClient.exportSecretKeys`)
   * into each. The caller's bytes are copied, never kept or changed.
   *
   * @throws {@link HeError} container errors of the key file; `HE_MODEL_MISMATCH` when
   *   `options.model` differs from the keys' model
   * @throws {@link WorkerError} `WORKER_START_FAILED`; `INVALID_ARGUMENT`
   * @throws {@link WasmError} `WASM_UNSUPPORTED`, `WASM_LOAD_FAILED`
   */
  static async fromSecretKeys(bytes: Uint8Array, options: HeClientPoolOptions = {}): Promise<HeClientPool> {
    assertBytes(bytes, 'bytes');
    assertObject(options, 'options');
    const { size, heapBudget } = commonPoolOptions(options);
    if (options.model !== undefined) assertObject(options.model, 'options.model');
    // The container (length, magic, kind, digest) is checked here, before any worker or WASM.
    decodeContainer(bytes, 'secret-keys');
    const module = await sealModuleForWorkers(options.seal);
    const spawn = await loadSpawner(options.workerScript, 'client');
    const pool = new HeClientPool(CONSTRUCT, size, module, spawn, heapBudget, bytes.slice());
    try {
      await pool.#workers.start(size);
      const info = pool.#info as ClientKeyInfo;
      if (options.model !== undefined && modelInterfaceDigest(options.model) !== info.interfaceDigest) {
        throw new HeError(
          'HE_MODEL_MISMATCH',
          'these keys were generated for another model (its features, scaler, outputs or classes differ): use the model the keys were generated for, or generate new keys',
        );
      }
    } catch (error) {
      await pool.close();
      // The key file's own errors (a damaged key, another model) keep their code.
      if (isConfideError(error) && !error.code.startsWith('WORKER_')) throw error;
      throw new WorkerError(
        'WORKER_START_FAILED',
        `could not start ${size} client worker${size === 1 ? '' : 's'}: ${describe(error)}`,
        { cause: error },
      );
    }
    return pool;
  }

  /**
   * A pool holding the secret key of `client` (exported once, handed to the workers, and the
   * exported bytes zeroed). `client` stays usable and is not disposed.
   *
   * @throws as {@link HeClientPool.fromSecretKeys}; `HE_USE_AFTER_DISPOSE` for a disposed client
   */
  static async fromClientSecret(client: HeClient, options: HeClientPoolOptions = {}): Promise<HeClientPool> {
    if (typeof client !== 'object' || client === null || typeof client.exportSecretKeys !== 'function') {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'client must be an HeClient (confide/he)', {
        fields: ['client'],
      });
    }
    assertObject(options, 'options');
    const bytes = client.exportSecretKeys();
    try {
      return await HeClientPool.fromSecretKeys(bytes, options);
    } finally {
      bytes.fill(0);
    }
  }

  /** Number of workers. */
  get size(): number {
    return this.#size;
  }

  /** The key set's id (hex). */
  get keySetId(): string {
    return (this.#info as ClientKeyInfo).keySetId;
  }

  /** The weight-free interface of the model the keys serve. */
  get model(): ModelInterface {
    return (this.#info as ClientKeyInfo).model;
  }

  /** Workers that stopped unexpectedly since the pool started. */
  get crashes(): number {
    return this.#workers.crashes;
  }

  /**
   * Encrypts feature rows into one encrypted-batch container, as `HeClient.encrypt` (same checks,
   * same format; ciphertexts are random, so compare by decrypting). `onProgress` is called as
   * ranges finish, with ciphertexts done and the total.
   *
   * @throws {@link HeError} `HE_VALUE_OUT_OF_RANGE`, `HE_LAYOUT_UNAVAILABLE`
   * @throws {@link WorkerError} `WORKER_CRASHED`, `WORKER_CLOSED`, `WORKER_START_FAILED`
   */
  async encrypt(rows: readonly ArrayLike<number>[], options: EncryptOptions = {}): Promise<Uint8Array> {
    this.#assertOpen();
    const info = this.#info as ClientKeyInfo;
    const plan = planEncrypt(info, rows, options, this.#parts());
    let done = 0;
    const ranges = await this.#all(
      plan.parts.map((part) => {
        const { values, count } = part;
        return this.#submit<Uint8Array[]>((api) =>
          api.encryptVectors(plan.layout, transfer(values, [values.buffer as ArrayBuffer]), count),
        ).then((items) => {
          done += items.length;
          plan.onProgress?.(done, plan.items);
          return items;
        });
      }),
    );
    return assembleBatch(info, plan, ranges);
  }

  /**
   * Decrypts an encrypted-result container into scores and predictions, as `HeClient.decrypt`.
   *
   * @throws {@link HeError} container errors, `HE_KEY_SET_MISMATCH`, `HE_PARAMETERS_MISMATCH`,
   *   `HE_MODEL_MISMATCH`, `HE_CONTAINER_MALFORMED`
   * @throws {@link WorkerError} `WORKER_CRASHED`, `WORKER_CLOSED`, `WORKER_START_FAILED`
   */
  async decrypt(result: Uint8Array): Promise<DecryptedScores> {
    this.#assertOpen();
    assertBytes(result, 'result');
    const info = this.#info as ClientKeyInfo;
    const plan = planDecrypt(info, result, this.#parts());
    const ranges = await this.#all(
      plan.parts.map((part) =>
        this.#submit<Float64Array>((api) =>
          api.decryptItems(
            transfer(
              part,
              part.items.map((item) => item.buffer as ArrayBuffer),
            ),
          ),
        ),
      ),
    );
    return assembleScores(info, plan, ranges);
  }

  /**
   * Counters of every worker (ranges done, SEAL heap) and of the queue.
   *
   * @throws {@link WorkerError} `WORKER_CLOSED`
   */
  async stats(): Promise<HeClientPoolStats> {
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
   * Fails ranges not yet started with `WORKER_CLOSED`, lets started ones finish, then has every
   * worker free its key, stops the workers and zeroes this object's copy of the key file.
   * Idempotent; later calls reject with `WORKER_CLOSED`.
   */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#pump();
    this.#closing = true;
    this.#workers.close();
    const closed = new WorkerError('WORKER_CLOSED', 'the client pool was closed before this work started');
    for (const task of this.#queue) task.reject(closed);
    this.#queue = [];
    this.#closed = (async () => {
      await this.#workers.drain();
      await Promise.allSettled(
        this.#workers.slots.map(async (slot) => {
          if (slot.state === 'ready') await this.#workers.call(slot, (api) => api.dispose()).catch(() => {});
          await this.#workers.stop(slot);
        }),
      );
      this.#secret.fill(0);
    })();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #assertOpen(): void {
    if (this.#closing) throw new WorkerError('WORKER_CLOSED', 'the client pool is closed');
  }

  /** Ranges to cut the next call into: one per worker, unless enough work already waits. */
  #parts(): number {
    return this.#queue.length >= this.#size ? 1 : this.#size;
  }

  /** Settles once every range settled: their values in order, or the first failure in order. */
  async #all<T>(ranges: Promise<T>[]): Promise<T[]> {
    const outcomes = await Promise.allSettled(ranges);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
    return outcomes.map((o) => (o as PromiseFulfilledResult<T>).value);
  }

  #submit<T>(run: (api: Remote<ClientPartsApi>) => Promise<Envelope<T>>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run, resolve: resolve as (value: unknown) => void, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      const slot = this.#workers.leastBusy();
      if (!slot) break;
      const task = this.#queue.shift() as Task;
      this.#workers.send(slot, task.run).then(task.resolve, task.reject);
    }
    if (this.#queue.length > 0) {
      const error = this.#workers.noWorkerLeft();
      if (error) {
        for (const task of this.#queue) task.reject(error);
        this.#queue = [];
      }
    }
  }
}
