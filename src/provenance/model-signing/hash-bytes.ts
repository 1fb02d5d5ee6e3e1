/**
 * model_signing v1 manifests of models given as bytes, not paths: what a browser hashes for files
 * the user picked, fetched or unpacked, for signing or verification. The manifest is built by the
 * one builder (`build-manifest.ts`) that `hashModel` (`hash.ts`) uses for files on disk, so the
 * same files give the same resources, order and root digest either way.
 *
 * A model is either one `Uint8Array` (a single-file model: its one resource is named `"."`, as
 * model_signing names it) or a folder: a `Map` or plain object from paths relative to the model
 * root to bytes. Paths are normalised as ignore paths are (`/` separators, no `.` segments);
 * absolute paths and `..` are refused (`PROV_PATH_TRAVERSAL`), and two names that normalise to the
 * same path are refused (`PROV_NAME_INVALID`). A folder handed over from a directory listing
 * usually contains the signature file itself: name it in `ignorePaths`.
 *
 * Pure and synchronous: SHA-256 by `@noble/hashes` (or `node:crypto` where the host has it); the
 * bytes are held in memory, so for models of gigabytes use `hashModel` in Node.
 *
 * Deliberately not here: reading files or directories (`hash.ts`), symbolic links (a byte map has
 * none), verification (`verify-model.ts`).
 *
 * @module
 */

import { assertBytes, assertObject } from '../../internal/assert.ts';
import { sha256, toHex } from '../../internal/bytes.ts';
import { ProvenanceError } from '../errors.ts';
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

/** A model as bytes: one file (`Uint8Array`), or a folder as relative path → bytes. */
export type ModelBytes =
  | Uint8Array
  | ReadonlyMap<string, Uint8Array>
  | { readonly [path: string]: Uint8Array };

/** Options of {@link hashModelBytes}: the serialization, and the manifest's subject name. */
export interface HashModelBytesOptions extends ManifestOptions {
  /** The manifest's informational subject name (default `model`). */
  readonly subjectName?: string;
}

function entriesOf(model: ModelBytes, plan: ManifestPlan): [string, Uint8Array][] {
  if (model instanceof Uint8Array) return [['.', model]];
  const pairs: [string, unknown][] =
    model instanceof Map ? [...model.entries()] : Object.entries(assertObject(model, 'model'));
  const entries = new Map<string, Uint8Array>();
  for (const [path, bytes] of pairs) {
    const name = normaliseRelativePath(path, `model file ${JSON.stringify(path)}`);
    const data = assertBytes(bytes, `model file ${JSON.stringify(path)}`);
    if (entries.has(name)) {
      throw new ProvenanceError('PROV_NAME_INVALID', `two model files normalise to the same name '${name}'`);
    }
    if (!isIgnored(name, plan)) entries.set(name, data);
  }
  return [...entries];
}

/**
 * The model_signing v1 manifest of a model given as bytes: the same resources, order and root
 * digest as `hashModel` computes for the same files on disk.
 *
 * @throws {ProvenanceError} `PROV_PATH_TRAVERSAL` (an absolute or `..` path), `PROV_NAME_INVALID`
 *   (two paths that normalise to one), `PROV_HASH_UNSUPPORTED`; `INVALID_ARGUMENT` for options
 *   or values that are not bytes.
 * @example
 * ```ts
 * const manifest = hashModelBytes(new Map([['weights.bin', weights], ['config.json', config]]));
 * manifest.rootDigest; // 64 hex characters, as `confide provenance hash DIR` prints
 * ```
 */
export function hashModelBytes(model: ModelBytes, options: HashModelBytesOptions = {}): ModelManifest {
  const plan = planManifest(options);
  const files = entriesOf(model, plan).map(([name, bytes]): HashedFile => {
    const ranges = shardRanges(plan, bytes.length);
    return ranges === undefined
      ? { name, digest: toHex(sha256(bytes)) }
      : { name, shards: ranges.map(([a, b]) => [a, b, toHex(sha256(bytes.subarray(a, b)))] as const) };
  });
  return buildManifest(plan, options.subjectName ?? 'model', files);
}
