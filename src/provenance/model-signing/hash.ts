/**
 * Hashing of files and model trees, as OpenSSF model_signing v1 serialises them: one SHA-256 per
 * regular file (`files`) or per byte range (`shards`), names relative to the model root, the
 * result a {@link ModelManifest} whose root digest matches the Python reference's goldens. This
 * module lists and reads the disk; the manifest itself (options, ignore set, resource names and
 * order, serialization, root) comes from the one builder, `build-manifest.ts`, which
 * `hash-bytes.ts` uses for models given as bytes.
 *
 * Safety rules (each with its own code):
 * - a symbolic link is refused (`PROV_SYMLINK_REFUSED`) unless `allowSymlinks`; even then a link
 *   to a directory is refused, and a link whose target lies outside the model tree is refused
 *   (`PROV_PATH_TRAVERSAL`) unless `allowSymlinksOutsideTree` (needed only to reproduce Python's
 *   `allow_symlinks=True` behaviour, which follows links anywhere);
 * - ignore paths are relative to the model root; `..`, absolute paths and empty paths are refused
 *   (`PROV_PATH_TRAVERSAL` / `INVALID_ARGUMENT`). Ignoring is by whole path component (`a` ignores
 *   `a` and `a/…`, not `ab`), checked before the symlink rule, so an ignored link is no error;
 * - `.git`, `.gitattributes`, `.github` and `.gitignore` at the model root are ignored unless
 *   `ignoreGitPaths: false`, so a `.git` folder is never signed by accident;
 * - names are read as bytes and must be valid UTF-8 (`PROV_NAME_INVALID`); they are written with
 *   `/` separators and kept otherwise byte-exact (no Unicode normalisation, which would change
 *   what model_signing signs);
 * - devices, sockets and FIFOs are refused (`PROV_SPECIAL_FILE`); files are opened with
 *   `O_NOFOLLOW` where the platform has it, so a file swapped for a link after listing is not read.
 *
 * SHA-256 comes from `../common/sha256.ts` (`node:crypto` where the host has it, else
 * `@noble/hashes`). Filesystem functions import `node:fs` lazily and throw
 * `PROV_UNSUPPORTED_PLATFORM` without it.
 *
 * With `workers: N` the hashing runs on N worker threads (`hash-workers.ts`, Node only, always
 * `node:crypto`): files in parallel, and in `shards` mode every shard in parallel, which is how a
 * single large file uses all cores. A `files` digest of one file stays sequential (SHA-256 is).
 *
 * `onProgress(bytesDone, bytesTotal, files)` reports the bytes hashed (for a progress bar); it
 * changes nothing in the manifest.
 *
 * Like model_signing (a recursive pathlib glob), hidden files are included unless ignored.
 *
 * Deliberately not here: blake2b/blake3 manifests.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertBoolean, assertInteger, assertString } from '../../internal/assert.ts';
import { toHex } from '../common/bytes.ts';
import { createSha256, type HashBackend } from '../common/sha256.ts';
import { ProvenanceError, type ProvenanceErrorCode } from '../errors.ts';
import {
  buildManifest,
  type HashedFile,
  isIgnored,
  type ManifestOptions,
  type ManifestPlan,
  planManifest,
  shardRanges,
} from './build-manifest.ts';
import { type ModelManifest, normaliseRelativePath } from './manifest.ts';

export { createSha256, type HashBackend, type IncrementalHash, sha256Hex } from '../common/sha256.ts';
export { normaliseRelativePath } from './manifest.ts';

/** Options of {@link hashModel}. */
/** Options of {@link hashModel}: the serialization ({@link ManifestOptions}) and how to read the disk. */
export interface HashModelOptions extends ManifestOptions {
  /** Hash the target of file symlinks under the link's name (default false: refuse links). */
  readonly allowSymlinks?: boolean;
  /** With `allowSymlinks`, also follow links that point outside the tree (default false). */
  readonly allowSymlinksOutsideTree?: boolean;
  /** Files read at the same time on the main thread (default 4). */
  readonly concurrency?: number;
  /**
   * Hash on this many worker threads (Node only; `node:crypto`): files in parallel, and in
   * `shards` mode every shard in parallel. 0 (the default) hashes on the calling thread.
   */
  readonly workers?: number;
  readonly backend?: HashBackend;
  readonly signal?: AbortSignal;
  /**
   * Called as bytes are hashed: once with `(0, bytesTotal, files)` when the files are listed,
   * then after every chunk read (at most 1 MiB) with the bytes done so far. With `workers`, only
   * at the start and the end. `bytesTotal` is the sum of the sizes stat'ed before hashing.
   */
  readonly onProgress?: HashProgressCallback;
}

/** The progress callback of {@link hashModel}: bytes hashed so far, bytes in all, files in all. */
export type HashProgressCallback = (bytesDone: number, bytesTotal: number, files: number) => void;

/**
 * The path of `inner` relative to the directory `root` (normalised, `/` separators), or
 * `undefined` when it lies outside `root` or is `root` itself. Used to ignore a signature file
 * written inside the model it signs.
 */
export async function relativeInside(root: string, inner: string): Promise<string | undefined> {
  const { path } = await loadFs();
  const rel = path.relative(path.resolve(root), path.resolve(inner));
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return undefined;
  return normaliseRelativePath(rel.split(path.sep).join('/'), 'signature path');
}

async function loadFs(): Promise<{
  fs: typeof import('node:fs/promises');
  path: typeof import('node:path');
  constants: typeof import('node:fs').constants;
}> {
  try {
    const [fs, path, fsSync] = await Promise.all([
      import('node:fs/promises'),
      import('node:path'),
      import('node:fs'),
    ]);
    return { fs, path, constants: fsSync.constants };
  } catch (cause) {
    throw new ProvenanceError('PROV_UNSUPPORTED_PLATFORM', 'hashing files needs a Node.js filesystem', {
      cause,
    });
  }
}

function ioError(what: string, cause: unknown): ProvenanceError {
  const code = (cause as { code?: unknown } | null)?.code;
  if (code === 'ENOENT')
    return new ProvenanceError('PROV_PATH_NOT_FOUND', `${what}: no such file or directory`, { cause });
  if (code === 'ELOOP')
    return new ProvenanceError('PROV_SYMLINK_REFUSED', `${what} became a symbolic link`, { cause });
  return new ProvenanceError('PROV_IO', `${what}: ${typeof code === 'string' ? code : 'read failed'}`, {
    cause,
  });
}

interface Entry {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  readonly follow: boolean;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

async function listEntries(
  root: string,
  options: Required<Pick<HashModelOptions, 'allowSymlinks' | 'allowSymlinksOutsideTree'>>,
  plan: ManifestPlan,
  signal: AbortSignal | undefined,
): Promise<Entry[]> {
  const { fs, path } = await loadFs();
  let rootReal: string;
  try {
    rootReal = await fs.realpath(root);
  } catch (cause) {
    throw ioError('model path', cause);
  }
  const out: Entry[] = [];
  const walk = async (dir: string, relDir: string): Promise<void> => {
    signal?.throwIfAborted();
    let dirents: import('node:fs').Dirent<Buffer>[];
    try {
      dirents = await fs.readdir(dir, { withFileTypes: true, encoding: 'buffer' });
    } catch (cause) {
      throw ioError(relDir === '' ? 'model directory' : relDir, cause);
    }
    for (const d of dirents) {
      let name: string;
      try {
        name = utf8Strict.decode(d.name);
      } catch {
        throw new ProvenanceError(
          'PROV_NAME_INVALID',
          `a file name in '${relDir || '.'}' is not valid UTF-8`,
        );
      }
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      if (isIgnored(rel, plan)) continue;
      const full = path.join(dir, name);
      if (d.isSymbolicLink()) {
        if (!options.allowSymlinks) {
          throw new ProvenanceError(
            'PROV_SYMLINK_REFUSED',
            `'${rel}' is a symbolic link; links are refused by default`,
          );
        }
        let target: string;
        let st: import('node:fs').Stats;
        try {
          target = await fs.realpath(full);
          st = await fs.stat(target);
        } catch (cause) {
          throw ioError(rel, cause);
        }
        const inside = target === rootReal || target.startsWith(rootReal + path.sep);
        if (!inside && !options.allowSymlinksOutsideTree) {
          throw new ProvenanceError(
            'PROV_PATH_TRAVERSAL',
            `'${rel}' is a symbolic link that points outside the model`,
          );
        }
        if (!st.isFile())
          throw new ProvenanceError(
            'PROV_SYMLINK_REFUSED',
            `'${rel}' links to something that is not a regular file`,
          );
        out.push({ name: rel, path: target, size: st.size, follow: true });
      } else if (d.isDirectory()) {
        await walk(full, rel);
      } else if (d.isFile()) {
        out.push({ name: rel, path: full, size: -1, follow: false });
      } else {
        throw new ProvenanceError('PROV_SPECIAL_FILE', `'${rel}' is not a regular file or directory`);
      }
    }
  };
  await walk(root, '');
  return out;
}

/** Hashes byte ranges of one file; each range gets its own digest. */
async function hashRanges(
  entry: Entry,
  ranges: readonly (readonly [number, number])[],
  backend: HashBackend,
  signal: AbortSignal | undefined,
  onBytes?: (n: number) => void,
): Promise<{ digests: string[]; size: number }> {
  const { fs, constants } = await loadFs();
  const flags = constants.O_RDONLY | (entry.follow ? 0 : (constants.O_NOFOLLOW ?? 0));
  let handle: import('node:fs/promises').FileHandle;
  try {
    handle = await fs.open(entry.path, flags);
  } catch (cause) {
    throw ioError(entry.name, cause);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new ProvenanceError('PROV_SPECIAL_FILE', `'${entry.name}' is not a regular file`);
    const buffer = new Uint8Array(1 << 20);
    const digests: string[] = [];
    const plan = ranges.length > 0 ? ranges : [[0, st.size] as const];
    for (const [start, end] of plan) {
      const h = createSha256(backend);
      let position = start;
      while (position < end) {
        signal?.throwIfAborted();
        const want = Math.min(buffer.length, end - position);
        const { bytesRead } = await handle.read(buffer, 0, want, position);
        if (bytesRead === 0)
          throw new ProvenanceError('PROV_IO', `'${entry.name}' changed size while being hashed`);
        h.update(buffer.subarray(0, bytesRead));
        position += bytesRead;
        onBytes?.(bytesRead);
      }
      digests.push(toHex(h.digest()));
    }
    return { digests, size: st.size };
  } catch (cause) {
    if (cause instanceof ProvenanceError || (cause as { name?: unknown })?.name === 'AbortError') throw cause;
    throw ioError(entry.name, cause);
  } finally {
    await handle.close();
  }
}

async function entrySize(e: Entry): Promise<number> {
  if (e.size >= 0) return e.size;
  const { fs } = await loadFs();
  const st = await fs.stat(e.path).catch((cause: unknown) => {
    throw ioError(e.name, cause);
  });
  return st.size;
}

const WORKER_ERRORS: Readonly<Record<string, [ProvenanceErrorCode, string]>> = {
  ENOENT: ['PROV_PATH_NOT_FOUND', 'disappeared while being hashed'],
  ELOOP: ['PROV_SYMLINK_REFUSED', 'became a symbolic link'],
  ESPECIAL: ['PROV_SPECIAL_FILE', 'is not a regular file'],
  ESHORT: ['PROV_IO', 'changed size while being hashed'],
};

/** Hashes entries on worker threads: whole files, or every shard as its own task. */
async function hashOnWorkers(
  entries: readonly Entry[],
  plan: ManifestPlan,
  workers: number,
  signal: AbortSignal | undefined,
): Promise<HashedFile[]> {
  const { hashRangesOnWorkers } = await import('./hash-workers.ts');
  const tasks: { entry: Entry; start: number; end: number }[] = [];
  const planned: { entry: Entry; ranges: [number, number][] | undefined }[] = [];
  for (const e of entries) {
    const ranges = plan.method === 'files' ? undefined : shardRanges(plan, await entrySize(e));
    planned.push({ entry: e, ranges });
    if (ranges === undefined) tasks.push({ entry: e, start: 0, end: -1 });
    else for (const [a, b] of ranges) tasks.push({ entry: e, start: a, end: b });
  }
  const results = await hashRangesOnWorkers(
    tasks.map((t) => ({ path: t.entry.path, start: t.start, end: t.end, noFollow: !t.entry.follow })),
    workers,
    signal,
  );
  const digests = tasks.map((t, i) => {
    const r = results[i];
    if (r === undefined || 'error' in r) {
      const code = r === undefined ? 'EIO' : r.error;
      const [prov, what] = WORKER_ERRORS[code] ?? ['PROV_IO', `could not be read (${code})`];
      throw new ProvenanceError(prov, `'${t.entry.name}' ${what}`);
    }
    return r.digest;
  });
  let next = 0;
  return planned.map(({ entry, ranges }) =>
    ranges === undefined
      ? { name: entry.name, digest: digests[next++] ?? '' }
      : { name: entry.name, shards: ranges.map(([a, b]) => [a, b, digests[next++] ?? ''] as const) },
  );
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * SHA-256 of one file, streamed (lowercase hex).
 *
 * @throws {ProvenanceError} `PROV_PATH_NOT_FOUND`, `PROV_SYMLINK_REFUSED` (the path is a link),
 *   `PROV_SPECIAL_FILE`, `PROV_IO`, `PROV_UNSUPPORTED_PLATFORM`.
 */
export async function hashFile(
  filePath: string,
  options: { backend?: HashBackend; signal?: AbortSignal } = {},
): Promise<string> {
  assertString(filePath, 'filePath');
  const { digests } = await hashRanges(
    { name: filePath, path: filePath, size: -1, follow: false },
    [],
    options.backend ?? 'auto',
    options.signal,
  );
  return digests[0] ?? '';
}

/**
 * Hashes a model (a file or a directory tree) into a model_signing v1 manifest.
 *
 * @throws {ProvenanceError} `PROV_PATH_NOT_FOUND`, `PROV_SYMLINK_REFUSED`, `PROV_PATH_TRAVERSAL`,
 *   `PROV_NAME_INVALID`, `PROV_SPECIAL_FILE`, `PROV_IO`, `PROV_HASH_UNSUPPORTED`,
 *   `PROV_UNSUPPORTED_PLATFORM`; `INVALID_ARGUMENT` for malformed options.
 * @example
 * ```ts
 * const manifest = await hashModel('models/resnet', { ignorePaths: ['README.md'] });
 * manifest.rootDigest; // 64 hex characters
 * ```
 */
export async function hashModel(modelPath: string, options: HashModelOptions = {}): Promise<ModelManifest> {
  assertString(modelPath, 'modelPath');
  const allowSymlinks = assertBoolean(options.allowSymlinks ?? false, 'allowSymlinks');
  const plan = planManifest(options, allowSymlinks);
  const allowSymlinksOutsideTree = assertBoolean(
    options.allowSymlinksOutsideTree ?? false,
    'allowSymlinksOutsideTree',
  );
  const concurrency = assertInteger(options.concurrency ?? 4, 'concurrency', 1, 256);
  const workers = assertInteger(options.workers ?? 0, 'workers', 0, 256);
  const backend = options.backend ?? 'auto';
  const onProgress = options.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'onProgress must be a function', {
      fields: ['onProgress'],
    });
  }

  const { fs, path } = await loadFs();
  let st: import('node:fs').Stats;
  try {
    st = await fs.lstat(modelPath);
  } catch (cause) {
    throw ioError('model path', cause);
  }
  const subjectName = path.basename(path.resolve(modelPath));
  let entries: Entry[];
  if (st.isSymbolicLink()) {
    if (!allowSymlinks) {
      throw new ProvenanceError(
        'PROV_SYMLINK_REFUSED',
        'the model path is a symbolic link; links are refused by default',
      );
    }
    const target = await fs.realpath(modelPath).catch((cause: unknown) => {
      throw ioError('model path', cause);
    });
    const tst = await fs.stat(target);
    if (!tst.isFile())
      throw new ProvenanceError('PROV_SYMLINK_REFUSED', 'the model path links to a directory');
    entries = [{ name: '.', path: target, size: tst.size, follow: true }];
  } else if (st.isFile()) {
    entries = [{ name: '.', path: modelPath, size: st.size, follow: false }];
  } else if (st.isDirectory()) {
    entries = await listEntries(modelPath, { allowSymlinks, allowSymlinksOutsideTree }, plan, options.signal);
  } else {
    throw new ProvenanceError('PROV_SPECIAL_FILE', 'the model path is not a regular file or directory');
  }

  let onBytes: ((n: number) => void) | undefined;
  let bytesTotal = 0;
  if (onProgress !== undefined) {
    const sizes = await mapLimit(entries, concurrency, entrySize);
    bytesTotal = sizes.reduce((a, b) => a + b, 0);
    let bytesDone = 0;
    onProgress(0, bytesTotal, entries.length);
    onBytes = (n) => {
      bytesDone += n;
      onProgress(bytesDone, bytesTotal, entries.length);
    };
  }
  const files =
    workers > 0
      ? await hashOnWorkers(entries, plan, workers, options.signal)
      : await mapLimit(entries, concurrency, async (e): Promise<HashedFile> => {
          if (plan.method === 'files') {
            const { digests } = await hashRanges(e, [], backend, options.signal, onBytes);
            return { name: e.name, digest: digests[0] ?? '' };
          }
          const ranges = shardRanges(plan, await entrySize(e)) ?? [];
          if (ranges.length === 0) return { name: e.name, shards: [] };
          const { digests } = await hashRanges(e, ranges, backend, options.signal, onBytes);
          return { name: e.name, shards: ranges.map(([a, b], i) => [a, b, digests[i] ?? ''] as const) };
        });
  if (workers > 0) onProgress?.(bytesTotal, bytesTotal, entries.length);
  return buildManifest(plan, subjectName, files);
}
