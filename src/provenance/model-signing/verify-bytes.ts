/**
 * model_signing v1 manifests and verification (key, certificate and keyless modes) for models
 * given as bytes, not paths: what a browser does with files the user picked, fetched or unpacked.
 * The same manifest as `hashModel` (`hash.ts`) computes from disk, and the same verification steps
 * 1–8 as `verifyModel` (`verify.ts`), with the same codes; only the source of the bytes differs.
 *
 * A model is either one `Uint8Array` (a single-file model: its one resource is named `"."`, as
 * model_signing names it) or a folder: a `Map` or plain object from paths relative to the model
 * root to bytes. Paths are normalised as `hash.ts` normalises ignore paths (`/` separators, no `.`
 * segments); absolute paths and `..` are refused (`PROV_PATH_TRAVERSAL`), and two names that
 * normalise to the same path are refused (`PROV_NAME_INVALID`). Ignoring works as on disk: whole
 * path components, the recorded `ignore_paths`, the caller's paths and (unless told otherwise)
 * `.git`, `.gitattributes`, `.github` and `.gitignore` at the root. A folder handed over from a
 * directory listing usually contains the signature file itself: name it in `ignorePaths`, as
 * `verifyModel` does with `signaturePath`.
 *
 * Pure (key mode is synchronous; certificate and keyless modes are asynchronous): SHA-256 by `node:crypto` where the host has it (found without importing
 * it), else `@noble/hashes`; no filesystem, so this module runs in browsers and workers. The
 * bytes are held in memory: for models of gigabytes use `verifyModel` in Node.
 *
 * Certificate-mode and keyless bundles are checked here too, on bytes: steps 1–7 by
 * `certificate-bundle.ts` (PKI.js over WebCrypto, no `node:crypto`) and `keyless-bundle.ts`
 * (`@sigstore/verify`), then the same step 8.
 *
 * Deliberately not here: reading files or directories (`hash.ts`), symbolic links (a byte map has
 * none).
 *
 * @module
 */

import { assertBoolean, assertBytes, assertInteger, assertObject } from '../../internal/assert.ts';
import { sha256, toHex } from '../../internal/bytes.ts';
import { keyHint, type PublicKey } from '../common/keys.ts';
import { type FileReport, ProvenanceError } from '../errors.ts';
import {
  type KeylessIdentity,
  type KeylessModelVerificationResult,
  verifyModelBundleKeyless,
} from './keyless/verify-bundle.ts';
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
import {
  checkModelResources,
  type ModelVerificationResult,
  recomputation,
  type VerifiedModelBundle,
  verifyModelBundle,
} from './verify-bundle.ts';
import {
  type CertificateModelVerificationResult,
  type CertificateVerifyOptions,
  verifyModelBundleWithCertificates,
} from './verify-certificate-bundle.ts';

/** A model as bytes: one file (`Uint8Array`), or a folder as relative path → bytes. */
export type ModelBytes =
  | Uint8Array
  | ReadonlyMap<string, Uint8Array>
  | { readonly [path: string]: Uint8Array };

/** Options of {@link hashModelBytes}. */
export interface HashModelBytesOptions {
  /** `files` (one digest per file, the default) or `shards`. */
  readonly method?: 'files' | 'shards';
  /** Shard size in bytes for `shards` (default 1,000,000,000, as model_signing). */
  readonly shardSize?: number;
  /** Paths relative to the model root to leave out (whole components; `a` covers `a/…`). */
  readonly ignorePaths?: readonly string[];
  /** Ignore `.git`, `.gitattributes`, `.github`, `.gitignore` at the root (default true). */
  readonly ignoreGitPaths?: boolean;
  /** The manifest's informational subject name (default `model`). */
  readonly subjectName?: string;
}

/** Options of {@link verifyModelBytes}. */
export interface VerifyModelBytesOptions {
  /** Extra paths to leave out, on top of those recorded in the bundle (e.g. the signature file). */
  readonly ignorePaths?: readonly string[];
  /** Ignore `.git`, `.gitattributes`, `.github`, `.gitignore` at the root (default true). */
  readonly ignoreGitPaths?: boolean;
}

interface Entry {
  readonly name: string;
  readonly bytes: Uint8Array;
}

const isIgnored = (name: string, ignores: readonly string[]): boolean =>
  ignores.some((i) => name === i || name.startsWith(`${i}/`));

function entriesOf(model: ModelBytes, ignores: readonly string[]): Entry[] {
  if (model instanceof Uint8Array) return [{ name: '.', bytes: model }];
  const pairs: [string, unknown][] =
    model instanceof Map ? [...model.entries()] : Object.entries(assertObject(model, 'model'));
  const entries = new Map<string, Uint8Array>();
  for (const [path, bytes] of pairs) {
    const name = normaliseRelativePath(path, `model file ${JSON.stringify(path)}`);
    const data = assertBytes(bytes, `model file ${JSON.stringify(path)}`);
    if (entries.has(name)) {
      throw new ProvenanceError('PROV_NAME_INVALID', `two model files normalise to the same name '${name}'`);
    }
    if (!isIgnored(name, ignores)) entries.set(name, data);
  }
  return [...entries].map(([name, bytes]) => ({ name, bytes }));
}

function shardResources(e: Entry, shardSize: number): ModelResource[] {
  const out: ModelResource[] = [];
  // An empty file has no shard (as model_signing and hash.ts).
  for (let start = 0; start < e.bytes.length; start += shardSize) {
    const end = Math.min(start + shardSize, e.bytes.length);
    out.push({
      name: `${e.name}:${start}:${end}`,
      algorithm: `sha256-sharded-${shardSize}`,
      digest: toHex(sha256(e.bytes.subarray(start, end))),
    });
  }
  return out;
}

/**
 * The model_signing v1 manifest of a model given as bytes: the same resources, order and root
 * digest as {@link hashModel} computes for the same files on disk.
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
  const ignores = [...new Set([...userIgnores, ...(ignoreGit ? DEFAULT_GIT_IGNORES : [])])];
  const entries = entriesOf(model, ignores);
  const resources = sortResources(
    method === 'files'
      ? entries.map((e) => ({ name: e.name, algorithm: 'sha256', digest: toHex(sha256(e.bytes)) }))
      : entries.flatMap((e) => shardResources(e, shardSize)),
  );
  const serialization: ModelSerialization = {
    method,
    hash_type: 'sha256',
    allow_symlinks: false,
    ...(method === 'shards' ? { shard_size: shardSize } : {}),
    ignore_paths: [...ignores].sort(),
  };
  return {
    subjectName: options.subjectName ?? 'model',
    serialization,
    resources,
    rootDigest: rootDigest(resources),
  };
}

/**
 * Verifies a model given as bytes against a model_signing v1 key-mode bundle: steps 1–7 of
 * `verify-bundle.ts` (structure, key hint or embedded key, payload type, signature, statement,
 * root digest), then step 8 on the bytes: the manifest is recomputed with the recorded
 * serialization and compared name by name. The same conclusions and codes as {@link verifyModel}
 * on the same files.
 *
 * @throws {VerificationError} with the code of the failing step (`PROV_FILE_MODIFIED`,
 *   `PROV_FILE_RENAMED`, `PROV_FILE_MISSING`, `PROV_FILE_EXTRA` carry the per-file report in
 *   `files`); {@link ProvenanceError} for unusable paths.
 * @example
 * ```ts
 * const files = new Map([['signme-1', a], ['signme-2', b], ['model.sig', sig]]);
 * const result = verifyModelBytes(sig, parsePublicKeyPem(pem), files, { ignorePaths: ['model.sig'] });
 * result.files.every((f) => f.status === 'ok'); // true
 * ```
 */
export function verifyModelBytes(
  bundleBytes: Uint8Array | string,
  key: PublicKey,
  model: ModelBytes,
  options: VerifyModelBytesOptions = {},
): ModelVerificationResult {
  const verified = verifyModelBundle(bundleBytes, key);
  const { files, ignoredPaths } = compareModelBytes(verified, model, options);
  return {
    valid: true,
    subjectName: verified.subjectName,
    rootDigest: verified.rootDigest,
    keyHint: keyHint(key),
    algorithm: key.algorithm,
    keyMaterial: verified.keyMaterial,
    ignoredPaths,
    files,
  };
}

/** Step 8 on bytes: recompute the manifest with the recorded serialization and compare. */
export function compareModelBytes(
  verified: VerifiedModelBundle,
  model: ModelBytes,
  options: VerifyModelBytesOptions,
): { files: FileReport[]; ignoredPaths: readonly string[] } {
  const { method, shardSize, ignorePaths } = recomputation(verified, options.ignorePaths);
  const manifest = hashModelBytes(model, {
    method,
    ...(shardSize === undefined ? {} : { shardSize }),
    ignorePaths,
    ignoreGitPaths: options.ignoreGitPaths ?? true,
  });
  const files = checkModelResources(verified.resources, manifest.resources);
  return { files, ignoredPaths: manifest.serialization.ignore_paths ?? ignorePaths };
}

/**
 * Verifies a model given as bytes against a keyless (Sigstore) bundle, offline:
 * {@link verifyModelBundleKeyless} (the Sigstore checks by `@sigstore/verify`, in browsers too),
 * then step 8 on the bytes. The same conclusions and codes as `verifyModelKeyless` on the same
 * files.
 *
 * @param trustedRoot the Sigstore trusted root (`trusted_root.json` text or its parsed object).
 * @throws {VerificationError} with the code of the failing step; {@link ProvenanceError}
 *   `PROV_TRUSTED_ROOT_INVALID` and for unusable paths.
 * @example
 * ```ts
 * const result = await verifyModelBytesKeyless(sig, trustedRootJson, { identity, issuer }, files, {
 *   ignorePaths: ['model.sig'],
 * });
 * result.identity; // the pinned signer
 * ```
 */
export async function verifyModelBytesKeyless(
  bundleBytes: Uint8Array | string,
  trustedRoot: string | object,
  expected: KeylessIdentity,
  model: ModelBytes,
  options: VerifyModelBytesOptions = {},
): Promise<KeylessModelVerificationResult> {
  const verified = await verifyModelBundleKeyless(bundleBytes, trustedRoot, expected);
  const { files, ignoredPaths } = compareModelBytes(verified, model, options);
  return {
    valid: true,
    subjectName: verified.subjectName,
    rootDigest: verified.rootDigest,
    identity: verified.identity,
    issuer: verified.issuer,
    keyHint: keyHint(verified.publicKey),
    algorithm: verified.publicKey.algorithm,
    ignoredPaths,
    files,
  };
}

/**
 * Verifies a model given as bytes against a certificate-mode bundle:
 * {@link verifyModelBundleWithCertificates} (the one certificate path validator, PKI.js over
 * WebCrypto, no `node:crypto`), then step 8 on the bytes. The same conclusions and codes as
 * `verifyModelWithCertificates` on the same files.
 *
 * @param trustAnchorsPem PEM text with one or more `CERTIFICATE` blocks (the trusted CAs).
 * @throws {VerificationError} with the code of the failing step; {@link ProvenanceError} for
 *   unusable paths or a host without WebCrypto.
 * @example
 * ```ts
 * const result = await verifyModelBytesWithCertificates(sig, caPem, files, { ignorePaths: ['model.sig'] });
 * result.certificate.subject; // 'CN=…'
 * ```
 */
export async function verifyModelBytesWithCertificates(
  bundleBytes: Uint8Array | string,
  trustAnchorsPem: string,
  model: ModelBytes,
  options: VerifyModelBytesOptions & CertificateVerifyOptions = {},
): Promise<CertificateModelVerificationResult> {
  const verified = await verifyModelBundleWithCertificates(bundleBytes, trustAnchorsPem, options);
  const { files, ignoredPaths } = compareModelBytes(verified, model, options);
  return {
    valid: true,
    subjectName: verified.subjectName,
    rootDigest: verified.rootDigest,
    keyHint: keyHint(verified.publicKey),
    algorithm: verified.publicKey.algorithm,
    certificate: verified.certificate,
    checkedAt: verified.checkedAt,
    ignoredPaths,
    files,
  };
}
