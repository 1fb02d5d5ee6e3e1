/**
 * Verification: raw signatures, DSSE envelopes, and OpenSSF model_signing v1 bundles in key mode,
 * as a fixed sequence of steps, each failing with its own {@link VerificationError} code:
 *
 * 1. parse the bundle JSON (`PROV_BUNDLE_UNPARSABLE`);
 * 2. check the bundle structure (`PROV_BUNDLE_MALFORMED`, with `fields`) and media type
 *    (`PROV_BUNDLE_MEDIA_TYPE`: Sigstore bundle v0.3 only, as model_signing);
 * 3. check the key material against the given key (`PROV_KEY_MISMATCH`): the v1.1 `hint` must be
 *    the SHA-256 of the key's PEM text; a pre-1.1 `rawBytes` PEM, when it parses, must be the same
 *    key; an `x509CertificateChain` leaf must carry the same key (key mode never validates the
 *    chain itself, exactly like model_signing's key verifier); keyless `certificate` material is
 *    refused here (`PROV_KEY_MATERIAL_UNSUPPORTED`);
 * 4. check the payload type (`PROV_PAYLOAD_TYPE`);
 * 5. verify the one DSSE signature over the PAE of the payload bytes **as received**
 *    (`PROV_SIGNATURE_INVALID`). ECDSA is checked with the curve's hash, DER encoding and
 *    **high-S accepted** (`lowS: false`): model_signing and OpenSSL do not normalise S, so about
 *    half of real signatures are high-S;
 * 6. parse the statement (`PROV_PAYLOAD_MALFORMED`, `PROV_STATEMENT_TYPE`, `PROV_PREDICATE_TYPE`,
 *    `PROV_SUBJECT_INVALID`), refusing unsafe resource names (`PROV_MANIFEST_PATH_INVALID`);
 * 7. recompute the root digest over the resources as listed (`PROV_ROOT_DIGEST_MISMATCH`);
 * 8. (with files) re-hash the model with the recorded serialization and compare the full
 *    name → digest map (`PROV_FILE_MODIFIED`, `PROV_FILE_RENAMED`, `PROV_FILE_MISSING`,
 *    `PROV_FILE_EXTRA`, in that order of precedence; the per-file report is in `files`).
 *
 * Steps 1–7 are here ({@link verifyModelBundle}), and so are the parts of step 8 that need no
 * file: what to recompute ({@link recomputation}) and the comparison ({@link checkModelResources}).
 * This module is pure and never reaches a `node:` module, not even lazily, so browser bundlers
 * accept it. The files of step 8 are hashed by `verify-model-disk.ts` (`{ path }`, Node: reads the
 * disk) or `verify-model.ts` (`{ files }`: bytes, e.g. in a browser), then compared here
 * ({@link compareManifest}).
 *
 * Deliberately not here: reading files (`verify-model-disk.ts`); signing (`sign.ts`);
 * certificate-chain validation (`verify-certificate-bundle.ts`) and keyless Sigstore verification
 * (`keyless/verify-bundle.ts`), which reuse steps 4–7 from here; the legacy v0.2 format (`Digests/v0.1`
 * predicate, non-standard PAE), refused at step 5 or 6; manifests other than `files`/`shards`
 * with SHA-256 (`PROV_MANIFEST_UNSUPPORTED`).
 *
 * @module
 */

import { ed25519 } from '@noble/curves/ed25519.js';
import { assertInteger } from '../../internal/assert.ts';
import { decodeUtf8, fromBase64, isLowerHex } from '../common/bytes.ts';
import { type DsseEnvelope, envelopePayload, IN_TOTO_PAYLOAD_TYPE, preAuthEncoding } from '../common/dsse.ts';
import {
  certificatePublicKey,
  ecdsaCurve,
  type KeyAlgorithm,
  keyHint,
  type PublicKey,
  parsePublicKeyDer,
  parsePublicKeyPem,
  publicKeysEqual,
} from '../common/keys.ts';
import { STATEMENT_TYPE_V1 } from '../common/statement.ts';
import {
  type FileReport,
  ProvenanceError,
  VerificationError,
  type VerificationErrorCode,
} from '../errors.ts';
import {
  bundleProblems,
  compareResources,
  isSafeResourceName,
  LEGACY_MODEL_SIGNING_PREDICATE_TYPE,
  MODEL_SIGNING_PREDICATE_TYPE,
  type ModelResource,
  type ModelSerialization,
  type ModelSigningStatement,
  normaliseRelativePath,
  predicateProblems,
  rootDigest,
  SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
  type SigstoreBundle,
} from './manifest.ts';

/** Media types accepted for Sigstore bundles v0.3 (protobuf-specs lists both spellings). */
const BUNDLE_V03_MEDIA_TYPES: readonly string[] = [
  SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
  'application/vnd.dev.sigstore.bundle+json;version=0.3',
];

const KEY_DETAILS: Readonly<Record<string, KeyAlgorithm>> = {
  PKIX_ECDSA_P256_SHA_256: 'ecdsa-p256',
  PKIX_ECDSA_P384_SHA_384: 'ecdsa-p384',
  PKIX_ECDSA_P521_SHA_512: 'ecdsa-p521',
  PKIX_ED25519: 'ed25519',
};

function fail(code: VerificationErrorCode, message: string, fields?: readonly string[]): never {
  throw new VerificationError(code, message, fields === undefined ? {} : { fields });
}

/**
 * Verifies one signature. ECDSA: DER, hashed with the curve's hash, high-S accepted. Ed25519:
 * RFC 8032. Never throws for a bad signature; returns false.
 *
 * @example
 * ```ts
 * verifySignature(publicKey, preAuthEncoding(type, payload), sigBytes); // true | false
 * ```
 */
export function verifySignature(key: PublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (key.algorithm === 'ed25519') return ed25519.verify(signature, message, key.bytes);
    return ecdsaCurve(key.algorithm).verify(signature, message, key.bytes, { format: 'der', lowS: false });
  } catch {
    return false;
  }
}

/**
 * Verifies a DSSE envelope against trusted keys: at least `threshold` distinct keys must each have
 * a valid signature over the PAE. Returns the payload bytes (as received) on success.
 *
 * @throws {VerificationError} `PROV_PAYLOAD_TYPE` when `payloadType` is given and differs,
 *   `PROV_SIGNATURE_INVALID` when fewer than `threshold` keys verify.
 */
export function verifyEnvelope(
  envelope: DsseEnvelope,
  keys: readonly PublicKey[],
  options: { readonly payloadType?: string; readonly threshold?: number } = {},
): Uint8Array {
  if (options.payloadType !== undefined && envelope.payloadType !== options.payloadType) {
    fail(
      'PROV_PAYLOAD_TYPE',
      `expected DSSE payload type ${options.payloadType}, got ${envelope.payloadType}`,
    );
  }
  const threshold = assertInteger(options.threshold ?? 1, 'threshold', 1, 1024);
  const payload = envelopePayload(envelope);
  const pae = preAuthEncoding(envelope.payloadType, payload);
  const signatures = envelope.signatures.map((s) => fromBase64(s.sig, 'DSSE signature'));
  // Count distinct keys only, so listing one key twice cannot satisfy a k-of-n threshold.
  const distinct = keys.filter((k, i) => keys.findIndex((o) => publicKeysEqual(o, k)) === i);
  const verified = distinct.filter((k) => signatures.some((sig) => verifySignature(k, pae, sig)));
  if (verified.length < threshold) {
    fail(
      'PROV_SIGNATURE_INVALID',
      `${verified.length} of the required ${threshold} key(s) signed this envelope`,
    );
  }
  return payload;
}

/**
 * What key material a verified bundle carried: a v1.1 `hint`, a pre-1.1 `rawBytes` key, a
 * certificate chain, a keyless (Fulcio) certificate, or a `publicKey` entry that names no key (then
 * only the signature decides).
 */
export type KeyMaterialKind =
  | 'hint'
  | 'raw-bytes'
  | 'certificate-chain'
  | 'keyless-certificate'
  | 'unnamed-public-key';

/** A bundle whose signature and statement verified (steps 1–7). */
export interface VerifiedModelBundle {
  readonly statement: ModelSigningStatement;
  readonly subjectName: string;
  readonly rootDigest: string;
  readonly serialization: ModelSerialization;
  readonly resources: readonly ModelResource[];
  readonly keyMaterial: KeyMaterialKind;
  /** The payload bytes exactly as signed. */
  readonly payload: Uint8Array;
}

function checkKeyMaterial(bundle: SigstoreBundle, key: PublicKey): KeyMaterialKind {
  const vm = bundle.verificationMaterial;
  const mismatch = (what: string): never =>
    fail('PROV_KEY_MISMATCH', `the ${what} in the bundle does not match the given public key`);
  if (vm.publicKey !== undefined) {
    const { hint, rawBytes, keyDetails } = vm.publicKey;
    if (
      typeof keyDetails === 'string' &&
      KEY_DETAILS[keyDetails] !== undefined &&
      KEY_DETAILS[keyDetails] !== key.algorithm
    ) {
      mismatch(`key type ${keyDetails}`);
    }
    if (hint !== undefined && hint !== '') {
      if (hint !== keyHint(key)) mismatch('public key hint');
      return 'hint';
    }
    if (rawBytes !== undefined) {
      // Pre-1.1 bundles carry base64 of the PEM text; unparseable material is ignored, as in
      // model_signing, since the signature check below decides anyway.
      const raw = fromBase64(rawBytes);
      let embedded: PublicKey | undefined;
      try {
        const text = decodeUtf8(raw);
        embedded = text?.includes('-----BEGIN') ? parsePublicKeyPem(text) : parsePublicKeyDer(raw);
      } catch {
        embedded = undefined;
      }
      if (embedded !== undefined && !publicKeysEqual(embedded, key)) mismatch('embedded public key');
      return 'raw-bytes';
    }
    return 'unnamed-public-key';
  }
  if (vm.x509CertificateChain !== undefined) {
    const leaf = vm.x509CertificateChain.certificates[0];
    let leafKey: PublicKey | undefined;
    try {
      leafKey = leaf === undefined ? undefined : certificatePublicKey(fromBase64(leaf.rawBytes));
    } catch {
      leafKey = undefined;
    }
    if (leafKey === undefined || !publicKeysEqual(leafKey, key)) mismatch('signing certificate key');
    return 'certificate-chain';
  }
  return fail(
    'PROV_KEY_MATERIAL_UNSUPPORTED',
    'this is a keyless (Sigstore) bundle; it must be verified against a trusted root, not a public key',
  );
}

/**
 * Steps 1–2: parses a bundle and checks its structure and media type.
 *
 * @throws {VerificationError} `PROV_BUNDLE_UNPARSABLE`, `PROV_BUNDLE_MALFORMED` (with `fields`),
 *   `PROV_BUNDLE_MEDIA_TYPE`.
 */
export function parseModelBundle(input: Uint8Array | string): SigstoreBundle {
  const text = typeof input === 'string' ? input : decodeUtf8(input);
  let value: unknown;
  try {
    if (text === undefined) throw new Error('not UTF-8');
    value = JSON.parse(text);
  } catch {
    fail('PROV_BUNDLE_UNPARSABLE', 'the signature file is not JSON');
  }
  const problems = bundleProblems(value);
  if (problems.length > 0) {
    fail('PROV_BUNDLE_MALFORMED', `not a valid Sigstore bundle: invalid ${problems.join(', ')}`, problems);
  }
  const bundle = value as SigstoreBundle;
  if (!BUNDLE_V03_MEDIA_TYPES.includes(bundle.mediaType)) {
    fail('PROV_BUNDLE_MEDIA_TYPE', `expected a Sigstore bundle v0.3, got media type '${bundle.mediaType}'`);
  }
  return bundle;
}

/**
 * Runs verification steps 1–7 on a model_signing bundle (the contents of `model.sig`) with a
 * trusted public key. Pure: no filesystem, runs in browsers.
 *
 * @throws {VerificationError} with the code of the failing step (see the module notes).
 * @example
 * ```ts
 * const verified = verifyModelBundle(readFileSync('model.sig'), parsePublicKeyPem(pem));
 * verified.rootDigest; // then compare verified.resources with the files (verifyModel does both)
 * ```
 */
export function verifyModelBundle(bundleBytes: Uint8Array | string, key: PublicKey): VerifiedModelBundle {
  const bundle = parseModelBundle(bundleBytes);
  return verifyParsedModelBundle(bundle, key, checkKeyMaterial(bundle, key));
}

/**
 * Steps 4–7 on a parsed bundle whose key material has already been checked against `key`
 * (`verifyModelBundle` does that for key mode, `verify-certificate-bundle.ts` for certificate mode,
 * `keyless/verify-bundle.ts` for keyless).
 *
 * @throws {VerificationError} with the code of the failing step.
 */
export function verifyParsedModelBundle(
  bundle: SigstoreBundle,
  key: PublicKey,
  keyMaterial: KeyMaterialKind,
): VerifiedModelBundle {
  const envelope = bundle.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    fail(
      'PROV_PAYLOAD_TYPE',
      `expected DSSE payload type ${IN_TOTO_PAYLOAD_TYPE}, got ${envelope.payloadType}`,
    );
  }
  const payload = envelopePayload(envelope);
  const signature = envelope.signatures[0];
  if (
    signature === undefined ||
    !verifySignature(key, preAuthEncoding(envelope.payloadType, payload), fromBase64(signature.sig))
  ) {
    fail(
      'PROV_SIGNATURE_INVALID',
      'the signature does not verify with the given key over the payload as received',
    );
  }

  let statement: unknown;
  try {
    const text = decodeUtf8(payload);
    if (text === undefined) throw new Error('not UTF-8');
    statement = JSON.parse(text);
  } catch {
    fail('PROV_PAYLOAD_MALFORMED', 'the signed payload is not JSON');
  }
  if (typeof statement !== 'object' || statement === null || Array.isArray(statement)) {
    fail('PROV_PAYLOAD_MALFORMED', 'the signed payload is not a JSON object');
  }
  const s = statement as Record<string, unknown>;
  if (s._type !== STATEMENT_TYPE_V1)
    fail('PROV_STATEMENT_TYPE', `expected an in-toto ${STATEMENT_TYPE_V1} payload`);
  if (s.predicateType !== MODEL_SIGNING_PREDICATE_TYPE) {
    const legacy =
      s.predicateType === LEGACY_MODEL_SIGNING_PREDICATE_TYPE
        ? ' (the legacy v0.2 format is not supported)'
        : '';
    fail(
      'PROV_PREDICATE_TYPE',
      `expected predicate type ${MODEL_SIGNING_PREDICATE_TYPE}, got ${String(s.predicateType)}${legacy}`,
    );
  }
  const subjects = s.subject;
  const subject = Array.isArray(subjects) && subjects.length === 1 ? (subjects[0] as unknown) : undefined;
  const digest =
    typeof subject === 'object' && subject !== null
      ? (subject as { digest?: { sha256?: unknown } }).digest?.sha256
      : undefined;
  if (!isLowerHex(digest, 32)) {
    fail('PROV_SUBJECT_INVALID', 'the statement must have exactly one subject with a sha256 digest');
  }
  const problems = predicateProblems(s.predicate);
  if (problems.length > 0) fail('PROV_PAYLOAD_MALFORMED', `invalid ${problems.join(', ')}`, problems);
  const predicate = (statement as ModelSigningStatement).predicate as NonNullable<
    ModelSigningStatement['predicate']
  >;
  const unsafe = predicate.resources.filter((r) => !isSafeResourceName(r.name)).map((r) => r.name);
  if (unsafe.length > 0) {
    fail(
      'PROV_MANIFEST_PATH_INVALID',
      `unsafe resource name(s) in the manifest: ${unsafe
        .slice(0, 5)
        .map((n) => JSON.stringify(n))
        .join(', ')}`,
    );
  }
  const recomputed = rootDigest(predicate.resources);
  if (recomputed !== digest) {
    fail(
      'PROV_ROOT_DIGEST_MISMATCH',
      `the manifest is inconsistent: subject digest ${digest}, resources hash to ${recomputed}`,
    );
  }
  const subjectName = (subject as { name?: unknown }).name;
  return {
    statement: statement as ModelSigningStatement,
    subjectName: typeof subjectName === 'string' ? subjectName : '',
    rootDigest: digest,
    serialization: predicate.serialization,
    resources: predicate.resources,
    keyMaterial,
    payload,
  };
}

const FILE_CODE_PRECEDENCE: readonly VerificationErrorCode[] = [
  'PROV_FILE_MODIFIED',
  'PROV_FILE_RENAMED',
  'PROV_FILE_MISSING',
  'PROV_FILE_EXTRA',
];

/**
 * Checks the verified manifest against resources computed from disk (step 8).
 *
 * @throws {VerificationError} `PROV_FILE_MODIFIED`, `PROV_FILE_RENAMED`, `PROV_FILE_MISSING` or
 *   `PROV_FILE_EXTRA` (first that applies, in that order), with the report in `files`.
 */
export function checkModelResources(
  signed: readonly ModelResource[],
  actual: readonly ModelResource[],
): FileReport[] {
  const files = compareResources(signed, actual);
  const bad = files.filter((f) => f.status !== 'ok');
  if (bad.length > 0) {
    const code = FILE_CODE_PRECEDENCE.find((c) => bad.some((f) => f.code === c)) ?? 'PROV_FILE_MODIFIED';
    const list = bad
      .slice(0, 5)
      .map((f) => `${f.status} '${f.name}'${f.signedAs === undefined ? '' : ` (signed as '${f.signedAs}')`}`)
      .join(', ');
    throw new VerificationError(
      code,
      `${bad.length} file(s) differ from the signed manifest: ${list}${bad.length > 5 ? ', …' : ''}`,
      { files, fields: bad.map((f) => f.name) },
    );
  }
  return files;
}

/** What step 8 recomputes for a verified bundle: see {@link recomputation}. */
export interface Recomputation {
  readonly method: 'files' | 'shards';
  /** Shards only. */
  readonly shardSize?: number;
  /** The bundle's recorded `ignore_paths` and the caller's, normalised, without duplicates. */
  readonly ignorePaths: readonly string[];
}

/**
 * Step 8, first half: checks that the verified manifest's serialization can be recomputed here
 * (SHA-256, `files` or `shards` with a recorded shard size) and collects the paths to leave out:
 * those recorded in the bundle and the caller's. Used by `verify-model-disk.ts` (disk) and
 * `verify-model.ts` (bytes) so both recompute exactly the same manifest.
 *
 * @throws {VerificationError} `PROV_MANIFEST_UNSUPPORTED`, `PROV_MANIFEST_PATH_INVALID` (an unsafe
 *   recorded ignore path); {@link ProvenanceError} `PROV_PATH_TRAVERSAL` for an unsafe caller path.
 */
export function recomputation(
  verified: VerifiedModelBundle,
  callerIgnorePaths: readonly string[] = [],
): Recomputation {
  const ser = verified.serialization;
  if (ser.hash_type !== 'sha256' || (ser.method !== 'files' && ser.method !== 'shards')) {
    fail(
      'PROV_MANIFEST_UNSUPPORTED',
      `cannot recompute a '${String(ser.method)}' manifest with '${String(ser.hash_type)}'`,
    );
  }
  if (ser.method === 'shards' && ser.shard_size === undefined) {
    fail('PROV_MANIFEST_UNSUPPORTED', 'a shards manifest must record its shard_size', [
      'predicate.serialization.shard_size',
    ]);
  }
  const recorded: string[] = [];
  for (const p of ser.ignore_paths ?? []) {
    try {
      recorded.push(normaliseRelativePath(p, 'recorded ignore path'));
    } catch (cause) {
      if (cause instanceof ProvenanceError) {
        fail('PROV_MANIFEST_PATH_INVALID', `the bundle records an unsafe ignore path ${JSON.stringify(p)}`);
      }
      throw cause;
    }
  }
  const callerIgnores = callerIgnorePaths.map((p, i) => normaliseRelativePath(p, `ignorePaths[${i}]`));
  return {
    method: ser.method,
    ...(ser.method === 'shards' && ser.shard_size !== undefined ? { shardSize: ser.shard_size } : {}),
    ignorePaths: [...new Set([...recorded, ...callerIgnores])],
  };
}

/** What step 8 found: every file compared, and the paths that were left out. */
export interface FileComparison {
  readonly files: FileReport[];
  /** Paths that were left out (recorded in the bundle, given by the caller, or the signature file). */
  readonly ignoredPaths: readonly string[];
}

/**
 * Step 8, second half, for disk and bytes alike: compares the manifest recomputed with
 * {@link recomputation}'s settings (by `hashModel` or `hashModelBytes`, the one builder
 * `build-manifest.ts`) with the verified one.
 *
 * @throws {VerificationError} `PROV_FILE_*` as {@link checkModelResources}.
 */
export function compareManifest(
  verified: VerifiedModelBundle,
  recomputed: {
    readonly resources: readonly ModelResource[];
    readonly serialization: { readonly ignore_paths?: readonly string[] };
  },
  ignorePaths: readonly string[],
): FileComparison {
  const files = checkModelResources(verified.resources, recomputed.resources);
  return { files, ignoredPaths: recomputed.serialization.ignore_paths ?? ignorePaths };
}
