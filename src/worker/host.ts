/**
 * What the pool needs from one worker, whatever runs it: a comlink endpoint, a way to learn that
 * it stopped, and a way to stop it. `spawn-node.ts` provides it over `worker_threads`,
 * `spawn-browser.ts` over Web Workers; the pool loads the one for this runtime on demand, so
 * neither is bundled into the other's world.
 *
 * Deliberately not here: the protocol (`api.ts`), scheduling (`pool.ts`).
 *
 * @module
 */

import type { Endpoint } from 'comlink';

/** One running worker. */
export interface WorkerHost {
  /** The port comlink talks over. */
  readonly endpoint: Endpoint;
  /**
   * Registers the one listener called when the worker stops by itself (exit, uncaught exception,
   * failure to start), with a description of why. Not called for {@link WorkerHost.terminate}.
   */
  onStop(listener: (reason: string, cause?: unknown) => void): void;
  /** Stops the worker; resolves when it is gone. */
  terminate(): Promise<void>;
  /** Whether the worker should keep the process alive (Node: ref/unref; browsers: no effect). */
  keepAlive(busy: boolean): void;
}

/** Starts worker number `index`. */
export type Spawn = (index: number) => WorkerHost;

/** Which built worker script a spawner starts by default: the inference pool's or the client pool's. */
export type WorkerRole = 'inference' | 'client';

/** Where the worker script is, for runtimes that need to be told. */
export type WorkerScript = string | URL;
