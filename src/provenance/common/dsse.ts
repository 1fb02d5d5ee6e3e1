/**
 * DSSE (Dead Simple Signing Envelope, secure-systems-lab/dsse protocol v1.0.2): the envelope
 * type, its strict validator, and the pre-authentication encoding (PAE) that is what actually
 * gets signed.
 *
 * `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, with lengths as ASCII
 * decimal byte counts (protocol.md § "Signature definition"). Signatures are always computed and
 * checked over the payload bytes **as received**: this module never re-serialises a payload.
 *
 * The envelope JSON (envelope.md) is `{ payload: base64, payloadType, signatures: [{ sig: base64,
 * keyid? }] }`. `keyid` is optional and unauthenticated; model_signing writes `""` (v1.1) or
 * `null` (earlier) and the Go client omits it, so all three are accepted on input.
 *
 * Deliberately not here: signing and verifying (see `sign.ts` and `verify.ts`, kept apart so a
 * verify-only consumer never loads signing code), and the legacy "DSSEV1 … repr(bytes)" encoding
 * written by model_signing v0.2 (not supported).
 *
 * @module
 */

import { ProvenanceError } from '../errors.ts';
import { concat, fromBase64, toBase64, utf8 } from './bytes.ts';

/** The DSSE payload type of in-toto statements. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** One signature in a DSSE envelope, as JSON. */
export interface DsseSignature {
  /** Standard (or URL-safe, on input) base64 of the signature bytes. */
  readonly sig: string;
  /** Optional, unauthenticated hint; `null` and absent are accepted on input. */
  readonly keyid?: string | null;
}

/** A DSSE envelope, as JSON. */
export interface DsseEnvelope {
  /** Base64 of the payload bytes. */
  readonly payload: string;
  readonly payloadType: string;
  readonly signatures: readonly DsseSignature[];
}

/**
 * The pre-authentication encoding of a payload: the exact bytes a DSSE signature covers.
 *
 * @example
 * ```ts
 * new TextDecoder().decode(preAuthEncoding('http://example.com/HelloWorld', utf8('hello world')));
 * // 'DSSEv1 29 http://example.com/HelloWorld 11 hello world'
 * ```
 */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = utf8(payloadType);
  return concat(utf8(`DSSEv1 ${type.length} `), type, utf8(` ${payload.length} `), payload);
}

/**
 * Checks the shape of a DSSE envelope and collects every wrong field. Returns the dotted paths of
 * the invalid fields (empty when the envelope is well formed). At least one signature is required;
 * base64 fields must decode strictly.
 */
export function envelopeProblems(value: unknown, prefix = 'envelope'): string[] {
  const problems: string[] = [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [prefix];
  const env = value as Record<string, unknown>;
  if (typeof env.payloadType !== 'string' || env.payloadType.length === 0)
    problems.push(`${prefix}.payloadType`);
  if (typeof env.payload !== 'string' || !decodes(env.payload)) problems.push(`${prefix}.payload`);
  if (!Array.isArray(env.signatures) || env.signatures.length === 0) {
    problems.push(`${prefix}.signatures`);
  } else {
    env.signatures.forEach((s: unknown, i: number) => {
      const at = `${prefix}.signatures[${i}]`;
      if (typeof s !== 'object' || s === null || Array.isArray(s)) {
        problems.push(at);
        return;
      }
      const sig = s as Record<string, unknown>;
      if (typeof sig.sig !== 'string' || sig.sig.length === 0 || !decodes(sig.sig))
        problems.push(`${at}.sig`);
      if (sig.keyid !== undefined && sig.keyid !== null && typeof sig.keyid !== 'string')
        problems.push(`${at}.keyid`);
    });
  }
  return problems;
}

function decodes(text: string): boolean {
  try {
    fromBase64(text);
    return true;
  } catch {
    return false;
  }
}

/** Non-throwing twin of {@link assertEnvelope}. */
export function isEnvelope(value: unknown): value is DsseEnvelope {
  return envelopeProblems(value).length === 0;
}

/**
 * Asserts a well-formed DSSE envelope.
 *
 * @throws {ProvenanceError} `PROV_ENVELOPE_INVALID` with `fields` naming every invalid field.
 */
export function assertEnvelope(value: unknown): asserts value is DsseEnvelope {
  const problems = envelopeProblems(value);
  if (problems.length > 0) {
    throw new ProvenanceError(
      'PROV_ENVELOPE_INVALID',
      `not a DSSE envelope: invalid ${problems.join(', ')}`,
      {
        fields: problems,
      },
    );
  }
}

/** The payload bytes of a (validated) envelope. */
export function envelopePayload(envelope: DsseEnvelope): Uint8Array {
  return fromBase64(envelope.payload, 'DSSE payload');
}

/** Builds an envelope from payload bytes and signature bytes (standard base64 with padding). */
export function createEnvelope(
  payloadType: string,
  payload: Uint8Array,
  signatures: readonly { readonly sig: Uint8Array; readonly keyid?: string }[],
): DsseEnvelope {
  return {
    payload: toBase64(payload),
    payloadType,
    signatures: signatures.map((s) => ({ sig: toBase64(s.sig), keyid: s.keyid ?? '' })),
  };
}
