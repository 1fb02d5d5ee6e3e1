/**
 * The one model_signing v1 manifest builder, shared by the disk reader (`hash.ts`) and the bytes
 * reader (`hash-bytes.ts`), for signing and verification alike: the options check, the ignore
 * set, the resource names (`name` per file, `name:start:end` per shard with algorithm
 * `sha256-sharded-<size>`), the Python reference's resource order, the recorded serialization and
 * the root digest. A reader only lists the files it is given and hashes the byte ranges this
 * module plans; nothing else about a manifest is decided twice.
 *
 * Pure and synchronous: no I/O, no hashing.
 *
 * Deliberately not here: reading files or bytes, symbolic-link rules (`hash.ts`), the statement
 * and bundle format (`manifest.ts`).
 *
 * @module
 */

import { assertBoolean, assertInteger } from '../../internal/assert.ts';
import { ProvenanceError } from '../errors.ts';
import {
  DEFAULT_GIT_IGNORES,
  DEFAULT_SHARD_SIZE,
  type ModelManifest,
  type ModelResource,
  type ModelSerialization,
  normaliseRelativePath,
  rootDigest,
  sortResources,
} from './manifest.ts';

/** The serialization options every manifest reader accepts. */
export interface ManifestOptions {
  /** `files` (one digest per file, the default and the only mode the model_signing CLI uses) or `shards`. */
  readonly method?: 'files' | 'shards';
  /** Shard size in bytes for `shards` (default 1,000,000,000, as model_signing). */
  readonly shardSize?: number;
  /** Paths relative to the model root to leave out (whole components; `a` covers `a/…`). */
  readonly ignorePaths?: readonly string[];
  /** Ignore `.git`, `.gitattributes`, `.github`, `.gitignore` at the root (default true). */
  readonly ignoreGitPaths?: boolean;
}

/** The checked options: what to hash and what to record. */
export interface ManifestPlan {
  readonly method: 'files' | 'shards';
  /** 0 in `files` mode. */
  readonly shardSize: number;
  /** Normalised ignore paths (caller's and git's), sorted, without duplicates. */
  readonly ignores: readonly string[];
  readonly allowSymlinks: boolean;
}

/**
 * Checks the serialization options and computes the ignore set.
 *
 * @throws {ProvenanceError} `PROV_HASH_UNSUPPORTED` for an unknown method, `PROV_PATH_TRAVERSAL`
 *   for an absolute or `..` ignore path; `INVALID_ARGUMENT` for malformed options.
 */
export function planManifest(options: ManifestOptions, allowSymlinks = false): ManifestPlan {
  const method = options.method ?? 'files';
  if (method !== 'files' && method !== 'shards') {
    throw new ProvenanceError(
      'PROV_HASH_UNSUPPORTED',
      `unsupported serialization method '${String(method)}'`,
    );
  }
  const shardSize =
    method === 'shards' ? assertInteger(options.shardSize ?? DEFAULT_SHARD_SIZE, 'shardSize', 1, 2 ** 52) : 0;
  const ignoreGit = assertBoolean(options.ignoreGitPaths ?? true, 'ignoreGitPaths');
  const userIgnores = (options.ignorePaths ?? []).map((p, i) =>
    normaliseRelativePath(p, `ignorePaths[${i}]`),
  );
  const ignores = [...new Set([...userIgnores, ...(ignoreGit ? DEFAULT_GIT_IGNORES : [])])].sort();
  return { method, shardSize, ignores, allowSymlinks };
}

/** True when `name` (relative to the model root) is ignored: whole path components. */
export function isIgnored(name: string, plan: ManifestPlan): boolean {
  return plan.ignores.some((i) => name === i || name.startsWith(`${i}/`));
}

/**
 * The byte ranges to hash for a file of `size` bytes: in `shards` mode one per shard (none for an
 * empty file, as model_signing); in `files` mode `undefined`, meaning the whole file as read (its
 * size is what the reader finds when it opens it).
 */
export function shardRanges(plan: ManifestPlan, size: number): [number, number][] | undefined {
  if (plan.method === 'files') return undefined;
  const ranges: [number, number][] = [];
  for (let start = 0; start < size; start += plan.shardSize)
    ranges.push([start, Math.min(start + plan.shardSize, size)]);
  return ranges;
}

/** One hashed file: its digest (`files`), or one digest per range of {@link shardRanges} (`shards`). */
export type HashedFile =
  | { readonly name: string; readonly digest: string }
  | { readonly name: string; readonly shards: readonly (readonly [number, number, string])[] };

/** The resources of hashed files, named as model_signing names them (not yet sorted). */
export function resourcesOf(plan: ManifestPlan, files: readonly HashedFile[]): ModelResource[] {
  const algorithm = plan.method === 'files' ? 'sha256' : `sha256-sharded-${plan.shardSize}`;
  return files.flatMap((f) =>
    'digest' in f
      ? [{ name: f.name, algorithm, digest: f.digest }]
      : f.shards.map(([start, end, digest]) => ({ name: `${f.name}:${start}:${end}`, algorithm, digest })),
  );
}

/** The manifest: resources in the Python reference's order, the recorded serialization, the root digest. */
export function buildManifest(
  plan: ManifestPlan,
  subjectName: string,
  files: readonly HashedFile[],
): ModelManifest {
  const resources = sortResources(resourcesOf(plan, files));
  const serialization: ModelSerialization = {
    method: plan.method,
    hash_type: 'sha256',
    allow_symlinks: plan.allowSymlinks,
    ...(plan.method === 'shards' ? { shard_size: plan.shardSize } : {}),
    ignore_paths: [...plan.ignores],
  };
  return { subjectName, serialization, resources, rootDigest: rootDigest(resources) };
}
