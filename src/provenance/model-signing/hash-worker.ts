/**
 * The worker script of the provenance hashing pool (`hash-workers.ts`), built by tsup as
 * `dist/provenance/hash-worker.js`: hashes one byte range of one file per message with
 * `node:crypto` and answers with lowercase hex or an errno-style code, never a stack or file
 * contents.
 *
 * Each task opens the file itself (with `O_NOFOLLOW` unless the caller already resolved a
 * permitted symlink), checks it is a regular file, and hashes `[start, end)` (or to end of file)
 * in 1 MiB reads. Node built-ins are reached through `process.getBuiltinModule`, as elsewhere in
 * `src/provenance`, so no bundler sees a `node:` import.
 *
 * Deliberately not here: scheduling (`hash-workers.ts`), other hash algorithms.
 *
 * @module
 */

import type { RangeReply, RangeRequest } from './hash-workers.ts';

type Builtin = <T>(id: string) => T;
const builtin = (globalThis as { process?: { getBuiltinModule?: Builtin } }).process?.getBuiltinModule;
if (builtin === undefined)
  throw new Error('confide/provenance/hash-worker.js runs inside a Node worker thread');
const { parentPort } = builtin<typeof import('node:worker_threads')>('node:worker_threads');
const { createHash } = builtin<typeof import('node:crypto')>('node:crypto');
const fs = builtin<typeof import('node:fs')>('node:fs');
if (parentPort === null)
  throw new Error('confide/provenance/hash-worker.js runs inside a Node worker thread');
const port = parentPort;
const buffer = new Uint8Array(1 << 20);

/** An error with an errno-style code of its own (not a regular file, file shorter than listed). */
function coded(code: 'ESPECIAL' | 'ESHORT'): Error {
  return Object.assign(new Error(code), { code });
}

function hashRange(task: RangeRequest): string {
  const flags = fs.constants.O_RDONLY | (task.noFollow ? (fs.constants.O_NOFOLLOW ?? 0) : 0);
  const fd = fs.openSync(task.path, flags);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw coded('ESPECIAL');
    const end = task.end < 0 ? st.size : task.end;
    const h = createHash('sha256');
    let position = task.start;
    while (position < end) {
      const n = fs.readSync(fd, buffer, 0, Math.min(buffer.length, end - position), position);
      if (n === 0) throw coded('ESHORT');
      h.update(buffer.subarray(0, n));
      position += n;
    }
    return h.digest('hex');
  } finally {
    fs.closeSync(fd);
  }
}

port.on('message', (task: RangeRequest) => {
  let reply: RangeReply;
  try {
    reply = { id: task.id, digest: hashRange(task) };
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    reply = { id: task.id, error: typeof code === 'string' ? code : 'EIO' };
  }
  port.postMessage(reply);
});
