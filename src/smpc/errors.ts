/**
 * The error type of secure aggregation (`confide/smpc`): {@link SmpcError}, a
 * {@link ConfideError} whose `code` is one of the stable `SMPC_*` codes below.
 *
 * Codes are public contract (match on `code`, never on `message`): a code is never renamed or
 * given another meaning. Argument-shape errors (wrong type, length or range of something the
 * caller passed) are not here: they are `INVALID_ARGUMENT` from `src/internal/assert.ts`, thrown
 * before any work starts. The codes here mean "the inputs were well-formed but the cryptography
 * or the arithmetic says no".
 *
 * Messages never carry secret material: only lengths, counts, labels and participant indices.
 *
 * The network adapters (`transport/`) add the frame, authentication and session codes at the end of
 * the list.
 *
 * @module
 */

import { ConfideError, type ConfideErrorOptions } from '../errors.ts';

/** Every code an {@link SmpcError} can carry, in one ordered list (for tests and docs). */
export const SMPC_ERROR_CODES = [
  /** Two ring vectors that must agree in length or ring width do not. */
  'SMPC_RING_MISMATCH',
  /** The sum of the configured number of inputs could wrap around the ring modulus. */
  'SMPC_OVERFLOW_RISK',
  /** A peer's X25519 public key is of low order (RFC 7748 §6.1) or the shared secret is all zero. */
  'SMPC_LOW_ORDER_POINT',
  /** An authenticated envelope failed to open: wrong key, tampered bytes or wrong associated data. */
  'SMPC_AEAD_FAILED',
  /** An envelope is too short or carries an unknown version byte. */
  'SMPC_ENVELOPE_MALFORMED',
  /** Fewer Shamir shares than the threshold were supplied. */
  'SMPC_SHARES_INSUFFICIENT',
  /** A Shamir share is malformed: duplicate or out-of-range index, or a value outside the field. */
  'SMPC_SHARE_MALFORMED',
  /** No threshold-sized subset of the shares reconstructs a secret matching its commitment. */
  'SMPC_SHARES_INCONSISTENT',
  /** The requested cryptographic backend (WebCrypto or an algorithm in it) is not available here. */
  'SMPC_BACKEND_UNAVAILABLE',
  /** A roster repeats a participant id or a public key, or names a participant twice. */
  'SMPC_ROSTER_INVALID',
  /** A protocol message arrived in a stage that does not accept it (state unchanged; drop it). */
  'SMPC_BAD_TRANSITION',
  /** A protocol message is missing fields or has fields of the wrong type, size or version. */
  'SMPC_MALFORMED_MESSAGE',
  /** The server's round parameters violate the client's policy (threshold floor, cohort, ring, PRG). */
  'SMPC_POLICY_VIOLATION',
  /** An unmask request is unsafe: both shares for one peer, this client listed dead, unknown or repeated ids. */
  'SMPC_UNMASK_REQUEST_INVALID',
  /** A decrypted share envelope names the wrong sender, recipient or share index. */
  'SMPC_ENVELOPE_MISADDRESSED',
  /** Fewer participants than the threshold remain for some client: the round cannot finish safely. */
  'SMPC_TOO_FEW_CLIENTS',
  /** A signature (advertisement or survivor set) is missing, invalid, or from an untrusted identity. */
  'SMPC_SIGNATURE_INVALID',
  /** No safe round configuration exists for the requested cohort, rates and profile. */
  'SMPC_PLAN_INFEASIBLE',
  /** A client weight is not in (0, maxWeight], or an aggregate carries no positive weight. */
  'SMPC_WEIGHT_OUT_OF_RANGE',
  /** The round was aborted (by this party or the other side); no further messages are accepted. */
  'SMPC_ABORTED',
  /** Rejection sampling ran out of attempts (probability below 2^-256; indicates a broken cipher). */
  'SMPC_PRG_EXHAUSTED',
  /** The unmasked aggregate failed its check lanes (an input masked under other keys, e.g. a replay); no sum is output. */
  'SMPC_AGGREGATE_INVALID',
  /** A discrete Gaussian sample does not fit the requested integer width (a > 2^11σ event; never observed). */
  'SMPC_DP_SAMPLE_OUT_OF_RANGE',
  /** No distributed-DP plan meets the target (ε, δ) within the ring and cohort given; the message says which bound failed. */
  'SMPC_DP_INFEASIBLE',
  /** A differential-privacy plan received from elsewhere is malformed or its numbers do not add up. */
  'SMPC_DP_PLAN_INVALID',
  /** Fewer survivors than the plan's minimum: the noise summed is below what the privacy target needs. */
  'SMPC_DP_TOO_FEW_SURVIVORS',
  /** The round's threat profile is weaker than the client's `minProfile` (e.g. a downgrade from `active`). */
  'SMPC_PROFILE_TOO_WEAK',
  /** More clients joined than the round's cohort cap (`maxCohort`, e.g. a DP plan's `expectedClients`). */
  'SMPC_COHORT_TOO_LARGE',
  /** A network frame is truncated, has an unknown kind or version, or fields of the wrong size. */
  'SMPC_FRAME_MALFORMED',
  /** A network frame is larger than the configured limit. */
  'SMPC_FRAME_TOO_LARGE',
  /** A client presented an unknown id or a wrong token, or sent anything before authenticating. */
  'SMPC_UNAUTHENTICATED',
  /** A frame names another round or session than the one in progress (replayed or reordered). */
  'SMPC_WRONG_SESSION',
  /** The announced payload does not match its digest, or the round parameters do not bind it. */
  'SMPC_PAYLOAD_MISMATCH',
  /** The connection closed, or could not be opened, before the exchange finished. */
  'SMPC_CONNECTION_CLOSED',
  /** A wait (for clients, for a welcome) ran past its deadline. */
  'SMPC_TIMEOUT',
  /** The aggregation server is closing; the round in progress was aborted. */
  'SMPC_SERVER_CLOSING',
  /** The aggregation server restarted during the round; the round was aborted and its id retired. */
  'SMPC_SERVER_RESTARTED',
  /** A round is already in progress on this server, or this round id was used before. */
  'SMPC_ROUND_CONFLICT',
  /** A file the `confide smpc` command line reads or writes could not be read or written. */
  'SMPC_IO',
  /** A `confide smpc` input file is larger than its limit (raise it with `--max-input-bytes`). */
  'SMPC_INPUT_TOO_LARGE',
  /** A `confide smpc` output file already exists and was not replaced. */
  'SMPC_FILE_EXISTS',
  /** The server has no room for another connection waiting to authenticate (it evicted the oldest); retry. */
  'SMPC_SERVER_BUSY',
  /** A round's estimated memory exceeds the configured cap; the message gives the figure and the flag or option to change. */
  'SMPC_PLAN_TOO_LARGE',
  /** The server banned this client: a session aborted on its messages (check lanes, shares). */
  'SMPC_CLIENT_BANNED',
  /** An `active` round was started without an identity key for every client of its cohort. */
  'SMPC_IDENTITY_MISSING',
  /** The server's unmask work failed outside the protocol (an unmask worker crashed or was closed); no sum was output. */
  'SMPC_UNMASK_FAILED',
  /** A Prio3 report failed validation (its proof, its encoding, or it reached only one aggregator); it is left out of the sum. */
  'SMPC_REPORT_REJECTED',
  /** The two Prio3 aggregators disagree (parameters, verdicts or counts): the round aborts, no sum is released. */
  'SMPC_AGGREGATORS_DISAGREE',
] as const;

/** A stable, machine-readable secure-aggregation error code. */
export type SmpcErrorCode = (typeof SMPC_ERROR_CODES)[number];

/**
 * An error from secure aggregation (`confide/smpc`).
 *
 * @example
 * ```ts
 * try { openEnvelope(key, envelope, context); }
 * catch (e) { if (e instanceof SmpcError && e.code === 'SMPC_AEAD_FAILED') dropPeer(); }
 * ```
 */
export class SmpcError extends ConfideError {
  declare readonly code: SmpcErrorCode;

  constructor(code: SmpcErrorCode, message: string, options: ConfideErrorOptions = {}) {
    super(code, message, options);
  }
}
