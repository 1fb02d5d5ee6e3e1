/**
 * A scoring worker of `confide he worker --redis URL`: takes chunk jobs off the BullMQ queue the
 * replicas fill (`queue.ts`), loads each job's key set from Redis into its own SEAL heap (a local
 * {@link KeySetRegistry} as its LRU, checked against the record's SHA-256), scores the part with
 * the served model it was started with, and writes the encrypted part result back to Redis.
 *
 * The model's weights never go through Redis: the worker is started with the same `--model` files
 * as the replicas and refuses a job whose model digest differs from its own. A part whose bytes
 * or keys are wrong fails for good (the job record carries the code, the replica answers it);
 * Redis or worker trouble is retried by BullMQ, on this or another worker. A worker killed
 * mid-part loses its lock after `lockDurationMs` and the part is scored again elsewhere; scoring
 * is deterministic, so a part scored twice is the same bytes.
 *
 * Deliberately not here: HTTP, authentication (the replica checked the principal before queueing).
 *
 * @module
 */

import { type ConnectionOptions, type Job, UnrecoverableError, Worker } from 'bullmq';
import { HeError, isConfideError } from '../../errors.ts';
import type { LinearModel } from '../../he/model.ts';
import { initHe, limitHeMemory } from '../../he/runtime.ts';
import {
  connectRedis,
  ioredisOptions,
  type RedisConnectionOptions,
  type RedisHandle,
  resolveRedisOptions,
} from '../../redis/index.ts';
import { InProcessBackend, type ScoringBackend } from '../backend.ts';
import { KeySetRegistry, type ServedModel, serveModel } from '../registry.ts';
import { bullPrefix, jobKeys, type PartJobData, QUEUE_NAME } from './queue.ts';
import { fetchKeys } from './registry.ts';

/** Options of {@link startScoringWorker}. */
export interface ScoringWorkerOptions {
  readonly redis: RedisConnectionOptions;
  /** The served models, by id: the same files the replicas serve. */
  readonly models: Readonly<Record<string, LinearModel>>;
  /** Where scoring runs (default: this thread); closed by the worker. */
  readonly backend?: ScoringBackend;
  /** Parts scored at once (default 1; the size of a worker-thread pool backend). */
  readonly concurrency?: number;
  /** Key sets held in this worker's SEAL heap (LRU beyond; default 64). */
  readonly maxKeySets?: number;
  /** Estimated bytes of key sets held (default 1 GiB). */
  readonly maxKeySetBytes?: number;
  /** Budget of SEAL's heap on this thread when scoring here (default 3 GiB). */
  readonly wasmHeapBudgetBytes?: number;
  /** A job's lock, ms: a worker silent this long is taken for dead and its part retried (default 30 s). */
  readonly lockDurationMs?: number;
  /** One line per part scored or failed (ids and counts only). */
  readonly onEvent?: (line: string) => void;
}

/** A running scoring worker. */
export interface ScoringWorker {
  /** Parts scored since start. */
  readonly scored: number;
  /** Stops taking jobs, finishes the ones running, frees everything. */
  close(): Promise<void>;
}

/** The owner under which the worker's local registry holds every key set (the replica checked the real one). */
const QUEUE_OWNER = 'queue';

/** Failures of a part that another attempt cannot cure. */
function permanent(error: unknown): boolean {
  if (!isConfideError(error)) return false;
  return !(
    error.code.startsWith('REDIS_') ||
    error.code.startsWith('WORKER_') ||
    error.code === 'HE_SERVER_BUSY' ||
    error.code === 'WASM_OUT_OF_MEMORY'
  );
}

/**
 * Connects to Redis, loads SEAL and the models, and starts taking chunk jobs.
 *
 * @throws {@link RedisError} when Redis cannot be reached or refuses the credentials
 * @throws {@link HeError} `HE_MODEL_INVALID` for a bad model
 */
export async function startScoringWorker(options: ScoringWorkerOptions): Promise<ScoringWorker> {
  const resolved = resolveRedisOptions(options.redis);
  const served: ServedModel[] = Object.entries(options.models).map(([id, m]) => serveModel(id, m));
  if (served.length === 0) throw new HeError('HE_PARAMETERS_INVALID', 'give the worker at least one model');
  const byId = new Map(served.map((s) => [s.id, s]));
  const concurrency = options.concurrency ?? 1;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new HeError('HE_PARAMETERS_INVALID', 'concurrency must be a whole number from 1 to 256');
  }
  const lockDuration = options.lockDurationMs ?? 30_000;
  if (!Number.isSafeInteger(lockDuration) || lockDuration < 500) {
    throw new HeError('HE_PARAMETERS_INVALID', 'lockDurationMs must be a whole number of at least 500');
  }
  await initHe();
  if (options.backend === undefined) limitHeMemory(options.wasmHeapBudgetBytes ?? 3 * 1024 ** 3);
  const redis: RedisHandle = await connectRedis(resolved);
  const backend = options.backend ?? new InProcessBackend();
  const maxKeySets = options.maxKeySets ?? 64;
  const local = new KeySetRegistry(backend, served, {
    maxKeySets,
    maxKeySetsPerPrincipal: maxKeySets,
    maxKeySetBytes: options.maxKeySetBytes ?? 1024 ** 3,
  });
  const report = options.onEvent ?? (() => {});
  let scored = 0;

  const process = async (job: Job<PartJobData>): Promise<void> => {
    const data = job.data;
    const keys = jobKeys(resolved.prefix, data.jobId);
    try {
      const served = byId.get(data.modelId);
      if (served === undefined || served.digest !== data.modelDigest) {
        throw new HeError(
          'HE_MODEL_MISMATCH',
          `a scoring worker serves another model under "${data.modelId}" than the replica that queued this batch: start the workers with the replicas' model files`,
        );
      }
      if (local.keysDigestOf(QUEUE_OWNER, data.keySetId) !== data.keysDigest) {
        const bytes = await fetchKeys(redis, {
          keySetId: data.keySetId,
          keysDigest: data.keysDigest,
          models: {},
          slots: 0,
        });
        if (bytes === undefined) {
          throw new HeError(
            'HE_UNKNOWN_KEY_SET',
            `key set ${data.keySetId} was evicted, expired or replaced while its batch was queued: POST the evaluation keys to /v1/keys again`,
          );
        }
        // Other bytes under the same id (the owner re-registered) replace the old ones once loaded;
        // concurrent parts of one key set share one load.
        await local.register(QUEUE_OWNER, bytes);
      }
      const input = await redis.run((c) => c.getBuffer(keys.input(data.part)));
      if (input === null) {
        throw new HeError('HE_UNKNOWN_JOB', 'the batch of this scoring job expired before a worker took it');
      }
      const part = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
      const { result } = await local.score(QUEUE_OWNER, data.keySetId, data.modelId, part);
      await redis.run((c) =>
        c.set(
          keys.output(data.part),
          Buffer.from(result.buffer, result.byteOffset, result.byteLength),
          'EX',
          resolved.jobTtlSeconds,
        ),
      );
      scored++;
      report(`scored job ${data.jobId} part ${data.part} (attempt ${job.attemptsMade + 1})`);
    } catch (error) {
      const final = permanent(error) || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      report(
        `failed job ${data.jobId} part ${data.part}: ${isConfideError(error) ? error.code : 'unexpected error'}${final ? '' : ' (will retry)'}`,
      );
      if (final) {
        const body = isConfideError(error)
          ? { code: error.code, message: error.message }
          : { code: 'HE_SERVER_ERROR', message: 'a scoring worker failed on this batch: see its log' };
        await redis.run((c) => c.hset(keys.record, 'error', JSON.stringify(body))).catch(() => {});
        throw new UnrecoverableError(body.code);
      }
      throw error;
    }
  };

  const worker = new Worker<PartJobData>(QUEUE_NAME, process, {
    connection: { ...ioredisOptions(resolved, true), lazyConnect: false } as ConnectionOptions,
    prefix: bullPrefix(resolved.prefix),
    concurrency,
    lockDuration,
    stalledInterval: Math.max(250, Math.floor(lockDuration / 2)),
    maxStalledCount: 2,
  });
  worker.on('error', () => {}); // connection trouble: BullMQ reconnects; parts are retried
  let closed: Promise<void> | undefined;
  return {
    get scored() {
      return scored;
    },
    close() {
      closed ??= (async () => {
        await worker.close().catch(() => {});
        local.clear();
        await backend.close();
        await redis.close();
      })();
      return closed;
    },
  };
}
