/**
 * The protocol between the client pool (`client-pool.ts`, and the browser client with several
 * workers) and its workers (`client-entry.ts`, `browser/client-worker.ts`): what a worker holding a
 * secret key exposes over comlink, and the plain data that travels both ways.
 *
 * The calling thread never sends rows or whole containers: it validates and scales the rows itself
 * and sends each worker the plain vectors of a range of ciphertexts (`client-parts.ts`); a worker
 * answers with the ciphertext bytes of that range, or the decrypted, rounded scores of a range of
 * result ciphertexts. Every method answers with an {@link Envelope} (coded errors cross intact,
 * `errors.ts`); byte arrays and score arrays in answers are transferred, not copied.
 *
 * Deliberately not here: any way to read a secret key back out of a worker (there is none).
 *
 * @module
 */

import type { ModelInterface } from '../he/model.ts';
import type { Layout } from '../he/params.ts';
import type { Envelope } from './api.ts';

/** What a worker reports after loading a secret key: public facts only. */
export interface ClientKeyInfo {
  /** The key set's id (hex). */
  readonly keySetId: string;
  /** The parameter fingerprint every container under these keys carries. */
  readonly fingerprint: Uint8Array;
  /** The weight-free interface of the model the keys serve. */
  readonly model: ModelInterface;
  /** SHA-256 (hex) of the interface, as written into encrypted batches. */
  readonly interfaceDigest: string;
  readonly layouts: readonly Layout[];
  readonly features: number;
  readonly outputs: number;
  /** Samples per ciphertext in the batch layout. */
  readonly slots: number;
  /** Largest |x'| of a standardized input the keys were planned for. */
  readonly inputBound: number;
  /** Decrypted scores are rounded to 2^-precisionBits. */
  readonly precisionBits: number;
}

/** A range of result ciphertexts to decrypt. */
export interface DecryptPart {
  readonly layout: Layout;
  /** Rows in the whole result. */
  readonly rows: number;
  readonly outputs: number;
  /** Index of the first item in the whole result (for error messages and the row mapping). */
  readonly firstItem: number;
  readonly items: readonly Uint8Array[];
}

/** The object a client worker exposes. */
export interface ClientPartsApi {
  /** Loads SEAL from the module compiled by the pool (once per worker) with this heap budget. */
  init(module: WebAssembly.Module, heapBudget: number): Promise<Envelope<null>>;
  /**
   * Loads a secret key file (replacing and freeing any previous key). The worker zeroes the bytes
   * it was sent once they are loaded.
   */
  loadSecretKeys(bytes: Uint8Array): Promise<Envelope<ClientKeyInfo>>;
  /**
   * Encrypts `count` plain vectors: for the batch layout, `count` × `slots` values (one column of
   * a chunk each, already scaled and bounded); for the single layout, `count` rows of `features`
   * scaled values, which the worker packs. Answers the ciphertexts in order.
   */
  encryptVectors(layout: Layout, values: Float64Array, count: number): Promise<Envelope<Uint8Array[]>>;
  /**
   * Decrypts a range of result ciphertexts; answers the rounded scores of the rows they carry,
   * `outputs` per row, row-major.
   */
  decryptItems(part: DecryptPart): Promise<Envelope<Float64Array>>;
  /** Frees the secret key and every SEAL object of it. */
  dispose(): Promise<Envelope<null>>;
  /** The worker's counters. */
  counters(): Promise<Envelope<ClientWorkerCounters>>;
}

/** Counters kept by one client worker since it started. */
export interface ClientWorkerCounters {
  /** Ranges encrypted or decrypted. */
  readonly jobs: number;
  /** Size of the worker's SEAL heap, in bytes. */
  readonly heapBytes: number;
}
