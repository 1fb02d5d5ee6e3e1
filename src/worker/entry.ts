/**
 * The worker script of the inference pool (`dist/worker/entry.js`): loads SEAL from the module the
 * pool compiled, keeps one `HeServer` per key set and model for as long as the pool wants it, and
 * scores the batches, or ranges of batches, it is sent. Either way it checks the whole batch first
 * (digest, binding, shape: `HeServer.infer` / `scoreBatchPart`), so the calling thread does not. Runs in
 * `worker_threads` (Node) and module Web Workers (browsers) alike; comlink carries the calls.
 *
 * Evaluation keys are loaded once per worker and pair (a second `load` of the same pair only
 * reports it, unless the pool replaces the keys), never per job. SEAL's heap is budgeted here as
 * on the calling thread (`limitHeMemory`, the budget the pool was given), so a key load past it
 * is refused with `WASM_OUT_OF_MEMORY`. SEAL, the keys and every SEAL object stay in this worker. Every
 * method answers with an envelope: errors go back as plain data (see `errors.ts`), anything that
 * is not a confide error is first mapped to one, and result bytes are transferred, not copied.
 *
 * Deliberately not here: scheduling, splitting, crash recovery (the pool's job).
 *
 * @module
 */

import { expose, transfer } from 'comlink';
import type { LinearModel } from '../he/model.ts';
import { heMemoryBytes } from '../he/runtime.ts';
import { HeServer, scoreBatchPart } from '../he/server.ts';
import { type InferenceWorkerApi, pairKey, type WorkerCounters } from './api.ts';
import { WorkerError } from './errors.ts';
import { type NodePort, nodeEndpoint } from './node-endpoint.ts';
import { fail, owned, startSeal } from './worker-side.ts';

const servers = new Map<string, HeServer>();
const loading = new Map<string, Promise<HeServer>>();
let loads = 0;
let jobs = 0;

function serverFor(keySetId: string, digest: string): HeServer {
  const server = servers.get(pairKey(keySetId, digest));
  if (!server) {
    throw new WorkerError(
      'WORKER_NOT_LOADED',
      `no evaluation keys are loaded for key set ${keySetId} and model ${digest.slice(0, 16)}…`,
    );
  }
  return server;
}

/** An `HeServer` for the keys and model, checked to be the pair the pool named. */
async function created(
  keySetId: string,
  digest: string,
  evaluationKeys: Uint8Array,
  model: LinearModel,
): Promise<HeServer> {
  const server = await HeServer.create(evaluationKeys, model);
  if (server.keySetId !== keySetId || server.modelDigest !== digest) {
    server.dispose();
    throw new WorkerError(
      'WORKER_NOT_LOADED',
      'the evaluation keys or model differ from the ids they were sent under',
    );
  }
  return server;
}

const api: InferenceWorkerApi = {
  init(module, heapBudget) {
    return startSeal(module, heapBudget, 'the worker');
  },
  async load(keySetId, digest, evaluationKeys, model: LinearModel, replace = false) {
    const key = pairKey(keySetId, digest);
    if (servers.has(key) && replace) {
      // A fresh copy of keys held: swapped in only once it loaded, so a refused copy (damaged, or
      // past the heap budget) leaves the old keys serving. Scoring is synchronous here, so no job
      // is running on the old server when it is disposed.
      try {
        const server = await created(keySetId, digest, evaluationKeys, model);
        const previous = servers.get(key);
        servers.set(key, server);
        previous?.dispose();
        loads++;
        return { ok: true, value: { keySetId, modelDigest: digest, created: true } };
      } catch (error) {
        return fail(error, 'replacing the evaluation keys');
      }
    }
    if (servers.has(key)) return { ok: true, value: { keySetId, modelDigest: digest, created: false } };
    // Two loads of one pair at once (a replay racing a broadcast) share one HeServer.
    let pending = loading.get(key);
    const isNew = pending === undefined;
    if (!pending) {
      pending = (async () => {
        const server = await created(keySetId, digest, evaluationKeys, model);
        servers.set(key, server);
        loads++;
        return server;
      })();
      loading.set(key, pending);
      pending.then(
        () => loading.delete(key),
        () => loading.delete(key),
      );
    }
    try {
      await pending;
      return { ok: true, value: { keySetId, modelDigest: digest, created: isNew } };
    } catch (error) {
      return fail(error, 'loading the evaluation keys');
    }
  },
  async score(keySetId, digest, batch) {
    try {
      const result = owned((await serverFor(keySetId, digest).infer(batch)).result);
      jobs++;
      return transfer({ ok: true, value: result }, [result.buffer as ArrayBuffer]);
    } catch (error) {
      return fail(error, 'scoring the batch');
    }
  },
  async scorePart(keySetId, digest, batch, first, end) {
    try {
      const part = scoreBatchPart(serverFor(keySetId, digest), batch, { first, end });
      const items = part.items.map(owned);
      jobs++;
      return transfer(
        { ok: true, value: { ...part, items } },
        items.map((item) => item.buffer as ArrayBuffer),
      );
    } catch (error) {
      return fail(error, 'scoring part of the batch');
    }
  },
  async unload(keySetId, digest) {
    const key = pairKey(keySetId, digest);
    const server = servers.get(key);
    if (!server) return { ok: true, value: false };
    servers.delete(key);
    server.dispose();
    return { ok: true, value: true };
  },
  async counters() {
    const value: WorkerCounters = { loads, jobs, loaded: servers.size, heapBytes: heMemoryBytes() };
    return { ok: true, value };
  },
};

type Threads = typeof import('node:worker_threads');
const getBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
  ?.getBuiltinModule;
const threads = getBuiltin?.('node:worker_threads') as Threads | undefined;

if (threads) {
  if (!threads.parentPort) {
    throw new WorkerError(
      'WORKER_START_FAILED',
      'confide/worker/entry.js runs inside a worker, not on its own',
    );
  }
  expose(api, nodeEndpoint(threads.parentPort as unknown as NodePort));
} else {
  expose(api);
}
