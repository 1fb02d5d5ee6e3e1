/**
 * `confide he serve --redis`: the Redis-backed key-set registry (`registry.ts`), the scoring
 * queue (`queue.ts`) and the scoring worker (`worker.ts`). Loaded only when a server is given
 * Redis options, so the default in-memory server never imports ioredis or BullMQ.
 *
 * @module
 */

import { HeError } from '../../errors.ts';
import { connectRedis, type RedisConnectionOptions } from '../../redis/index.ts';
import type { ScoringBackend } from '../backend.ts';
import type { RegistryLimits, ServedModel } from '../registry.ts';
import { ScoringQueue } from './queue.ts';
import { RedisKeySets } from './registry.ts';

export type { JobStatus } from './queue.ts';
export { RedisKeySets } from './registry.ts';
export { type ScoringWorker, type ScoringWorkerOptions, startScoringWorker } from './worker.ts';

/** Where an inference server keeps its key sets and queues its large batches. */
export interface RedisServerOptions {
  /** How to reach Redis (URL, ACL user and password, CA, prefix, TTLs). */
  readonly connection: RedisConnectionOptions;
  /** Score large batches on `confide he worker` processes (default: every batch where it arrives). */
  readonly queue?: {
    /** Batches of at least this many rows go to the workers. */
    readonly minRows: number;
    /** Rows per chunk job (default 4096). */
    readonly chunkRows?: number;
    /** Uploads of at least this many bytes are answered 202 with a job id to poll (default: never). */
    readonly asyncBytes?: number;
    /** Jobs one principal may hold in Redis at once, finished ones kept until the job TTL included (default 64). */
    readonly maxJobsPerPrincipal?: number;
    /**
     * Jobs the deployment holds in Redis at once, over every replica and principal (queued, being
     * scored, or finished until fetched; default 256): beyond it, 503 `HE_QUEUE_FULL` with
     * `Retry-After`. Bounds the Redis memory of the queue to about `maxPending` × 2 ×
     * `maxBatchBytes`.
     */
    readonly maxPending?: number;
  };
}

function whole(value: number | undefined, name: string, min: number): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) {
    throw new HeError('HE_PARAMETERS_INVALID', `redis.${name} must be a whole number of at least ${min}`);
  }
}

/** Connects and builds the registry (and queue) for a server. */
export async function createRedisKeySets(
  options: RedisServerOptions,
  backend: ScoringBackend,
  models: readonly ServedModel[],
  limits: RegistryLimits & { readonly requestTimeoutMs: number },
): Promise<RedisKeySets> {
  whole(options.queue?.minRows, 'queue.minRows', 1);
  whole(options.queue?.chunkRows, 'queue.chunkRows', 1);
  whole(options.queue?.asyncBytes, 'queue.asyncBytes', 1);
  whole(options.queue?.maxJobsPerPrincipal, 'queue.maxJobsPerPrincipal', 1);
  whole(options.queue?.maxPending, 'queue.maxPending', 1);
  const redis = await connectRedis(options.connection);
  const queue =
    options.queue === undefined
      ? undefined
      : ScoringQueue.open(redis, {
          minRows: options.queue.minRows,
          chunkRows: options.queue.chunkRows ?? 4096,
          timeoutMs: limits.requestTimeoutMs,
          maxJobsPerPrincipal: options.queue.maxJobsPerPrincipal ?? 64,
          maxPending: options.queue.maxPending ?? 256,
        });
  // A request runs at most requestTimeoutMs; its lease outlives it by a margin, then lapses.
  const leaseMs = limits.requestTimeoutMs + 60_000;
  return new RedisKeySets({
    redis,
    backend,
    models,
    limits,
    leaseMs,
    ...(queue === undefined ? {} : { queue }),
  });
}
