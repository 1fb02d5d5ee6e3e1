/**
 * A small pool of Node worker threads that hash byte ranges of files with `node:crypto`, so that
 * the shards of a large file (model_signing `shards` serialization) and the files of a large
 * model are hashed on all cores.
 *
 * SHA-256 is sequential, so one whole-file digest (`files` serialization) cannot be split: the
 * pool parallelises across files there, and across shards in `shards` mode.
 *
 * The worker is a typed module of its own (`hash-worker.ts`, built by tsup as
 * `dist/provenance/hash-worker.js`); this side and it share the message types below. Each task is
 * one byte range of one file; the worker answers with lowercase hex or an errno-style code, never
 * a stack or file contents.
 *
 * Deliberately not here: browsers (no threads over files there), hashing algorithms other than
 * SHA-256, sharing one file descriptor between workers.
 *
 * @module
 */

import { ProvenanceError } from '../errors.ts';

/** One hashing job: a file and a byte range (`end: -1` = to end of file). */
export interface RangeTask {
  readonly path: string;
  readonly start: number;
  readonly end: number;
  readonly noFollow: boolean;
}

/** Result of one job: the digest, or the error code the worker met. */
export type RangeResult = { readonly digest: string } | { readonly error: string };

/** A task as posted to the worker. */
export interface RangeRequest extends RangeTask {
  readonly id: number;
}

/** The worker's answer to one {@link RangeRequest}. */
export type RangeReply =
  | { readonly id: number; readonly digest: string }
  | { readonly id: number; readonly error: string };

/**
 * The built worker script: next to this module's chunk in `dist/` (esbuild emits it at the root of
 * `dist/`, as it is only imported dynamically), or the built `dist/provenance/hash-worker.js` when
 * running from the TypeScript sources (tests build first).
 */
export function hashWorkerScript(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts')
    ? new URL('../../../dist/provenance/hash-worker.js', here)
    : new URL('./provenance/hash-worker.js', here);
}

type WorkerThreads = typeof import('node:worker_threads');

/** Hashes every task on `size` worker threads; results are in task order. */
export async function hashRangesOnWorkers(
  tasks: readonly RangeTask[],
  size: number,
  signal?: AbortSignal,
): Promise<RangeResult[]> {
  let threads: WorkerThreads;
  try {
    threads = await import('node:worker_threads');
  } catch (cause) {
    throw new ProvenanceError('PROV_UNSUPPORTED_PLATFORM', 'hashing on workers needs node:worker_threads', {
      cause,
    });
  }
  const results: RangeResult[] = new Array(tasks.length);
  if (tasks.length === 0) return results;
  const script = hashWorkerScript();
  const fs = (
    globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
  ).process?.getBuiltinModule?.('node:fs') as typeof import('node:fs') | undefined;
  if (fs !== undefined && !fs.existsSync(script)) {
    throw new ProvenanceError(
      'PROV_UNSUPPORTED_PLATFORM',
      `the hashing worker ${script.href} does not exist: build confide (npm run build) or hash without workers`,
    );
  }
  const workers = Array.from({ length: Math.max(1, Math.min(size, tasks.length)) }, (_, i) => {
    return new threads.Worker(script, { name: `confide-hash-${i}` });
  });
  let next = 0;
  try {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            const feed = (): void => {
              if (signal?.aborted) {
                reject(signal.reason);
                return;
              }
              if (next >= tasks.length) {
                resolve();
                return;
              }
              const id = next++;
              const request: RangeRequest = { ...(tasks[id] as RangeTask), id };
              worker.postMessage(request);
            };
            worker.on('message', (message: RangeReply) => {
              results[message.id] =
                'digest' in message ? { digest: message.digest } : { error: message.error };
              feed();
            });
            worker.on('error', reject);
            worker.on('exit', (code) => {
              if (next < tasks.length || code !== 0)
                reject(new Error(`hash worker exited with code ${code}`));
            });
            feed();
          }),
      ),
    );
  } catch (cause) {
    if ((cause as { name?: unknown })?.name === 'AbortError') throw cause;
    throw new ProvenanceError('PROV_IO', 'a hashing worker failed', { cause });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}
