/**
 * Keyless (Sigstore) verification of OpenSSF model_signing v1 bundles (steps 1–7), offline,
 * against a given `trusted_root.json` and an expected signer identity; in Node and in browsers.
 *
 * The Sigstore part (Fulcio certificate chain, embedded SCT, Rekor transparency-log entry with
 * its signed entry timestamp, inclusion proof and checkpoint, RFC 3161 timestamps, certificate
 * validity at the log/timestamp time, and the identity policy: SAN + OIDC issuer extension) is
 * delegated to the maintained verifier `@sigstore/verify` (with `@sigstore/bundle` to read the
 * bundle and `@sigstore/protobuf-specs` to read the trusted root), instead of
 * hand-written X.509 and transparency-log code. These are loaded with a dynamic `import()` only
 * when this function runs, so `confide/provenance` stays light and browser-loadable; in the
 * browser build of `confide/provenance/verify` the Sigstore stack's few uses of `node:crypto` are
 * answered by `shims.ts`.
 *
 * The model-specific part stays ours: our bundle structure check runs first (so the OMS
 * `missing-tlog-entries` vector is refused at the structure step), and after Sigstore accepts the
 * signer, steps 4–7 of `verify-bundle.ts` run with the Fulcio leaf's key. The file comparison
 * (step 8) is `verify-model-disk.ts` (files on disk) or `verify-model.ts` (files as bytes).
 *
 * Identity is mandatory: a keyless bundle proves only that *someone* with an OIDC login signed,
 * so verifying without pinning who would accept any signer. Errors of `@sigstore/verify` are
 * mapped to stable `PROV_*` codes; the original is kept as `cause`.
 *
 * Deliberately not here: fetching or refreshing the trusted root over TUF (the caller supplies
 * it), signing (keyless signing needs an OIDC flow), Rekor v2 specifics beyond what
 * `@sigstore/verify` 3.x supports.
 *
 * @module
 */

import { assertString } from '../../../internal/assert.ts';
import { fromBase64 } from '../../common/bytes.ts';
import { certificatePublicKey, type PublicKey } from '../../common/keys.ts';
import { ProvenanceError, VerificationError, type VerificationErrorCode } from '../../errors.ts';
import { parseModelBundle, type VerifiedModelBundle, verifyParsedModelBundle } from '../verify-bundle.ts';

/** Who must have signed a keyless bundle. */
export interface KeylessIdentity {
  /** The certificate's subject alternative name (an e-mail address or a URI), exactly. */
  readonly identity: string;
  /** The OIDC issuer recorded in the certificate (Fulcio extension 1.3.6.1.4.1.57264.1.8), exactly. */
  readonly issuer: string;
}

/** A keyless bundle that verified (steps 1–7). */
export interface KeylessVerifiedModelBundle extends VerifiedModelBundle {
  readonly identity: string;
  readonly issuer: string;
  readonly publicKey: PublicKey;
}

const SIGSTORE_CODES: Readonly<Record<string, VerificationErrorCode>> = {
  TLOG_ERROR: 'PROV_TLOG_INVALID',
  TLOG_INCLUSION_PROOF_ERROR: 'PROV_TLOG_INVALID',
  TLOG_INCLUSION_PROMISE_ERROR: 'PROV_TLOG_INVALID',
  TLOG_MISSING_INCLUSION_ERROR: 'PROV_TLOG_INVALID',
  TLOG_BODY_ERROR: 'PROV_TLOG_INVALID',
  CERTIFICATE_ERROR: 'PROV_CERTIFICATE_CHAIN_INVALID',
  PUBLIC_KEY_ERROR: 'PROV_KEY_MATERIAL_UNSUPPORTED',
  SIGNATURE_ERROR: 'PROV_SIGNATURE_INVALID',
  TIMESTAMP_ERROR: 'PROV_TIMESTAMP_INVALID',
  UNTRUSTED_SIGNER_ERROR: 'PROV_IDENTITY_MISMATCH',
  NOT_IMPLEMENTED_ERROR: 'PROV_KEY_MATERIAL_UNSUPPORTED',
};

function parseJson(text: string | object, what: string): unknown {
  if (typeof text !== 'string') return text;
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ProvenanceError('PROV_TRUSTED_ROOT_INVALID', `the ${what} is not JSON`, { cause });
  }
}

/**
 * Runs verification steps 1–7 on a keyless model_signing bundle, offline.
 *
 * @param trustedRoot the Sigstore trusted root (`trusted_root.json` text or its parsed object).
 * @throws {VerificationError} `PROV_BUNDLE_*`, `PROV_KEY_MATERIAL_UNSUPPORTED` (not a keyless
 *   bundle), `PROV_CERTIFICATE_CHAIN_INVALID`, `PROV_TLOG_INVALID`, `PROV_TIMESTAMP_INVALID`,
 *   `PROV_IDENTITY_MISMATCH`, `PROV_SIGNATURE_INVALID`, then the statement codes of key mode.
 * @throws {ProvenanceError} `PROV_TRUSTED_ROOT_INVALID`.
 * @example
 * ```ts
 * const verified = await verifyModelBundleKeyless(readFileSync('model.sig'), readFileSync('trusted_root.json', 'utf8'), {
 *   identity: 'alice@example.com',
 *   issuer: 'https://accounts.example.com',
 * });
 * ```
 */
export async function verifyModelBundleKeyless(
  bundleBytes: Uint8Array | string,
  trustedRoot: string | object,
  expected: KeylessIdentity,
): Promise<KeylessVerifiedModelBundle> {
  assertString(expected?.identity, 'expected.identity');
  assertString(expected?.issuer, 'expected.issuer');
  const bundle = parseModelBundle(bundleBytes);
  const leafJson = bundle.verificationMaterial.certificate;
  if (leafJson === undefined) {
    throw new VerificationError(
      'PROV_KEY_MATERIAL_UNSUPPORTED',
      'not a keyless bundle (no Fulcio certificate); use key or certificate verification',
    );
  }
  const rootValue = parseJson(trustedRoot, 'trusted root');
  const { bundleFromJSON, TrustedRoot, Verifier, toSignedEntity, toTrustMaterial } = await import(
    './sigstore.ts'
  );
  let verifier: InstanceType<typeof Verifier>;
  try {
    verifier = new Verifier(toTrustMaterial(TrustedRoot.fromJSON(rootValue)));
  } catch (cause) {
    throw new ProvenanceError('PROV_TRUSTED_ROOT_INVALID', 'the trusted root is not a Sigstore TrustedRoot', {
      cause,
    });
  }
  try {
    const entity = toSignedEntity(bundleFromJSON(bundle));
    verifier.verify(entity, {
      subjectAlternativeName: expected.identity,
      extensions: { issuer: expected.issuer },
    });
  } catch (cause) {
    const sigstoreCode = (cause as { code?: unknown }).code;
    const fields = (cause as { fields?: unknown }).fields;
    if (Array.isArray(fields)) {
      throw new VerificationError('PROV_BUNDLE_MALFORMED', 'the bundle is not a valid Sigstore bundle', {
        cause,
        fields: fields.map(String),
      });
    }
    const code = typeof sigstoreCode === 'string' ? SIGSTORE_CODES[sigstoreCode] : undefined;
    const detail = cause instanceof Error ? cause.message.split('\n')[0] : 'verification failed';
    throw new VerificationError(code ?? 'PROV_SIGNATURE_INVALID', `Sigstore verification failed: ${detail}`, {
      cause,
    });
  }
  let key: PublicKey;
  try {
    key = certificatePublicKey(fromBase64(leafJson.rawBytes));
  } catch (cause) {
    throw new VerificationError(
      'PROV_KEY_MATERIAL_UNSUPPORTED',
      'the Fulcio certificate key is not supported',
      {
        cause,
      },
    );
  }
  const verified = verifyParsedModelBundle(bundle, key, 'keyless-certificate');
  return { ...verified, identity: expected.identity, issuer: expected.issuer, publicKey: key };
}
