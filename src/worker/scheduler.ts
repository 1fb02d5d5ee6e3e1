/**
 * The worker slots both pools schedule on (`pool.ts`, `client-pool.ts`): starting workers,
 * calling them, counting what each holds, and replacing the ones that stop.
 *
 * - **Slots.** One slot per worker place; a slot is `starting` (its `prepare` hook runs: SEAL,
 *   then keys), `ready`, or `dead`. A ready worker holds at most {@link DEPTH} calls (the one it
 *   works on and the next, already in its port); {@link Scheduler.send} counts them.
 * - **Calls.** {@link Scheduler.call} settles from the worker's envelope (coded errors are rethrown
 *   as the same class, `errors.ts`) or with `WORKER_CRASHED` when the worker stops first; a call
 *   that cannot be sent (not structured-cloneable) fails with `INVALID_ARGUMENT`. A worker with
 *   calls in flight keeps a Node process alive, an idle one does not.
 * - **Crashes.** A worker that stops by itself fails the calls it had with `WORKER_CRASHED` (never
 *   a hang) and is replaced by a fresh worker that runs `prepare` again before it takes work; one
 *   that stops while starting is not replaced (that would loop). The owner's `pump` hook runs
 *   whenever a worker became ready or stopped, or a call finished, so queued work moves on.
 * - **Shutdown.** {@link Scheduler.drain} waits for the calls sent; {@link Scheduler.stopAll}
 *   terminates every worker, failing calls still in flight with `WORKER_CLOSED`.
 *
 * Light on purpose (no SEAL, no Node modules): the browser client's workers run on it too
 * (`browser/workers.ts`). The pools' shared options and SEAL module are in `pool-options.ts`.
 *
 * Deliberately not here: what the owners queue and how they cut it (each pool's own `pump`), the
 * worker side, how a runtime spawns workers (`spawn-node.ts`, `spawn-browser.ts`).
 *
 * @module
 */

import { type Remote, wrap } from 'comlink';
import { ConfideArgumentError, isConfideError } from '../errors.ts';
import type { Envelope } from './api.ts';
import { fromWire, WorkerError } from './errors.ts';
import type { Spawn, WorkerHost, WorkerRole } from './host.ts';

/** Calls sent to one worker at a time: the next already waits in its port while it works. */
export const DEPTH = 2;

/** Most workers one pool starts. */
export const MAX_SIZE = 256;

export type SlotState = 'starting' | 'ready' | 'dead';

/** One worker place. */
export interface Slot<Api> {
  readonly index: number;
  /** 0 for the first worker in this place, +1 for each replacement. */
  readonly generation: number;
  readonly host: WorkerHost;
  readonly api: Remote<Api>;
  state: SlotState;
  /** Calls sent with {@link Scheduler.send} and not answered (at most {@link DEPTH}). */
  inflight: number;
  /** Settles once `prepare` finished (rejects when it failed). */
  ready: Promise<void>;
  /** Calls in flight; each rejects when the worker stops. */
  readonly pending: Set<(error: Error) => void>;
}

/** What an owner tells its scheduler. */
export interface SchedulerHooks<Api> {
  /** Names the workers in messages: "inference" or "client". */
  readonly role: string;
  readonly spawn: Spawn;
  /** Readies a fresh worker (a replacement too) before it takes work. */
  prepare(slot: Slot<Api>): Promise<void>;
  /** Moves queued work on: called when a worker became ready or stopped, or a call finished. */
  pump(): void;
}

/** The number of cores available (`navigator.hardwareConcurrency`), or 1. */
export function defaultSize(): number {
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  return typeof cores === 'number' && Number.isInteger(cores) && cores > 0 ? Math.min(cores, MAX_SIZE) : 1;
}

/** The spawner of this runtime. */
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

/** The worker slots of one pool. */
export class Scheduler<Api> {
  readonly #hooks: SchedulerHooks<Api>;
  readonly slots: Slot<Api>[] = [];
  /** Workers that stopped unexpectedly since the pool started. */
  crashes = 0;
  /** Calls sent with {@link Scheduler.send} and not answered. */
  running = 0;
  #closing = false;
  #drained: (() => void) | undefined;

  constructor(hooks: SchedulerHooks<Api>) {
    this.#hooks = hooks;
  }

  /** Whether {@link Scheduler.close} was called: stopped workers are no longer replaced. */
  get closing(): boolean {
    return this.#closing;
  }

  /** Starts `size` workers; resolves once every one is ready, rejects with the first failure. */
  async start(size: number): Promise<void> {
    for (let i = 0; i < size; i++) this.slots.push(this.#start(i, 0));
    await Promise.all(this.slots.map((slot) => slot.ready));
  }

  /** Ready workers, in place order. */
  ready(): Slot<Api>[] {
    return this.slots.filter((s) => s.state === 'ready');
  }

  /** The ready worker holding the fewest calls, below {@link DEPTH}; none when all are full. */
  leastBusy(): Slot<Api> | undefined {
    let slot: Slot<Api> | undefined;
    for (const s of this.slots) {
      if (s.state === 'ready' && s.inflight < DEPTH && (!slot || s.inflight < slot.inflight)) slot = s;
    }
    return slot;
  }

  /** Calls that ready workers could take at once. */
  room(): number {
    return this.slots.reduce((n, s) => n + (s.state === 'ready' ? DEPTH - s.inflight : 0), 0);
  }

  /**
   * When no worker is left (all dead): the error for the work still queued (`WORKER_CLOSED` when
   * closing, else `WORKER_START_FAILED`); otherwise undefined.
   */
  noWorkerLeft(): WorkerError | undefined {
    if (!this.slots.every((s) => s.state === 'dead')) return undefined;
    const role = this.#hooks.role;
    return this.#closing
      ? new WorkerError('WORKER_CLOSED', `the ${role} pool was closed before this work could finish`)
      : new WorkerError('WORKER_START_FAILED', `no ${role} worker is left: replacements failed to start`);
  }

  /** Calls a worker method; settles from its envelope, or with `WORKER_CRASHED` if it stops. */
  call<T>(slot: Slot<Api>, invoke: (api: Remote<Api>) => Promise<Envelope<T>>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (slot.state === 'dead') {
        reject(new WorkerError('WORKER_CRASHED', `${this.#hooks.role} worker ${slot.index} has stopped`));
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

  /** {@link Scheduler.call}, counted against the worker's depth until it answers; then `pump`. */
  send<T>(slot: Slot<Api>, invoke: (api: Remote<Api>) => Promise<Envelope<T>>): Promise<T> {
    slot.inflight++;
    this.running++;
    return this.call(slot, invoke).finally(() => {
      this.running--;
      slot.inflight--;
      this.#hooks.pump();
      if (this.#drained && this.running === 0) {
        const drained = this.#drained;
        this.#drained = undefined;
        drained();
      }
    });
  }

  /**
   * Every ready worker's answer to `invoke` (counters), with its place and generation; workers
   * that are starting are waited for, workers that fail or stopped are left out.
   */
  async perWorker<C extends object>(
    invoke: (api: Remote<Api>) => Promise<Envelope<C>>,
  ): Promise<(C & { readonly index: number; readonly generation: number })[]> {
    type Answer = C & { readonly index: number; readonly generation: number };
    const answers = await Promise.all(
      this.slots.map(async (slot): Promise<Answer | undefined> => {
        try {
          await slot.ready;
          const value: C = await this.call(slot, invoke);
          return { index: slot.index, generation: slot.generation, ...value };
        } catch {
          return undefined;
        }
      }),
    );
    const found: Answer[] = [];
    for (const answer of answers) if (answer !== undefined) found.push(answer as Answer);
    return found;
  }

  /** Stops replacing workers from now on. */
  close(): void {
    this.#closing = true;
  }

  /** Resolves once every call sent has been answered. */
  async drain(): Promise<void> {
    if (this.running === 0) return;
    await new Promise<void>((resolve) => {
      this.#drained = resolve;
    });
  }

  /** Terminates every worker; calls still in flight fail with `WORKER_CLOSED`. */
  async stopAll(): Promise<void> {
    await Promise.allSettled(this.slots.map((slot) => this.stop(slot)));
  }

  /** Terminates a worker on purpose; calls still in flight on it fail with `WORKER_CLOSED`. */
  async stop(slot: Slot<Api>): Promise<void> {
    slot.state = 'dead';
    const error = new WorkerError('WORKER_CLOSED', `${this.#hooks.role} worker ${slot.index} was stopped`);
    for (const reject of [...slot.pending]) reject(error);
    slot.pending.clear();
    await slot.host.terminate();
  }

  #start(index: number, generation: number): Slot<Api> {
    const host = this.#hooks.spawn(index);
    const slot: Slot<Api> = {
      index,
      generation,
      host,
      api: wrap<Api>(host.endpoint),
      state: 'starting',
      inflight: 0,
      ready: Promise.resolve(),
      pending: new Set(),
    };
    host.onStop((reason, cause) => this.#onStop(slot, reason, cause));
    slot.ready = this.#hooks.prepare(slot);
    slot.ready.then(
      () => {
        if (slot.state !== 'starting') return;
        slot.state = 'ready';
        this.#hooks.pump();
      },
      () => {
        if (slot.state === 'dead') return;
        slot.state = 'dead';
        void host.terminate().catch(() => {});
        this.#hooks.pump();
      },
    );
    return slot;
  }

  #onStop(slot: Slot<Api>, reason: string, cause: unknown): void {
    if (slot.state === 'dead') return;
    const wasStarting = slot.state === 'starting';
    slot.state = 'dead';
    this.crashes++;
    const error = new WorkerError(
      'WORKER_CRASHED',
      `${this.#hooks.role} worker ${slot.index} ${reason}; the work it had in hand is lost${this.#closing || wasStarting ? '' : ' (the worker is being replaced)'}`,
      cause === undefined ? {} : { cause },
    );
    for (const reject of [...slot.pending]) reject(error);
    slot.pending.clear();
    void slot.host.terminate().catch(() => {});
    // A worker that dies while starting is not replaced again: that would loop.
    if (!this.#closing && !wasStarting) this.slots[slot.index] = this.#start(slot.index, slot.generation + 1);
    this.#hooks.pump();
  }
}
