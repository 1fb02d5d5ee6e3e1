/**
 * Offline verification of the local log's proof files: the signed checkpoint, the inclusion of an
 * entry, and the consistency of a checkpoint the verifier kept earlier with the one in the proof.
 * Pure and synchronous; runs in browsers; never imports signing code.
 *
 * A proof file (`confide.log-proof/v1`, written by `confide provenance log prove`) is JSON:
 * `{ type, origin, treeSize, checkpoint, inclusion?: { index, leafHash, hashes[] },
 * consistency?: { fromSize, hashes[] } }`, hashes as lowercase hex. The steps, each with its code:
 *
 * 1. the file's shape (`PROV_LOG_PROOF_MALFORMED`);
 * 2. the checkpoint note: syntax (`PROV_CHECKPOINT_MALFORMED`), a valid signature by the log key
 *    (`PROV_CHECKPOINT_SIGNATURE_INVALID`), the log's origin (`PROV_CHECKPOINT_ORIGIN`), and the
 *    proof's `origin`/`treeSize` equal to the checkpoint's (`PROV_LOG_PROOF_MALFORMED`);
 * 3. inclusion: when the entry's bytes are given, their leaf hash must be the proof's
 *    (`PROV_LOG_PROOF_MALFORMED`); the path must lead to the checkpoint's root, RFC 9162 §2.1.3.2
 *    (`PROV_LOG_INCLUSION_INVALID`);
 * 4. consistency: the kept checkpoint must verify with the same key and origin and have
 *    `fromSize` entries; the path must link both roots, RFC 9162 §2.1.4.2
 *    (`PROV_LOG_CONSISTENCY_INVALID`; a failure here is what a fork or a rewritten history looks
 *    like).
 *
 * Deliberately not here: fetching anything, witnesses, deciding how old a checkpoint may be.
 *
 * @module
 */

import { fromHex, toHex } from '../../internal/bytes.ts';
import { VerificationError } from '../errors.ts';
import { type Checkpoint, type NoteVerifier, verifyCheckpoint } from './checkpoint.ts';
import { leafHash, verifyConsistency, verifyInclusion } from './merkle.ts';

/** A proof file of the local log. */
export interface LogProof {
  readonly type: 'confide.log-proof/v1';
  readonly origin: string;
  readonly treeSize: number;
  /** The signed checkpoint (C2SP signed note) of `treeSize` entries. */
  readonly checkpoint: string;
  readonly inclusion?: {
    readonly index: number;
    readonly leafHash: string;
    readonly hashes: readonly string[];
  };
  readonly consistency?: { readonly fromSize: number; readonly hashes: readonly string[] };
}

/** What a verified proof established. */
export interface LogProofResult {
  readonly valid: true;
  readonly origin: string;
  readonly treeSize: number;
  readonly rootHash: string;
  /** Present when the proof had an inclusion part: the entry's index and leaf hash. */
  readonly inclusion?: { readonly index: number; readonly leafHash: string };
  /** Present when a kept checkpoint was checked: its size and root. */
  readonly consistentWith?: { readonly size: number; readonly rootHash: string };
}

function bad(message: string): never {
  throw new VerificationError('PROV_LOG_PROOF_MALFORMED', message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isHex32 = (x: unknown): x is string => typeof x === 'string' && /^[0-9a-f]{64}$/.test(x);
const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/**
 * Parses and checks the shape of a proof file (JSON text or value).
 *
 * @throws {VerificationError} `PROV_LOG_PROOF_MALFORMED` naming the first wrong field.
 */
export function parseLogProof(input: unknown): LogProof {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      bad('the proof file is not JSON');
    }
  }
  if (!isRecord(value)) bad('the proof file must be a JSON object');
  if (value.type !== 'confide.log-proof/v1') bad(`unknown proof type ${JSON.stringify(value.type)}`);
  if (typeof value.origin !== 'string' || value.origin === '') bad('origin must be a non-empty string');
  if (!isCount(value.treeSize)) bad('treeSize must be a non-negative integer');
  if (typeof value.checkpoint !== 'string') bad('checkpoint must be the signed checkpoint text');
  const inc = value.inclusion;
  if (inc !== undefined) {
    if (!isRecord(inc) || !isCount(inc.index) || !isHex32(inc.leafHash))
      bad('inclusion must be { index, leafHash, hashes }');
    if (!Array.isArray(inc.hashes) || !inc.hashes.every(isHex32))
      bad('inclusion.hashes must be 32-byte hex hashes');
  }
  const con = value.consistency;
  if (con !== undefined) {
    if (!isRecord(con) || !isCount(con.fromSize)) bad('consistency must be { fromSize, hashes }');
    if (!Array.isArray(con.hashes) || !con.hashes.every(isHex32))
      bad('consistency.hashes must be 32-byte hex hashes');
  }
  if (inc === undefined && con === undefined)
    bad('the proof has neither an inclusion nor a consistency part');
  return value as unknown as LogProof;
}

const bytes = (hex: string): Uint8Array => fromHex(hex);

/** Options of {@link verifyLogProof}. */
export interface VerifyLogProofOptions {
  /** The entry's bytes: when given, the proof must be about exactly this entry. */
  readonly entry?: Uint8Array;
  /** A checkpoint kept from earlier (signed note text): the proof must show the log grew from it. */
  readonly previousCheckpoint?: string;
  /** The expected origin (default: the verifier key's name). */
  readonly origin?: string;
}

/**
 * Verifies a proof file with the log's note key (module notes for the steps).
 *
 * @throws {VerificationError} with the code of the failing step.
 * @example
 * ```ts
 * const result = verifyLogProof(readFileSync('proof.json', 'utf8'), parseNoteVerifierKey(vkey), {
 *   entry: readFileSync('train.intoto.json'),
 *   previousCheckpoint: readFileSync('kept-checkpoint', 'utf8'),
 * });
 * ```
 */
export function verifyLogProof(
  proofInput: unknown,
  verifier: NoteVerifier,
  options: VerifyLogProofOptions = {},
): LogProofResult {
  const proof = parseLogProof(proofInput);
  const checkpoint: Checkpoint = verifyCheckpoint(proof.checkpoint, verifier, options.origin);
  if (checkpoint.origin !== proof.origin || checkpoint.size !== proof.treeSize) {
    bad(
      `the proof says ${proof.origin} size ${proof.treeSize}, its checkpoint ${checkpoint.origin} size ${checkpoint.size}`,
    );
  }
  let inclusion: LogProofResult['inclusion'];
  if (proof.inclusion !== undefined) {
    const { index, leafHash: leaf, hashes } = proof.inclusion;
    if (options.entry !== undefined && toHex(leafHash(options.entry)) !== leaf) {
      bad('the proof is about another entry (its leaf hash is not the hash of the given entry)');
    }
    if (!verifyInclusion(index, checkpoint.size, bytes(leaf), hashes.map(bytes), checkpoint.rootHash)) {
      throw new VerificationError(
        'PROV_LOG_INCLUSION_INVALID',
        `entry ${index} is not proven to be in the tree of ${checkpoint.size} entries`,
      );
    }
    inclusion = { index, leafHash: leaf };
  } else if (options.entry !== undefined) {
    bad('an entry was given but the proof has no inclusion part');
  }
  let consistentWith: LogProofResult['consistentWith'];
  if (options.previousCheckpoint !== undefined) {
    const old = verifyCheckpoint(options.previousCheckpoint, verifier, checkpoint.origin);
    if (proof.consistency === undefined)
      bad('a kept checkpoint was given but the proof has no consistency part');
    if (proof.consistency.fromSize !== old.size) {
      bad(
        `the consistency proof starts at size ${proof.consistency.fromSize}, the kept checkpoint has ${old.size}`,
      );
    }
    if (
      !verifyConsistency(
        old.size,
        checkpoint.size,
        proof.consistency.hashes.map(bytes),
        old.rootHash,
        checkpoint.rootHash,
      )
    ) {
      throw new VerificationError(
        'PROV_LOG_CONSISTENCY_INVALID',
        `the log of ${checkpoint.size} entries does not extend the kept checkpoint of ${old.size}: its history was rewritten or forked`,
      );
    }
    consistentWith = { size: old.size, rootHash: toHex(old.rootHash) };
  }
  return {
    valid: true,
    origin: checkpoint.origin,
    treeSize: checkpoint.size,
    rootHash: toHex(checkpoint.rootHash),
    ...(inclusion === undefined ? {} : { inclusion }),
    ...(consistentWith === undefined ? {} : { consistentWith }),
  };
}

/** What {@link verifyCheckpointConsistency} established: both tree heads, smaller first. */
export interface CheckpointConsistency {
  readonly older: Checkpoint;
  readonly newer: Checkpoint;
}

/**
 * Checks that two signed checkpoints of the same log lie on one history: the smaller tree is a
 * prefix of the larger (RFC 9162 §2.1.4.2 with `proof`, hex hashes, from the smaller size to the
 * larger), or, at equal sizes, the roots are equal and `proof` is empty. Either argument may be the
 * older one. This is how a client that kept a checkpoint catches a log that shows it another
 * history (a split view, or a fork).
 *
 * @throws {VerificationError} checkpoint codes, `PROV_LOG_PROOF_MALFORMED` (a hash that is not 32-byte
 *   hex), `PROV_LOG_CONSISTENCY_INVALID`.
 * @example
 * ```ts
 * verifyCheckpointConsistency(kept, fresh, proof.consistency.hashes, verifier);
 * ```
 */
export function verifyCheckpointConsistency(
  first: string,
  second: string,
  proof: readonly string[],
  verifier: NoteVerifier,
): CheckpointConsistency {
  if (!Array.isArray(proof) || !proof.every(isHex32)) bad('consistency hashes must be 32-byte hex hashes');
  const a = verifyCheckpoint(first, verifier);
  const b = verifyCheckpoint(second, verifier, a.origin);
  const [older, newer] = a.size <= b.size ? [a, b] : [b, a];
  if (!verifyConsistency(older.size, newer.size, proof.map(bytes), older.rootHash, newer.rootHash)) {
    throw new VerificationError(
      'PROV_LOG_CONSISTENCY_INVALID',
      older.size === newer.size
        ? `two checkpoints of ${older.size} entries with different roots: the log shows different histories (a split view)`
        : `the log of ${newer.size} entries does not extend the kept checkpoint of ${older.size}: its history was rewritten or forked`,
    );
  }
  return { older, newer };
}
