/**
 * The one way to verify a model_signing v1 bundle, in the shape sigstore-js users know:
 * `verifyModel(source, bundle, trust)` and `verifyModelBundle(bundle, trust)`, always async, any
 * trust mode, always answering with one {@link ModelVerificationReport} (`report.ts`). `trust` is
 * `{ publicKey }` (key mode), `{ certificateAuthorities, at? }` (certificate mode) or
 * `{ trustedRoot, identity, issuer }` (keyless); `source` is `{ files }` (bytes, here) or
 * `{ path }` (files on disk, by the Node entry `confide/provenance`, which passes a disk reader to
 * {@link verifyModelWith}). A verification failure is a report with `valid: false` and the code;
 * only errors that are not verification outcomes (unusable arguments, an unreadable model, an
 * unusable trusted root) are thrown.
 *
 * Browser-safe: nothing here loads `node:*` or signing code.
 *
 * Steps 1–7 run once per trust mode (`verify-bundle.ts`, `verify-certificate-bundle.ts`,
 * `keyless/verify-bundle.ts`); step 8 is the same for both sources: recompute the manifest with
 * the recorded serialization (`recomputation`), by the one manifest builder (`hashModelBytes` here,
 * `hashModel` on disk in `verify-model-disk.ts`), and compare it (`compareManifest`).
 *
 * Deliberately not here: the verification steps themselves, reading the disk
 * (`verify-model-disk.ts`), printing.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertObject, assertString } from '../../internal/assert.ts';
import type { PublicKey } from '../common/keys.ts';
import type { HashBackend, HashProgressCallback } from './hash.ts';
import { hashModelBytes, type ModelBytes } from './hash-bytes.ts';
import { verifyModelBundleKeyless } from './keyless/verify-bundle.ts';
import { type ModelOutcome, type ModelVerificationReport, modelVerificationReport } from './report.ts';
import {
  compareManifest,
  type FileComparison,
  recomputation,
  type VerifiedModelBundle,
  verifyModelBundle as verifyKeyModeBundle,
} from './verify-bundle.ts';
import { verifyModelBundleWithCertificates } from './verify-certificate-bundle.ts';

/** How a model bundle is trusted. */
export type ModelTrust =
  | { readonly publicKey: PublicKey }
  /** PEM text with one or more trusted CA certificates; `at` is the time of the check (default now). */
  | { readonly certificateAuthorities: string; readonly at?: Date }
  /** A Sigstore `trusted_root.json` (text or parsed) and the expected signer identity and OIDC issuer. */
  | { readonly trustedRoot: string | object; readonly identity: string; readonly issuer: string };

/** Options common to both sources. */
interface SourceOptions {
  /** Extra paths (relative to the model root) to leave out, on top of those recorded in the bundle. */
  readonly ignorePaths?: readonly string[];
  /** Ignore `.git`, `.gitattributes`, `.github`, `.gitignore` at the root (default true). */
  readonly ignoreGitPaths?: boolean;
}

/** A model as files on disk (Node only: `confide/provenance`). */
export interface ModelPathSource extends SourceOptions {
  /** The model file or directory. */
  readonly path: string;
  /** Where the signature file is; when it lies inside the model directory it is ignored. */
  readonly signaturePath?: string;
  /** Follow file symlinks inside the model (default false: a link is an error). */
  readonly allowSymlinks?: boolean;
  readonly backend?: HashBackend;
  readonly signal?: AbortSignal;
  /** Bytes hashed so far (`(bytesDone, bytesTotal, files)`), e.g. for a progress bar. */
  readonly onProgress?: HashProgressCallback;
}

/** A model as bytes: one file, or a folder as relative path → bytes (browsers and Node). */
export interface ModelFilesSource extends SourceOptions {
  readonly files: ModelBytes;
  /** What the report calls the model (default `model`). */
  readonly name?: string;
}

/** What {@link verifyModel} verifies: files on disk or files as bytes. */
export type ModelSource = ModelPathSource | ModelFilesSource;

/** Step 8 over a model on disk (provided by the Node entry). */
export type DiskStep = (source: ModelPathSource, verified: VerifiedModelBundle) => Promise<FileComparison>;

/** Step 8 over bytes: recompute the manifest with the recorded serialization and compare. */
function compareModelBytes(verified: VerifiedModelBundle, source: ModelFilesSource): FileComparison {
  const { method, shardSize, ignorePaths } = recomputation(verified, source.ignorePaths);
  const manifest = hashModelBytes(source.files, {
    method,
    ...(shardSize === undefined ? {} : { shardSize }),
    ignorePaths,
    ignoreGitPaths: source.ignoreGitPaths ?? true,
  });
  return compareManifest(verified, manifest, ignorePaths);
}

const TRUST_FORMS =
  'trust must be { publicKey }, { certificateAuthorities, at? } or { trustedRoot, identity, issuer }';

interface TrustPlan {
  readonly mode: ModelOutcome['mode'];
  readonly key?: PublicKey;
  readonly steps1to7: () => Promise<NonNullable<ModelOutcome['bundle']>>;
}

function planTrust(bundle: Uint8Array | string, trust: ModelTrust): TrustPlan {
  if (typeof bundle !== 'string' && !(bundle instanceof Uint8Array))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'bundle must be the bundle bytes or its JSON text');
  if (typeof trust !== 'object' || trust === null)
    throw new ConfideArgumentError('INVALID_ARGUMENT', TRUST_FORMS);
  if ('publicKey' in trust) {
    const key = trust.publicKey;
    if (typeof key !== 'object' || key === null)
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        'trust.publicKey must be a parsed public key (parsePublicKeyPem)',
      );
    return { mode: 'key', key, steps1to7: async () => verifyKeyModeBundle(bundle, key) };
  }
  if ('certificateAuthorities' in trust) {
    const cas = assertString(trust.certificateAuthorities, 'trust.certificateAuthorities', 16 * 1024 * 1024);
    const at = trust.at;
    if (at !== undefined && (!(at instanceof Date) || Number.isNaN(at.getTime())))
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'trust.at must be a valid Date');
    return {
      mode: 'certificate',
      steps1to7: () => verifyModelBundleWithCertificates(bundle, cas, at === undefined ? {} : { at }),
    };
  }
  if ('trustedRoot' in trust) {
    const identity = assertString(trust.identity, 'trust.identity');
    const issuer = assertString(trust.issuer, 'trust.issuer');
    return {
      mode: 'keyless',
      steps1to7: () => verifyModelBundleKeyless(bundle, trust.trustedRoot, { identity, issuer }),
    };
  }
  throw new ConfideArgumentError('INVALID_ARGUMENT', TRUST_FORMS);
}

/**
 * `verifyModel` with the disk step given: the one implementation behind both entries.
 *
 * @internal
 */
export async function verifyModelWith(
  source: ModelSource,
  bundle: Uint8Array | string,
  trust: ModelTrust,
  disk: DiskStep | undefined,
): Promise<ModelVerificationReport> {
  assertObject(source, 'source');
  const hasPath = 'path' in source && source.path !== undefined;
  const hasFiles = 'files' in source && source.files !== undefined;
  if (hasPath === hasFiles)
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'source must be { path } (files on disk) or { files } (bytes), not both',
    );
  let subject: string;
  let step8: (verified: VerifiedModelBundle) => Promise<FileComparison>;
  if (hasPath) {
    const s = source as ModelPathSource;
    subject = assertString(s.path, 'source.path');
    if (disk === undefined)
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        'source.path needs Node: import verifyModel from confide/provenance, or pass { files } here',
      );
    step8 = (verified) => disk(s, verified);
  } else {
    const s = source as ModelFilesSource;
    subject = s.name === undefined ? 'model' : assertString(s.name, 'source.name');
    step8 = async (verified) => compareModelBytes(verified, s);
  }
  const plan = planTrust(bundle, trust);
  const base = { mode: plan.mode, ...(plan.key === undefined ? {} : { key: plan.key }) };
  let verified: NonNullable<ModelOutcome['bundle']>;
  try {
    verified = await plan.steps1to7();
  } catch (error) {
    return modelVerificationReport(subject, { ...base, error });
  }
  try {
    const files = await step8(verified);
    return modelVerificationReport(subject, { ...base, bundle: verified, files });
  } catch (error) {
    return modelVerificationReport(subject, { ...base, bundle: verified, error });
  }
}

/**
 * Verifies a model given as bytes (`{ files }`) against a model_signing v1 bundle in any trust
 * mode and reports every check, the signer and what was not checked. In browsers `{ path }` is
 * refused; the Node entry `confide/provenance` accepts both.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a source or trust of no known form;
 *   {@link ProvenanceError} for unusable paths or trusted root.
 * @example
 * ```ts
 * const report = await verifyModel({ files: new Map([['w.bin', w]]) }, sig, { publicKey });
 * report.valid; report.checks; report.notChecked;
 * ```
 */
export function verifyModel(
  source: ModelSource,
  bundle: Uint8Array | string,
  trust: ModelTrust,
): Promise<ModelVerificationReport> {
  return verifyModelWith(source, bundle, trust, undefined);
}

/**
 * Verifies a model_signing v1 bundle alone (steps 1–7: structure, trust, signature, statement,
 * root digest), not the files it names; the report says the files were not checked.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a trust of no known form.
 * @example
 * ```ts
 * const report = await verifyModelBundle(sig, { certificateAuthorities: caPem });
 * report.rootDigest; // what the signer signed
 * ```
 */
export async function verifyModelBundle(
  bundle: Uint8Array | string,
  trust: ModelTrust,
): Promise<ModelVerificationReport> {
  const plan = planTrust(bundle, trust);
  const base = {
    mode: plan.mode,
    filesRequested: false,
    ...(plan.key === undefined ? {} : { key: plan.key }),
  };
  try {
    return modelVerificationReport('bundle', { ...base, bundle: await plan.steps1to7() });
  } catch (error) {
    return modelVerificationReport('bundle', { ...base, error });
  }
}
