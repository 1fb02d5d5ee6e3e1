/**
 * A small pool of Node worker threads that hash byte ranges of files with `node:crypto`, so that
 * the shards of a large file (model_signing `shards` serialization) and the files of a large
 * model are hashed on all cores.
 *
 * SHA-256 is sequential, so one whole-file digest (`files` serialization) cannot be split: the
 * pool parallelises across files there, and across shards in `shards` mode.
 *
 * The worker is plain JavaScript passed as source (`eval: true`), so it needs no separate entry
 * point in the bundle and nothing to resolve at run time. Each task opens the file itself (with
 * `O_NOFOLLOW` unless the caller already resolved a permitted symlink), checks it is a regular
 * file, hashes `[start, end)` (or to end of file) in 1 MiB reads, and returns lowercase hex or an
 * errno-style code, never a stack or file contents.
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

const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const buffer = Buffer.allocUnsafe(1 << 20);
parentPort.on('message', (task) => {
  let fd;
  try {
    const flags = fs.constants.O_RDONLY | (task.noFollow ? (fs.constants.O_NOFOLLOW || 0) : 0);
    fd = fs.openSync(task.path, flags);
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw Object.assign(new Error('special'), { code: 'ESPECIAL' });
    const end = task.end < 0 ? st.size : task.end;
    const h = createHash('sha256');
    let pos = task.start;
    while (pos < end) {
      const n = fs.readSync(fd, buffer, 0, Math.min(buffer.length, end - pos), pos);
      if (n === 0) throw Object.assign(new Error('short'), { code: 'ESHORT' });
      h.update(buffer.subarray(0, n));
      pos += n;
    }
    parentPort.postMessage({ id: task.id, digest: h.digest('hex') });
  } catch (e) {
    parentPort.postMessage({ id: task.id, error: typeof e.code === 'string' ? e.code : 'EIO' });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
});
`;

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
  const workers = Array.from({ length: Math.max(1, Math.min(size, tasks.length)) }, () => {
    return new threads.Worker(WORKER_SOURCE, { eval: true });
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
              worker.postMessage({ ...tasks[id], id });
            };
            worker.on('message', (message: { id: number; digest?: string; error?: string }) => {
              results[message.id] =
                message.digest !== undefined ? { digest: message.digest } : { error: message.error ?? 'EIO' };
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
