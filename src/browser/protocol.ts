/**
 * What crosses the boundary between the page and the browser client worker: the worker's comlink
 * API and the result envelopes that carry coded errors intact.
 *
 * comlink's built-in "throw" handler serialises only `name`, `message` and `stack`, so a
 * `ConfideError`'s `code` would be lost on the way to the page. Every worker method therefore
 * returns an {@link Envelope} instead of throwing, with the error in the worker pool's wire form
 * (`toWire` / `fromWire` in `src/worker/errors.ts`: one format for every confide worker); the
 * page-side wrapper (`createBrowserClient`) rethrows it as an error of the same class and code.
 *
 * Deliberately not here: any SEAL object or secret key. Only plain data, byte arrays and
 * predictions cross; the secret key never leaves the worker.
 *
 * @module
 */

import type { Layout } from '../he/params.ts';
import type { ClientKeyInfo, DecryptPart } from '../worker/client-api.ts';
import { fromWire, type WireError } from '../worker/errors.ts';

/** A worker call's outcome: a value, or an error in wire form. */
export type Envelope<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: WireError };

/** What the page learns about a freshly generated key set (no key material). */
export interface KeySetInfo {
  /** The key set's id (hex); the server refuses batches made under another key set. */
  readonly keySetId: string;
  /** Layouts the keys support. */
  readonly layouts: readonly Layout[];
  /** The CKKS ring dimension the planner chose. */
  readonly polyModulusDegree: number;
  /** Samples per ciphertext in the batch layout. */
  readonly slots: number;
  /** Features per row, in the model's order. */
  readonly features: number;
  /** Scores per row. */
  readonly outputs: number;
  /** Decrypted scores are exact to 2^-precisionBits. */
  readonly precisionBits: number;
}

/** Options the worker loads SEAL with. */
export interface WorkerInitOptions {
  /** Absolute URL of node-seal's `seal_throws.wasm`; without it the worker tries `import.meta.resolve`. */
  readonly wasmUrl?: string;
}

/** The API the client worker exposes over comlink (see `client-worker.ts`). */
export interface ClientWorkerApi {
  init(options: WorkerInitOptions): Promise<Envelope<null>>;
  createKeys(model: unknown, options: unknown): Promise<Envelope<KeySetInfo>>;
  exportEvaluationKeys(): Envelope<Uint8Array>;
  encrypt(rows: readonly ArrayLike<number>[], options: unknown): Envelope<Uint8Array>;
  decrypt(result: Uint8Array): Envelope<unknown>;
  dispose(): Envelope<null>;
  /**
   * Several workers (`workers` > 1): loads this worker's key set for range work and sends a copy
   * of the secret key file into each port, transferred (each port's other end is another client
   * worker's {@link ClientWorkerApi.receiveKeys}); the page only passes the ports and never sees the
   * key. Answers the key set's public facts.
   */
  shareKeys(ports: readonly MessagePort[]): Promise<Envelope<ClientKeyInfo>>;
  /** Loads the secret key file that arrives on `port` (from another worker's `shareKeys`). */
  receiveKeys(port: MessagePort): Promise<Envelope<null>>;
  /** Encrypts a range of plain vectors (the client pool's `encryptVectors`, `worker/client-api.ts`). */
  encryptVectors(layout: Layout, values: Float64Array, count: number): Envelope<Uint8Array[]>;
  /** Decrypts a range of result ciphertexts (the client pool's `decryptItems`). */
  decryptItems(part: DecryptPart): Envelope<Float64Array>;
}

/** The value of an envelope, or its error rebuilt on this side (same class and code). */
export function unwrap<T>(envelope: Envelope<T>): T {
  if (envelope.ok) return envelope.value;
  throw fromWire(envelope.error);
}
