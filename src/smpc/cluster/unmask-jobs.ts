/**
 * The unmask step's PRG expansion as jobs on Redis, for `confide smpc worker` processes on any
 * machine. A job is a coordinate range [start, start + length) and the masks to remove (their
 * 32-byte PRG keys, already derived by the coordinator, which keeps share reconstruction and key
 * agreement) ; its result is the partial vector Σ sign·PRG(key)[start, start + length) over
 * Z_{2^b}. The coordinator adds every partial into its range: addition mod 2^b commutes, so the
 * sum is exactly what `applyMasks` in one process gives, whichever worker ran which range.
 *
 * Queue: one stream (`smpc:jobs`) read through a consumer group, so each job goes to one worker; a
 * worker that dies leaves its job pending, and another worker claims it (`XAUTOCLAIM`) once it has
 * been idle for `claimMs`. A job that ran twice gives the same partial; the coordinator keeps the
 * first per range. Results go to a stream per unmask run that expires; a run's marker key tells
 * workers whether its coordinator still waits (jobs of an abandoned run are skipped).
 *
 * What Redis sees here: the mask keys of the round being unmasked — the self-mask keys of the
 * survivors and the pairwise keys with the dropped clients — that is, what the unmask responses
 * (which also pass through Redis, on `smpc:in`) let the coordinator compute anyway. SECURITY.md
 * states what that means.
 *
 * Deliberately not here: share reconstruction and key agreement on workers (cheap next to the
 * expansion: one X25519 per dropped client's neighbour, against n · m PRG words).
 *
 * @module
 */

import type { Redis } from 'ioredis';
import { ConfideArgumentError } from '../../errors.ts';
import { assertInteger } from '../../internal/assert.ts';
import type { RedisHandle } from '../../redis/index.ts';
import { SmpcError } from '../errors.ts';
import { toHex } from '../primitives/encoding.ts';
import { applyMasks } from '../primitives/masking.ts';
import { PRG_ALGORITHMS, type PrgAlgorithm } from '../primitives/prg.ts';
import { randomBytes } from '../primitives/random.ts';
import { createRing, ringAddInPlace } from '../primitives/ring.ts';
import type { MaskExpander, ResolvedMask } from '../protocol/unmask.ts';
import { blockingClient, clusterKeys, sleep } from './streams.ts';

/** One unmask job: a coordinate range and the masks to expand over it. */
export interface UnmaskJob {
  readonly ringBits: number;
  readonly algorithm: PrgAlgorithm;
  readonly start: number;
  readonly length: number;
  readonly masks: readonly ResolvedMask[];
}

const JOB_VERSION = 1;

/** A job as bytes: version, ring bits, algorithm index, start, length, count, then sign·key. */
export function encodeJob(job: UnmaskJob): Uint8Array {
  const out = new Uint8Array(15 + job.masks.length * 33);
  const view = new DataView(out.buffer);
  out[0] = JOB_VERSION;
  out[1] = job.ringBits;
  out[2] = PRG_ALGORITHMS.indexOf(job.algorithm);
  view.setUint32(3, job.start);
  view.setUint32(7, job.length);
  view.setUint32(11, job.masks.length);
  job.masks.forEach((m, i) => {
    out[15 + 33 * i] = m.sign === 1 ? 1 : 0;
    out.set(m.key, 16 + 33 * i);
  });
  return out;
}

/**
 * Decodes {@link encodeJob}'s bytes.
 *
 * @throws {SmpcError} `SMPC_MALFORMED_MESSAGE` when the bytes are not a job.
 */
export function decodeJob(bytes: Uint8Array): UnmaskJob {
  const bad = (why: string) => new SmpcError('SMPC_MALFORMED_MESSAGE', `unmask job: ${why}`);
  if (bytes.length < 15 || bytes[0] !== JOB_VERSION) throw bad('unknown version or truncated');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ringBits = bytes[1] as number;
  const algorithm = PRG_ALGORITHMS[bytes[2] as number];
  const count = view.getUint32(11);
  if (algorithm === undefined || ringBits < 1 || ringBits > 32) throw bad('unknown ring or PRG');
  if (bytes.length !== 15 + 33 * count) throw bad('length does not match the mask count');
  const masks: ResolvedMask[] = [];
  for (let i = 0; i < count; i++) {
    masks.push({
      sign: bytes[15 + 33 * i] === 1 ? 1 : -1,
      key: bytes.slice(16 + 33 * i, 48 + 33 * i),
    });
  }
  return { ringBits, algorithm, start: view.getUint32(3), length: view.getUint32(7), masks };
}

/** Runs a job: the partial vector Σ sign·PRG(key) over its range. */
export async function runJob(job: UnmaskJob): Promise<Uint32Array> {
  const partial = new Uint32Array(job.length);
  await applyMasks(partial, job.masks, {
    ring: createRing(job.ringBits),
    algorithm: job.algorithm,
    start: job.start,
  });
  return partial;
}

function u32le(values: Uint32Array): Buffer {
  const out = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) out.writeUInt32LE(values[i] as number, 4 * i);
  return out;
}

function fromU32le(bytes: Buffer): Uint32Array {
  const out = new Uint32Array(bytes.length >>> 2);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readUInt32LE(4 * i);
  return out;
}

const GROUP = 'workers';

async function ensureGroup(client: Redis, stream: string): Promise<void> {
  try {
    await client.xgroup('CREATE', stream, GROUP, '0', 'MKSTREAM');
  } catch (error) {
    if (!(error instanceof Error && error.message.includes('BUSYGROUP'))) throw error;
  }
}

/**
 * A {@link MaskExpander} that splits the coordinates into `jobs` ranges and has workers expand
 * them. Throws `SMPC_TIMEOUT` when the partials do not all arrive within `timeoutMs` (the round
 * then aborts; no sum is released).
 */
export function redisMaskExpander(
  redis: RedisHandle,
  options: { readonly jobs: number; readonly timeoutMs: number },
): MaskExpander {
  const keys = clusterKeys(redis.options.prefix);
  const jobs = assertInteger(options.jobs, 'jobs', 1, 4096);
  return async (target, masks, { ringBits, algorithm }) => {
    if (masks.length === 0 || target.length === 0) return;
    const ring = createRing(ringBits);
    const run = toHex(randomBytes(8));
    const parts = Math.min(jobs, target.length);
    const size = Math.ceil(target.length / parts);
    const ranges: [number, number][] = [];
    for (let s = 0; s < target.length; s += size) ranges.push([s, Math.min(size, target.length - s)]);
    const results = keys.results(run);
    const ttl = Math.ceil(options.timeoutMs / 1000) + 60;
    await redis.run(async (r) => {
      await ensureGroup(r, keys.jobs);
      await r.set(keys.run(run), '1', 'EX', ttl);
      const pipe = r.pipeline();
      ranges.forEach(([start, length], index) => {
        const job = encodeJob({ ringBits, algorithm, start, length, masks });
        pipe.xadd(keys.jobs, '*', 'r', run, 'n', String(index), 'd', Buffer.from(job));
      });
      await pipe.exec();
    });
    const reader = blockingClient(redis);
    const done = new Set<number>();
    const deadline = Date.now() + options.timeoutMs;
    let last = '0-0';
    try {
      while (done.size < ranges.length) {
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new SmpcError(
            'SMPC_TIMEOUT',
            `${ranges.length - done.size} of ${ranges.length} unmask jobs were not done within ${options.timeoutMs} ms: start \`confide smpc worker\` processes`,
          );
        }
        const reply = (await reader.xreadBuffer(
          'COUNT',
          ranges.length,
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
          const range = ranges[index];
          const data = fields.get('d');
          if (range === undefined || data === undefined || done.has(index)) continue;
          const partial = fromU32le(data);
          if (partial.length !== range[1]) continue;
          ringAddInPlace(target.subarray(range[0], range[0] + range[1]), partial, ring);
          done.add(index);
        }
      }
    } catch (error) {
      if (error instanceof SmpcError) throw error;
      throw new SmpcError('SMPC_ABORTED', 'Redis failed while collecting the unmask jobs', { cause: error });
    } finally {
      reader.disconnect();
      await redis.client.del(keys.run(run), results).catch(() => {});
    }
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
    let partial: Uint32Array | null = null;
    try {
      partial = await runJob(decodeJob(new Uint8Array(data)));
    } catch {
      partial = null; // a malformed job is dropped; the coordinator times out
    }
    if (partial !== null) {
      const results = keys.results(run);
      await redis.client.xadd(results, '*', 'n', index, 'd', u32le(partial));
      await redis.client.expire(results, 600);
    }
  }
  await redis.client.xack(keys.jobs, GROUP, id);
  await redis.client.xdel(keys.jobs, id);
  options.onJob?.({ run, index: Number(index), ms: performance.now() - started });
}
