/**
 * The key folder `confide he keygen` writes and `he encrypt`/`he decrypt`/`he score` read:
 * `secret.key` (mode 0600, never replaced without `--force`), `evaluation.keys` (public, for the
 * server) and, for keys generated for a served model, `server.json` (which server, model id and
 * interface digest the keys are for; no secrets).
 *
 * Deliberately not here: key generation itself (`HeClient`), talking to the server.
 *
 * @module
 */

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HeError } from '../../errors.ts';
import type { HeClient } from '../../he/index.ts';
import { createIo } from '../io.ts';

/** Reads and writes of the `he` commands report `HE_*` codes. */
const { readJson, writeAtomic } = createIo('HE');

export const SECRET_KEY_FILE = 'secret.key';
export const EVALUATION_KEY_FILE = 'evaluation.keys';
export const BINDING_FILE = 'server.json';
export const BINDING_FORMAT = 'confide/he-key-binding@1';

/** `DIR/server.json`: the served model a key folder was generated for. */
export interface KeyBinding {
  readonly format: typeof BINDING_FORMAT;
  /** The server's base URL, when known (keys planned from a saved interface may not know it). */
  readonly server?: string;
  readonly modelId: string;
  /** SHA-256 (hex) of the model interface's canonical JSON, as the keys carry it. */
  readonly interfaceDigest: string;
  /** SHA-256 (hex) of the served model when the keys were made (its weights may change later). */
  readonly modelDigest?: string;
  readonly keySetId: string;
}

/** What `keygen` prints (or `--json` prints) once the folder is written. */
export interface KeyFolderSummary {
  readonly keySetId: string;
  readonly secretKeyFile: string;
  readonly evaluationKeyFile: string;
  readonly evaluationKeyBytes: number;
  readonly bindingFile?: string;
}

/**
 * Writes the key folder for `client`: the secret key atomically with mode 0600 (refusing to
 * replace one unless `force`), the evaluation keys, and `server.json` for a served model (or
 * removes a stale one, so a folder never names a server its keys were not made for).
 */
export async function writeKeyFolder(
  client: HeClient,
  out: string,
  force: boolean,
  binding?: Omit<KeyBinding, 'format' | 'keySetId'>,
): Promise<KeyFolderSummary> {
  const secretPath = join(out, SECRET_KEY_FILE);
  const evaluationPath = join(out, EVALUATION_KEY_FILE);
  const bindingPath = join(out, BINDING_FILE);
  const secret = client.exportSecretKeys();
  try {
    await writeAtomic(secretPath, secret, { secret: true, overwrite: force });
  } finally {
    secret.fill(0);
  }
  const evaluation = client.exportEvaluationKeys();
  // Public, and only meaningful with the secret key just written: replaced like any output.
  await writeAtomic(evaluationPath, evaluation, { overwrite: true });
  if (binding === undefined) {
    await rm(bindingPath, { force: true });
    return {
      keySetId: client.keySetId,
      secretKeyFile: secretPath,
      evaluationKeyFile: evaluationPath,
      evaluationKeyBytes: evaluation.length,
    };
  }
  const record: KeyBinding = { format: BINDING_FORMAT, ...binding, keySetId: client.keySetId };
  await writeAtomic(bindingPath, `${JSON.stringify(record, null, 2)}\n`, { overwrite: true });
  return {
    keySetId: client.keySetId,
    secretKeyFile: secretPath,
    evaluationKeyFile: evaluationPath,
    evaluationKeyBytes: evaluation.length,
    bindingFile: bindingPath,
  };
}

function field(record: Record<string, unknown>, name: string, pattern: RegExp, path: string): string {
  const value = record[name];
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new HeError(
      'HE_MODEL_INVALID',
      `${path} has no valid "${name}": generate the keys again with confide he keygen --server URL --model-id ID`,
    );
  }
  return value;
}

/** Reads `DIR/server.json`, or undefined when the folder has none (keys made from a local model). */
export async function readKeyBinding(dir: string): Promise<KeyBinding | undefined> {
  const path = join(dir, BINDING_FILE);
  let value: unknown;
  try {
    value = await readJson(path, 'key binding', { kind: 'json' });
  } catch (error) {
    if ((error as { cause?: { code?: unknown } }).cause?.code === 'ENOENT') return undefined;
    throw error;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HeError('HE_MODEL_INVALID', `${path} is not a JSON object`);
  }
  const record = value as Record<string, unknown>;
  if (record.format !== BINDING_FORMAT) {
    throw new HeError('HE_MODEL_INVALID', `${path} is not a ${BINDING_FORMAT} file`);
  }
  const hex64 = /^[0-9a-f]{64}$/;
  return {
    format: BINDING_FORMAT,
    ...(record.server === undefined ? {} : { server: field(record, 'server', /^https?:\/\//, path) }),
    modelId: field(record, 'modelId', /^.{1,64}$/s, path),
    interfaceDigest: field(record, 'interfaceDigest', hex64, path),
    ...(record.modelDigest === undefined ? {} : { modelDigest: field(record, 'modelDigest', hex64, path) }),
    keySetId: field(record, 'keySetId', /^[0-9a-f]{32}$/, path),
  };
}
