/**
 * The server's unmask work on worker threads: an {@link UnmaskPool} of N workers
 * (`unmask-worker.ts`) is an {@link UnmaskRunner} — it cuts the round's one unmask job
 * (`protocol/unmask-job.ts`) into 2N parts (by masks when there are enough, so each key agreement
 * runs once; else by coordinate ranges), hands them to whichever worker is free, and returns the
 * partials, which the caller combines exactly. The result is the single-thread unmask's, lane for
 * lane.
 *
 * Built on the project's worker host (`worker/host.ts`, `worker/spawn-node.ts`, comlink over
 * `worker_threads`) rather than on the inference pool (`worker/pool.ts`): that pool is about SEAL
 * (module compilation, heap budgets, key loading per worker) while an unmask job carries everything
 * it needs, so a small dedicated scheduler is simpler and shares the spawn and transport code.
 *
 * Failure: if a worker stops (crash, exit) or the pool is closed while a job runs, the run rejects
 * with a `WorkerError` (`WORKER_CRASHED`, `WORKER_CLOSED`) and the unmask step turns that into a
 * round abort (`SMPC_UNMASK_FAILED`): a partial sum is never output. A stopped worker is replaced
 * at the next run. Deliberately not here: retries (a crash means the machine is in trouble; the
 * round's clients retry the round), browsers (the aggregation server is Node-only).
 *
 * @module
 */

import { type Remote, wrap } from 'comlink';
import { assertInteger } from '../../internal/assert.ts';
import { fromWire, WorkerError } from '../../worker/errors.ts';
import type { Spawn, WorkerHost, WorkerScript } from '../../worker/host.ts';
import { SmpcError } from '../errors.ts';
import type { UnmaskRunner } from '../protocol/unmask.ts';
import { splitUnmaskJob, type UnmaskJob, type UnmaskPartial } from '../protocol/unmask-job.ts';
import type { UnmaskWorkerApi } from './unmask-worker.ts';

/** Most unmask workers a pool runs. */
export const MAX_UNMASK_WORKERS = 64;

/** Options of {@link UnmaskPool.create}. */
export interface UnmaskPoolOptions {
  /** Worker threads, 1 to {@link MAX_UNMASK_WORKERS}. */
  readonly size: number;
  /** The worker script (default: the built `smpc/unmask-worker.js`). */
  readonly script?: WorkerScript;
}

interface Slot {
  host: WorkerHost;
  remote: Remote<UnmaskWorkerApi>;
  /** Rejects when the worker stops by itself. */
  stopped: Promise<never>;
  /** Makes {@link Slot.stopped} reject with `error`. */
  stop: (error: Error) => void;
  alive: boolean;
}

/**
 * The built worker script: `dist/smpc/unmask-worker.js`, found from wherever the bundler put this
 * module (a chunk at the root of dist/, an entry in dist/smpc/ or dist/cli/), or from the sources
 * (tests).
 */
function defaultScript(): URL {
  const here = import.meta.url;
  if (here.endsWith('.ts')) return new URL('../../../dist/smpc/unmask-worker.js', here);
  const fs = (
    globalThis as { process?: { getBuiltinModule?: (id: 'node:fs') => typeof import('node:fs') } }
  ).process?.getBuiltinModule?.('node:fs');
  const candidates = ['./smpc/unmask-worker.js', './unmask-worker.js', '../smpc/unmask-worker.js'].map(
    (p) => new URL(p, here),
  );
  return candidates.find((u) => fs?.existsSync(u)) ?? (candidates[0] as URL);
}

function rebuild(error: Parameters<typeof fromWire>[0]): Error {
  if (error.code?.startsWith('SMPC_')) {
    return new SmpcError(error.code as SmpcError['code'], error.message);
  }
  return fromWire(error);
}

/**
 * N worker threads running unmask jobs; `run` is an {@link UnmaskRunner} for `serverStep` or
 * `AggregationServer` (`unmaskWorkers`).
 *
 * @example
 * ```ts
 * await using pool = await UnmaskPool.create({ size: 2 });
 * const r = await serverStep(state, { type: 'close' }, { unmask: pool.run });
 * ```
 */
export class UnmaskPool {
  readonly size: number;
  readonly #spawn: Spawn;
  readonly #slots: (Slot | null)[];
  #closed = false;
  #spawned = 0;

  private constructor(size: number, spawn: Spawn) {
    this.size = size;
    this.#spawn = spawn;
    this.#slots = Array.from({ length: size }, () => null);
  }

  /**
   * Starts `size` workers.
   *
   * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a bad size.
   * @throws {WorkerError} `WORKER_START_FAILED` when the worker script is missing (build confide).
   */
  static async create(options: UnmaskPoolOptions): Promise<UnmaskPool> {
    const size = assertInteger(options?.size, 'size', 1, MAX_UNMASK_WORKERS);
    const { nodeSpawner } = await import('../../worker/spawn-node.ts');
    const pool = new UnmaskPool(size, nodeSpawner(options.script ?? defaultScript()));
    for (let i = 0; i < size; i++) pool.#slot(i);
    return pool;
  }

  /** Workers started so far, replacements included. */
  get spawned(): number {
    return this.#spawned;
  }

  #slot(index: number): Slot {
    const current = this.#slots[index];
    if (current?.alive) return current;
    const host = this.#spawn(index);
    this.#spawned++;
    host.keepAlive(false);
    let fail: (error: Error) => void = () => {};
    const stopped = new Promise<never>((_, reject) => {
      fail = reject;
    });
    stopped.catch(() => {});
    const slot: Slot = {
      host,
      remote: wrap<UnmaskWorkerApi>(host.endpoint),
      stopped,
      stop: (error) => {
        slot.alive = false;
        fail(error);
      },
      alive: true,
    };
    host.onStop((reason, cause) => {
      slot.stop(new WorkerError('WORKER_CRASHED', `unmask worker ${index} ${reason}`, { cause }));
    });
    this.#slots[index] = slot;
    return slot;
  }

  /**
   * Runs `job` on the workers: all partials, or a rejection if any part failed.
   *
   * @throws {WorkerError} `WORKER_CRASHED` when a worker stopped, `WORKER_CLOSED` after `close()`.
   * @throws {SmpcError} what the job itself threw (e.g. `SMPC_LOW_ORDER_POINT`).
   */
  readonly run: UnmaskRunner = async (job: UnmaskJob) => {
    if (this.#closed) throw new WorkerError('WORKER_CLOSED', 'the unmask pool is closed');
    const parts = splitUnmaskJob(job, 2 * this.size);
    const partials: UnmaskPartial[] = [];
    let next = 0;
    let failed = false;
    const lane = async (index: number): Promise<void> => {
      const slot = this.#slot(index);
      slot.host.keepAlive(true);
      try {
        while (!failed && next < parts.length) {
          const part = parts[next++] as UnmaskJob;
          if (this.#closed) throw new WorkerError('WORKER_CLOSED', 'the unmask pool was closed during a run');
          const reply = await Promise.race([slot.remote.run(part), slot.stopped]);
          if (!reply.ok) throw rebuild(reply.error);
          partials.push({ start: reply.start, values: reply.values });
        }
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        slot.host.keepAlive(false);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.size, parts.length) }, (_, i) => lane(i)));
    return partials;
  };

  /** {@link close} for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Stops every worker; a run in progress rejects with `WORKER_CLOSED` or `WORKER_CRASHED`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const slots = this.#slots.filter((s): s is Slot => s !== null);
    await Promise.all(
      slots.map(async (s) => {
        s.stop(new WorkerError('WORKER_CLOSED', 'the unmask pool was closed during a run'));
        await s.host.terminate();
      }),
    );
  }
}
