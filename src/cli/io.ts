/**
 * File effects of the CLI, in one place for every command group: the one I/O module every command
 * reads and writes through. A command group takes its functions from {@link createIo} with its
 * error namespace (`createIo('SMPC')`), so a failure is never reported in another group's codes.
 *
 * Reading: every input is read with a bounded reader that stops after `limit + 1` bytes, so
 * `/dev/zero`, a pipe or a FIFO costs at most the limit in memory (a `stat` size check alone would
 * not catch those). Each kind of input has a default limit ({@link INPUT_LIMITS}); the
 * `--max-input-bytes` flag ({@link addInputLimitOption}) replaces it for all inputs of a command.
 * A confide container streamed through a pipe or device is read by its header: a wrong magic or
 * declared sizes over the limit stop the read at once.
 *
 * Writing: {@link writeAtomic} writes a temporary file in the destination folder, created with
 * `open(…, 'wx', mode)` (mode 0600 for secrets from the first byte, never a chmod afterwards),
 * fsyncs it, moves it into place and fsyncs the folder. Without `overwrite` the move is a
 * `link()`, which fails when the destination exists, so an existing file is never replaced, not
 * even by a concurrent run (file systems without hard links fall back to a check then `rename`).
 * Secret files are only ever replaced when the user passed `--force`.
 *
 * Errors are coded in the namespace of the command group (`HE_*`, `SMPC_*`, `PROV_*`, always
 * given, never defaulted): `*_IO` for a
 * failed read or write (`PROV_PATH_NOT_FOUND` for a missing provenance input),
 * `*_INPUT_TOO_LARGE` for an input over its limit and `*_FILE_EXISTS` for a refused overwrite.
 *
 * Deliberately not here: streaming inputs (model folders are hashed by `confide/provenance`
 * without being held in memory) and any parsing of what is read.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { type FileHandle, link, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { concatBytes } from '@noble/hashes/utils.js';
import { type Command, InvalidArgumentError } from 'commander';
import { ConfideArgumentError, type ConfideError, HeError } from '../errors.ts';
import { ProvenanceError } from '../provenance/errors.ts';
import { SmpcError } from '../smpc/errors.ts';

/** The command group whose error namespace an I/O failure is reported in. */
export type IoScope = 'HE' | 'SMPC' | 'PROV';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Default size limits of CLI inputs, in bytes, by format. `--max-input-bytes` replaces them. */
export const INPUT_LIMITS = {
  /** PEM keys, certificates and chains, tokens, hex identity keys, password files. */
  key: 1 * MiB,
  /** JSON documents: attestations, policies, trusted roots, bundles, proofs, client lists. */
  json: 64 * MiB,
  /** Models (confide/linear-model@1 JSON or ONNX of a linear model). */
  model: 64 * MiB,
  /** CSV tables (the CSV reader also caps the number of cells). */
  csv: 256 * MiB,
  /** confide/he containers: secret keys, evaluation keys, encrypted batches and results. */
  container: 256 * MiB,
  /** Secure-aggregation inputs and payloads, log entries. */
  data: 256 * MiB,
} as const;

/** A kind of input, naming its default limit in {@link INPUT_LIMITS}. */
export type InputKind = keyof typeof INPUT_LIMITS;

/** The one flag that raises (or lowers) the input limits of a command. */
export const INPUT_LIMIT_FLAG = '--max-input-bytes';

/** How one read is bounded and reported. */
export interface ReadOptions {
  /** The error namespace of the command group. */
  readonly scope: IoScope;
  /** The kind of input, for its default limit (default `json`). */
  readonly kind?: InputKind;
  /** The limit from `--max-input-bytes`, replacing the kind's default when given. */
  readonly maxBytes?: number | undefined;
}

/** How one write is done. */
export interface WriteOptions {
  /** The error namespace of the command group. */
  readonly scope: IoScope;
  /** Mode 0600 (and a folder created for it 0700): for keys and other secrets. */
  readonly secret?: boolean;
  /** Replace an existing file (default false: refuse with `*_FILE_EXISTS`). */
  readonly overwrite?: boolean;
}

function scopedError(
  scope: IoScope,
  suffix: 'IO' | 'INPUT_TOO_LARGE' | 'FILE_EXISTS' | 'PATH_NOT_FOUND',
  message: string,
  cause?: unknown,
): ConfideError {
  const options = cause === undefined ? {} : { cause };
  if (scope === 'PROV') return new ProvenanceError(`PROV_${suffix}`, message, options);
  const shared = suffix === 'PATH_NOT_FOUND' ? 'IO' : suffix; // a missing file is *_IO outside PROV
  if (scope === 'SMPC') return new SmpcError(`SMPC_${shared}`, message, options);
  return new HeError(`HE_${shared}`, message, options);
}

function describeIoError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'no such file or folder';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a folder';
  if (code === 'ENOSPC') return 'no space left on the device';
  if (code === 'EEXIST') return 'it already exists';
  return typeof code === 'string' ? code : 'failed';
}

function readFailure(scope: IoScope, path: string, what: string, error: unknown): ConfideError {
  const code = (error as { code?: unknown } | null)?.code;
  const suffix = scope === 'PROV' && code === 'ENOENT' ? 'PATH_NOT_FOUND' : 'IO';
  return scopedError(scope, suffix, `cannot read the ${what} '${path}': ${describeIoError(error)}`, error);
}

/** Parses a `--max-input-bytes` value: a whole number of bytes, optionally with KiB/MiB/GiB. */
export function parseByteCount(value: string): number {
  const match = /^(\d{1,16})\s*(B|KiB|MiB|GiB)?$/.exec(value.trim());
  const factor = { B: 1, KiB, MiB, GiB: 1024 * MiB }[match?.[2] ?? 'B'] ?? 1;
  const n = match === null ? Number.NaN : Number(match[1]) * factor;
  // Buffers beyond 2^32 bytes cannot be decoded as text in one piece anyway.
  if (!Number.isSafeInteger(n) || n < 1 || n > 2 ** 32) {
    throw new InvalidArgumentError('expected a number of bytes from 1 to 4GiB (e.g. 1048576 or 512MiB)');
  }
  return n;
}

/** Adds `--max-input-bytes` to a command; its parsed value is `opts.maxInputBytes`. */
export function addInputLimitOption<T extends Command>(command: T): T {
  command.option(
    `${INPUT_LIMIT_FLAG} <bytes>`,
    'largest input file accepted, for every input of this command (default: by format, see README)',
    parseByteCount,
  );
  return command;
}

/**
 * Reads at most `limit + 1` bytes of `path` and fails when there were more: the memory used is
 * bounded by the limit whatever the file is (regular file, device, pipe, FIFO). Bytes are read in
 * chunks of at most 1 MiB (a regular file's stated size first) and joined once, at the end.
 */
async function readBounded(path: string, limit: number, container: boolean): Promise<Uint8Array | undefined> {
  const handle = await open(path, 'r');
  try {
    const info = await handle.stat();
    if (info.isFile() && info.size > limit) return undefined;
    if (container && !info.isFile()) return await readContainerStream(handle, limit);
    const chunks: Uint8Array[] = [];
    let total = 0;
    let next = info.isFile() ? info.size + 1 : 64 * KiB;
    for (;;) {
      const chunk = new Uint8Array(Math.min(next, limit + 1 - total));
      let filled = 0;
      while (filled < chunk.length) {
        const { bytesRead } = await handle.read(chunk, filled, chunk.length - filled, null);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      chunks.push(filled === chunk.length ? chunk : chunk.subarray(0, filled));
      total += filled;
      if (total > limit) return undefined;
      if (filled < chunk.length) break; // end of file
      next = MiB;
    }
    return chunks.length === 1 ? (chunks[0] as Uint8Array) : concatBytes(...chunks);
  } finally {
    await handle.close();
  }
}

/** Reads up to `n` bytes at a time from a stream-like file, with a small read-ahead buffer. */
class SequentialReader {
  readonly #handle: FileHandle;
  readonly #buffer = new Uint8Array(64 * KiB);
  #start = 0;
  #end = 0;

  constructor(handle: FileHandle) {
    this.#handle = handle;
  }

  /** `n` bytes, or fewer only at the end of the file. */
  async take(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      if (this.#start < this.#end) {
        const count = Math.min(n - filled, this.#end - this.#start);
        out.set(this.#buffer.subarray(this.#start, this.#start + count), filled);
        this.#start += count;
        filled += count;
        continue;
      }
      if (n - filled >= this.#buffer.length) {
        const { bytesRead } = await this.#handle.read(out, filled, n - filled, null);
        if (bytesRead === 0) break;
        filled += bytesRead;
        continue;
      }
      const { bytesRead } = await this.#handle.read(this.#buffer, 0, this.#buffer.length, null);
      if (bytesRead === 0) break;
      this.#start = 0;
      this.#end = bytesRead;
    }
    return filled === n ? out : out.subarray(0, filled);
  }
}

const CONTAINER_MAGIC = [0x43, 0x4e, 0x46, 0x44]; // "CNFD", see he/container.ts
const CONTAINER_HEADER_BYTES = 96;

/**
 * Reads a confide container from a file that is not a regular file (a pipe, a FIFO, a device),
 * following its header: a wrong magic, a metadata or item count over the format's maxima, or
 * declared lengths past the limit stop the read at once, instead of after `limit` bytes. What was
 * read is returned for `decodeContainer` to report precisely (`HE_CONTAINER_MALFORMED`,
 * `HE_CONTAINER_TRUNCATED`, …); undefined when the declared sizes exceed the limit.
 */
async function readContainerStream(handle: FileHandle, limit: number): Promise<Uint8Array | undefined> {
  const reader = new SequentialReader(handle);
  const parts: Uint8Array[] = [];
  let total = 0;
  const join = (): Uint8Array => concatBytes(...parts);
  const take = async (n: number): Promise<boolean> => {
    const bytes = await reader.take(n);
    parts.push(bytes);
    total += bytes.length;
    return bytes.length === n;
  };
  const u32 = (bytes: Uint8Array, at: number): number =>
    new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at, true);
  if (!(await take(Math.min(CONTAINER_HEADER_BYTES, limit + 1)))) return join();
  const header = parts[0] as Uint8Array;
  if (CONTAINER_MAGIC.some((b, i) => header[i] !== b) || header.length < CONTAINER_HEADER_BYTES) {
    return header.length > limit ? undefined : join();
  }
  const metadataLength = u32(header, 56);
  const itemCount = u32(header, 60);
  if (metadataLength > 64 * KiB || itemCount > 1 << 20) return join(); // the decoder's own limits
  if (CONTAINER_HEADER_BYTES + metadataLength + 4 * itemCount > limit) return undefined;
  if (!(await take(metadataLength))) return join();
  for (let i = 0; i < itemCount; i++) {
    if (!(await take(4))) return join();
    const length = u32(parts[parts.length - 1] as Uint8Array, 0);
    if (total + length + 4 * (itemCount - i - 1) > limit) return undefined;
    if (!(await take(length))) return join();
  }
  await take(1); // one trailing byte, if any, lets the decoder report trailing data
  return join();
}

/**
 * Reads a whole input file, bounded by its kind's limit or `maxBytes`.
 *
 * @throws `*_INPUT_TOO_LARGE` (naming `--max-input-bytes`), `*_IO`, `PROV_PATH_NOT_FOUND`.
 */
export async function readBytes(path: string, what: string, options: ReadOptions): Promise<Uint8Array> {
  const scope = options.scope;
  const limit = options.maxBytes ?? INPUT_LIMITS[options.kind ?? 'json'];
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readBounded(path, limit, options.kind === 'container');
  } catch (error) {
    throw readFailure(scope, path, what, error);
  }
  if (bytes === undefined) {
    throw scopedError(
      scope,
      'INPUT_TOO_LARGE',
      `the ${what} '${path}' is larger than ${limit} bytes; if it is genuine, raise the limit with ${INPUT_LIMIT_FLAG}`,
    );
  }
  return bytes;
}

/** Reads a whole UTF-8 text input file, bounded as {@link readBytes}. */
export async function readText(path: string, what: string, options: ReadOptions): Promise<string> {
  return new TextDecoder().decode(await readBytes(path, what, options));
}

/** Reads and parses a JSON input file; malformed JSON is `*_JSON_INVALID` (`INVALID_ARGUMENT` for HE/SMPC). */
export async function readJson(path: string, what: string, options: ReadOptions): Promise<unknown> {
  const text = await readText(path, what, options);
  try {
    return JSON.parse(text);
  } catch (cause) {
    const scope = options.scope;
    if (scope === 'PROV') {
      throw new ProvenanceError('PROV_JSON_INVALID', `the ${what} '${path}' is not JSON`, { cause });
    }
    throw new ConfideArgumentError('INVALID_ARGUMENT', `the ${what} '${path}' is not JSON`, { cause });
  }
}

/** Throws `*_FILE_EXISTS` when `path` exists: for commands that check before expensive work. */
export async function refuseExisting(path: string, what: string, scope: IoScope): Promise<void> {
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  if (exists) throw fileExists(scope, path, what);
}

function fileExists(scope: IoScope, path: string, what: string): ConfideError {
  return scopedError(
    scope,
    'FILE_EXISTS',
    `the ${what} '${path}' already exists; refusing to replace it (pass --force to replace it, and keep a copy if anything was made with it)`,
  );
}

async function syncFolder(folder: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(folder, 'r');
    await handle.sync();
  } catch (error) {
    // Some platforms (Windows) and file systems cannot fsync a folder; the file itself is synced.
    const code = (error as { code?: unknown } | null)?.code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw error;
  } finally {
    await handle?.close();
  }
}

const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']);

/**
 * Writes a file atomically and durably: a temporary file in the same folder (created with its
 * final mode), fsync, link or rename into place, fsync of the folder. An existing file is
 * refused with `*_FILE_EXISTS` unless `overwrite` is set; a reader never sees a partial file.
 *
 * @throws `*_FILE_EXISTS`, `*_IO`.
 */
export async function writeAtomic(
  path: string,
  data: Uint8Array | string,
  options: WriteOptions,
): Promise<void> {
  const scope = options.scope;
  const what = options.secret ? 'secret file' : 'file';
  const folder = dirname(path);
  const temporary = join(folder, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let created = false;
  try {
    await mkdir(folder, { recursive: true, mode: options.secret ? 0o700 : 0o755 });
    const handle = await open(temporary, 'wx', options.secret ? 0o600 : 0o644);
    created = true;
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.overwrite) {
      await rename(temporary, path);
      created = false;
    } else {
      try {
        await link(temporary, path); // fails with EEXIST: never replaces, even under a race
      } catch (error) {
        const code = (error as { code?: unknown } | null)?.code;
        if (typeof code !== 'string' || !NO_HARD_LINKS.has(code)) throw error;
        await refuseExisting(path, what, scope);
        await rename(temporary, path);
        created = false;
      }
    }
    await syncFolder(folder);
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === 'EEXIST' && created) {
      await unlink(temporary).catch(() => {});
      throw fileExists(scope, path, what);
    }
    if (created) await unlink(temporary).catch(() => {});
    if (error instanceof Error && 'code' in error && /^(HE|SMPC|PROV)_/.test(String(error.code))) throw error;
    throw scopedError(scope, 'IO', `cannot write '${path}': ${describeIoError(error)}`, error);
  }
  if (created) await unlink(temporary).catch(() => {});
}

/** The I/O functions of one command group, with its error namespace bound. */
export interface Io {
  readonly scope: IoScope;
  readBytes(path: string, what: string, options?: Omit<ReadOptions, 'scope'>): Promise<Uint8Array>;
  readText(path: string, what: string, options?: Omit<ReadOptions, 'scope'>): Promise<string>;
  readJson(path: string, what: string, options?: Omit<ReadOptions, 'scope'>): Promise<unknown>;
  refuseExisting(path: string, what: string): Promise<void>;
  writeAtomic(path: string, data: Uint8Array | string, options?: Omit<WriteOptions, 'scope'>): Promise<void>;
}

/**
 * The I/O functions for a command group: every error they throw is in `scope`'s namespace.
 *
 * @example
 * ```ts
 * const io = createIo('SMPC');
 * const token = await io.readText(flags.tokenFile, 'token file', { kind: 'key' }); // SMPC_IO if missing
 * ```
 */
export function createIo(scope: IoScope): Io {
  if (scope !== 'HE' && scope !== 'SMPC' && scope !== 'PROV') {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `unknown I/O scope ${String(scope)}; use HE, SMPC or PROV`,
    );
  }
  return {
    scope,
    readBytes: (path, what, options = {}) => readBytes(path, what, { ...options, scope }),
    readText: (path, what, options = {}) => readText(path, what, { ...options, scope }),
    readJson: (path, what, options = {}) => readJson(path, what, { ...options, scope }),
    refuseExisting: (path, what) => refuseExisting(path, what, scope),
    writeAtomic: (path, data, options = {}) => writeAtomic(path, data, { ...options, scope }),
  };
}
