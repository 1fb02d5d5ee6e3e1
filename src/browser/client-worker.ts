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
 * secret key is never exported to the page: there is no method that returns it. With several
 * workers (`createBrowserClient({ workers })`), the worker that generated the keys sends a copy of
 * the secret key file straight to each other worker through a `MessagePort` the page created
 * (`shareKeys` / `receiveKeys`), transferred, so the page's heap never holds it; every worker then
 * encrypts and decrypts ranges with it (`worker/client-core.ts`, as the Node client pool) and holds
 * the whole client, so any of them can hand the key on to a worker replacing a crashed one.
 *
 * @module
 */

import { expose, transfer } from 'comlink';
import { HeError, isConfideError } from '../errors.ts';
import { type EncryptOptions, HeClient, type KeyGenerationOptions } from '../he/client.ts';
import type { LinearModel } from '../he/model.ts';
import { initHe, mapNativeError } from '../he/runtime.ts';
import { ClientKeys } from '../worker/client-core.ts';
import { toWire } from '../worker/errors.ts';
import type { ClientWorkerApi, Envelope, KeySetInfo } from './protocol.ts';

let client: HeClient | undefined;
/** This worker's key for range work (several workers only). */
let ranges: ClientKeys | undefined;

function requireRanges(): ClientKeys {
  if (!ranges)
    throw new HeError('HE_NOT_INITIALISED', 'no key set in this worker yet: call createKeys first');
  return ranges;
}

/** A result that owns its whole buffer moves without a copy; a view is copied first. */
function owned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength &&
    bytes.buffer instanceof ArrayBuffer
    ? bytes
    : bytes.slice();
}

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
      ranges?.dispose();
      ranges = undefined;
      return null;
    });
  },

  async shareKeys(ports) {
    try {
      const own = requireClient();
      const next = await ClientKeys.load(own.exportSecretKeys());
      ranges?.dispose();
      ranges = next;
      for (const port of ports) {
        const bytes = own.exportSecretKeys();
        port.postMessage(bytes, [bytes.buffer as ArrayBuffer]);
        port.close();
      }
      return { ok: true, value: next.info() };
    } catch (error) {
      return fail(error);
    }
  },

  async receiveKeys(port) {
    try {
      const bytes = await new Promise<Uint8Array>((resolve, reject) => {
        port.onmessage = (event: MessageEvent) => {
          if (event.data instanceof Uint8Array) resolve(event.data);
          else reject(new HeError('HE_NOT_INITIALISED', 'the other client worker sent no secret key file'));
        };
        port.onmessageerror = () =>
          reject(new HeError('HE_NOT_INITIALISED', 'the secret key file could not be received'));
        port.start();
      });
      port.close();
      // The whole client too, so this worker can hand the key to a replacement of any other.
      const full = await HeClient.fromSecretKeys(bytes);
      const next = await ClientKeys.load(bytes);
      client?.dispose();
      client = full;
      ranges?.dispose();
      ranges = next;
      return { ok: true, value: null };
    } catch (error) {
      return fail(error);
    }
  },

  encryptVectors(layout, values, count) {
    try {
      const items = requireRanges().encryptVectors(layout, values, count).map(owned);
      return transfer(
        { ok: true, value: items },
        items.map((item) => item.buffer as ArrayBuffer),
      );
    } catch (error) {
      return fail(error);
    }
  },

  decryptItems(part) {
    return run(
      () => requireRanges().decryptItems(part),
      (scores) => scores.buffer,
    );
  },
};

expose(api);

export type { ClientWorkerApi } from './protocol.ts';
