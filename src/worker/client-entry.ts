/**
 * The worker script of the client pool (`dist/worker/client-entry.js`): loads SEAL from the module
 * the pool compiled, holds one secret key (`client-core.ts`) and encrypts or decrypts the ranges
 * it is sent. Runs in `worker_threads` (Node) and module Web Workers (browsers) alike; comlink
 * carries the calls, every method answers with an envelope (`errors.ts`), and ciphertexts and
 * scores go back transferred.
 *
 * The secret key arrives once, as a secret key file whose bytes are zeroed once loaded, and lives
 * in this worker's SEAL heap until `dispose` (or the worker's end). No method returns it.
 *
 * Deliberately not here: scheduling, splitting, crash recovery (`client-pool.ts`).
 *
 * @module
 */

import { expose, transfer } from 'comlink';
import { HeError } from '../errors.ts';
import { heMemoryBytes } from '../he/runtime.ts';
import type { ClientPartsApi } from './client-api.ts';
import { ClientKeys } from './client-core.ts';
import { WorkerError } from './errors.ts';
import { type NodePort, nodeEndpoint } from './node-endpoint.ts';
import { fail, owned, startSeal } from './worker-side.ts';

let keys: ClientKeys | undefined;
let jobs = 0;

function loaded(): ClientKeys {
  if (!keys) throw new HeError('HE_NOT_INITIALISED', 'no secret key is loaded in this client worker');
  return keys;
}

const api: ClientPartsApi = {
  init(module, heapBudget) {
    return startSeal(module, heapBudget, 'the client worker');
  },
  async loadSecretKeys(bytes) {
    try {
      const next = await ClientKeys.load(bytes);
      keys?.dispose();
      keys = next;
      return { ok: true, value: next.info() };
    } catch (error) {
      return fail(error, 'loading the secret key');
    }
  },
  async encryptVectors(layout, values, count) {
    try {
      const items = loaded().encryptVectors(layout, values, count).map(owned);
      jobs++;
      return transfer(
        { ok: true, value: items },
        items.map((item) => item.buffer as ArrayBuffer),
      );
    } catch (error) {
      return fail(error, 'encrypting');
    }
  },
  async decryptItems(part) {
    try {
      const scores = loaded().decryptItems(part);
      jobs++;
      return transfer({ ok: true, value: scores }, [scores.buffer as ArrayBuffer]);
    } catch (error) {
      return fail(error, 'decrypting the result');
    }
  },
  async dispose() {
    keys?.dispose();
    keys = undefined;
    return { ok: true, value: null };
  },
  async counters() {
    return { ok: true, value: { jobs, heapBytes: heMemoryBytes() } };
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
      'confide/worker/client-entry.js runs inside a worker, not on its own',
    );
  }
  expose(api, nodeEndpoint(threads.parentPort as unknown as NodePort));
} else {
  expose(api);
}
