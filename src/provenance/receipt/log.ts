/**
 * The receipt log of an inference server (Node only): the file-backed RFC 9162 log (`log/store.ts`)
 * with appends serialized and grouped (group commit). Every {@link ReceiptLog.append} waits for
 * the next commit; a commit writes all entries queued since the previous one to the leaves file
 * (kept open) with one `datasync`, signs one checkpoint for the whole batch (written, not flushed:
 * after a crash the store signs the same bytes again from the durable leaves) and answers each
 * entry with its inclusion proof against that checkpoint. A receipt is therefore only returned
 * once its leaf is on disk. Concurrent
 * requests therefore never interleave writes, and the queue holds at most one entry per scoring
 * request in flight (the server bounds those), so memory stays bounded.
 *
 * Deliberately not here: signing receipts (`sign.ts`), HTTP (`src/server/routes/log.ts`),
 * proofs faster than O(n) hashes per proof (the in-memory tree recomputes subtree heads).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import type { PrivateKey } from '../common/keys.ts';
import { ProvenanceError } from '../errors.ts';
import { leafHash } from '../log/merkle.ts';
import { LogStore } from '../log/store.ts';
import type { LogProof } from '../log/verify.ts';

interface Pending {
  readonly hash: Uint8Array;
  resolve(proof: LogProof): void;
  reject(error: unknown): void;
}

/** A server's receipt log: serialized, grouped appends over a {@link LogStore}. */
export class ReceiptLog {
  readonly store: LogStore;
  readonly #key: PrivateKey;
  #queue: Pending[] = [];
  #committing: Promise<void> | undefined;

  private constructor(store: LogStore, key: PrivateKey) {
    this.store = store;
    this.#key = key;
  }

  /**
   * Opens the log in `dir`, or creates it (origin `origin`) when `dir` holds none. The key must be
   * the log's Ed25519 key; a torn last append from a crash is dropped.
   *
   * @throws {ProvenanceError} `PROV_KEY_INVALID` (another log's key), `PROV_LOG_CORRUPT`, `PROV_IO`,
   *   `PROV_ALGORITHM_UNSUPPORTED`.
   */
  static async open(dir: string, origin: string, key: PrivateKey): Promise<ReceiptLog> {
    if (typeof dir !== 'string' || dir === '' || typeof origin !== 'string') {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'ReceiptLog.open(dir: string, origin: string, key)');
    }
    if (key?.algorithm !== 'ed25519') {
      throw new ProvenanceError(
        'PROV_ALGORITHM_UNSUPPORTED',
        'the receipt log is signed with an Ed25519 key',
      );
    }
    let store: LogStore;
    try {
      store = (await LogStore.exists(dir))
        ? await LogStore.open(dir, { repairTail: true, key })
        : await LogStore.create(dir, origin, key);
    } catch (error) {
      if (error instanceof ProvenanceError && error.code === 'PROV_KEY_INVALID') {
        throw new ProvenanceError(
          'PROV_KEY_INVALID',
          `the log in '${dir}' is signed by another key: give its key, or another --log directory`,
        );
      }
      throw error;
    }
    return new ReceiptLog(store, key);
  }

  /** The log's origin. */
  get origin(): string {
    return this.store.log.origin;
  }

  /** Entries in the log (signed or being committed). */
  get size(): number {
    return this.store.log.size;
  }

  /**
   * Appends one entry and resolves, once it is on disk under a signed checkpoint, with its
   * inclusion proof against that checkpoint.
   */
  append(entry: Uint8Array): Promise<LogProof> {
    const hash = leafHash(entry);
    return new Promise<LogProof>((resolve, reject) => {
      this.#queue.push({ hash, resolve, reject });
      this.#committing ??= this.#drain();
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue;
        this.#queue = [];
        try {
          const { indices, checkpoint } = await this.store.appendLeafHashes(
            batch.map((p) => p.hash),
            this.#key,
            // One flush per commit, of the leaves: the checkpoint is re-signed from them after a crash.
            { syncCheckpoint: false },
          );
          const size = this.store.log.size;
          batch.forEach((p, i) => {
            try {
              p.resolve(this.store.log.prove({ checkpoint, size, index: indices[i] as number }));
            } catch (error) {
              p.reject(error);
            }
          });
        } catch (error) {
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      this.#committing = undefined;
    }
  }

  /** Waits for the commit under way, then closes the log's open file. */
  async close(): Promise<void> {
    while (this.#committing !== undefined) await this.#committing;
    await this.store.close();
  }

  /** {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The latest signed checkpoint (C2SP signed note). */
  checkpoint(): Promise<string> {
    return this.store.checkpointAt();
  }

  /**
   * Inclusion proof of entry `index` against the signed checkpoint of `size` entries (default: the
   * latest).
   *
   * @throws {ProvenanceError} `PROV_LOG_RANGE`.
   */
  inclusion(index: number, size?: number): Promise<LogProof> {
    return this.store.prove({ index, ...(size === undefined ? {} : { size }) });
  }

  /**
   * Consistency proof from `from` entries to the signed checkpoint of `size` entries (default: the
   * latest).
   *
   * @throws {ProvenanceError} `PROV_LOG_RANGE`.
   */
  consistency(from: number, size?: number): Promise<LogProof> {
    return this.store.prove({ from, ...(size === undefined ? {} : { size }) });
  }
}
