/**
 * File effects of the CLI: reading inputs with errors that name the path, and writing outputs
 * atomically (a temporary file in the same folder, then rename), secret files with mode 0600.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HeError } from '../errors.ts';

function describeIoError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'no such file or folder';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a folder';
  if (code === 'ENOSPC') return 'no space left on the device';
  return error instanceof Error ? error.message : String(error);
}

/** Reads a whole file. */
export async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    const buffer = await readFile(path);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (error) {
    throw new HeError('HE_IO', `cannot read ${what} ${path}: ${describeIoError(error)}`, { cause: error });
  }
}

/** Reads a whole UTF-8 text file. */
export async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new HeError('HE_IO', `cannot read ${what} ${path}: ${describeIoError(error)}`, { cause: error });
  }
}

/**
 * Writes a file atomically. With `secret`, the file (and any folder created for it) is readable
 * by its owner only.
 */
export async function writeAtomic(
  path: string,
  data: Uint8Array | string,
  options: { secret?: boolean } = {},
): Promise<void> {
  const mode = options.secret ? 0o600 : 0o644;
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true, mode: options.secret ? 0o700 : 0o755 });
    await writeFile(temporary, data, { mode, flag: 'wx' });
    await chmod(temporary, mode); // the umask may have removed bits; never added any
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new HeError('HE_IO', `cannot write ${path}: ${describeIoError(error)}`, { cause: error });
  }
}
