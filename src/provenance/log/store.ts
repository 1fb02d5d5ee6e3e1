/**
 * The file-backed store of the local log (Node only): a directory holding
 *
 * - `log.json`: `{ "format": "confide-log/v1", "origin": …, "verifierKey": "<name>+<id>+<key>" }`;
 * - `leaves`: the 32-byte leaf hashes, oldest first, only ever appended to (`O_APPEND`);
 * - `checkpoints/<size>`: every checkpoint the log signed, as C2SP signed notes, so proofs can be
 *   served against any earlier size; `checkpoint` is a copy of the latest.
 *
 * Opening a store checks it before anything is trusted: `leaves` is a whole number of hashes, the
 * latest checkpoint verifies with the recorded key, and its root is the root of that many leaves
 * (`PROV_LOG_CORRUPT` otherwise, e.g. when someone rewrote `leaves`). Leaves written after the
 * latest checkpoint (a crash between the two writes) are kept and signed by the next append.
 * Checkpoints are written to a temporary file, linked as `checkpoints/<size>` and renamed over
 * `checkpoint`, so a crash leaves either the old or the new checkpoint, never a torn one; leaves
 * are flushed (`datasync`) before the checkpoint covering them is signed. `open(dir, { repairTail:
 * true })` drops a torn last append (leaves past the signed checkpoint that are not a whole hash).
 *
 * The store keeps the tree and the latest checkpoint in memory.
 * `appendLeafHashes(…, { syncCheckpoint: false })` (the receipt log) keeps the leaves file open
 * until {@link LogStore.close} and flushes only the leaves: one `datasync` per append. Its checkpoints are not flushed, which loses nothing handed out, because
 * a checkpoint is a pure function of the durable leaves and the key (the C2SP note has no time and
 * Ed25519 signatures are deterministic): a store opened with `{ repairTail: true, key }` after a
 * crash falls back to the newest checkpoint file that still verifies, signs the whole durable tree
 * again, and re-signs on request, byte for byte, any checkpoint above that fallback whose file the
 * crash lost. One writer at a time: the store takes no lock (`receipt/log.ts` serializes the
 * appends of a server).
 *
 * Deliberately not here: the Merkle and note logic (`log.ts`, `merkle.ts`, `checkpoint.ts`),
 * verification of proof files (`log-verify.ts`), concurrency control, pruning.
 *
 * @module
 */

import { toHex } from '../../internal/bytes.ts';
import type { PrivateKey } from '../common/keys.ts';
import { createSha256 } from '../common/sha256.ts';
import { ProvenanceError } from '../errors.ts';
import {
  type NoteVerifier,
  noteVerifierKey,
  parseNoteVerifierKey,
  sameTreeHead,
  verifyCheckpoint,
} from './checkpoint.ts';
import { HASH_SIZE } from './merkle.ts';
import { MerkleLog } from './signed-log.ts';
import type { LogProof } from './verify.ts';

const FORMAT = 'confide-log/v1';

type Fs = typeof import('node:fs/promises');

/** The synchronous `node:fs` (loaded with the store; Node only). */
function syncFs(): typeof import('node:fs') {
  return process.getBuiltinModule('node:fs');
}
type Path = typeof import('node:path');

async function load(): Promise<{ fs: Fs; path: Path }> {
  try {
    const [fs, path] = await Promise.all([import('node:fs/promises'), import('node:path')]);
    return { fs, path };
  } catch (cause) {
    throw new ProvenanceError('PROV_UNSUPPORTED_PLATFORM', 'the log store needs a Node.js filesystem', {
      cause,
    });
  }
}

function corrupt(message: string, cause?: unknown): never {
  throw new ProvenanceError('PROV_LOG_CORRUPT', message, cause === undefined ? {} : { cause });
}

/**
 * Reads one file of a log directory: a regular file (a device or FIFO planted in the folder is
 * refused, not read for ever) of at most `maxBytes` when given.
 */
async function readLogFile(fs: Fs, file: string, maxBytes?: number): Promise<Uint8Array> {
  const handle = await fs.open(file, 'r');
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new ProvenanceError('PROV_SPECIAL_FILE', `'${file}' is not a regular file`);
    if (maxBytes !== undefined && info.size > maxBytes) {
      throw new ProvenanceError('PROV_LOG_CORRUPT', `'${file}' is larger than ${maxBytes} bytes`);
    }
    return new Uint8Array(await handle.readFile());
  } finally {
    await handle.close();
  }
}

/** The newest `checkpoints/<size>` file (size ≤ `max`) that passes `check`. */
async function newestCheckpointFile<T>(
  fs: Fs,
  dir: string,
  check: (text: string) => T | undefined,
  max: number,
): Promise<{ checkpoint: T; note: string } | undefined> {
  const sizes = (await fs.readdir(dir).catch(() => [] as string[]))
    .filter((n) => /^(0|[1-9][0-9]{0,15})$/.test(n) && Number(n) <= max)
    .map(Number)
    .sort((a, b) => b - a);
  for (const size of sizes) {
    const note = await fs.readFile(`${dir}/${size}`, 'utf8').catch(() => undefined);
    const checkpoint = note === undefined ? undefined : check(note);
    if (checkpoint !== undefined && note !== undefined) return { checkpoint, note };
  }
  return undefined;
}

/** Writes `text` to `file` and flushes it to disk before returning. */
async function writeDurably(fs: Fs, file: string, text: string): Promise<void> {
  const handle = await fs.open(file, 'w');
  try {
    await handle.writeFile(text);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

function ioError(what: string, cause: unknown): ProvenanceError {
  const code = (cause as { code?: unknown } | null)?.code;
  return new ProvenanceError(
    code === 'ENOENT' ? 'PROV_PATH_NOT_FOUND' : 'PROV_IO',
    `${what}${typeof code === 'string' ? ` (${code})` : ''}`,
    { cause },
  );
}

/**
 * The leaf hash `SHA-256(0x00 ‖ bytes)` of a regular file, streamed (for large entries). Devices,
 * FIFOs and sockets are refused: an endless one would be hashed for ever.
 *
 * @throws {ProvenanceError} `PROV_PATH_NOT_FOUND`, `PROV_SPECIAL_FILE`, `PROV_IO`.
 */
export async function leafHashOfFile(filePath: string): Promise<Uint8Array> {
  const { open } = await import('node:fs/promises');
  const h = createSha256();
  h.update(Uint8Array.of(0x00));
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(filePath, 'r');
    if (!(await handle.stat()).isFile()) {
      throw new ProvenanceError(
        'PROV_SPECIAL_FILE',
        `'${filePath}' is not a regular file; log entries are files`,
      );
    }
    for await (const chunk of handle.createReadStream({ highWaterMark: 1 << 20, autoClose: false })) {
      h.update(chunk as Uint8Array);
    }
  } catch (cause) {
    if (cause instanceof ProvenanceError) throw cause;
    throw ioError(`cannot read '${filePath}'`, cause);
  } finally {
    await handle?.close();
  }
  return h.digest();
}

type Handle = Awaited<ReturnType<Fs['open']>>;

/** Distinct names for the temporary checkpoint files of one process. */
let temporaries = 0;

/** Options of {@link LogStore.open}. */
export interface LogStoreOpenOptions {
  /** Drop a torn last append (leaves past the signed checkpoint that are not a whole hash). */
  readonly repairTail?: boolean;
  /**
   * The log's signing key, for a writer that appends without flushing checkpoints: with
   * `repairTail`, a latest checkpoint that a crash tore is replaced by signing the durable tree
   * again, and lost checkpoints above the newest one still on disk are re-signed on request.
   */
  readonly key?: PrivateKey;
}

/** A local log directory, opened and checked. */
export class LogStore {
  readonly dir: string;
  readonly log: MerkleLog;
  readonly verifier: NoteVerifier;
  /** Size of the latest signed checkpoint. */
  #signedSize: number;
  /** The latest signed checkpoint (note text), once known. */
  #latest: string | undefined;
  /** The leaves file, open for appending while the store appends. */
  #handle: Handle | undefined;
  /** With a key after a crash repair: checkpoints above this size may be re-signed on request. */
  #resignAbove = Number.POSITIVE_INFINITY;
  #key: PrivateKey | undefined;
  /** Set when a failed append could not be undone: the leaves file no longer matches memory. */
  #broken = false;
  readonly #fs: Fs;
  readonly #path: Path;

  private constructor(
    dir: string,
    log: MerkleLog,
    verifier: NoteVerifier,
    signedSize: number,
    fs: Fs,
    path: Path,
  ) {
    this.dir = dir;
    this.log = log;
    this.verifier = verifier;
    this.#signedSize = signedSize;
    this.#fs = fs;
    this.#path = path;
  }

  /** Size of the latest signed checkpoint. */
  get signedSize(): number {
    return this.#signedSize;
  }

  /** True when `dir` holds a log (`log.json` exists). */
  static async exists(dir: string): Promise<boolean> {
    const { fs, path } = await load();
    return fs.stat(path.join(dir, 'log.json')).then(
      () => true,
      () => false,
    );
  }

  /**
   * Creates an empty log in `dir` (created if missing; must not already hold a log) and signs its
   * first checkpoint (size 0).
   *
   * @throws {ProvenanceError} `PROV_IO` (exists, unwritable), `PROV_KEY_INVALID`,
   *   `PROV_ALGORITHM_UNSUPPORTED` (the key must be Ed25519).
   */
  static async create(dir: string, origin: string, key: PrivateKey): Promise<LogStore> {
    const { fs, path } = await load();
    const log = new MerkleLog(origin);
    const verifierKey = noteVerifierKey(origin, key.publicKey);
    try {
      await fs.mkdir(path.join(dir, 'checkpoints'), { recursive: true });
      await fs.writeFile(
        path.join(dir, 'log.json'),
        `${JSON.stringify({ format: FORMAT, origin, verifierKey }, null, 2)}\n`,
        {
          flag: 'wx',
        },
      );
      await fs.writeFile(path.join(dir, 'leaves'), new Uint8Array(), { flag: 'wx' });
    } catch (cause) {
      throw ioError(`cannot create a log in '${dir}' (does it already hold one?)`, cause);
    }
    const store = new LogStore(dir, log, parseNoteVerifierKey(verifierKey), 0, fs, path);
    await store.#writeCheckpoint(log.signCheckpoint(key, 0), 0, true);
    return store;
  }

  /**
   * Opens and checks a log directory.
   *
   * @throws {ProvenanceError} `PROV_PATH_NOT_FOUND`, `PROV_IO`, `PROV_LOG_CORRUPT`,
   *   `PROV_SPECIAL_FILE` (a log file that is not a regular file), `PROV_KEY_INVALID` (`key` is
   *   not the log's key).
   */
  static async open(dir: string, options: LogStoreOpenOptions = {}): Promise<LogStore> {
    const { fs, path } = await load();
    let config: unknown;
    try {
      const bytes = await readLogFile(fs, path.join(dir, 'log.json'), 1 << 20);
      config = JSON.parse(new TextDecoder().decode(bytes));
    } catch (cause) {
      if (cause instanceof ProvenanceError) throw cause;
      if (cause instanceof SyntaxError) corrupt(`'${dir}/log.json' is not JSON`, cause);
      throw ioError(`'${dir}' is not a confide log (no readable log.json)`, cause);
    }
    const c = config as { format?: unknown; origin?: unknown; verifierKey?: unknown };
    if (c?.format !== FORMAT || typeof c.origin !== 'string' || typeof c.verifierKey !== 'string') {
      corrupt(`'${dir}/log.json' is not a ${FORMAT} configuration`);
    }
    let verifier: NoteVerifier;
    try {
      verifier = parseNoteVerifierKey(c.verifierKey);
    } catch (cause) {
      return corrupt(`'${dir}/log.json' holds an invalid verifier key`, cause);
    }
    if (verifier.name !== c.origin) corrupt(`'${dir}/log.json': the verifier key is not named by the origin`);
    const key = options.key;
    if (key !== undefined && noteVerifierKey(c.origin, key.publicKey) !== c.verifierKey) {
      throw new ProvenanceError('PROV_KEY_INVALID', `the log in '${dir}' is signed by another key`);
    }
    const recover = options.repairTail === true && key !== undefined;
    let raw: Uint8Array;
    let note: string | undefined;
    try {
      raw = await readLogFile(fs, path.join(dir, 'leaves'));
      note = await readLogFile(fs, path.join(dir, 'checkpoint'), 1 << 20).then(
        (b) => new TextDecoder().decode(b),
        (cause: unknown) => {
          if (recover && !(cause instanceof ProvenanceError)) return undefined;
          throw cause;
        },
      );
    } catch (cause) {
      if (cause instanceof ProvenanceError) throw cause;
      throw ioError(`cannot read the log in '${dir}'`, cause);
    }
    if (raw.length % HASH_SIZE !== 0) {
      if (options.repairTail !== true)
        corrupt(`'${dir}/leaves' is not a whole number of 32-byte hashes (truncated?)`);
      // A crash tore the last append: those leaves were never signed nor handed out; drop them.
      raw = raw.subarray(0, raw.length - (raw.length % HASH_SIZE));
      try {
        await fs.truncate(path.join(dir, 'leaves'), raw.length);
      } catch (cause) {
        throw ioError(`cannot repair '${dir}/leaves'`, cause);
      }
    }
    const leaves: Uint8Array[] = [];
    for (let i = 0; i < raw.length; i += HASH_SIZE) leaves.push(raw.slice(i, i + HASH_SIZE));
    const log = new MerkleLog(c.origin, leaves);
    const check = (text: string | undefined): ReturnType<typeof verifyCheckpoint> | undefined => {
      if (text === undefined) return undefined;
      try {
        return verifyCheckpoint(text, verifier, c.origin as string);
      } catch {
        return undefined;
      }
    };
    let signed = check(note);
    let repaired = false;
    if (signed === undefined) {
      if (!recover) corrupt(`the latest checkpoint in '${dir}' does not verify with the log's key`);
      // A crash tore the latest checkpoint (they are not flushed): fall back to the newest
      // checkpoint file that still verifies, and sign the durable tree again below.
      const fallback = await newestCheckpointFile(fs, path.join(dir, 'checkpoints'), check, log.size);
      if (fallback === undefined) corrupt(`no checkpoint in '${dir}' verifies with the log's key`);
      signed = fallback.checkpoint;
      note = fallback.note;
      repaired = true;
    }
    if (signed.size > log.size)
      corrupt(`the latest checkpoint covers ${signed.size} entries but only ${log.size} are stored`);
    if (!sameTreeHead(signed, log.checkpoint(signed.size))) {
      corrupt(
        `the stored entries do not hash to the latest checkpoint's root: '${dir}/leaves' was rewritten`,
      );
    }
    const store = new LogStore(dir, log, verifier, signed.size, fs, path);
    store.#latest = note;
    if (key !== undefined) {
      store.#key = key;
      if (recover && (repaired || log.size > signed.size)) {
        // Checkpoints above the newest one on disk may have been handed out and lost: any of them
        // is re-signed, byte for byte, on request; the whole durable tree is signed now.
        store.#resignAbove = signed.size;
        await store.#writeCheckpoint(log.signCheckpoint(key), log.size, true);
      } else if (recover && signed.size > 0) {
        // A gap left by an earlier repair (lost checkpoints are re-signed, not written): the
        // newest checkpoint file below the latest bounds it.
        const below = await newestCheckpointFile(fs, path.join(dir, 'checkpoints'), check, signed.size - 1);
        store.#resignAbove = below?.checkpoint.size ?? 0;
      }
    }
    return store;
  }

  async #writeCheckpoint(note: string, size: number, sync: boolean): Promise<void> {
    const fs = this.#fs;
    const path = this.#path;
    const tmp = path.join(this.dir, `.checkpoint.${process.pid}.${++temporaries}.tmp`);
    const latest = size >= this.#signedSize;
    try {
      // Both files appear whole or not at all: one temporary file, linked as checkpoints/<size>
      // and renamed over the latest (flushed first unless the caller flushes the leaves only).
      const copy = path.join(this.dir, 'checkpoints', String(size));
      if (!sync && latest) {
        // Unflushed: page-cache and metadata calls of microseconds, made in place rather than as
        // four trips through the thread pool, each of which waits for this thread under load.
        const now = syncFs();
        now.writeFileSync(tmp, note);
        now.rmSync(copy, { force: true });
        now.linkSync(tmp, copy);
        now.renameSync(tmp, path.join(this.dir, 'checkpoint'));
      } else {
        if (sync) await writeDurably(fs, tmp, note);
        else await fs.writeFile(tmp, note);
        if (latest) {
          await fs.rm(copy, { force: true });
          await fs.link(tmp, copy);
          await fs.rename(tmp, path.join(this.dir, 'checkpoint'));
        } else {
          await fs.rename(tmp, copy);
        }
      }
    } catch (cause) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw ioError(`cannot write the checkpoint in '${this.dir}'`, cause);
    }
    if (latest) {
      this.#signedSize = size;
      this.#latest = note;
    }
  }

  /**
   * Appends entries (given by their leaf hashes) and signs the new checkpoint. The leaves are
   * flushed before the checkpoint is signed; `syncCheckpoint: false` leaves the checkpoint files
   * unflushed (one `datasync` per append; see the module notes for how a crash is repaired).
   *
   * @throws {ProvenanceError} `PROV_IO`; `PROV_KEY_INVALID` when `key` is not the log's key.
   */
  async appendLeafHashes(
    hashes: readonly Uint8Array[],
    key: PrivateKey,
    options: { readonly syncCheckpoint?: boolean } = {},
  ): Promise<{ indices: number[]; checkpoint: string }> {
    if (
      noteVerifierKey(this.log.origin, key.publicKey) !==
      noteVerifierKey(this.verifier.name, this.verifier.publicKey)
    ) {
      throw new ProvenanceError('PROV_KEY_INVALID', "this key is not the log's signing key");
    }
    if (!hashes.every((h) => h instanceof Uint8Array && h.length === HASH_SIZE)) {
      throw new ProvenanceError('PROV_LOG_CORRUPT', 'a leaf hash must be 32 bytes');
    }
    if (this.#broken) {
      throw new ProvenanceError(
        'PROV_IO',
        `a failed append to '${this.dir}/leaves' could not be undone: open the log again to repair it`,
      );
    }
    const data = new Uint8Array(hashes.length * HASH_SIZE);
    hashes.forEach((h, i) => {
      data.set(h, i * HASH_SIZE);
    });
    // Disk first, memory after: a failed write leaves neither holding the new leaves.
    const before = this.log.size * HASH_SIZE;
    // A frequent writer (syncCheckpoint: false) keeps the file open until close(); others close it.
    const keep = options.syncCheckpoint === false;
    try {
      const handle = this.#handle ?? (await this.#fs.open(this.#path.join(this.dir, 'leaves'), 'a'));
      if (keep) this.#handle = handle;
      try {
        // A few bytes into the page cache: in place when appending often; the flush is awaited.
        // A write may take fewer bytes than given (a nearly full disk): write the rest, or fail.
        for (let at = 0; at < data.length; ) {
          const rest = data.subarray(at);
          const n = keep ? syncFs().writeSync(handle.fd, rest) : (await handle.write(rest)).bytesWritten;
          if (!(n > 0)) throw new Error('the leaves file took no bytes');
          at += n;
        }
        // On disk before the checkpoint that covers these leaves is signed and handed out.
        await handle.datasync();
      } catch (cause) {
        await handle.truncate(before).catch(() => {
          // Appending on would sign a tree other than the file's leaves (indices shifted).
          this.#broken = true;
        });
        throw cause;
      } finally {
        if (!keep && handle !== this.#handle) await handle.close();
      }
    } catch (cause) {
      throw ioError(`cannot append to '${this.dir}/leaves'`, cause);
    }
    const indices = hashes.map((h) => this.log.appendLeafHash(h));
    const checkpoint = this.log.signCheckpoint(key);
    await this.#writeCheckpoint(checkpoint, this.log.size, options.syncCheckpoint !== false);
    return { indices, checkpoint };
  }

  /** Closes the leaves file the appends keep open (the store stays readable; appending reopens it). */
  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close().catch(() => undefined);
  }

  /** {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * The signed checkpoint of `size` entries, as written when the log had that size.
   *
   * @throws {ProvenanceError} `PROV_LOG_RANGE` when no checkpoint of that size was signed.
   */
  async checkpointAt(size: number = this.#signedSize): Promise<string> {
    if (size === this.#signedSize && this.#latest !== undefined) return this.#latest;
    const text = await this.#fs
      .readFile(this.#path.join(this.dir, 'checkpoints', String(size)), 'utf8')
      .catch(() => undefined);
    const key = this.#key;
    if (key !== undefined && size > this.#resignAbove && size <= this.#signedSize) {
      // Lost or torn in a crash after it was handed out: the same bytes again (module notes).
      // A torn file is replaced; a missing one is not written: any caller of the public log
      // routes may ask for any size here, and one file (and flush) per request would let them
      // fill the disk. The next open finds the same gap and answers it the same way.
      const note = this.log.signCheckpoint(key, size);
      if (text !== undefined && text !== note) await this.#writeCheckpoint(note, size, true);
      return note;
    }
    if (text !== undefined) return text;
    throw new ProvenanceError('PROV_LOG_RANGE', `the log never signed a checkpoint of size ${size}`);
  }

  /**
   * A proof file against the signed checkpoint of `size` entries (default: the latest): the
   * inclusion of entry `index` and/or the consistency from `from` entries.
   *
   * @throws {ProvenanceError} `PROV_LOG_RANGE`.
   */
  async prove(options: {
    readonly index?: number;
    readonly from?: number;
    readonly size?: number;
  }): Promise<LogProof> {
    const size = options.size ?? this.#signedSize;
    const checkpoint = await this.checkpointAt(size);
    return this.log.prove({
      checkpoint,
      size,
      ...(options.index === undefined ? {} : { index: options.index }),
      ...(options.from === undefined ? {} : { from: options.from }),
    });
  }

  /** Lowercase hex leaf hash of every entry (for listing). */
  leafHashesHex(): string[] {
    return Array.from({ length: this.log.size }, (_, i) => toHex(this.log.leafHashAt(i)));
  }
}
