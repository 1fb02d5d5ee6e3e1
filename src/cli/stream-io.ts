/**
 * Streaming file effects of the `he` commands: a file read as an async iterable of byte pieces
 * (after peeking at its first bytes, to tell a chunked container from a version-1 one), and an
 * atomic write of an async iterable of pieces (temporary file in the destination folder, fsync,
 * rename, fsync of the folder), so a command that fails half way never leaves a partial output.
 * Errors are `HE_IO` with the path and what went wrong, as in `io.ts`.
 *
 * Deliberately not here: whole-file reads and writes and their size limits (`io.ts`).
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { HeError } from '../errors.ts';

const PIECE = 1 << 20;

function ioFailure(action: string, path: string, what: string, error: unknown): HeError {
  const code = (error as { code?: unknown } | null)?.code;
  const reason =
    code === 'ENOENT'
      ? 'no such file or folder'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'it is a folder'
          : code === 'ENOSPC'
            ? 'no space left on the device'
            : typeof code === 'string'
              ? code
              : 'failed';
  return new HeError('HE_IO', `cannot ${action} the ${what} '${path}': ${reason}`, { cause: error });
}

/** An open input: its first bytes (up to 6) and all its bytes as pieces, from the start. */
export interface StreamInput {
  readonly head: Uint8Array;
  /** A regular file (which can be opened again), not a pipe, FIFO or device. */
  readonly regular: boolean;
  readonly pieces: AsyncIterable<Uint8Array>;
  close(): Promise<void>;
}

/**
 * All bytes of a stream input (a version-1 container through a pipe, FIFO or device, which
 * cannot be opened again), at most `limit`: past it `HE_INPUT_TOO_LARGE`. Input that does not
 * start with the container magic is returned after its first bytes, for the decoder to refuse.
 */
export async function readAll(
  input: StreamInput,
  limit: number,
  what: string,
  path: string,
): Promise<Uint8Array> {
  const magic = [0x43, 0x4e, 0x46, 0x44];
  if (input.head.length < 4 || magic.some((b, i) => input.head[i] !== b)) return input.head;
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const piece of input.pieces) {
    total += piece.length;
    if (total > limit) {
      throw new HeError(
        'HE_INPUT_TOO_LARGE',
        `the ${what} '${path}' is larger than ${limit} bytes; raise the limit with --max-input-bytes`,
      );
    }
    parts.push(piece.slice());
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Opens `path` for streaming; `HE_IO` when it cannot be opened or read. */
export async function openStream(path: string, what: string): Promise<StreamInput> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw ioFailure('read', path, what, error);
  }
  const read = async (size: number): Promise<Uint8Array> => {
    const buffer = new Uint8Array(size);
    try {
      const { bytesRead } = await handle.read(buffer, 0, size, null);
      return buffer.subarray(0, bytesRead);
    } catch (error) {
      throw ioFailure('read', path, what, error);
    }
  };
  let head: Uint8Array;
  let regular: boolean;
  try {
    regular = (await handle.stat()).isFile();
    head = await read(6);
    while (head.length > 0 && head.length < 6) {
      const more = await read(6 - head.length);
      if (more.length === 0) break;
      const joined = new Uint8Array(head.length + more.length);
      joined.set(head);
      joined.set(more, head.length);
      head = joined;
    }
  } catch (error) {
    await handle.close();
    throw error;
  }
  const first = head;
  return {
    head: first,
    regular,
    pieces: {
      async *[Symbol.asyncIterator]() {
        if (first.length > 0) yield first;
        for (;;) {
          const piece = await read(PIECE);
          if (piece.length === 0) return;
          yield piece;
        }
      },
    },
    close: () => handle.close(),
  };
}

/**
 * Writes the pieces of `source` to `path` atomically: a temporary file in the same folder,
 * fsync, rename over `path`, fsync of the folder. When `source` throws, the temporary file is
 * removed and `path` is untouched.
 */
export async function writeStreamAtomic(
  path: string,
  source: AsyncIterable<Uint8Array | string>,
): Promise<number> {
  const folder = dirname(path);
  const temporary = join(folder, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  let written = 0;
  try {
    try {
      await mkdir(folder, { recursive: true, mode: 0o755 });
      handle = await open(temporary, 'wx', 0o644);
    } catch (error) {
      throw ioFailure('write', path, 'file', error);
    }
    for await (const piece of source) {
      const bytes = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
      try {
        let offset = 0;
        while (offset < bytes.length) {
          const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
          offset += bytesWritten;
        }
      } catch (error) {
        throw ioFailure('write', path, 'file', error);
      }
      written += bytes.length;
    }
    try {
      await handle.sync();
      await handle.close();
      handle = undefined;
      await rename(temporary, path);
      const dir = await open(folder, 'r');
      try {
        await dir.sync();
      } catch {
        // Some file systems cannot fsync a folder; the rename is still atomic.
      } finally {
        await dir.close();
      }
    } catch (error) {
      throw ioFailure('write', path, 'file', error);
    }
    return written;
  } catch (error) {
    await handle?.close().catch(() => {});
    await unlink(temporary).catch(() => {});
    throw error;
  }
}
