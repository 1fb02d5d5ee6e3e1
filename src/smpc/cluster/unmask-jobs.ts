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
 * Deliberately not here: share reconstruction (the coordinator's, before any job exists) and
 * scheduling beyond "any idle worker".
 *
 * @module
 */

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
  options: { readonly jobs: number; readonly timeoutMs: number },
): UnmaskRunner {
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
    try {
      await redis.run(async (r) => {
        await ensureGroup(r, keys.jobs);
        await r.set(keys.run(run), '1', 'PX', timeoutMs + 60_000);
        const pipe = r.pipeline();
        parts.forEach((part, index) => {
          pipe.xadd(keys.jobs, '*', 'r', run, 'n', String(index), 'd', Buffer.from(encodeUnmaskJob(part)));
        });
        for (const [error, id] of (await pipe.exec()) ?? []) if (error === null) queued.push(String(id));
      });
      const deadline = Date.now() + timeoutMs;
      let last = '0-0';
      while (partials.size < parts.length) {
        const left = deadline - Date.now();
        if (left <= 0) {
          throw failed(
            `${parts.length - partials.size} of ${parts.length} jobs were not done within ${timeoutMs} ms: start \`confide smpc worker\` processes`,
          );
        }
        const reply = (await reader.xreadBuffer(
          'COUNT',
          parts.length,
          'BLOCK',
          Math.min(left, 1000),
          'STREAMS',
          results,
          last,
        )) as [Buffer, [Buffer, Buffer[]][]][] | null;
        for (const [id, flat] of reply?.[0]?.[1] ?? []) {
          last = id.toString();
          const fields = new Map<string, Buffer>();
          for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), flat[i + 1] as Buffer);
          const index = Number(fields.get('n')?.toString());
          const part = parts[index];
          const data = fields.get('d');
          if (part === undefined || data === undefined || partials.has(index)) continue;
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
  if (data !== undefined && (await redis.client.exists(keys.run(run))) === 1) {
    let partial: UnmaskPartial | null = null;
    try {
      partial = await runUnmaskJob(decodeUnmaskJob(new Uint8Array(data)));
    } catch {
      partial = null; // a malformed job is dropped; the coordinator times out
    }
    if (partial !== null) {
      const results = keys.results(run);
      await redis.client.xadd(results, '*', 'n', index, 'd', Buffer.from(encodeUnmaskPartial(partial)));
      await redis.client.expire(results, 600);
    }
  }
  await redis.client.xack(keys.jobs, GROUP, id);
  await redis.client.xdel(keys.jobs, id);
  options.onJob?.({ run, index: Number(index), ms: performance.now() - started });
}
