/**
 * Share envelopes: ChaCha20-Poly1305 (RFC 8439 §2.8, via `@noble/ciphers`) whose associated data
 * binds the session id, the protocol round, the sender and the recipient, so a ciphertext from
 * another session, round, sender or recipient fails to open and a
 * server relaying shares cannot re-address them.
 *
 * Envelope format (normative; see `test/vectors/smpc/README.md`):
 *   envelope = 0x01 ‖ nonce (12 random bytes) ‖ ciphertext ‖ tag (16 bytes)
 *   AD       = LP("secagg/v1/envelope") ‖ LP(0x01) ‖ LP(sessionId) ‖ BE32(round) ‖ LP(UTF-8 sender) ‖ LP(UTF-8 recipient)
 * where LP(x) = BE32(len x) ‖ x. The version byte selects the algorithm and is itself authenticated.
 * Keys are 32 bytes from `deriveKey({ purpose: 'envelope', ... })` over the X25519 secret of the
 * two parties' encryption keys. Nonces are random: a key encrypts a handful of messages per
 * session, far below the 2^32 random-nonce bound.
 *
 * ChaCha20-Poly1305 rather than AES-GCM: it is synchronous and fast in pure JS for these small
 * messages (~16 µs), constant-time without AES-NI, and has no WebCrypto availability question.
 *
 * Deliberately not here: key agreement (`ka.ts`), what goes inside the envelope (the protocol's
 * share messages, which also repeat sender and recipient inside the plaintext), and compression.
 *
 * @module
 */

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { assertBytes, assertInteger, assertString } from '../../internal/assert.ts';
import { SmpcError } from '../errors.ts';
import { assertBytesInRange } from '../validate.ts';
import { concatBytes, lengthPrefixed, u32be, utf8 } from './encoding.ts';
import { randomBytes } from './random.ts';

/** Envelope version 1: ChaCha20-Poly1305, 12-byte random nonce. */
export const ENVELOPE_VERSION = 0x01;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
/** Bytes an envelope adds to its plaintext: version, nonce and tag. */
export const ENVELOPE_OVERHEAD = 1 + NONCE_LENGTH + TAG_LENGTH;
/** Largest plaintext accepted (shares are tiny; this bounds hostile inputs). */
export const MAX_ENVELOPE_PLAINTEXT = 1 << 20;

/** Who sent an envelope to whom, in which session and round: all bound into the AEAD tag. */
export interface EnvelopeContext {
  /** 32-byte session id. */
  readonly sessionId: Uint8Array;
  /** Protocol round number, 0 ≤ round < 2^32. */
  readonly round: number;
  /** Sender's participant id (any non-empty string up to 256 characters). */
  readonly sender: string;
  /** Recipient's participant id. */
  readonly recipient: string;
}

/**
 * The associated data of an envelope for `context` (see the module doc for the layout).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a malformed context.
 */
export function envelopeAssociatedData(context: EnvelopeContext): Uint8Array {
  const sessionId = assertBytes(context.sessionId, 'sessionId', 32);
  const round = assertInteger(context.round, 'round', 0, 2 ** 32 - 1);
  const sender = assertString(context.sender, 'sender', 256);
  const recipient = assertString(context.recipient, 'recipient', 256);
  return concatBytes(
    lengthPrefixed(utf8('secagg/v1/envelope'), Uint8Array.of(ENVELOPE_VERSION), sessionId),
    u32be(round),
    lengthPrefixed(utf8(sender), utf8(recipient)),
  );
}

/**
 * Seals with a caller-chosen nonce. Exported for known-answer tests only: a repeated nonce under
 * one key breaks confidentiality and authenticity. Use {@link sealEnvelope}.
 *
 * @internal
 */
export function sealEnvelopeWithNonce(
  key: Uint8Array,
  plaintext: Uint8Array,
  context: EnvelopeContext,
  nonce: Uint8Array,
): Uint8Array {
  assertBytes(key, 'key', 32);
  assertBytesInRange(plaintext, 'plaintext', 0, MAX_ENVELOPE_PLAINTEXT);
  assertBytes(nonce, 'nonce', NONCE_LENGTH);
  const ad = envelopeAssociatedData(context);
  const sealed = chacha20poly1305(key, nonce, ad).encrypt(plaintext);
  return concatBytes(Uint8Array.of(ENVELOPE_VERSION), nonce, sealed);
}

/**
 * Encrypts and authenticates `plaintext` for `context.recipient` under a 32-byte key.
 *
 * @example
 * ```ts
 * const ctx = { sessionId, round: 1, sender: 'alice', recipient: 'bob' };
 * const box = sealEnvelope(key, shareBytes, ctx);
 * openEnvelope(key, box, ctx); // shareBytes
 * ```
 */
export function sealEnvelope(key: Uint8Array, plaintext: Uint8Array, context: EnvelopeContext): Uint8Array {
  return sealEnvelopeWithNonce(key, plaintext, context, randomBytes(NONCE_LENGTH));
}

/**
 * Opens an envelope sealed by {@link sealEnvelope} for exactly this `context`.
 *
 * @throws {SmpcError} `SMPC_ENVELOPE_MALFORMED` for a short envelope or unknown version;
 *   `SMPC_AEAD_FAILED` when the key, ciphertext, tag or any context field differs.
 */
export function openEnvelope(key: Uint8Array, envelope: Uint8Array, context: EnvelopeContext): Uint8Array {
  assertBytes(key, 'key', 32);
  assertBytesInRange(envelope, 'envelope', 0, MAX_ENVELOPE_PLAINTEXT + ENVELOPE_OVERHEAD);
  const ad = envelopeAssociatedData(context);
  if (envelope.length < ENVELOPE_OVERHEAD) {
    throw new SmpcError(
      'SMPC_ENVELOPE_MALFORMED',
      `envelope is ${envelope.length} bytes, shorter than its overhead`,
    );
  }
  if (envelope[0] !== ENVELOPE_VERSION) {
    throw new SmpcError('SMPC_ENVELOPE_MALFORMED', `unknown envelope version ${envelope[0]}`);
  }
  const nonce = envelope.subarray(1, 1 + NONCE_LENGTH);
  try {
    return chacha20poly1305(key, nonce, ad).decrypt(envelope.subarray(1 + NONCE_LENGTH));
  } catch (cause) {
    throw new SmpcError(
      'SMPC_AEAD_FAILED',
      'envelope failed authentication (wrong key, tampered, or wrong context)',
      {
        cause,
      },
    );
  }
}
