/**
 * Signing: raw signatures, DSSE envelopes, and model_signing v1 key-mode bundles written exactly
 * as the Python reference (sigstore/model-transparency 1.1, `sign_ec_key.py`) writes them.
 *
 * - ECDSA signatures are ASN.1 DER over the DSSE PAE, hashed with the curve's hash (P-256 →
 *   SHA-256, P-384 → SHA-384, P-521 → SHA-512), deterministic (RFC 6979) and **low-S**, which every
 *   verifier accepts (Python, OpenSSL, noble with its defaults). Ed25519 signatures are RFC 8032.
 * - A model bundle is a Sigstore bundle v0.3 (`mediaType`, `verificationMaterial.publicKey.hint`
 *   = SHA-256 of the public key's PEM text, `tlogEntries: []`, `dsseEnvelope` with one signature
 *   and `keyid: ""`), written as compact JSON in that key order, like `model.sig` files from
 *   model_signing 1.1. The payload is the statement as `model-signing.ts` serialises it.
 * - model_signing accepts only EC keys, so {@link signModelManifest} refuses Ed25519 with
 *   `PROV_ALGORITHM_UNSUPPORTED`; Ed25519 remains available for DSSE envelopes.
 * - With a certificate chain (`certificateChain`, DER, the signing certificate first, then its
 *   intermediates) the bundle is certificate mode, as model_signing's `sign certificate` writes it:
 *   `verificationMaterial.x509CertificateChain.certificates[].rawBytes` in the order given and
 *   `tlogEntries: []`. The private key must be the signing certificate's key
 *   (`PROV_KEY_CERTIFICATE_MISMATCH` otherwise); the chain itself is validated by the verifier.
 *
 * Signing goes through the small {@link Signer} interface so a KMS, an HSM or a worker can stand in
 * for a local key. Secret key bytes never appear in messages or return values.
 *
 * Deliberately not here: verification (`verify.ts`, kept apart so verify-only code never loads
 * this module), keyless (Fulcio/Rekor) signing, timestamps, and any validation of the chain
 * beyond matching the key (a chain that does not lead to the verifier's anchors fails there).
 *
 * @module
 */

import { toBase64 } from '../common/bytes.ts';
import { createEnvelope, type DsseEnvelope, IN_TOTO_PAYLOAD_TYPE, preAuthEncoding } from '../common/dsse.ts';
import { ed25519Sign } from '../common/ed25519-sign.ts';
import {
  certificatePublicKey,
  ecdsaCurve,
  keyHint,
  PrivateKey,
  type PublicKey,
  privateKeySecret,
  publicKeysEqual,
} from '../common/keys.ts';
import { ProvenanceError } from '../errors.ts';
import { type HashModelOptions, hashModel, relativeInside } from './hash.ts';
import {
  type ModelManifest,
  modelStatement,
  SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
  type SigstoreBundle,
  serialiseStatement,
} from './manifest.ts';

/** Something that signs messages with one key. */
export interface Signer {
  readonly publicKey: PublicKey;
  /** Signs `message` (ECDSA: DER, low-S, hashed with the curve's hash; Ed25519: 64 bytes). */
  sign(message: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

/**
 * Signs a message with a local private key.
 *
 * @example
 * ```ts
 * const sig = signMessage(generateKeyPair('ecdsa-p256'), utf8('hello')); // DER, low-S
 * ```
 */
export function signMessage(key: PrivateKey, message: Uint8Array): Uint8Array {
  if (!(key instanceof PrivateKey))
    throw new ProvenanceError('PROV_KEY_INVALID', 'key must be a confide PrivateKey');
  const secret = privateKeySecret(key);
  if (key.algorithm === 'ed25519') return ed25519Sign(key, message);
  return ecdsaCurve(key.algorithm).sign(message, secret, { format: 'der', lowS: true });
}

/** A {@link Signer} over a local private key. */
export function keySigner(key: PrivateKey): Signer {
  if (!(key instanceof PrivateKey))
    throw new ProvenanceError('PROV_KEY_INVALID', 'key must be a confide PrivateKey');
  return { publicKey: key.publicKey, sign: (message) => signMessage(key, message) };
}

/**
 * Signs a payload into a DSSE envelope with one signature over its PAE.
 *
 * @example
 * ```ts
 * const env = await signEnvelope(IN_TOTO_PAYLOAD_TYPE, canonicalizeToBytes(statement), keySigner(key));
 * ```
 */
export async function signEnvelope(
  payloadType: string,
  payload: Uint8Array,
  signer: Signer,
  keyid = '',
): Promise<DsseEnvelope> {
  const sig = await signer.sign(preAuthEncoding(payloadType, payload));
  return createEnvelope(payloadType, payload, [{ sig, keyid }]);
}

function assertModelSigningKey(publicKey: PublicKey): void {
  if (publicKey.algorithm === 'ed25519') {
    throw new ProvenanceError(
      'PROV_ALGORITHM_UNSUPPORTED',
      'model_signing v1 accepts only ECDSA keys (P-256, P-384, P-521); use an ecdsa-p256 key',
    );
  }
}

function toSigner(key: PrivateKey | Signer): Signer {
  return key instanceof PrivateKey ? keySigner(key) : key;
}

/** Checks a certificate chain for signing: DER certificates, the first one holding the signer's key. */
function assertSigningChain(chain: readonly Uint8Array[], publicKey: PublicKey): void {
  if (!Array.isArray(chain) || chain.length === 0 || !chain.every((c) => c instanceof Uint8Array)) {
    throw new ProvenanceError(
      'PROV_SIGNING_CHAIN_INVALID',
      'certificateChain must be a non-empty array of DER certificates, the signing certificate first',
    );
  }
  if (chain.length > 10) {
    throw new ProvenanceError(
      'PROV_SIGNING_CHAIN_INVALID',
      'certificateChain holds more than 10 certificates',
    );
  }
  const leafKey = certificatePublicKey(chain[0] as Uint8Array);
  if (!publicKeysEqual(leafKey, publicKey)) {
    throw new ProvenanceError(
      'PROV_KEY_CERTIFICATE_MISMATCH',
      'the private key is not the key of the signing certificate (the first certificate of the chain): pass the key the certificate was issued for',
    );
  }
}

/** Options of {@link signModelManifest}. */
export interface SignManifestOptions {
  /**
   * Certificate mode: the signing certificate and then its intermediates, DER, as
   * model_signing's `sign certificate` embeds them. Without it the bundle is key mode.
   */
  readonly certificateChain?: readonly Uint8Array[];
}

/**
 * Signs a model manifest into a model_signing v1 bundle: key mode, or certificate mode with
 * `certificateChain`.
 *
 * @throws {ProvenanceError} `PROV_ALGORITHM_UNSUPPORTED` for Ed25519 keys (model_signing accepts
 *   only EC keys); with a chain `PROV_SIGNING_CHAIN_INVALID`, `PROV_KEY_CERTIFICATE_MISMATCH`,
 *   `PROV_KEY_INVALID`/`PROV_KEY_UNSUPPORTED` (the signing certificate's key).
 */
export async function signModelManifest(
  manifest: ModelManifest,
  key: PrivateKey | Signer,
  options: SignManifestOptions = {},
): Promise<SigstoreBundle> {
  const signer = toSigner(key);
  assertModelSigningKey(signer.publicKey);
  const chain = options.certificateChain;
  if (chain !== undefined) assertSigningChain(chain, signer.publicKey);
  const payload = serialiseStatement(modelStatement(manifest));
  const envelope = await signEnvelope(IN_TOTO_PAYLOAD_TYPE, payload, signer, '');
  const verificationMaterial =
    chain === undefined
      ? { publicKey: { hint: keyHint(signer.publicKey) }, tlogEntries: [] }
      : {
          x509CertificateChain: { certificates: chain.map((der) => ({ rawBytes: toBase64(der) })) },
          tlogEntries: [],
        };
  return { mediaType: SIGSTORE_BUNDLE_V03_MEDIA_TYPE, verificationMaterial, dsseEnvelope: envelope };
}

/** The bundle as model_signing writes `model.sig`: compact JSON, no trailing newline. */
export function serialiseBundle(bundle: SigstoreBundle): string {
  return JSON.stringify(bundle);
}

/** Options of {@link signModel}. */
export interface SignModelOptions
  extends Omit<HashModelOptions, 'method' | 'shardSize'>,
    SignManifestOptions {
  /**
   * Where the signature will be written. When it lies inside the model directory it is ignored
   * (and recorded in `ignore_paths`), as model_signing does.
   */
  readonly signaturePath?: string;
}

/** What {@link signModel} produced. */
export interface SignedModel {
  readonly manifest: ModelManifest;
  readonly bundle: SigstoreBundle;
  /** The bytes to write to the signature file. */
  readonly bundleJson: string;
}

/**
 * Hashes a model (file or directory) and signs it as model_signing v1 does in key mode
 * (`files` serialization, SHA-256).
 *
 * @throws {ProvenanceError} the codes of {@link hashModel} and {@link signModelManifest};
 *   `PROV_MODEL_EMPTY` when no file is left to sign.
 * @example
 * ```ts
 * const { bundleJson } = await signModel('models/resnet', key, { signaturePath: 'models/resnet/model.sig' });
 * await writeFile('models/resnet/model.sig', bundleJson);
 * ```
 */
export async function signModel(
  modelPath: string,
  key: PrivateKey | Signer,
  options: SignModelOptions = {},
): Promise<SignedModel> {
  const signer = toSigner(key);
  const { signaturePath, certificateChain, ...hashOptions } = options;
  const ignorePaths = [...(options.ignorePaths ?? [])];
  if (signaturePath !== undefined) {
    const rel = await relativeInside(modelPath, signaturePath);
    if (rel !== undefined) ignorePaths.push(rel);
  }
  assertModelSigningKey(signer.publicKey); // before hashing a possibly large model
  if (certificateChain !== undefined) assertSigningChain(certificateChain, signer.publicKey);
  const manifest = await hashModel(modelPath, { ...hashOptions, ignorePaths, method: 'files' });
  if (manifest.resources.length === 0) {
    throw new ProvenanceError(
      'PROV_MODEL_EMPTY',
      'the model has no regular files left to sign after the ignores',
    );
  }
  const bundle = await signModelManifest(
    manifest,
    signer,
    certificateChain === undefined ? {} : { certificateChain },
  );
  return { manifest, bundle, bundleJson: serialiseBundle(bundle) };
}
