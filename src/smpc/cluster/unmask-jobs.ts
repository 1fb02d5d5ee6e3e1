/**
 * The unmask work of a round as jobs on Redis, for `confide smpc worker` processes on any machine:
 * an {@link UnmaskRunner} (the hook of `protocol/unmask.ts`) that cuts the round's unmask job into
 * parts (`splitUnmaskJob` of `protocol/unmask-job.ts`: by masks or by coordinate ranges), queues
 * their byte form (`encodeUnmaskJob`), and returns the workers' partials, which the state machine
 * combines exactly (addition mod 2^b commutes: any split and order give the same sum).
 *
 * Queue: one stream (`smpc:jobs`) read through a consumer group, so each part goes to one worker; a
 * worker that dies leaves its part pending, and another worker claims it (`XAUTOCLAIM`) once it has
 * been idle for `claimMs`. A part that ran twice gives the same partial; the coordinator keeps the
 * first per part. Results go to a stream per unmask run that expires; a run's marker key tells
 * workers whether its coordinator still waits (parts of an abandoned run are skipped). Parts not
 * done within `timeoutMs` fail the round with `SMPC_UNMASK_FAILED` (no sum).
 *
 * What Redis sees here: a job carries the round's unmask secrets — the survivors' self-mask keys
 * and the dropped clients' reconstructed masking keys — that is, what the unmask responses (which
 * also pass through Redis, on `smpc:in`) let the coordinator compute anyway. SECURITY.md states
 * what that means. Jobs are deleted once done.
 *
 * Authentication (optional, `clusterKey`: a deployment key the coordinators and workers share,
 * `--cluster-key-file` on the CLI): each job carries HMAC-SHA256 (RFC 2104, node:crypto) over its
 * run id, index and bytes, and each partial one over the run id, index and its bytes, each under
 * its own label. Workers drop jobs whose tag is wrong or missing; the coordinator ignores such
 * partials and, if no genuine partial arrives, fails with `SMPC_UNMASK_FAILED`. So whoever can write
 * to Redis without the key cannot make a round output a wrong sum through a forged or altered
 * partial or job (it can still stall the round). Without a key, Redis writers are trusted.
 *
 * Deliberately not here: share reconstruction (the coordinator's, before any job exists) and
 * scheduling beyond "any idle worker".
 *
 * @module
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ConfideArgumentError } from '../../errors.ts';
import { assertInteger } from '../../internal/assert.ts';
import type { RedisHandle } from '../../redis/index.ts';
import { SmpcError } from '../errors.ts';
import { toHex } from '../primitives/encoding.ts';
import { randomBytes } from '../primitives/random.ts';
import type { UnmaskRunner } from '../protocol/unmask.ts';
import {
  decodeUnmaskJob,
  decodeUnmaskPartial,
  encodeUnmaskJob,
  encodeUnmaskPartial,
  runUnmaskJob,
  splitUnmaskJob,
  type UnmaskPartial,
} from '../protocol/unmask-job.ts';
import { blockingClient, clusterKeys, sleep } from './streams.ts';

const GROUP = 'workers';

/** Smallest accepted cluster key, bytes. */
export const MIN_CLUSTER_KEY_BYTES = 32;

/** Checks a cluster key (at least {@link MIN_CLUSTER_KEY_BYTES}); `undefined` passes. */
export function checkKey(key: Uint8Array | undefined): Uint8Array | undefined {
  if (key === undefined) return undefined;
  if (!(key instanceof Uint8Array) || key.byteLength < MIN_CLUSTER_KEY_BYTES) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `clusterKey must be at least ${MIN_CLUSTER_KEY_BYTES} random bytes (for example \`openssl rand -base64 48\`)`,
    );
  }
  return key;
}

/** HMAC-SHA256 of a job or partial, bound to its run and index. */
function tag(
  key: Uint8Array,
  label: 'job' | 'partial',
  run: string,
  index: string,
  data: Uint8Array,
): Buffer {
  return createHmac('sha256', key)
    .update(`confide/smpc/unmask-${label}/v1\0${run}\0${index}\0`, 'utf8')
    .update(data)
    .digest();
}

function tagValid(
  key: Uint8Array,
  label: 'job' | 'partial',
  run: string,
  index: string,
  data: Uint8Array,
  given: Buffer | undefined,
): boolean {
  if (given === undefined || given.length !== 32) return false;
  return timingSafeEqual(tag(key, label, run, index, data), given);
}

async function ensureGroup(client: Redis, stream: string): Promise<void> {
  try {
    await client.xgroup('CREATE', stream, GROUP, '0', 'MKSTREAM');
  } catch (error) {
    if (!(error instanceof Error && error.message.includes('BUSYGROUP'))) throw error;
  }
}

/**
 * An {@link UnmaskRunner} that cuts the job into at most `jobs` parts and has `smpc worker`
 * processes run them. Throws `SMPC_UNMASK_FAILED` when the partials do not all arrive within
 * `timeoutMs` or Redis fails (the round then aborts; no sum is released).
 */
export function redisUnmaskRunner(
  redis: RedisHandle,
  options: {
    readonly jobs: number;
    readonly timeoutMs: number;
    /** The deployment key: jobs are tagged and only partials tagged with it count. */
    readonly clusterKey?: Uint8Array;
  },
): UnmaskRunner {
  const key = checkKey(options.clusterKey);
  const keys = clusterKeys(redis.options.prefix);
  const jobs = assertInteger(options.jobs, 'jobs', 1, 4096);
  const timeoutMs = assertInteger(options.timeoutMs, 'timeoutMs', 1, 2 ** 31 - 1);
  return async (job) => {
    const parts = splitUnmaskJob(job, jobs);
    const run = toHex(randomBytes(8));
    const results = keys.results(run);
    const failed = (why: string, cause?: unknown) =>
      new SmpcError('SMPC_UNMASK_FAILED', `the unmask jobs on Redis failed, no sum was output: ${why}`, {
        ...(cause === undefined ? {} : { cause }),
      });
    const reader = blockingClient(redis);
    const partials = new Map<number, UnmaskPartial>();
    const queued: string[] = [];
    let complete = false;
    let forged = 0;
    try {
      await redis.run(async (r) => {
        await ensureGroup(r, keys.jobs);
        await r.set(keys.run(run), '1', 'PX', timeoutMs + 60_000);
        const pipe = r.pipeline();
        parts.forEach((part, index) => {
          const bytes = encodeUnmaskJob(part);
          const fields: (string | Buffer)[] = ['r', run, 'n', String(index), 'd', Buffer.from(bytes)];
          if (key !== undefined) fields.push('m', tag(key, 'job', run, String(index), bytes));
          pipe.xadd(keys.jobs, '*', ...fields);
        });
        for (const [error, id] of (await pipe.exec()) ?? []) if (error === null) queued.push(String(id));
      });
      const deadline = Date.now() + timeoutMs;
      let last = '0-0';
      while (partials.size < parts.length) {
        const left = deadline - Date.now();
        if (left <= 0) {
          throw failed(
            `${parts.length - partials.size} of ${parts.length} jobs were not done within ${timeoutMs} ms: start \`confide smpc worker\` processes` +
              (forged > 0
                ? ` (${forged} partial(s) carried no valid tag of the cluster key: check that every worker has the coordinator's --cluster-key-file, and who can write to Redis)`
                : ''),
          );
        }
        // The blocking client queues commands while Redis is away: the deadline bounds the wait.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const reply = (await Promise.race([
          reader.xreadBuffer('COUNT', parts.length, 'BLOCK', Math.min(left, 1000), 'STREAMS', results, last),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('Redis did not answer')), left + 1000);
          }),
        ]).finally(() => clearTimeout(timer))) as [Buffer, [Buffer, Buffer[]][]][] | null;
        for (const [id, flat] of reply?.[0]?.[1] ?? []) {
          last = id.toString();
          const fields = new Map<string, Buffer>();
          for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), flat[i + 1] as Buffer);
          const index = Number(fields.get('n')?.toString());
          const part = parts[index];
          const data = fields.get('d');
          if (part === undefined || data === undefined || partials.has(index)) continue;
          // With a key, a partial not tagged with it is not a worker's: ignored (the round waits).
          if (key !== undefined && !tagValid(key, 'partial', run, String(index), data, fields.get('m'))) {
            forged++;
            continue;
          }
          const partial = decodeUnmaskPartial(new Uint8Array(data));
          // A partial must cover exactly its part's range: anything else is not this job's.
          if (partial.start !== part.start || partial.values.length !== part.length) continue;
          partials.set(index, partial);
        }
      }
      complete = true;
    } catch (error) {
      if (error instanceof SmpcError) throw error;
      throw failed('Redis stopped answering', error);
    } finally {
      reader.disconnect();
      await redis.client.del(keys.run(run), results).catch(() => {});
      // Parts no worker took: their keys leave Redis with the run.
      if (!complete && queued.length > 0) await redis.client.xdel(keys.jobs, ...queued).catch(() => {});
    }
    return [...partials.values()];
  };
}

/** Options of {@link runUnmaskWorker}. */
export interface UnmaskWorkerOptions {
  readonly redis: RedisHandle;
  /** A job idle this long on a dead worker is claimed by another; default 5 000 ms. */
  readonly claimMs?: number;
  /** Called after each job (range length, ms). */
  readonly onJob?: (job: { readonly run: string; readonly index: number; readonly ms: number }) => void;
  readonly signal?: AbortSignal;
  /** The deployment key: only jobs tagged with it are run, and partials are tagged with it. */
  readonly clusterKey?: Uint8Array;
}

/**
 * Takes unmask jobs until `signal` aborts: first any job a dead worker left idle for `claimMs`,
 * else a new one. Survives Redis outages (it waits and tries again).
 */
export async function runUnmaskWorker(options: UnmaskWorkerOptions): Promise<void> {
  const { redis } = options;
  if (typeof redis?.key !== 'function') {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'redis must be a connected Redis handle');
  }
  const claimMs = assertInteger(options.claimMs ?? 5000, 'claimMs', 1, 3_600_000);
  checkKey(options.clusterKey);
  const keys = clusterKeys(redis.options.prefix);
  const me = `w-${toHex(randomBytes(6))}`;
  const reader = blockingClient(redis);
  options.signal?.addEventListener('abort', () => reader.disconnect(), { once: true });
  let grouped = false;
  const aborted = (): boolean => options.signal?.aborted === true;
  try {
    while (!aborted()) {
      try {
        if (!grouped) {
          await ensureGroup(redis.client, keys.jobs);
          grouped = true;
        }
        const claimed = (await redis.client.callBuffer(
          'XAUTOCLAIM',
          keys.jobs,
          GROUP,
          me,
          claimMs,
          '0-0',
          'COUNT',
          1,
        )) as [Buffer, [Buffer, Buffer[]][]];
        let entry = claimed[1]?.[0];
        if (entry === undefined) {
          const reply = (await reader.xreadgroupBuffer(
            'GROUP',
            GROUP,
            me,
            'COUNT',
            1,
            'BLOCK',
            1000,
            'STREAMS',
            keys.jobs,
            '>',
          )) as [Buffer, [Buffer, Buffer[]][]][] | null;
          entry = reply?.[0]?.[1]?.[0];
        }
        if (entry === undefined) continue;
        await handle(redis, keys, me, entry, options);
      } catch (error) {
        if (aborted()) break;
        // NOGROUP after Redis restarted empty: create the group again.
        if (error instanceof Error && error.message.includes('NOGROUP')) grouped = false;
        await sleep(200);
      }
    }
  } finally {
    reader.disconnect();
  }
}

async function handle(
  redis: RedisHandle,
  keys: ReturnType<typeof clusterKeys>,
  _me: string,
  [idBuf, flat]: [Buffer, Buffer[]],
  options: UnmaskWorkerOptions,
): Promise<void> {
  const id = idBuf.toString();
  const fields = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), flat[i + 1] as Buffer);
  const run = fields.get('r')?.toString() ?? '';
  const index = fields.get('n')?.toString() ?? '';
  const data = fields.get('d');
  const started = performance.now();
  const key = options.clusterKey;
  const genuine =
    data !== undefined &&
    (key === undefined || tagValid(key, 'job', run, index, new Uint8Array(data), fields.get('m')));
  if (data !== undefined && genuine && (await redis.client.exists(keys.run(run))) === 1) {
    let partial: UnmaskPartial | null = null;
    try {
      partial = await runUnmaskJob(decodeUnmaskJob(new Uint8Array(data)));
    } catch {
      partial = null; // a malformed job is dropped; the coordinator times out
    }
    if (partial !== null) {
      const results = keys.results(run);
      const bytes = encodeUnmaskPartial(partial);
      const out: (string | Buffer)[] = ['n', index, 'd', Buffer.from(bytes)];
      if (key !== undefined) out.push('m', tag(key, 'partial', run, index, bytes));
      await redis.client.xadd(results, '*', ...out);
      await redis.client.expire(results, 600);
    }
  }
  await redis.client.xack(keys.jobs, GROUP, id);
  await redis.client.xdel(keys.jobs, id);
  options.onJob?.({ run, index: Number(index), ms: performance.now() - started });
}
