/**
 * The browser client with several workers (`createBrowserClient({ workers: N })`, N > 1), on the
 * pools' scheduler (`worker/scheduler.ts`): a worker that stops is replaced, like the Node pools'.
 *
 * - **Keys.** One worker generates the key set and hands the secret key file to the others
 *   through `MessagePort`s (never through the page); every worker then holds the whole client, so
 *   any of them can hand the key to a replacement or export the evaluation keys.
 * - **Calls.** `encrypt` and `decrypt` check their input on the page as `HeClient` does, cut it
 *   into one range per ready worker and join the answers (`worker/client-parts.ts`), after any
 *   replacement under way has started.
 * - **Crashes.** Browsers report a worker's uncaught exception as an `error` event (and say nothing
 *   when a worker closes itself, so that is not detected). The worker is terminated, the ranges
 *   it held fail with `WORKER_CRASHED`, and a fresh worker loads SEAL and receives the key from a
 *   surviving worker before it takes work; the next call succeeds. When no worker holding the key
 *   is left, calls fail with `HE_NOT_INITIALISED` until `createKeys`.
 *
 * Deliberately not here: the one-worker client (`index.ts`), the worker side (`client-worker.ts`).
 *
 * @module
 */

import { transfer } from 'comlink';
import { HeError, isConfideError } from '../errors.ts';
import type { DecryptedScores, EncryptOptions, KeyGenerationOptions } from '../he/client.ts';
import type { LinearModel } from '../he/model.ts';
import { assertBytes } from '../internal/assert.ts';
import type { ClientKeyInfo } from '../worker/client-api.ts';
import { assembleBatch, assembleScores, planDecrypt, planEncrypt } from '../worker/client-parts.ts';
import { WorkerError } from '../worker/errors.ts';
import type { WorkerHost } from '../worker/host.ts';
import { describe, Scheduler, type Slot } from '../worker/scheduler.ts';
import type { ClientWorkerApi, KeySetInfo } from './protocol.ts';

type Worker_ = Slot<ClientWorkerApi>;

/** A scheduler host for one client worker: its `error` and `messageerror` events are crashes. */
function hostOf(worker: Worker): WorkerHost {
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
      `threw an uncaught error: ${event.message || 'it failed to load or threw outside a call (check its URL and the console)'}`,
      event.error,
    );
  });
  worker.addEventListener('messageerror', () => stop('sent a message that could not be deserialised'));
  return {
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
}

/** N client workers behind the `BrowserHeClient` methods. */
export class ClientWorkers {
  readonly #scheduler: Scheduler<ClientWorkerApi>;
  readonly #wasmUrl: string | undefined;
  #info: ClientKeyInfo | undefined;
  #closed = false;

  private constructor(spawn: (index: number) => Worker, wasmUrl: string | undefined) {
    this.#wasmUrl = wasmUrl;
    this.#scheduler = new Scheduler<ClientWorkerApi>({
      role: 'client',
      spawn: (index) => hostOf(spawn(index)),
      prepare: async (slot) => {
        const url = this.#wasmUrl;
        await this.#scheduler.call(slot, (api) => api.init(url === undefined ? {} : { wasmUrl: url }));
        // A replacement receives the key set the others hold before it takes work.
        if (this.#info) await this.#share(this.#holder(slot), [slot]);
      },
      pump: () => {},
    });
  }

  /**
   * Starts `count` workers and loads SEAL in each.
   *
   * @throws {@link WorkerError} `WORKER_START_FAILED`; SEAL's load errors with their codes
   */
  static async start(
    count: number,
    spawn: (index: number) => Worker,
    wasmUrl: string | undefined,
  ): Promise<ClientWorkers> {
    const workers = new ClientWorkers(spawn, wasmUrl);
    try {
      await workers.#scheduler.start(count);
    } catch (error) {
      await workers.close();
      if (isConfideError(error) && !error.code.startsWith('WORKER_')) throw error;
      throw new WorkerError(
        'WORKER_START_FAILED',
        `the confide client workers did not start: ${describe(error)}`,
        { cause: error },
      );
    }
    return workers;
  }

  /** Workers that stopped unexpectedly (each was replaced). */
  get crashes(): number {
    return this.#scheduler.crashes;
  }

  async createKeys(model: LinearModel, options: KeyGenerationOptions = {}): Promise<KeySetInfo> {
    const live = await this.#live('generating keys');
    this.#info = undefined;
    const first = live[0] as Worker_;
    const created = await this.#scheduler.call(first, (api) => api.createKeys(model, options));
    await this.#share(first, live.slice(1));
    return created;
  }

  async exportEvaluationKeys(): Promise<Uint8Array> {
    const live = await this.#live('exporting evaluation keys');
    this.#keyInfo();
    return await this.#scheduler.call(live[0] as Worker_, (api) => api.exportEvaluationKeys());
  }

  async encrypt(rows: readonly ArrayLike<number>[], options: EncryptOptions = {}): Promise<Uint8Array> {
    const live = await this.#live('encrypting');
    const keys = this.#keyInfo();
    const plan = planEncrypt(keys, rows, options, live.length);
    let done = 0;
    const ranges = await Promise.all(
      plan.parts.map(async ({ values, count }, i) => {
        const items = await this.#scheduler.call(live[i] as Worker_, (api) =>
          api.encryptVectors(plan.layout, transfer(values, [values.buffer as ArrayBuffer]), count),
        );
        done += items.length;
        plan.onProgress?.(done, plan.items);
        return items;
      }),
    );
    return assembleBatch(keys, plan, ranges);
  }

  async decrypt(result: Uint8Array): Promise<DecryptedScores> {
    const live = await this.#live('decrypting');
    assertBytes(result, 'result');
    const keys = this.#keyInfo();
    const plan = planDecrypt(keys, result, live.length);
    const ranges = await Promise.all(
      plan.parts.map((part, i) => {
        const buffers = part.items.map((item) => item.buffer as ArrayBuffer);
        return this.#scheduler.call(live[i] as Worker_, (api) => api.decryptItems(transfer(part, buffers)));
      }),
    );
    return assembleScores(keys, plan, ranges);
  }

  /** Frees the key set in every worker and terminates them. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#scheduler.close();
    await Promise.allSettled(
      this.#scheduler.slots.map(async (slot) => {
        if (slot.state === 'ready') await this.#scheduler.call(slot, (api) => api.dispose()).catch(() => {});
      }),
    );
    await this.#scheduler.stopAll();
  }

  /** The ready workers, once replacements under way have started (or failed to). */
  async #live(what: string): Promise<Worker_[]> {
    if (this.#closed) throw new WorkerError('WORKER_CLOSED', `${what}: this browser client was closed`);
    await Promise.allSettled(this.#scheduler.slots.map((slot) => slot.ready));
    if (this.#closed) throw new WorkerError('WORKER_CLOSED', `${what}: this browser client was closed`);
    const live = this.#scheduler.ready();
    if (live.length === 0) {
      throw (
        this.#scheduler.noWorkerLeft() ??
        new WorkerError('WORKER_CRASHED', `${what}: no confide client worker is running`)
      );
    }
    return live;
  }

  #keyInfo(): ClientKeyInfo {
    if (!this.#info)
      throw new HeError('HE_NOT_INITIALISED', 'no key set in this worker yet: call createKeys first');
    return this.#info;
  }

  /** A ready worker holding the key set, other than `not`. */
  #holder(not: Worker_): Worker_ {
    const holder = this.#scheduler.ready().find((slot) => slot !== not);
    if (!holder) {
      this.#info = undefined;
      throw new HeError(
        'HE_NOT_INITIALISED',
        'no client worker holding the key set is left to hand it to a replacement: call createKeys again',
      );
    }
    return holder;
  }

  /** Sends `from`'s secret key file to every worker of `to` through ports; records the key set. */
  async #share(from: Worker_, to: readonly Worker_[]): Promise<void> {
    const channels = to.map(() => new MessageChannel());
    const ports = channels.map((c) => c.port1);
    const [info] = await Promise.all([
      this.#scheduler.call(from, (api) => api.shareKeys(transfer(ports, ports))),
      ...to.map((slot, i) => {
        const port = (channels[i] as MessageChannel).port2;
        return this.#scheduler.call(slot, (api) => api.receiveKeys(transfer(port, [port])));
      }),
    ]);
    this.#info = info as ClientKeyInfo;
  }
}
