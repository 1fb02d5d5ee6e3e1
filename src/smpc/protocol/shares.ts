/**
 * What a client hides in a share envelope, and the per-owner share bookkeeping both state machines
 * agree on: share indices, Shamir contexts, and the envelope plaintext encoding.
 *
 * Client u splits its self-mask seed b_u and masking key s_u^SK t-of-|N(u) ∩ U1|; the share for
 * neighbour v has index 1 + (position of v in N(u) ∩ U1 in UTF-8 id order). Both shares for v
 * travel in one envelope whose plaintext is
 *   LP(UTF-8 u) ‖ LP(UTF-8 v) ‖ BE32(index) ‖ LP(b-share, 33 bytes) ‖ LP(s-share, 33 bytes),
 * sealed under deriveKey(X25519(c_u, C_v), sessionId, "envelope") with associated data for
 * (sessionId, round 1, u, v). The recipient checks sender, recipient and index.
 * The commitments are bound to the session and owner by the Shamir context
 * LP(sessionId) ‖ LP(UTF-8 owner) ‖ LP(UTF-8 "self-mask" | "masking-key"). A share value outside
 * the field F_p makes the envelope unusable (`SMPC_SHARE_MALFORMED`), like a misaddressed one.
 *
 * Deliberately not here: the protocol steps themselves (`client.ts`, `server.ts`).
 *
 * @module
 */

import { assertBytes } from '../../internal/assert.ts';
import { SmpcError } from '../errors.ts';
import { bytesToBigint, concatBytes, lengthPrefixed, u32be, utf8 } from '../primitives/encoding.ts';
import { SHAMIR_PRIME, SHAMIR_SHARE_LENGTH } from '../primitives/shamir.ts';

/** Protocol round numbers used in envelope associated data. */
export const ROUND_SHARE_KEYS = 1;

/** Which of a client's two shared secrets. */
export type SecretKind = 'self-mask' | 'masking-key';

/** The Shamir commitment context of `owner`'s `kind` secret in a session. */
export function shareContext(sessionId: Uint8Array, owner: string, kind: SecretKind): Uint8Array {
  return lengthPrefixed(sessionId, utf8(owner), utf8(kind));
}

/** The share index (1-based) that `owner` gives `holder`, or 0 if `holder` is not among `ownerNeighbours`. */
export function shareIndex(ownerNeighbours: readonly string[], holder: string): number {
  return ownerNeighbours.indexOf(holder) + 1;
}

/** The decoded plaintext of a share envelope. */
export interface EnvelopePayload {
  readonly from: string;
  readonly to: string;
  readonly index: number;
  readonly selfMaskShare: Uint8Array;
  readonly maskingKeyShare: Uint8Array;
}

/** Encodes an envelope plaintext. */
export function encodePayload(p: EnvelopePayload): Uint8Array {
  assertBytes(p.selfMaskShare, 'selfMaskShare', SHAMIR_SHARE_LENGTH);
  assertBytes(p.maskingKeyShare, 'maskingKeyShare', SHAMIR_SHARE_LENGTH);
  return concatBytes(
    lengthPrefixed(utf8(p.from), utf8(p.to)),
    u32be(p.index),
    lengthPrefixed(p.selfMaskShare, p.maskingKeyShare),
  );
}

/**
 * Decodes an envelope plaintext.
 *
 * @throws {SmpcError} `SMPC_ENVELOPE_MISADDRESSED` when it does not parse.
 */
export function decodePayload(bytes: Uint8Array): EnvelopePayload {
  let offset = 0;
  const take = (n: number): Uint8Array => {
    if (offset + n > bytes.length)
      throw new SmpcError('SMPC_ENVELOPE_MISADDRESSED', 'share envelope plaintext is truncated');
    const out = bytes.subarray(offset, offset + n);
    offset += n;
    return out;
  };
  const u32 = (): number => Number(bytesToBigint(take(4)));
  const lp = (): Uint8Array => take(u32());
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let from: string;
  let to: string;
  try {
    from = decoder.decode(lp());
    to = decoder.decode(lp());
  } catch (cause) {
    if (cause instanceof SmpcError) throw cause;
    throw new SmpcError('SMPC_ENVELOPE_MISADDRESSED', 'share envelope ids are not UTF-8', { cause });
  }
  const index = u32();
  const selfMaskShare = lp();
  const maskingKeyShare = lp();
  if (
    offset !== bytes.length ||
    selfMaskShare.length !== SHAMIR_SHARE_LENGTH ||
    maskingKeyShare.length !== SHAMIR_SHARE_LENGTH
  ) {
    throw new SmpcError('SMPC_ENVELOPE_MISADDRESSED', 'share envelope plaintext has the wrong layout');
  }
  // A share outside F_p is refused here, so an honest holder never reveals one in unmasking: the
  // server may then blame whoever reveals such a share.
  if (!isFieldElement(selfMaskShare) || !isFieldElement(maskingKeyShare)) {
    throw new SmpcError('SMPC_SHARE_MALFORMED', 'share envelope holds a value outside the Shamir field');
  }
  return {
    from,
    to,
    index,
    selfMaskShare: Uint8Array.from(selfMaskShare),
    maskingKeyShare: Uint8Array.from(maskingKeyShare),
  };
}

/** Whether a 33-byte share value is an element of the Shamir field F_p. */
export function isFieldElement(value: Uint8Array): boolean {
  return value.length === SHAMIR_SHARE_LENGTH && bytesToBigint(value) < SHAMIR_PRIME;
}
