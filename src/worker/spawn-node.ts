/**
 * Workers on Node: `worker_threads`, reached through `process.getBuiltinModule` so no bundler
 * sees a `node:` import. Loaded by the pool only when it runs on Node.
 *
 * The worker script is the built `worker/entry.js`. Esbuild emits this module as its own chunk at
 * the root of `dist/` (it is only ever imported dynamically), so the script sits at
 * `./worker/entry.js` next to it; from the TypeScript sources (tests) it is the built
 * `dist/worker/entry.js` (`npm test` builds first).
 *
 * A worker that exits or throws an uncaught exception is reported through `onStop` with its exit
 * code or error; the pool decides what to do.
 *
 * Deliberately not here: browsers (`spawn-browser.ts`), the protocol, scheduling.
 *
 * @module
 */

import type { Worker } from 'node:worker_threads';
import { WorkerError } from './errors.ts';
import type { Spawn, WorkerHost, WorkerRole, WorkerScript } from './host.ts';
import { nodeEndpoint } from './node-endpoint.ts';

type Builtin = <T>(id: string) => T;

function builtin<T>(id: string): T {
  const get = (globalThis as { process?: { getBuiltinModule?: Builtin } }).process?.getBuiltinModule;
  if (!get) throw new WorkerError('WORKER_START_FAILED', `this runtime has no ${id}`);
  return get<T>(id);
}

/**
 * The built worker script next to this module (or in dist/ when running from the sources):
 * `worker/entry.js` (inference) or `worker/client-entry.js` (client pool).
 */
export function defaultNodeScript(role: WorkerRole = 'inference'): URL {
  const file = role === 'client' ? 'client-entry.js' : 'entry.js';
  const here = import.meta.url;
  return here.endsWith('.ts')
    ? new URL(`../../dist/worker/${file}`, here)
    : new URL(`./worker/${file}`, here);
}

/** A spawner for `worker_threads` running `script` (default: the built script for `role`). */
export function nodeSpawner(script?: WorkerScript, role: WorkerRole = 'inference'): Spawn {
  script ??= defaultNodeScript(role);
  const threads = builtin<typeof import('node:worker_threads')>('node:worker_threads');
  const fs = builtin<typeof import('node:fs')>('node:fs');
  const url =
    script instanceof URL
      ? script
      : /^(file|data|https?):/i.test(script)
        ? new URL(script)
        : builtin<typeof import('node:url')>('node:url').pathToFileURL(script);
  if (url.protocol === 'file:' && !fs.existsSync(url)) {
    throw new WorkerError(
      'WORKER_START_FAILED',
      `the worker script ${url.href} does not exist: build confide (npm run build) or pass workerScript`,
    );
  }
  return (index) => {
    const worker: Worker = new threads.Worker(url, { name: `confide-${role}-${index}` });
    let listener: ((reason: string, cause?: unknown) => void) | undefined;
    let failure: unknown;
    let terminating = false;
    worker.on('error', (error) => {
      failure = error;
    });
    worker.on('exit', (code) => {
      if (terminating || !listener) return;
      const detail =
        failure === undefined
          ? `exited with code ${code}`
          : `threw an uncaught ${failure instanceof Error ? `${failure.name}: ${failure.message}` : String(failure)}`;
      listener(detail, failure);
    });
    const host: WorkerHost = {
      endpoint: nodeEndpoint(worker),
      onStop(l) {
        listener = l;
      },
      async terminate() {
        terminating = true;
        await worker.terminate();
      },
      keepAlive(busy) {
        if (busy) worker.ref();
        else worker.unref();
      },
    };
    return host;
  };
}
