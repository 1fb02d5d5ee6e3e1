/**
 * Recycled `SharedArrayBuffer`s for handing batches to workers in Node.
 *
 * The pool copies each batch once, because the caller's bytes must not be detached. A fresh
 * buffer of a few megabytes costs far more than the copy itself (the memory is zeroed and faulted
 * in page by page: 8–25 ms for 12 MB on the development machine against 0.7 ms for copying into a
 * buffer already in use), and that time is spent on the calling thread while workers wait. So the
 * buffers are kept and reused: a batch is copied into the smallest free buffer that holds it, the
 * workers read it in place (shared memory, no transfer), and the buffer is returned when every
 * worker that read it has answered. At most `maxFree` buffers and `maxBytes` are kept idle.
 *
 * Only where `SharedArrayBuffer` exists and the workers' side reads it: Node's `worker_threads`.
 * Browsers offer it only on cross-origin-isolated pages, and their `TextDecoder` refuses shared
 * memory, so the pool sends them transferred copies instead (see `pool.ts`).
 *
 * Deliberately not here: deciding when a buffer is free (the pool releases it).
 *
 * @module
 */

/** Buffers are allocated in whole MiB so batches of similar sizes reuse each other's. */
const GRAIN = 1 << 20;

/** A shared copy of a batch; call `release` once no worker reads it any more. */
export interface SharedCopy {
  readonly bytes: Uint8Array;
  release(): void;
}

/** A small free list of shared buffers. */
export class SharedBuffers {
  readonly #free: SharedArrayBuffer[] = [];
  readonly #maxFree: number;
  readonly #maxBytes: number;

  constructor(maxFree: number, maxBytes: number) {
    this.#maxFree = maxFree;
    this.#maxBytes = maxBytes;
  }

  /** Copies `bytes` into a free buffer that holds them (or a new one). */
  copy(bytes: Uint8Array): SharedCopy {
    let best = -1;
    this.#free.forEach((buffer, i) => {
      const fits = buffer.byteLength >= bytes.length;
      if (fits && (best < 0 || buffer.byteLength < (this.#free[best] as SharedArrayBuffer).byteLength))
        best = i;
    });
    const buffer =
      best >= 0
        ? (this.#free.splice(best, 1)[0] as SharedArrayBuffer)
        : new SharedArrayBuffer(Math.max(GRAIN, Math.ceil(bytes.length / GRAIN) * GRAIN));
    const view = new Uint8Array(buffer, 0, bytes.length);
    view.set(bytes);
    let released = false;
    return {
      bytes: view,
      release: () => {
        if (released) return;
        released = true;
        this.#keep(buffer);
      },
    };
  }

  /** Bytes held in free buffers. */
  get idleBytes(): number {
    return this.#free.reduce((n, b) => n + b.byteLength, 0);
  }

  #keep(buffer: SharedArrayBuffer): void {
    this.#free.push(buffer);
    // Over the limits, drop the smallest: the large ones are the expensive ones to make again.
    while (this.#free.length > this.#maxFree || this.idleBytes > this.#maxBytes) {
      let smallest = 0;
      this.#free.forEach((b, i) => {
        if (b.byteLength < (this.#free[smallest] as SharedArrayBuffer).byteLength) smallest = i;
      });
      this.#free.splice(smallest, 1);
    }
  }
}
