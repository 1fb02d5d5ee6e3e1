/**
 * `confide/worker`: a pool of workers that score encrypted batches in parallel, in Node
 * (`worker_threads`) and browsers (module Web Workers) behind one API.
 *
 * SEAL is compiled once on the calling thread and the compiled module handed to every worker; each
 * worker loads a client's evaluation keys once per model and reuses them for every job; batches go
 * whole to one worker each while several are in flight, and a lone batch is cut across idle workers
 * (whole chunks or rows) and reassembled in order, byte for byte what `HeServer.infer` returns; the
 * worker that scores checks the container. `InferencePool` is a `ScoringPool`, so
 * `HeServer.create(keys, model, { pool })` (`confide/he`) scores on it. Coded errors cross the
 * worker boundary intact; a crashed worker fails its job with `WORKER_CRASHED` and is replaced; the
 * queue is bounded (`WORKER_QUEUE_FULL`); `close()` finishes started jobs and rejects the rest.
 *
 * `HeClientPool` is the client side on the same worker host: one secret key, handed to its workers
 * only through `HeClientPool.fromSecretKeys` / `fromClientSecret`, encrypting one batch or
 * decrypting one result across every worker and writing the bytes `HeClient` would (see
 * `client-pool.ts`). Inference workers never hold a secret key.
 *
 * Deliberately not here: HTTP (`confide he serve`), key generation (`HeClient.create`).
 *
 * @module
 */

export type { WorkerCounters } from './api.ts';
export type { ClientWorkerCounters } from './client-api.ts';
export {
  type ClientWorkerStats,
  HeClientPool,
  type HeClientPoolOptions,
  type HeClientPoolStats,
} from './client-pool.ts';
export { WorkerError } from './errors.ts';
export {
  InferencePool,
  type InferencePoolOptions,
  type InferencePoolStats,
  type LoadedModel,
  type WorkerStats,
} from './pool.ts';
