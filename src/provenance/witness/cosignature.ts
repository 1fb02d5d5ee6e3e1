/**
 * Witness cosignatures on checkpoints, C2SP tlog-cosignature (c2sp.org/tlog-cosignature), Ed25519
 * `cosignature/v1` only, and the verifier's k-of-n policy over them. Pure and synchronous; runs in
 * browsers; nothing here signs.
 *
 * A cosignature is one more signed-note line on the log's checkpoint: `— <witness name>
 * base64(key ID ‖ timestamp ‖ signature)` where the key ID is `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public
 * key)[:4]`, the timestamp a big-endian u64 of POSIX seconds, and the signature an Ed25519
 * signature over `cosignature/v1\ntime <timestamp>\n` followed by the whole checkpoint body. A
 * witness key is written as a vkey `<name>+<key ID>+base64(0x04 ‖ public key)`. A cosignature
 * states that, at that time, this was the largest tree the witness had seen for the log and it was
 * consistent with every earlier one (`witness.ts`).
 *
 * {@link verifyWitnessedCheckpoint} verifies the log's own signature and then counts distinct
 * trusted witnesses whose cosignature verifies: a line that names a trusted witness (name and key
 * ID) but does not verify fails the checkpoint (`PROV_COSIGNATURE_INVALID`); fewer than the
 * threshold fails with `PROV_WITNESS_THRESHOLD_NOT_MET`. Lines of unknown keys are ignored, as the
 * signed-note spec requires.
 *
 * Deliberately not here: ML-DSA-44 cosignatures (`subtree/v1`), freshness policy on timestamps
 * beyond refusing those in the future, the witness itself (`witness.ts`).
 *
 * @module
 */

import { ed25519 } from '@noble/curves/ed25519.js';
import { ConfideArgumentError } from '../../errors.ts';
import { sha256, toHex, utf8 } from '../../internal/bytes.ts';
import { concat, fromBase64, toBase64 } from '../common/bytes.ts';
import type { PublicKey } from '../common/keys.ts';
import { ProvenanceError, VerificationError } from '../errors.ts';
import {
  type Checkpoint,
  isValidKeyName,
  type NoteVerifier,
  parseNote,
  verifyCheckpoint,
} from '../log/checkpoint.ts';

/** The signed-note algorithm byte of an Ed25519 `cosignature/v1` key. */
export const NOTE_ALG_COSIGNATURE_V1 = 0x04;

/** A witness key: its name, 4-byte key ID (hex) and Ed25519 public key. */
export interface CosignatureVerifier {
  readonly name: string;
  readonly keyId: string;
  readonly publicKey: PublicKey;
}

/** One verified cosignature. */
export interface VerifiedCosignature {
  readonly name: string;
  readonly keyId: string;
  /** POSIX seconds the witness signed at. */
  readonly time: number;
}

/** A checkpoint with the log's signature and at least `threshold` trusted cosignatures verified. */
export interface WitnessedCheckpoint {
  readonly checkpoint: Checkpoint;
  readonly cosignatures: readonly VerifiedCosignature[];
}

/** The k-of-n witness policy of a verifier. */
export interface WitnessPolicy {
  readonly witnesses: readonly CosignatureVerifier[];
  /** How many distinct trusted witnesses must have cosigned (1 ≤ k ≤ n). */
  readonly threshold: number;
  /** Seconds a cosignature's time may lie in the future of `now` (default 300). */
  readonly maxClockSkewSeconds?: number;
  /** The verification time (default: now). */
  readonly now?: Date;
}

function invalidKey(message: string): never {
  throw new ProvenanceError('PROV_KEY_INVALID', message);
}

/**
 * The key ID of an Ed25519 cosigner: `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ key)[:4]`, as hex.
 *
 * @throws {ProvenanceError} `PROV_KEY_INVALID`, `PROV_ALGORITHM_UNSUPPORTED`.
 */
export function cosignatureKeyId(name: string, publicKey: PublicKey): string {
  if (!isValidKeyName(name))
    invalidKey('a witness name must be non-empty UTF-8 without Unicode white space or +');
  if (publicKey?.algorithm !== 'ed25519') {
    throw new ProvenanceError('PROV_ALGORITHM_UNSUPPORTED', 'cosignature/v1 witnesses use Ed25519 keys');
  }
  return toHex(
    sha256(utf8(name), Uint8Array.of(0x0a, NOTE_ALG_COSIGNATURE_V1), publicKey.bytes).subarray(0, 4),
  );
}

/** A {@link CosignatureVerifier} for an Ed25519 public key under `name`. */
export function cosignatureVerifier(name: string, publicKey: PublicKey): CosignatureVerifier {
  return { name, keyId: cosignatureKeyId(name, publicKey), publicKey };
}

/** The vkey of a witness: `<name>+<key ID>+base64(0x04 ‖ public key)`. */
export function cosignatureVerifierKey(name: string, publicKey: PublicKey): string {
  const id = cosignatureKeyId(name, publicKey);
  return `${name}+${id}+${toBase64(concat(Uint8Array.of(NOTE_ALG_COSIGNATURE_V1), publicKey.bytes))}`;
}

/**
 * Parses a witness vkey and checks its key ID.
 *
 * @throws {ProvenanceError} `PROV_KEY_INVALID`, `PROV_ALGORITHM_UNSUPPORTED` (another type byte).
 */
export function parseCosignatureVerifierKey(vkey: string): CosignatureVerifier {
  const parts = typeof vkey === 'string' ? vkey.trim().split('+') : [];
  if (parts.length < 3) invalidKey('not a witness key: expected name+keyid+key');
  const [name, id] = parts as [string, string];
  let raw: Uint8Array;
  try {
    raw = fromBase64(parts.slice(2).join('+'));
  } catch {
    return invalidKey('not a witness key: the key is not base64');
  }
  if (raw[0] !== NOTE_ALG_COSIGNATURE_V1) {
    throw new ProvenanceError(
      'PROV_ALGORITHM_UNSUPPORTED',
      `witness key type ${raw[0]} is not cosignature/v1 Ed25519 (4)`,
    );
  }
  if (raw.length !== 33) invalidKey('not a witness key: an Ed25519 key is 32 bytes');
  try {
    ed25519.Point.fromBytes(raw.subarray(1));
  } catch {
    invalidKey('not a witness key: not an Ed25519 point');
  }
  const verifier = cosignatureVerifier(name, { algorithm: 'ed25519', bytes: raw.slice(1) });
  if (verifier.keyId !== id) invalidKey('not a witness key: the key ID does not match the name and key');
  return verifier;
}

/**
 * The message a `cosignature/v1` signature covers: `cosignature/v1\ntime <T>\n` and the checkpoint
 * body (note text, with its final newline, without signature lines).
 */
export function cosignatureMessage(body: string, time: number): Uint8Array {
  if (typeof body !== 'string' || !body.endsWith('\n')) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'the checkpoint body must be note text ending in a newline',
    );
  }
  if (!Number.isSafeInteger(time) || time < 0) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'the cosignature time must be whole POSIX seconds');
  }
  return utf8(`cosignature/v1\ntime ${time}\n${body}`);
}

/** The bytes after the key ID of a cosignature line: u64 big-endian time ‖ 64-byte signature. */
export function timestampedSignature(time: number, signature: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + signature.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(time));
  out.set(signature, 8);
  return out;
}

/** Appends signature lines to a signed note (lines already present are not repeated). */
export function addSignatureLines(note: string, lines: readonly string[]): string {
  const parsed = parseNote(note);
  const present = note
    .slice(parsed.text.length + 1)
    .split('\n')
    .filter((l) => l !== '');
  const extra = lines.map((l) => l.replace(/\n$/, '')).filter((l) => !present.includes(l));
  return `${parsed.text}\n${[...present, ...extra].map((l) => `${l}\n`).join('')}`;
}

/**
 * Verifies a checkpoint's log signature and its witness cosignatures against a k-of-n policy.
 *
 * @throws {VerificationError} checkpoint codes, `PROV_COSIGNATURE_INVALID`,
 *   `PROV_WITNESS_THRESHOLD_NOT_MET`.
 * @example
 * ```ts
 * verifyWitnessedCheckpoint(note, noteVerifier(origin, logKey), { witnesses, threshold: 2 });
 * ```
 */
export function verifyWitnessedCheckpoint(
  note: string,
  log: NoteVerifier,
  policy: WitnessPolicy,
): WitnessedCheckpoint {
  const { witnesses, threshold } = policy ?? ({} as WitnessPolicy);
  if (
    !Array.isArray(witnesses) ||
    !witnesses.every((w) => typeof w?.name === 'string' && typeof w.keyId === 'string') ||
    !Number.isSafeInteger(threshold) ||
    threshold < 1 ||
    threshold > witnesses.length
  ) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'policy must be { witnesses: CosignatureVerifier[], threshold } with 1 ≤ threshold ≤ the number of witnesses',
    );
  }
  const checkpoint = verifyCheckpoint(note, log);
  const parsed = parseNote(note);
  const body = parsed.text;
  const now = Math.floor((policy.now ?? new Date()).getTime() / 1000);
  const skew = policy.maxClockSkewSeconds ?? 300;
  const cosignatures: VerifiedCosignature[] = [];
  for (const sig of parsed.signatures) {
    const witness = witnesses.find((w) => w.name === sig.name && w.keyId === sig.keyId);
    if (witness === undefined) continue;
    const raw = fromBase64(sig.base64).subarray(4);
    const bad = (why: string): never => {
      throw new VerificationError(
        'PROV_COSIGNATURE_INVALID',
        `the cosignature by witness ${sig.name}+${sig.keyId} ${why}`,
      );
    };
    if (raw.length !== 72) bad('is not a timestamped Ed25519 signature (72 bytes)');
    const time = new DataView(raw.buffer, raw.byteOffset, 8).getBigUint64(0);
    if (time > BigInt(Number.MAX_SAFE_INTEGER)) bad('has a time beyond any clock');
    const seconds = Number(time);
    if (seconds > now + skew) bad(`is dated ${seconds}, in the future of ${now}`);
    let ok = false;
    try {
      ok = ed25519.verify(raw.subarray(8), cosignatureMessage(body, seconds), witness.publicKey.bytes);
    } catch {
      ok = false;
    }
    if (!ok) bad('does not verify over this checkpoint');
    if (!cosignatures.some((c) => c.name === witness.name && c.keyId === witness.keyId)) {
      cosignatures.push({ name: witness.name, keyId: witness.keyId, time: seconds });
    }
  }
  if (cosignatures.length < threshold) {
    throw new VerificationError(
      'PROV_WITNESS_THRESHOLD_NOT_MET',
      `${cosignatures.length} of the required ${threshold} trusted witness(es) cosigned the checkpoint of ${checkpoint.size} entries of ${checkpoint.origin}`,
    );
  }
  return { checkpoint, cosignatures };
}
