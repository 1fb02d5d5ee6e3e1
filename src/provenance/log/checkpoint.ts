/**
 * Signed tree heads of the local log: C2SP signed notes (c2sp.org/signed-note) carrying C2SP
 * checkpoints (c2sp.org/tlog-checkpoint), parsed and verified. Pure and synchronous; runs in
 * browsers. Signing lives in `log.ts`; nothing here can sign.
 *
 * **Signed note.** `text` (UTF-8, no control characters but newline, ending in a newline), a blank
 * line, then one line per signature: `— <key name> <base64(key ID ‖ signature)>` (U+2014, space).
 * The signature covers the text bytes. Ed25519 keys (type 0x01) have key ID
 * `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]` and verifier keys are written
 * `<name>+<key ID, 8 hex>+<base64(0x01 ‖ public key)>`, as golang.org/x/mod/sumdb/note does; the
 * encoding is checked byte for byte against that package's known answer. A verifier ignores
 * signatures by keys it does not know; a signature by a known key (same name and key ID) that
 * does not verify fails the note. At most 100 signatures.
 *
 * **Checkpoint.** The note text is `<origin>\n<tree size, decimal>\n<base64 root hash>\n`
 * followed by optional non-empty extension lines. The origin names the log and follows the key
 * name rule ({@link isValidKeyName}: Go's `isValidName`); the size has no leading zeros; the root
 * is 32 bytes.
 *
 * Errors are {@link VerificationError}s: `PROV_CHECKPOINT_MALFORMED`,
 * `PROV_CHECKPOINT_SIGNATURE_INVALID`, `PROV_CHECKPOINT_ORIGIN`.
 *
 * Deliberately not here: ECDSA note signatures (RFC 6962 STH type 0x02), cosignatures (C2SP
 * tlog-cosignature, type 0x04), timestamps.
 *
 * @module
 */

import { ed25519 } from '@noble/curves/ed25519.js';
import { ConfideArgumentError } from '../../errors.ts';
import { equalBytes, sha256, toHex, utf8 } from '../../internal/bytes.ts';
import { concat, decodeUtf8, fromBase64, toBase64 } from '../common/bytes.ts';
import type { PublicKey } from '../common/keys.ts';
import { ProvenanceError, VerificationError } from '../errors.ts';

/** The signed-note algorithm byte of Ed25519. */
export const NOTE_ALG_ED25519 = 0x01;

const MAX_SIGNATURES = 100;
const SIG_PREFIX = '\u2014 ';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** A key that can verify notes: its name, 4-byte key ID and Ed25519 public key. */
export interface NoteVerifier {
  readonly name: string;
  /** The key ID as 8 lowercase hex characters. */
  readonly keyId: string;
  readonly publicKey: PublicKey;
}

/** One signature line of a note. */
export interface NoteSignature {
  readonly name: string;
  readonly keyId: string;
  /** base64 of key ID ‖ signature, as written. */
  readonly base64: string;
}

/** A parsed (not yet verified) signed note. */
export interface ParsedNote {
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

/** A checkpoint: the log's origin, tree size, root hash and extension lines. */
export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly extensions: readonly string[];
}

function malformed(message: string): never {
  throw new VerificationError('PROV_CHECKPOINT_MALFORMED', message);
}

/**
 * Unicode White_Space (the characters Go's `unicode.IsSpace` accepts: TAB, LF, VT, FF, CR, space,
 * U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000) or `+`.
 * JavaScript's `\s` is not this set: it lacks U+0085 and adds U+FEFF.
 */
const NAME_FORBIDDEN = /[\p{White_Space}+]/u;

/**
 * True when `name` may name a note key or a checkpoint origin, by the rule of
 * golang.org/x/mod/sumdb/note (`isValidName`): non-empty, valid UTF-8 (no lone surrogates), no
 * Unicode White_Space character and no `+`. U+200B and U+FEFF are not White_Space, so they are
 * allowed, as Go allows them.
 */
export function isValidKeyName(name: string): boolean {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    !NAME_FORBIDDEN.test(name) &&
    decodeUtf8(utf8(name)) === name
  );
}

/**
 * The C2SP signed-note key ID of an Ed25519 key: `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4]`, as hex.
 *
 * @throws {ProvenanceError} `PROV_ALGORITHM_UNSUPPORTED` for non-Ed25519 keys, `PROV_KEY_INVALID`
 *   for an invalid name.
 */
export function noteKeyId(name: string, publicKey: PublicKey): string {
  if (!isValidKeyName(name))
    throw new ProvenanceError(
      'PROV_KEY_INVALID',
      'a note key name must be non-empty UTF-8 without Unicode white space or +',
    );
  if (publicKey.algorithm !== 'ed25519') {
    throw new ProvenanceError('PROV_ALGORITHM_UNSUPPORTED', 'signed notes here use Ed25519 keys only');
  }
  return toHex(sha256(utf8(name), Uint8Array.of(0x0a, NOTE_ALG_ED25519), publicKey.bytes).subarray(0, 4));
}

/** A {@link NoteVerifier} for an Ed25519 public key under `name`. */
export function noteVerifier(name: string, publicKey: PublicKey): NoteVerifier {
  return { name, keyId: noteKeyId(name, publicKey), publicKey };
}

/**
 * The verifier key string `<name>+<key ID>+<base64(0x01 ‖ key)>`.
 *
 * @example
 * ```ts
 * noteVerifierKey('example.com/log', key.publicKey); // 'example.com/log+1a2b3c4d+AR…'
 * ```
 */
export function noteVerifierKey(name: string, publicKey: PublicKey): string {
  const id = noteKeyId(name, publicKey);
  return `${name}+${id}+${toBase64(concat(Uint8Array.of(NOTE_ALG_ED25519), publicKey.bytes))}`;
}

/**
 * Parses a verifier key string and checks its key ID.
 *
 * @throws {ProvenanceError} `PROV_KEY_INVALID` (malformed, wrong key ID, wrong length),
 *   `PROV_ALGORITHM_UNSUPPORTED` (an algorithm byte other than Ed25519).
 */
export function parseNoteVerifierKey(vkey: string): NoteVerifier {
  const bad = (why: string): never => {
    throw new ProvenanceError('PROV_KEY_INVALID', `not a note verifier key: ${why}`);
  };
  // name+keyid+key, where the base64 key may itself contain '+'.
  const parts = typeof vkey === 'string' ? vkey.split('+') : [];
  if (parts.length < 3) bad('expected name+keyid+key');
  const [name, id] = parts as [string, string];
  const b64 = parts.slice(2).join('+');
  if (!isValidKeyName(name)) bad('invalid name');
  if (!/^[0-9a-f]{8}$/.test(id)) bad('the key ID must be 8 lowercase hex characters');
  if (!BASE64.test(b64)) bad('the key is not base64');
  let raw: Uint8Array;
  try {
    raw = fromBase64(b64);
  } catch {
    return bad('the key is not base64');
  }
  if (raw[0] !== NOTE_ALG_ED25519) {
    throw new ProvenanceError(
      'PROV_ALGORITHM_UNSUPPORTED',
      `note key algorithm ${raw[0]} is not Ed25519 (1)`,
    );
  }
  if (raw.length !== 33) bad('an Ed25519 key is 32 bytes');
  try {
    ed25519.Point.fromBytes(raw.subarray(1));
  } catch {
    bad('not an Ed25519 point');
  }
  const publicKey: PublicKey = { algorithm: 'ed25519', bytes: raw.slice(1) };
  if (noteKeyId(name, publicKey) !== id) bad('the key ID does not match the name and key');
  return { name, keyId: id, publicKey };
}

/**
 * Splits a signed note into text and signature lines, enforcing the C2SP syntax.
 *
 * @throws {VerificationError} `PROV_CHECKPOINT_MALFORMED`.
 */
export function parseNote(note: string | Uint8Array): ParsedNote {
  const message = typeof note === 'string' ? note : decodeUtf8(note);
  if (message === undefined) malformed('the note is not UTF-8');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u0009\u000b-\u001f\u007f]/.test(message)) malformed('the note contains control characters');
  const split = message.lastIndexOf('\n\n');
  if (split < 0) malformed('the note has no blank line before its signatures');
  const text = message.slice(0, split + 1);
  const sigText = message.slice(split + 2);
  if (!sigText.endsWith('\n')) malformed('the last signature line does not end with a newline');
  const lines = sigText.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) malformed(`more than ${MAX_SIGNATURES} signatures`);
  const signatures = lines.map((line) => {
    if (!line.startsWith(SIG_PREFIX)) malformed('a signature line must start with "— "');
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = rest.slice(0, space);
    const b64 = rest.slice(space + 1);
    if (space <= 0 || !isValidKeyName(name) || !BASE64.test(b64))
      malformed(`malformed signature line '${line}'`);
    let raw: Uint8Array;
    try {
      raw = fromBase64(b64);
    } catch {
      return malformed(`malformed signature line '${line}'`);
    }
    if (raw.length < 5) malformed('a signature must hold a 4-byte key ID and a signature');
    return { name, keyId: toHex(raw.subarray(0, 4)), base64: b64 };
  });
  return { text, signatures };
}

/**
 * Verifies a signed note: at least one signature by a known key, and every signature by a known
 * key valid. Returns the text and the names of the keys that verified.
 *
 * @throws {VerificationError} `PROV_CHECKPOINT_MALFORMED`, `PROV_CHECKPOINT_SIGNATURE_INVALID`.
 */
export function verifyNote(
  note: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
): { text: string; verifiedBy: string[] } {
  if (
    !Array.isArray(verifiers) ||
    !verifiers.every((v) => typeof v?.name === 'string' && v.publicKey !== undefined)
  ) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'verifiers must be NoteVerifiers (see noteVerifier)');
  }
  const parsed = parseNote(note);
  const message = utf8(parsed.text);
  const verifiedBy: string[] = [];
  for (const sig of parsed.signatures) {
    const known = verifiers.filter((v) => v.name === sig.name && v.keyId === sig.keyId);
    if (known.length === 0) continue;
    const raw = fromBase64(sig.base64).subarray(4);
    const ok = known.some((v) => {
      try {
        return raw.length === 64 && ed25519.verify(raw, message, v.publicKey.bytes);
      } catch {
        return false;
      }
    });
    if (!ok) {
      throw new VerificationError(
        'PROV_CHECKPOINT_SIGNATURE_INVALID',
        `the signature by ${sig.name}+${sig.keyId} does not verify`,
      );
    }
    if (!verifiedBy.includes(sig.name)) verifiedBy.push(sig.name);
  }
  if (verifiedBy.length === 0) {
    throw new VerificationError(
      'PROV_CHECKPOINT_SIGNATURE_INVALID',
      'the note has no signature by a known key',
    );
  }
  return { text: parsed.text, verifiedBy };
}

/**
 * The note text of a checkpoint (C2SP tlog-checkpoint).
 *
 * @throws {ProvenanceError} `PROV_KEY_INVALID` for a bad origin; `PROV_LOG_RANGE` for a bad size,
 *   a root hash that is not 32 bytes, or an extension line that is empty or holds a newline.
 */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  const { origin, size, rootHash, extensions } = checkpoint;
  if (!isValidKeyName(origin))
    throw new ProvenanceError(
      'PROV_KEY_INVALID',
      'the origin must be non-empty UTF-8 without Unicode white space or +',
    );
  if (!Number.isSafeInteger(size) || size < 0)
    throw new ProvenanceError('PROV_LOG_RANGE', 'the tree size must be a non-negative integer');
  if (!(rootHash instanceof Uint8Array) || rootHash.length !== 32) {
    throw new ProvenanceError('PROV_LOG_RANGE', 'the root hash must be 32 bytes');
  }
  for (const line of extensions) {
    if (typeof line !== 'string' || line === '' || line.includes('\n')) {
      throw new ProvenanceError(
        'PROV_LOG_RANGE',
        'checkpoint extension lines must be non-empty single lines',
      );
    }
  }
  return `${origin}\n${size}\n${toBase64(rootHash)}\n${extensions.map((l) => `${l}\n`).join('')}`;
}

/**
 * Parses checkpoint note text (no signatures).
 *
 * @throws {VerificationError} `PROV_CHECKPOINT_MALFORMED`.
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) malformed('the checkpoint text must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (origin === undefined || !isValidKeyName(origin))
    malformed('the checkpoint origin line is missing or invalid');
  if (
    sizeText === undefined ||
    !/^(0|[1-9][0-9]{0,15})$/.test(sizeText) ||
    !Number.isSafeInteger(Number(sizeText))
  ) {
    malformed('the checkpoint tree size is not a decimal integer');
  }
  let rootHash: Uint8Array | undefined;
  try {
    rootHash = rootText !== undefined && BASE64.test(rootText) ? fromBase64(rootText) : undefined;
  } catch {
    rootHash = undefined;
  }
  if (rootHash === undefined || rootHash.length !== 32)
    malformed('the checkpoint root hash is not base64 of 32 bytes');
  if (extensions.some((l) => l === '')) malformed('empty line in the checkpoint body');
  return { origin, size: Number(sizeText), rootHash, extensions };
}

/**
 * Verifies a signed checkpoint with the log's key and returns it.
 *
 * @throws {VerificationError} `PROV_CHECKPOINT_MALFORMED`, `PROV_CHECKPOINT_SIGNATURE_INVALID`,
 *   `PROV_CHECKPOINT_ORIGIN` (when `origin` is given and differs).
 * @example
 * ```ts
 * const cp = verifyCheckpoint(readFileSync('checkpoint', 'utf8'), parseNoteVerifierKey(vkey));
 * cp.size; cp.rootHash;
 * ```
 */
export function verifyCheckpoint(
  note: string | Uint8Array,
  verifier: NoteVerifier,
  origin?: string,
): Checkpoint {
  const { text } = verifyNote(note, [verifier]);
  const checkpoint = parseCheckpoint(text);
  const expected = origin ?? verifier.name;
  if (checkpoint.origin !== expected) {
    throw new VerificationError(
      'PROV_CHECKPOINT_ORIGIN',
      `the checkpoint is for log '${checkpoint.origin}', not '${expected}'`,
    );
  }
  return checkpoint;
}

/** True when two checkpoints are for the same log, size and root. */
export function sameTreeHead(a: Checkpoint, b: Checkpoint): boolean {
  return a.origin === b.origin && a.size === b.size && equalBytes(a.rootHash, b.rootHash);
}
