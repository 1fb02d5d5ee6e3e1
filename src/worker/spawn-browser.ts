/**
 * Workers in browsers: module Web Workers. Loaded by the pool only when there is no Node.
 *
 * The default script is written as `new Worker(new URL('./worker/entry.js', import.meta.url),
 * { type: 'module' })`, the form Vite, webpack 5 and Parcel recognise and emit as a separate
 * chunk. Esbuild emits this module as its own chunk at the root of `dist/` (it is only imported
 * dynamically), so the path is relative to `dist/`. Hosts that serve the script elsewhere, or
 * bundle confide's sources, pass `workerScript`.
 *
 * Browsers report a worker's uncaught exception as an `error` event and do not tell anyone when a
 * worker closes itself; an `error` event is therefore treated as a crash (the worker is
 * terminated and reported), and a silent `close()` is not detected.
 *
 * Deliberately not here: Node (`spawn-node.ts`), the protocol, scheduling.
 *
 * @module
 */

import type { Spawn, WorkerHost, WorkerRole, WorkerScript } from './host.ts';

/**
 * A spawner for module Web Workers running `script` (default: the built `worker/entry.js`, or
 * `worker/client-entry.js` for the client pool).
 */
export function browserSpawner(script?: WorkerScript, role: WorkerRole = 'inference'): Spawn {
  return (index) => {
    // Written out in full, options included: bundlers only recognise this exact static form.
    const worker =
      script !== undefined
        ? new Worker(script, { type: 'module', name: `confide-${role}-${index}` })
        : role === 'client'
          ? new Worker(new URL('./worker/client-entry.js', import.meta.url), { type: 'module' })
          : new Worker(new URL('./worker/entry.js', import.meta.url), { type: 'module' });
    let listener: ((reason: string, cause?: unknown) => void) | undefined;
    let stopped = false;
    const stop = (reason: string, cause?: unknown) => {
      if (stopped) return;
      stopped = true;
      worker.terminate();
      listener?.(reason, cause);
    };
    worker.addEventListener('error', (event) => {
      event.preventDefault();
      stop(
        `threw an uncaught error: ${event.message || 'unknown error (or the script failed to load)'}`,
        event.error,
      );
    });
    worker.addEventListener('messageerror', () => stop('sent a message that could not be deserialised'));
    const host: WorkerHost = {
      endpoint: worker,
      onStop(l) {
        listener = l;
      },
      async terminate() {
        stopped = true;
        worker.terminate();
      },
      keepAlive() {},
    };
    return host;
  };
}
