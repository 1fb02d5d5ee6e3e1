/**
 * The scoring queue of `confide he serve --redis … --queue`: a batch is cut into chunk jobs
 * (whole ciphertext chunks in the batch layout, rows in the single layout:
 * `partitionEncryptedBatch` in `src/he/partition.ts`), each part's bytes stored in Redis and its
 * job put on a BullMQ queue, scored by `confide he worker` processes (`worker.ts`), and the scored
 * parts joined in order with `mergeEncryptedResults`, which gives exactly the bytes in-process
 * scoring of the whole batch gives.
 *
 * A job's record (`P he:job:ID`: the SHA-256 tag of the principal that submitted it, the part
 * count, the model digest, and a failure once a part failed for good) lives in Redis with the
 * job TTL (60 s once its result was fetched), so any replica can answer `GET /v1/jobs/:id` and a
 * replica that dies after a `202` loses nothing. Each principal holds at most
 * `maxJobsPerPrincipal` jobs (`P he:jobs:TAG`), and the deployment at most `maxPending` jobs in
 * all (`P he:pending`: queued, being scored, or finished and not yet fetched, whichever replica
 * took them): beyond either, 503 (`HE_SERVER_BUSY`, `HE_QUEUE_FULL`, with `Retry-After`) before a
 * byte of the batch is written, so Redis holds at most `maxPending` batches and their results
 * however many clients send (each batch within the server's `maxBatchBytes`). A worker that dies mid-part leaves its BullMQ lock to expire; the job goes back
 * to the queue and another worker scores it (at most three attempts, two stalls).
 *
 * Never a partial result: a job answers either every part joined, an error, or "pending".
 *
 * Deliberately not here: priorities, fairness between principals in the queue's order (the
 * admission limits and the job cap bound what each principal can put on it), Redis Cluster.
 *
 * @module
 */

import { type ConnectionOptions, Queue } from 'bullmq';
import { type ConfideErrorCode, HeError, isConfideError } from '../../errors.ts';
import { peekContainer } from '../../he/container.ts';
import { mergeEncryptedResults, partitionEncryptedBatch } from '../../he/partition.ts';
import { randomBytes, sha256, toHex } from '../../internal/bytes.ts';
import { ioredisOptions, RedisError, type RedisErrorCode, type RedisHandle } from '../../redis/index.ts';
import type { ScoredBatch } from '../registry.ts';
import { luaScript } from './lua.ts';
import type { KeySetRecord } from './registry.ts';

/** The BullMQ queue name (under the deployment prefix). */
export const QUEUE_NAME = 'he-score';

/** What one chunk job carries: ids and digests only; the bytes are in Redis. */
export interface PartJobData {
  readonly jobId: string;
  readonly part: number;
  readonly keySetId: string;
  readonly keysDigest: string;
  readonly modelId: string;
  readonly modelDigest: string;
}

/** Where a job is. */
export type JobStatus =
  | { readonly state: 'pending'; readonly parts: number; readonly done: number }
  | ({ readonly state: 'done' } & ScoredBatch & { readonly upload?: JobUpload; readonly receipt?: string });

/** What a done job's receipt is signed over, kept from the upload (the upload itself is not). */
export interface JobUpload {
  /** SHA-256 (hex) of the uploaded encrypted-batch container. */
  readonly sha256: string;
  /** Its first 96 bytes (the container header, which names the parameter fingerprint). */
  readonly head: Uint8Array;
  readonly keySetId: string;
  readonly modelId: string;
}

export interface ScoringQueueOptions {
  /** Batches of at least this many rows are scored by workers (smaller ones where they arrive). */
  readonly minRows: number;
  /** Rows per chunk job (rounded to whole chunks: at least one ciphertext chunk per job). */
  readonly chunkRows: number;
  /** How long a replica waits for the workers before answering 503. */
  readonly timeoutMs: number;
  /**
   * Jobs one principal may hold in Redis at once (queued, running, or finished and kept for the
   * job TTL until polled): beyond it, 503 `HE_SERVER_BUSY`. Bounds the Redis memory one principal
   * can fill with uploads answered 202.
   */
  readonly maxJobsPerPrincipal: number;
  /**
   * Jobs the whole deployment may hold in Redis at once (queued, being scored, or finished until
   * fetched or expired; the same count on every replica): beyond it, 503 `HE_QUEUE_FULL`.
   */
  readonly maxPending: number;
}

/**
 * KEYS: the principal's job index, the deployment's. ARGV: now (ms), TTL (ms), the principal's
 * limit, job id, the deployment's limit. Drops expired entries, then adds the job to both when
 * both have room: 1 added, 0 refused (the principal's limit), -1 refused (the deployment's).
 */
const ADMIT_SCRIPT = `
local oldest = tonumber(ARGV[1]) - tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', oldest)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', oldest)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return -1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
`;
const admit = luaScript(ADMIT_SCRIPT);

/** Redis key names of one job. */
export function jobKeys(prefix: string, jobId: string) {
  const base = `${prefix}he:job:${jobId}`;
  return { record: base, input: (i: number) => `${base}:in:${i}`, output: (i: number) => `${base}:out:${i}` };
}

/** BullMQ's prefix for this deployment. */
export function bullPrefix(prefix: string): string {
  return `${prefix}bull`;
}

function unknownJob(): HeError {
  return new HeError(
    'HE_UNKNOWN_JOB',
    'no scoring job under that id for you (never submitted, or its results expired): submit the batch again',
  );
}

/** Seconds a fetched job's result stays for a second poll. */
const RETRIEVED_TTL_SECONDS = 60;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The replica's side of the queue: submit, wait, assemble. */
export class ScoringQueue {
  readonly #redis: RedisHandle;
  readonly #queue: Queue;
  readonly #options: ScoringQueueOptions;

  private constructor(redis: RedisHandle, queue: Queue, options: ScoringQueueOptions) {
    this.#redis = redis;
    this.#queue = queue;
    this.#options = options;
  }

  /** Opens the queue on `redis` (a connection of its own for BullMQ). */
  static open(redis: RedisHandle, options: ScoringQueueOptions): ScoringQueue {
    const queue = new Queue(QUEUE_NAME, {
      connection: { ...ioredisOptions(redis.options), lazyConnect: false } as ConnectionOptions,
      prefix: bullPrefix(redis.options.prefix),
    });
    queue.on('error', () => {}); // reported per call, as REDIS_UNAVAILABLE
    return new ScoringQueue(redis, queue, options);
  }

  get minRows(): number {
    return this.#options.minRows;
  }

  /** Cuts `batch` into chunk jobs and queues them; resolves with the job id once all are queued. */
  async submit(
    owner: string,
    record: KeySetRecord,
    modelId: string,
    modelDigest: string,
    batch: Uint8Array,
  ): Promise<string> {
    const rows = peekContainer(batch)?.metadata.rows;
    const wanted = typeof rows === 'number' ? Math.max(1, Math.ceil(rows / this.#options.chunkRows)) : 1;
    const partition = partitionEncryptedBatch(batch, { parts: wanted, slots: record.slots });
    const jobId = toHex(randomBytes(16));
    const ttl = this.#redis.options.jobTtlSeconds;
    const admitted = await this.#redis.run((c) =>
      admit.run(
        c,
        [this.#jobIndex(owner), this.#pending()],
        [Date.now(), ttl * 1000, this.#options.maxJobsPerPrincipal, jobId, this.#options.maxPending],
      ),
    );
    if (admitted === -1) {
      throw new HeError(
        'HE_QUEUE_FULL',
        `the scoring queue holds ${this.#options.maxPending} jobs, its limit: retry later (or the operator starts more workers)`,
      );
    }
    if (admitted !== 1) {
      throw new HeError(
        'HE_SERVER_BUSY',
        `you hold ${this.#options.maxJobsPerPrincipal} scoring jobs, the limit: fetch their results (GET /v1/jobs/:id) or wait for them to expire`,
      );
    }
    try {
      await this.#enqueue(jobId, record, modelId, modelDigest, partition, owner, batch);
    } catch (error) {
      void this.#discard(owner, jobId);
      throw error;
    }
    return jobId;
  }

  async #enqueue(
    jobId: string,
    record: KeySetRecord,
    modelId: string,
    modelDigest: string,
    partition: ReturnType<typeof partitionEncryptedBatch>,
    owner: string,
    batch: Uint8Array,
  ): Promise<void> {
    const keys = jobKeys(this.#redis.options.prefix, jobId);
    const ttl = this.#redis.options.jobTtlSeconds;
    await this.#redis.run(async (c) => {
      const multi = c.multi();
      multi.hset(keys.record, 'owner', owner, 'parts', partition.count, 'modelDigest', modelDigest);
      // What the receipt of the result is signed over, for the replica that assembles it.
      multi.hset(
        keys.record,
        'batchSha256',
        toHex(sha256(batch)),
        'batchHead',
        Buffer.from(batch.subarray(0, 96)),
        'keySetId',
        record.keySetId,
        'modelId',
        modelId,
      );
      multi.expire(keys.record, ttl);
      for (let i = 0; i < partition.count; i++) {
        const part = partition.part(i);
        multi.set(keys.input(i), Buffer.from(part.buffer, part.byteOffset, part.byteLength), 'EX', ttl);
      }
      await multi.exec();
    });
    const jobs = Array.from({ length: partition.count }, (_, part) => ({
      name: 'part',
      data: {
        jobId,
        part,
        keySetId: record.keySetId,
        keysDigest: record.keysDigest,
        modelId,
        modelDigest,
      } satisfies PartJobData,
      opts: {
        jobId: `${jobId}-${part}`,
        attempts: 3,
        backoff: { type: 'fixed', delay: 250 },
        removeOnComplete: true,
        removeOnFail: { age: ttl },
      },
    }));
    try {
      await withTimeout(this.#queue.addBulk(jobs), this.#redis.options.commandTimeoutMs);
    } catch (error) {
      throw this.#failure(error);
    }
  }

  #jobIndex(owner: string): string {
    return `${this.#redis.options.prefix}he:jobs:${owner}`;
  }

  /** The deployment's index of jobs held in Redis. */
  #pending(): string {
    return `${this.#redis.options.prefix}he:pending`;
  }

  #failure(error: unknown): Error {
    if (isConfideError(error)) return error;
    return new RedisError(
      'REDIS_UNAVAILABLE',
      `Redis at ${this.#redis.options.endpoint} is not answering: retry shortly (the request was not carried out)`,
      { cause: error },
    );
  }

  /** Where job `jobId` of `owner` is; its result once every part is scored. */
  async status(owner: string, jobId: string): Promise<JobStatus> {
    if (!/^[0-9a-f]{32}$/.test(jobId)) throw unknownJob();
    const keys = jobKeys(this.#redis.options.prefix, jobId);
    const [who, partsText, modelDigest, failure, batchSha256, keySetId, storedModelId, receipt] =
      await this.#redis.run((c) =>
        c.hmget(
          keys.record,
          'owner',
          'parts',
          'modelDigest',
          'error',
          'batchSha256',
          'keySetId',
          'modelId',
          'receipt',
        ),
      );
    if (who == null || who !== owner || partsText == null || modelDigest == null) throw unknownJob();
    if (failure != null) {
      // Finished (failed): it no longer takes a place in the deployment's queue.
      await this.#redis.run((c) => c.zrem(this.#pending(), jobId)).catch(() => {});
      const { code, message } = JSON.parse(failure) as { code: ConfideErrorCode; message: string };
      throw code.startsWith('REDIS_')
        ? new RedisError(code as RedisErrorCode, message)
        : new HeError(code, message);
    }
    const parts = Number(partsText);
    const outputs = Array.from({ length: parts }, (_, i) => keys.output(i));
    const done = await this.#redis.run((c) => c.exists(...outputs));
    if (done < parts) return { state: 'pending', parts, done };
    const buffers = await this.#redis.run((c) => Promise.all(outputs.map((k) => c.getBuffer(k))));
    if (buffers.some((b) => b === null)) return { state: 'pending', parts, done: parts - 1 };
    const result = mergeEncryptedResults(
      buffers.map(
        (b) => new Uint8Array((b as Buffer).buffer, (b as Buffer).byteOffset, (b as Buffer).byteLength),
      ),
    );
    // Fetched: it no longer counts against the principal's jobs, and stays only briefly, for a
    // client whose answer was lost on the way to poll again.
    const keep = Math.min(RETRIEVED_TTL_SECONDS, this.#redis.options.jobTtlSeconds);
    await this.#redis.run(async (c) => {
      const multi = c.multi().zrem(this.#jobIndex(owner), jobId).zrem(this.#pending(), jobId);
      multi.del(...Array.from({ length: parts }, (_, i) => keys.input(i)));
      for (const key of [keys.record, ...outputs]) multi.expire(key, keep);
      await multi.exec();
    });
    const head =
      batchSha256 == null ? null : await this.#redis.run((c) => c.hgetBuffer(keys.record, 'batchHead'));
    const upload =
      batchSha256 == null || head == null || keySetId == null || storedModelId == null
        ? undefined
        : {
            sha256: batchSha256,
            head: new Uint8Array(head.buffer, head.byteOffset, head.byteLength),
            keySetId,
            modelId: storedModelId,
          };
    return {
      state: 'done',
      result,
      modelDigest,
      ...(upload === undefined ? {} : { upload }),
      ...(receipt == null ? {} : { receipt }),
    };
  }

  /**
   * Keeps the receipt of job `jobId`'s result (JSON) with the job, unless a replica kept one
   * first; answers the receipt kept, so every poll of a job answers the same receipt.
   */
  async keepReceipt(jobId: string, receipt: string): Promise<string> {
    const keys = jobKeys(this.#redis.options.prefix, jobId);
    const kept = await this.#redis.run(async (c) => {
      // The record already lives only briefly (fetched); never leave one without a TTL.
      const keep = Math.min(RETRIEVED_TTL_SECONDS, this.#redis.options.jobTtlSeconds);
      const [[, set], [, value]] = (await c
        .multi()
        .hsetnx(keys.record, 'receipt', receipt)
        .hget(keys.record, 'receipt')
        .expire(keys.record, keep)
        .exec()) as [[null, number], [null, string | null], [null, number]];
      return set === 1 ? receipt : value;
    });
    return kept ?? receipt;
  }

  /** Submits, waits for every part and answers the joined result (503 when the workers take too long). */
  async score(
    owner: string,
    record: KeySetRecord,
    modelId: string,
    modelDigest: string,
    batch: Uint8Array,
  ): Promise<ScoredBatch> {
    const jobId = await this.submit(owner, record, modelId, modelDigest, batch);
    const deadline = Date.now() + this.#options.timeoutMs;
    let pause = 2;
    try {
      for (;;) {
        const status = await this.status(owner, jobId);
        if (status.state === 'done') return { result: status.result, modelDigest: status.modelDigest };
        if (Date.now() > deadline) {
          throw new HeError(
            'HE_SERVER_BUSY',
            `the scoring workers did not finish this batch within ${this.#options.timeoutMs} ms (${status.done} of ${status.parts} parts): retry later, or start more workers`,
          );
        }
        await sleep(pause);
        pause = Math.min(pause * 2, 20);
      }
    } finally {
      void this.#discard(owner, jobId);
    }
  }

  async #discard(owner: string, jobId: string): Promise<void> {
    const keys = jobKeys(this.#redis.options.prefix, jobId);
    try {
      await this.#redis.client.zrem(this.#jobIndex(owner), jobId);
      await this.#redis.client.zrem(this.#pending(), jobId);
      const parts = Number(await this.#redis.client.hget(keys.record, 'parts'));
      const names = [keys.record];
      for (let i = 0; i < parts; i++) names.push(keys.input(i), keys.output(i));
      await this.#redis.client.del(...names);
    } catch {
      // Redis away: the job TTL removes them.
    }
  }

  async close(): Promise<void> {
    await this.#queue.close().catch(() => {});
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
