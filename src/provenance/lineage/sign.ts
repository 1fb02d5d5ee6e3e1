/**
 * Signing of lineage attestations: a lineage statement (`lineage.ts`) in a DSSE envelope whose
 * payload is the statement's RFC 8785 canonical form, signed over the DSSE PAE by one or more
 * {@link Signer}s (Ed25519 or ECDSA; ECDSA signatures are DER and low-S, see `sign.ts`). Each
 * signature's `keyid` is the signer's key ID (SHA-256 of its DER SPKI, `policy.ts`), an
 * unauthenticated hint that lets a verifier pick the right trusted key first.
 *
 * Countersigning ({@link countersignAttestation}) adds a signature over the same payload, so k-of-n
 * policies can be met by signers who sign at different times; the attestation digest, which covers
 * the payload only, does not change.
 *
 * Also here: {@link attestInferenceBatch}, the one call the `he` commands use to emit the
 * attestation of an encrypted-inference batch, and {@link linkInput}, which points an input at
 * the attestation that produced it.
 *
 * Deliberately not here: verification (`lineage-verify.ts` never imports this module), file hashing.
 *
 * @module
 */

import { decodeUtf8, toBase64 } from '../common/bytes.ts';
import {
  assertEnvelope,
  type DsseEnvelope,
  envelopePayload,
  IN_TOTO_PAYLOAD_TYPE,
  preAuthEncoding,
} from '../common/dsse.ts';
import { PrivateKey } from '../common/keys.ts';
import { assertStatement, STATEMENT_TYPE_V1 } from '../common/statement.ts';
import { ProvenanceError, VerificationError } from '../errors.ts';
import { keySigner, type Signer } from '../model-signing/sign.ts';
import { keyId } from './policy.ts';
import {
  type AggregationRoundEvent,
  aggregationRoundStatement,
  attestationDigest,
  type InferenceBatchEvent,
  inferenceBatchStatement,
  type LineageArtifact,
  type LineageEventInput,
  type LineageStatement,
  lineagePayload,
  lineageStatement,
} from './statement.ts';

/** A signed lineage attestation. */
export interface LineageAttestation {
  readonly statement: LineageStatement;
  readonly envelope: DsseEnvelope;
  /** The attestation digest (SHA-256 of the payload), which downstream inputs reference. */
  readonly digest: string;
}

function toSigners(keys: PrivateKey | Signer | readonly (PrivateKey | Signer)[]): Signer[] {
  const list = Array.isArray(keys) ? keys : [keys];
  if (list.length === 0) throw new ProvenanceError('PROV_KEY_INVALID', 'at least one signing key is needed');
  return list.map((k: PrivateKey | Signer) => (k instanceof PrivateKey ? keySigner(k) : k));
}

async function signatureOf(signer: Signer, payload: Uint8Array): Promise<{ sig: string; keyid: string }> {
  const sig = await signer.sign(preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload));
  return { sig: toBase64(sig), keyid: keyId(signer.publicKey) };
}

/**
 * Signs a lineage statement with one or more keys (one DSSE signature per key).
 *
 * @throws {ProvenanceError} `PROV_KEY_INVALID` for no keys, `PROV_JCS_UNSUPPORTED_VALUE`.
 * @example
 * ```ts
 * const { envelope, digest } = await signLineage(lineageStatement(event), [alice, bob]);
 * await writeFile('train.intoto.json', JSON.stringify(envelope));
 * ```
 */
export async function signLineage(
  statement: LineageStatement,
  keys: PrivateKey | Signer | readonly (PrivateKey | Signer)[],
): Promise<LineageAttestation> {
  const signers = toSigners(keys);
  const payload = lineagePayload(statement);
  const signatures = [];
  for (const signer of signers) signatures.push(await signatureOf(signer, payload));
  return {
    statement,
    envelope: { payload: toBase64(payload), payloadType: IN_TOTO_PAYLOAD_TYPE, signatures },
    digest: attestationDigest(payload),
  };
}

/**
 * Builds and signs the attestation of one event.
 *
 * @throws {ProvenanceError} `PROV_LINEAGE_INVALID` (see `lineageStatement`), `PROV_KEY_INVALID`.
 */
export async function attestEvent(
  event: LineageEventInput,
  keys: PrivateKey | Signer | readonly (PrivateKey | Signer)[],
): Promise<LineageAttestation> {
  return signLineage(lineageStatement(event), keys);
}

/**
 * Adds a signature to an existing attestation (same payload, so the same attestation digest).
 * Does not verify the existing signatures; a signer with a signature already present is refused.
 *
 * @throws {ProvenanceError} `PROV_ENVELOPE_INVALID`, or `PROV_KEY_INVALID` when this key already signed.
 */
export async function countersignAttestation(
  envelope: unknown,
  key: PrivateKey | Signer,
): Promise<DsseEnvelope> {
  assertEnvelope(envelope);
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new ProvenanceError('PROV_ENVELOPE_INVALID', `expected payload type ${IN_TOTO_PAYLOAD_TYPE}`, {
      fields: ['envelope.payloadType'],
    });
  }
  const [signer] = toSigners(key) as [Signer];
  const id = keyId(signer.publicKey);
  if (envelope.signatures.some((s) => s.keyid === id)) {
    throw new ProvenanceError(
      'PROV_KEY_INVALID',
      `key ${id.slice(0, 16)}… has already signed this attestation`,
    );
  }
  const added = await signatureOf(signer, envelopePayload(envelope));
  return { ...envelope, signatures: [...envelope.signatures, added] };
}

/** @deprecated the former name of {@link countersignAttestation} (named after Sigstore's tool). */
export const cosignAttestation = countersignAttestation;

/**
 * Builds and signs the attestation of one encrypted-inference batch (event `inference-batch`):
 * model digest (and, when known, the attestation that produced the model), key-set id, batch
 * digest, result digest and parameters. This is what `confide he infer` calls.
 *
 * @throws {ProvenanceError} `PROV_LINEAGE_INVALID` (a digest that is not sha256 hex, an empty
 *   key-set id, parameters that are not a JSON object), `PROV_KEY_INVALID`.
 * @example
 * ```ts
 * const { envelope } = await attestInferenceBatch(
 *   {
 *     model: { name: 'model.json', digest: modelSha256, attestation: exportAttestationDigest },
 *     batch: { name: 'batch.cfd', digest: sha256Hex(batchBytes) },
 *     result: { name: 'result.cfd', digest: sha256Hex(resultBytes) },
 *     keySetId: server.keySetId,
 *     parameters: { layout: 'batch', degree: 8192, scaleBits: 33 },
 *   },
 *   serverKey,
 * );
 * ```
 */
export async function attestInferenceBatch(
  batch: InferenceBatchEvent,
  keys: PrivateKey | Signer | readonly (PrivateKey | Signer)[],
): Promise<LineageAttestation> {
  return signLineage(inferenceBatchStatement(batch), keys);
}

/**
 * Links an input artifact to the attestation of the event that produced it: checks that the
 * upstream envelope is an in-toto DSSE envelope whose statement lists the artifact's digest as a
 * subject, and returns the artifact with the upstream attestation digest. The upstream may be
 * another producer's statement (any predicate type, in-toto Statement v1 or v0.1, any JSON
 * formatting): the digest is over its payload bytes as received. Signatures are not checked here
 * (the verifier does that with a policy).
 *
 * @throws {ProvenanceError} `PROV_ENVELOPE_INVALID` / `PROV_STATEMENT_INVALID` for an upstream
 *   that is not an in-toto attestation; {@link VerificationError} `PROV_LINEAGE_INPUT_NOT_PRODUCED`
 *   when the upstream does not list this digest (the file changed since it was attested).
 */
export function linkInput(artifact: LineageArtifact, upstream: unknown): LineageArtifact {
  assertEnvelope(upstream);
  if (upstream.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new ProvenanceError(
      'PROV_ENVELOPE_INVALID',
      `the upstream's payload type is not ${IN_TOTO_PAYLOAD_TYPE}`,
      {
        fields: ['envelope.payloadType'],
      },
    );
  }
  const payload = envelopePayload(upstream);
  let statement: unknown;
  try {
    statement = JSON.parse(decodeUtf8(payload) ?? '');
  } catch {
    statement = undefined;
  }
  // in-toto Statement v0.1 has the same fields; other producers still write it.
  const isV01 =
    typeof statement === 'object' &&
    statement !== null &&
    (statement as { _type?: unknown })._type === 'https://in-toto.io/Statement/v0.1';
  if (isV01) statement = { ...(statement as object), _type: STATEMENT_TYPE_V1 };
  assertStatement(statement);
  if (!statement.subject.some((s) => s.digest.sha256 === artifact.digest)) {
    throw new VerificationError(
      'PROV_LINEAGE_INPUT_NOT_PRODUCED',
      `${artifact.name === undefined ? 'the input' : `'${artifact.name}'`} (sha256 ${artifact.digest.slice(0, 16)}…) is not an output of the given upstream attestation`,
    );
  }
  return { ...artifact, attestation: attestationDigest(payload) };
}

/**
 * Builds and signs the attestation of one secure-aggregation round (event `aggregation-round`).
 * This is what the `smpc` commands call.
 *
 * @throws {ProvenanceError} `PROV_LINEAGE_INVALID`, `PROV_KEY_INVALID`.
 */
export async function attestAggregationRound(
  round: AggregationRoundEvent,
  keys: PrivateKey | Signer | readonly (PrivateKey | Signer)[],
): Promise<LineageAttestation> {
  return signLineage(aggregationRoundStatement(round), keys);
}
