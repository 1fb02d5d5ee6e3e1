/**
 * The OpenSSF model_signing v1 format (sigstore/model-transparency v1.x, OMS spec v1.0): the
 * manifest of a model (one digest per file or per shard), its root digest, the in-toto statement
 * with predicate `https://model_signing/signature/v1.0`, the statement bytes the Python reference
 * writes, and the Sigstore bundle v0.3 structure check. Pure and synchronous: no I/O, no keys.
 *
 * Format facts followed (from the Python reference, sigstore/model-transparency, and the OMS spec):
 * - resources are `{ name, algorithm, digest }` with a bare lowercase hex digest; names are POSIX
 *   paths relative to the model root, `"."` for a single-file model, `path:start:end` for shards
 *   (algorithm `sha256-sharded-<size>`, as Python writes; OMS says `sha256`);
 * - resources are ordered as Python's `sorted()` over `PurePosixPath` orders them (path
 *   components compared by code point, then shard start and end as integers). Verification never
 *   depends on order: it recomputes the root over the resources as listed;
 * - root digest = SHA-256 of the concatenated raw resource digests, in the order listed
 *   (an empty list gives the SHA-256 of nothing);
 * - the statement has exactly one subject, named after the model's basename, with
 *   `digest.sha256` = root digest; `serialization` records method, hash type, `allow_symlinks`
 *   and `ignore_paths`;
 * - the payload text is what protobuf `MessageToJson` writes (2-space indent, `": "`, non-ASCII
 *   escaped as `\uXXXX`, no trailing newline), with a fixed key order. Python's own key order
 *   varies between runs, so no verifier compares text; this choice only makes ours reproducible.
 *
 * The root digest commits to digests but not to names. A verifier must therefore always compare
 * the full name → digest map with the files on disk ({@link compareResources}), never only the root.
 *
 * Deliberately not here: hashing files (`hash.ts`), signatures (`sign.ts`, `verify-bundle.ts`),
 * certificate chains (`verify-certificate-bundle.ts`) and transparency-log entries
 * (`keyless/verify-bundle.ts`), blake2b and blake3 manifests, and the legacy v0.2 `Digests/v0.1`
 * predicate.
 *
 * @module
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { assertString } from '../../internal/assert.ts';
import { compareCodePoints, concat, fromBase64, fromHex, isLowerHex, toHex, utf8 } from '../common/bytes.ts';
import { type DsseEnvelope, envelopeProblems } from '../common/dsse.ts';
import { type InTotoStatement, STATEMENT_TYPE_V1 } from '../common/statement.ts';
import { type FileReport, ProvenanceError } from '../errors.ts';

/** Predicate type of model_signing v1 / OMS v1.0 signatures. */
export const MODEL_SIGNING_PREDICATE_TYPE = 'https://model_signing/signature/v1.0';
/** The legacy predicate of model_signing v0.2 (recognised so it can be refused by name). */
export const LEGACY_MODEL_SIGNING_PREDICATE_TYPE = 'https://model_signing/Digests/v0.1';
/** Media type of Sigstore bundles v0.3, the only one model_signing v1 writes and reads. */
export const SIGSTORE_BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** Paths model_signing ignores at the model root unless told otherwise. */
export const DEFAULT_GIT_IGNORES: readonly string[] = ['.git', '.gitattributes', '.github', '.gitignore'];
/** Default shard size of model_signing's shard serialization (bytes). */
export const DEFAULT_SHARD_SIZE = 1_000_000_000;

/** One entry of a model manifest. */
export interface ModelResource {
  /** POSIX path relative to the model root; `"."` for a single file; `path:start:end` for a shard. */
  readonly name: string;
  /** `sha256` for whole files, `sha256-sharded-<size>` for shards. */
  readonly algorithm: string;
  /** Lowercase hex SHA-256. */
  readonly digest: string;
}

/** How the manifest was produced (the predicate's `serialization`). */
export interface ModelSerialization {
  readonly method: 'files' | 'shards';
  readonly hash_type: 'sha256';
  readonly allow_symlinks: boolean;
  readonly ignore_paths?: readonly string[];
  /** Shards only. */
  readonly shard_size?: number;
}

/** The model_signing predicate. */
export interface ModelSigningPredicate {
  readonly serialization: ModelSerialization;
  readonly resources: readonly ModelResource[];
}

/** A statement with the model_signing predicate. */
export type ModelSigningStatement = InTotoStatement<ModelSigningPredicate>;

/** A model's manifest: what gets signed, and what verification recomputes from disk. */
export interface ModelManifest {
  /** Informational subject name: the basename of the model path. */
  readonly subjectName: string;
  readonly serialization: ModelSerialization;
  /** In Python `sorted()` order. */
  readonly resources: readonly ModelResource[];
  /** Lowercase hex root digest over `resources` in order. */
  readonly rootDigest: string;
}

/** Public-key material of a Sigstore bundle (v1.1 `hint`, or pre-1.1 `rawBytes` + `keyDetails`). */
export interface BundlePublicKey {
  readonly hint?: string;
  readonly rawBytes?: string;
  readonly keyDetails?: string;
}

/** The parts of a Sigstore bundle v0.3 that key-mode model signing uses; other fields are kept. */
export interface SigstoreBundle {
  readonly mediaType: string;
  readonly verificationMaterial: {
    readonly publicKey?: BundlePublicKey;
    readonly x509CertificateChain?: { readonly certificates: readonly { readonly rawBytes: string }[] };
    readonly certificate?: { readonly rawBytes: string };
    readonly tlogEntries?: readonly unknown[];
    readonly timestampVerificationData?: unknown;
  };
  readonly dsseEnvelope: DsseEnvelope;
}

/** Root digest of resources, in the order given. */
export function rootDigest(resources: readonly ModelResource[]): string {
  return toHex(sha256(concat(...resources.map((r) => fromHex(r.digest)))));
}

interface SortKey {
  readonly parts: readonly string[];
  readonly start: number;
  readonly end: number;
}

function sortKey(resource: ModelResource): SortKey {
  if (resource.algorithm.startsWith('sha256-sharded-')) {
    const m = /^(.*):(\d+):(\d+)$/s.exec(resource.name);
    if (m) return { parts: (m[1] ?? '').split('/'), start: Number(m[2]), end: Number(m[3]) };
  }
  return { parts: resource.name === '.' ? [] : resource.name.split('/'), start: 0, end: 0 };
}

/**
 * Sorts resources as the Python reference does: `PurePosixPath` component tuples (code-point order
 * per component), then shard start and end as integers.
 */
export function sortResources(resources: readonly ModelResource[]): ModelResource[] {
  const keyed = resources.map((r) => ({ r, k: sortKey(r) }));
  keyed.sort((x, y) => {
    const a = x.k.parts;
    const b = y.k.parts;
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = compareCodePoints(a[i] ?? '', b[i] ?? '');
      if (c !== 0) return c;
    }
    if (a.length !== b.length) return a.length - b.length;
    return x.k.start - y.k.start || x.k.end - y.k.end;
  });
  return keyed.map((e) => e.r);
}

/** Builds the in-toto statement for a manifest (key order fixed, as {@link serialiseStatement} writes). */
export function modelStatement(manifest: ModelManifest): ModelSigningStatement {
  const s = manifest.serialization;
  const serialization: ModelSerialization = {
    method: s.method,
    hash_type: s.hash_type,
    allow_symlinks: s.allow_symlinks,
    ...(s.shard_size === undefined ? {} : { shard_size: s.shard_size }),
    ...(s.ignore_paths === undefined ? {} : { ignore_paths: [...s.ignore_paths] }),
  };
  return {
    _type: STATEMENT_TYPE_V1,
    subject: [{ name: manifest.subjectName, digest: { sha256: manifest.rootDigest } }],
    predicateType: MODEL_SIGNING_PREDICATE_TYPE,
    predicate: {
      serialization,
      resources: manifest.resources.map((r) => ({ name: r.name, algorithm: r.algorithm, digest: r.digest })),
    },
  };
}

/**
 * The payload bytes for a statement, as protobuf `MessageToJson` formats them in model_signing:
 * 2-space indent, `": "` separators, non-ASCII escaped `\uXXXX`, no trailing newline.
 */
export function serialiseStatement(statement: ModelSigningStatement): Uint8Array {
  const text = JSON.stringify(statement, null, 2).replace(
    /[\u0080-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return utf8(text);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function base64Ok(value: unknown): boolean {
  if (typeof value !== 'string' || value.length === 0) return false;
  try {
    fromBase64(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * Dotted paths of everything wrong with a Sigstore bundle's structure, for a DSSE-content bundle
 * (empty when well formed). Checks: `mediaType` string; `verificationMaterial` with exactly one of
 * `publicKey`, `x509CertificateChain`, `certificate`; keyless `certificate` material has at least
 * one transparency-log entry (the OMS `missing-tlog-entries` rule); `dsseEnvelope` well formed
 * with exactly one signature (the bundle spec's rule); no `messageSignature`.
 */
export function bundleProblems(value: unknown): string[] {
  if (!isRecord(value)) return ['bundle'];
  const problems: string[] = [];
  if (typeof value.mediaType !== 'string') problems.push('mediaType');
  const vm = value.verificationMaterial;
  if (!isRecord(vm)) {
    problems.push('verificationMaterial');
  } else {
    const kinds = (['publicKey', 'x509CertificateChain', 'certificate'] as const).filter(
      (k) => vm[k] !== undefined,
    );
    if (kinds.length !== 1) problems.push('verificationMaterial.content');
    const pk = vm.publicKey;
    if (pk !== undefined) {
      if (!isRecord(pk)) problems.push('verificationMaterial.publicKey');
      else {
        if (pk.hint !== undefined && typeof pk.hint !== 'string')
          problems.push('verificationMaterial.publicKey.hint');
        if (pk.rawBytes !== undefined && !base64Ok(pk.rawBytes))
          problems.push('verificationMaterial.publicKey.rawBytes');
      }
    }
    const chain = vm.x509CertificateChain;
    if (chain !== undefined) {
      const certs = isRecord(chain) ? chain.certificates : undefined;
      if (!Array.isArray(certs) || certs.length === 0)
        problems.push('verificationMaterial.x509CertificateChain');
      else
        certs.forEach((c: unknown, i: number) => {
          if (!isRecord(c) || !base64Ok(c.rawBytes)) {
            problems.push(`verificationMaterial.x509CertificateChain.certificates[${i}]`);
          }
        });
    }
    const cert = vm.certificate;
    if (cert !== undefined && (!isRecord(cert) || !base64Ok(cert.rawBytes))) {
      problems.push('verificationMaterial.certificate');
    }
    if (vm.tlogEntries !== undefined && !Array.isArray(vm.tlogEntries))
      problems.push('verificationMaterial.tlogEntries');
    if (cert !== undefined && (!Array.isArray(vm.tlogEntries) || vm.tlogEntries.length === 0)) {
      problems.push('verificationMaterial.tlogEntries');
    }
  }
  if (value.messageSignature !== undefined) problems.push('messageSignature');
  if (value.dsseEnvelope === undefined) {
    problems.push('dsseEnvelope');
  } else {
    problems.push(...envelopeProblems(value.dsseEnvelope, 'dsseEnvelope'));
    const sigs = isRecord(value.dsseEnvelope) ? value.dsseEnvelope.signatures : undefined;
    if (Array.isArray(sigs) && sigs.length > 1) problems.push('dsseEnvelope.signatures');
  }
  return [...new Set(problems)];
}

/**
 * Dotted paths of everything wrong with a model_signing predicate (empty when well formed).
 * Resource digests must be lowercase hex SHA-256; names must be safe relative paths
 * (see {@link isSafeResourceName}); names must be unique.
 */
export function predicateProblems(value: unknown): string[] {
  if (!isRecord(value)) return ['predicate'];
  const problems: string[] = [];
  const s = value.serialization;
  if (!isRecord(s)) problems.push('predicate.serialization');
  else {
    if (typeof s.method !== 'string') problems.push('predicate.serialization.method');
    if (typeof s.hash_type !== 'string') problems.push('predicate.serialization.hash_type');
    if (s.allow_symlinks !== undefined && typeof s.allow_symlinks !== 'boolean') {
      problems.push('predicate.serialization.allow_symlinks');
    }
    if (
      s.ignore_paths !== undefined &&
      (!Array.isArray(s.ignore_paths) || !s.ignore_paths.every((p: unknown) => typeof p === 'string'))
    ) {
      problems.push('predicate.serialization.ignore_paths');
    }
    if (
      s.shard_size !== undefined &&
      !(typeof s.shard_size === 'number' && Number.isSafeInteger(s.shard_size) && s.shard_size > 0)
    ) {
      problems.push('predicate.serialization.shard_size');
    }
  }
  const resources = value.resources;
  if (!Array.isArray(resources)) problems.push('predicate.resources');
  else {
    const seen = new Set<string>();
    resources.forEach((r: unknown, i: number) => {
      const at = `predicate.resources[${i}]`;
      if (!isRecord(r)) {
        problems.push(at);
        return;
      }
      if (typeof r.name !== 'string' || seen.has(r.name)) problems.push(`${at}.name`);
      else seen.add(r.name);
      if (typeof r.algorithm !== 'string') problems.push(`${at}.algorithm`);
      if (!isLowerHex(r.digest, 32)) problems.push(`${at}.digest`);
    });
  }
  return problems;
}

/**
 * Normalises a path relative to the model root: `/` separators, no `./`, no trailing `/`.
 *
 * @throws {ProvenanceError} `PROV_PATH_TRAVERSAL` for absolute paths and `..` segments.
 */
export function normaliseRelativePath(path: string, label = 'path'): string {
  assertString(path, label);
  const slashed = path.replaceAll('\\', '/');
  if (slashed.startsWith('/') || /^[A-Za-z]:\//.test(slashed)) {
    throw new ProvenanceError('PROV_PATH_TRAVERSAL', `${label} must be relative to the model root`);
  }
  const parts = slashed.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..'))
    throw new ProvenanceError('PROV_PATH_TRAVERSAL', `${label} must not contain '..'`);
  if (parts.length === 0) {
    throw new ProvenanceError('PROV_PATH_TRAVERSAL', `${label} names the model root itself`);
  }
  return parts.join('/');
}

/**
 * True for a resource name that stays inside the model: `"."`, or a relative POSIX path with no
 * empty, `.` or `..` segment, no backslash and no NUL (shard suffix `:start:end` allowed).
 */
export function isSafeResourceName(name: string): boolean {
  if (name === '.') return true;
  if (name.length === 0 || name.startsWith('/') || name.includes('\\') || name.includes('\0')) return false;
  return name
    .split('/')
    .every((seg) => seg !== '' && seg !== '.' && seg !== '..' && !/^\.\.?:\d+:\d+$/.test(seg));
}

/**
 * Compares the signed resources with those computed from disk and returns one report line per
 * name, sorted by name. A name on disk that is not signed, whose digest equals that of a signed
 * name that is missing, is reported as `renamed` (and the missing one is not reported again).
 */
export function compareResources(
  signed: readonly ModelResource[],
  actual: readonly ModelResource[],
): FileReport[] {
  const signedByName = new Map(signed.map((r) => [r.name, r]));
  const actualByName = new Map(actual.map((r) => [r.name, r]));
  const reports: FileReport[] = [];
  const missing = signed.filter((r) => !actualByName.has(r.name));
  const missingByDigest = new Map<string, ModelResource[]>();
  for (const r of missing) {
    const key = `${r.algorithm}:${r.digest}`;
    missingByDigest.set(key, [...(missingByDigest.get(key) ?? []), r]);
  }
  const renamedFrom = new Set<string>();
  for (const a of actual) {
    const s = signedByName.get(a.name);
    if (s === undefined) {
      const candidates = missingByDigest.get(`${a.algorithm}:${a.digest}`);
      const from = candidates?.shift();
      if (from !== undefined) {
        renamedFrom.add(from.name);
        reports.push({
          name: a.name,
          status: 'renamed',
          code: 'PROV_FILE_RENAMED',
          signedAs: from.name,
          expected: from.digest,
          actual: a.digest,
        });
      } else {
        reports.push({ name: a.name, status: 'extra', code: 'PROV_FILE_EXTRA', actual: a.digest });
      }
    } else if (s.digest !== a.digest || s.algorithm !== a.algorithm) {
      reports.push({
        name: a.name,
        status: 'modified',
        code: 'PROV_FILE_MODIFIED',
        expected: s.digest,
        actual: a.digest,
      });
    } else {
      reports.push({ name: a.name, status: 'ok', expected: s.digest, actual: a.digest });
    }
  }
  for (const r of missing) {
    if (!renamedFrom.has(r.name)) {
      reports.push({ name: r.name, status: 'missing', code: 'PROV_FILE_MISSING', expected: r.digest });
    }
  }
  reports.sort((x, y) => compareCodePoints(x.name, y.name));
  return reports;
}
