/**
 * `confide/browser`: the client side of encrypted inference (key generation, encryption,
 * decryption) in a Web Worker, driven from the page.
 *
 * {@link createBrowserClient} starts the client worker as a module worker, loads SEAL's
 * WebAssembly in it (with its self-test) and returns a {@link BrowserHeClient} whose methods mirror
 * `HeClient`'s (`confide/he`), asynchronously. The secret key lives and dies in the worker; the page only
 * ever sees evaluation keys, encrypted uploads and decrypted predictions. Errors keep their class
 * and `code` across the worker boundary (the worker returns envelopes; see `protocol.ts`); a
 * worker that cannot start fails with `WORKER_START_FAILED`, a crashed one fails every pending and
 * later call with `WORKER_CRASHED`, a closed one with `WORKER_CLOSED`.
 *
 * With `workers: N` it starts N client workers: the first generates the keys and sends the secret
 * key file straight to the others through `MessagePort`s (never through the page); `encrypt` and
 * `decrypt` check their input on the page as `HeClient` does, cut it into one range of ciphertexts
 * per worker and join the answers into the same container or scores (`worker/client-parts.ts`,
 * shared with the Node client pool). A crashed worker fails the ranges it held with
 * `WORKER_CRASHED` and is replaced, with the key handed to it by a surviving worker, so the next
 * call succeeds (`workers.ts`, on the Node pools' scheduler). With one worker the key lives and
 * dies with it: a crashed one fails every later call with `WORKER_CRASHED`.
 *
 * Bundling: the worker is started with `new Worker(new URL('./client-worker.js', import.meta.url),
 * { type: 'module' })`, which Vite, webpack 5 and Parcel recognise; with esbuild or plain Rollup,
 * bundle `confide/browser/client-worker` as its own entry next to the page's bundle, or start the
 * worker yourself and pass `worker`. node-seal's `seal_throws.wasm` must be served and its URL
 * passed as `wasmUrl` (bundled code cannot find it on its own); Vite users also keep node-seal out
 * of dependency pre-bundling (`optimizeDeps.exclude: ['node-seal']`).
 *
 * Deliberately not here: HTTP (use `InferenceHttpClient` from `confide/he`), CSV parsing and the
 * plaintext reference (also `confide/he`; both are pure JavaScript and safe on the page).
 *
 * @example
 * ```ts
 * const client = await createBrowserClient({ wasmUrl: '/assets/seal_throws.wasm' });
 * await client.createKeys(model, { layouts: ['batch'] });
 * const keySetId = await http.registerKeys(await client.exportEvaluationKeys());
 * const { result } = await http.score('breast-cancer', keySetId, await client.encrypt(rows));
 * const { predictions } = await client.decrypt(result);
 * await client.close();
 * ```
 *
 * @module
 */

import { type Remote, releaseProxy, wrap } from 'comlink';
import { ConfideArgumentError, type ConfideError, HeError } from '../errors.ts';
import type { DecryptedScores, EncryptOptions, KeyGenerationOptions } from '../he/client.ts';
import type { LinearModel } from '../he/model.ts';
import { assertInteger } from '../internal/assert.ts';
import { WorkerError } from '../worker/errors.ts';
import { type ClientWorkerApi, type Envelope, type KeySetInfo, unwrap } from './protocol.ts';
import { ClientWorkers } from './workers.ts';

export type { ClientWorkerApi, Envelope, KeySetInfo, WorkerInitOptions } from './protocol.ts';

/** Options for {@link createBrowserClient}. */
export interface BrowserClientOptions {
  /**
   * URL of node-seal's `seal_throws.wasm` as your site serves it (copy it from
   * `node_modules/node-seal/dist/`). Relative URLs are resolved against the page.
   */
  readonly wasmUrl?: string | URL;
  /** A client worker you started yourself (for bundlers that need their own worker syntax). */
  readonly worker?: Worker;
  /** Where the client worker module is, when not next to this module (`./client-worker.js`). */
  readonly workerUrl?: string | URL;
  /**
   * Client workers to encrypt and decrypt on (default 1). With more, one call is cut into ranges of
   * ciphertexts, one per worker, and joined into what one worker gives (`HeClientPool` in
   * `confide/worker` does the same in Node); the secret key goes from the worker that generated it
   * to the others through `MessagePort`s, never through the page. Not with `worker`.
   */
  readonly workers?: number;
}

/** The page-side handle on a client worker. Methods mirror `HeClient`'s (`confide/he`), asynchronously. */
export interface BrowserHeClient {
  /**
   * Plans parameters for `model` and generates a fresh key set in the worker (replacing any
   * previous one).
   *
   * @throws {@link HeError} `HE_MODEL_INVALID`, `HE_PLAN_INFEASIBLE`, `HE_PARAMETERS_INSECURE`, …
   */
  createKeys(model: LinearModel, options?: KeyGenerationOptions): Promise<KeySetInfo>;
  /** The evaluation keys for the server (no secret material). */
  exportEvaluationKeys(): Promise<Uint8Array>;
  /**
   * Encrypts feature rows (model feature order, unscaled) into an encrypted-batch container.
   *
   * @throws {@link HeError} `HE_VALUE_OUT_OF_RANGE`, `HE_LAYOUT_UNAVAILABLE`, `HE_NOT_INITIALISED` before `createKeys`
   */
  encrypt(rows: readonly ArrayLike<number>[], options?: EncryptOptions): Promise<Uint8Array>;
  /**
   * Decrypts an encrypted-result container from the server into scores and predictions.
   *
   * @throws {@link HeError} container errors, `HE_KEY_SET_MISMATCH`, `HE_MODEL_MISMATCH`, …
   */
  decrypt(result: Uint8Array): Promise<DecryptedScores>;
  /** Frees the key set and terminates the worker. Idempotent; later calls fail with `WORKER_CLOSED`. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Most client workers one browser client starts. */
const MAX_WORKERS = 64;

function workerFor(options: BrowserClientOptions, index: number): Worker {
  if (options.worker !== undefined) return options.worker;
  if (typeof Worker === 'function') {
    const name = index === 0 ? 'confide-client' : `confide-client-${index}`;
    return options.workerUrl === undefined
      ? new Worker(new URL('./client-worker.js', import.meta.url), { type: 'module', name })
      : new Worker(options.workerUrl, { type: 'module', name });
  }
  throw new WorkerError(
    'WORKER_START_FAILED',
    'this runtime has no Web Workers: confide/browser runs in browsers',
  );
}

function absolute(url: unknown, name: string): string {
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  if (typeof url === 'string' || url instanceof URL) {
    try {
      return new URL(url, base).href;
    } catch {
      // reported below
    }
  }
  throw new ConfideArgumentError('INVALID_ARGUMENT', `${name} must be a URL (a string or URL object)`);
}

/**
 * Starts a client worker, loads SEAL in it and resolves once it passed its self-test.
 *
 * @throws {@link WasmError} `WASM_LOAD_FAILED` (for example a wrong `wasmUrl`), `WASM_UNSUPPORTED`
 * @throws {@link WorkerError} `WORKER_START_FAILED` when the worker cannot start (a wrong `workerUrl`, no Web Workers)
 * @throws {@link ConfideArgumentError} `INVALID_ARGUMENT` for options that are not what they say
 */
export async function createBrowserClient(options: BrowserClientOptions = {}): Promise<BrowserHeClient> {
  if (typeof options !== 'object' || options === null) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'options must be an object');
  }
  const wasmUrl = options.wasmUrl === undefined ? undefined : absolute(options.wasmUrl, 'wasmUrl');
  if (options.workerUrl !== undefined) absolute(options.workerUrl, 'workerUrl');
  const count = options.workers === undefined ? 1 : assertInteger(options.workers, 'workers', 1, MAX_WORKERS);
  if (count > 1 && options.worker !== undefined) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'workers > 1 starts its own client workers: pass workerUrl instead of worker',
      { fields: ['worker'] },
    );
  }
  if (count > 1) {
    // Several workers: on the pools' scheduler, crashed workers replaced (workers.ts).
    const pool = await ClientWorkers.start(count, (i) => workerFor(options, i), wasmUrl);
    const close = () => pool.close();
    return {
      createKeys: (model, keyOptions = {}) => pool.createKeys(model, keyOptions),
      exportEvaluationKeys: () => pool.exportEvaluationKeys(),
      encrypt: (rows, encryptOptions = {}) => pool.encrypt(rows, encryptOptions),
      decrypt: (result) => pool.decrypt(result),
      close,
      [Symbol.asyncDispose]: close,
    };
  }
  const workers: Worker[] = [];
  const remotes: Remote<ClientWorkerApi>[] = [];
  let closed = false;
  let started = false;
  let crash: ConfideError | undefined;
  let onCrash: (error: ConfideError) => void = () => {};
  const crashed = new Promise<never>((_, reject) => {
    onCrash = reject;
  });
  crashed.catch(() => {}); // observed through race() below
  const crashWith = (detail: string) => {
    crash ??= started
      ? new WorkerError('WORKER_CRASHED', `the confide client worker stopped: ${detail}`)
      : new WorkerError('WORKER_START_FAILED', `the confide client worker did not start: ${detail}`);
    onCrash(crash);
  };
  const close = async (): Promise<void> => {
    if (closed) return;
    try {
      if (!crash) await Promise.race([Promise.all(remotes.map((remote) => remote.dispose())), crashed]);
    } catch {
      // The workers are going away either way.
    } finally {
      closed = true;
      for (const remote of remotes) remote[releaseProxy]();
      for (const worker of workers) worker.terminate();
    }
  };
  const call = async <T>(what: string, work: () => Promise<Envelope<T>>): Promise<T> => {
    if (closed) throw new WorkerError('WORKER_CLOSED', `${what}: this browser client was closed`);
    if (crash) throw crash;
    return unwrap(await Promise.race([work(), crashed]));
  };

  try {
    for (let i = 0; i < count; i++) {
      const worker = workerFor(options, i);
      worker.addEventListener('error', (event) => {
        event.preventDefault();
        crashWith(
          event.message || 'it failed to load or threw outside a call (check its URL and the console)',
        );
      });
      worker.addEventListener('messageerror', () => crashWith('a message could not be deserialised'));
      workers.push(worker);
      remotes.push(wrap<ClientWorkerApi>(worker));
    }
    await Promise.all(
      remotes.map((remote) =>
        call('loading SEAL', () => remote.init(wasmUrl === undefined ? {} : { wasmUrl })),
      ),
    );
    started = true;
  } catch (error) {
    await close();
    throw error;
  }

  const first = remotes[0] as Remote<ClientWorkerApi>;
  return {
    createKeys: (model, keyOptions = {}) =>
      call('generating keys', () => first.createKeys(model, keyOptions)),
    exportEvaluationKeys: () => call('exporting evaluation keys', () => first.exportEvaluationKeys()),
    encrypt: (rows, encryptOptions = {}) => call('encrypting', () => first.encrypt(rows, encryptOptions)),
    decrypt: (result) => call('decrypting', () => first.decrypt(result)) as Promise<DecryptedScores>,
    close,
    [Symbol.asyncDispose]: close,
  };
}
