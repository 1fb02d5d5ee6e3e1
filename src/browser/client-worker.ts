/**
 * The browser client worker: key generation, encryption and decryption in a Web Worker, so SEAL's
 * WebAssembly and the secret key stay off the page's thread (and out of the page's heap).
 *
 * Start it with `createBrowserClient()` from `confide/browser`, which runs this module as a module
 * worker (`new Worker(new URL('./client-worker.js', import.meta.url), { type: 'module' })`), or
 * start it yourself and pass the `Worker` in. It exposes {@link ClientWorkerApi} over comlink:
 * every method returns an envelope (`{ ok, value }` or `{ ok: false, error }`, the error in the
 * worker pool's wire form) so coded errors keep their class and `code` across the boundary. Byte results (evaluation keys, uploads) are transferred, not
 * copied.
 *
 * One worker holds at most one key set; `createKeys` replaces (and frees) the previous one. The
 * secret key is never exported from here: there is no method that returns it.
 *
 * @module
 */

import { expose, transfer } from 'comlink';
import { HeError, isConfideError } from '../errors.ts';
import { type EncryptOptions, HeClient, type KeyGenerationOptions } from '../he/client.ts';
import type { LinearModel } from '../he/model.ts';
import { initHe, mapNativeError } from '../he/runtime.ts';
import { toWire } from '../worker/errors.ts';
import type { ClientWorkerApi, Envelope, KeySetInfo } from './protocol.ts';

let client: HeClient | undefined;

// Anything that is not a confide error (a SEAL exception, a bug) gets a code before it crosses.
function fail(error: unknown): Envelope<never> {
  const coded = isConfideError(error) ? error : mapNativeError(error, 'in the browser client worker');
  return { ok: false, error: toWire(coded) };
}

function run<T>(work: () => T, transferable?: (value: T) => ArrayBufferLike): Envelope<T> {
  try {
    const value = work();
    const envelope: Envelope<T> = { ok: true, value };
    return transferable ? transfer(envelope, [transferable(value) as ArrayBuffer]) : envelope;
  } catch (error) {
    return fail(error);
  }
}

function requireClient(): HeClient {
  if (!client)
    throw new HeError('HE_NOT_INITIALISED', 'no key set in this worker yet: call createKeys first');
  return client;
}

const api: ClientWorkerApi = {
  async init(options) {
    try {
      const url = options?.wasmUrl;
      await initHe(url === undefined ? {} : { locateFile: () => url });
      return { ok: true, value: null };
    } catch (error) {
      return fail(error);
    }
  },

  async createKeys(model, options) {
    try {
      const next = await HeClient.create(model as LinearModel, (options ?? {}) as KeyGenerationOptions);
      client?.dispose();
      client = next;
      const { plan } = next;
      const info: KeySetInfo = {
        keySetId: next.keySetId,
        layouts: [...plan.layouts],
        polyModulusDegree: plan.parameters.polyModulusDegree,
        slots: plan.slots,
        features: plan.features,
        outputs: plan.outputs,
        precisionBits: plan.precisionBits,
      };
      return { ok: true, value: info };
    } catch (error) {
      return fail(error);
    }
  },

  exportEvaluationKeys() {
    return run(
      () => requireClient().exportEvaluationKeys(),
      (bytes) => bytes.buffer,
    );
  },

  encrypt(rows, options) {
    return run(
      () => requireClient().encrypt(rows, (options ?? {}) as EncryptOptions),
      (bytes) => bytes.buffer,
    );
  },

  decrypt(result) {
    return run(() => requireClient().decrypt(result));
  },

  dispose() {
    return run(() => {
      client?.dispose();
      client = undefined;
      return null;
    });
  },
};

expose(api);

export type { ClientWorkerApi } from './protocol.ts';
