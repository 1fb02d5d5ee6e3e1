/**
 * The verifiable local log, in memory: an append-only RFC 9162 Merkle tree of entries, its proofs,
 * and checkpoints signed as C2SP signed notes with an Ed25519 key. Pure (no filesystem; see
 * `log-store.ts` for the file-backed store) and runs in browsers.
 *
 * An entry is any byte string (an attestation file, a model signature, a record); the log keeps
 * only leaf hashes `SHA-256(0x00 ‖ entry)`. Entries are opaque: the bytes are hashed exactly as
 * given (no JSON canonicalisation), so keep the file that was appended, byte for byte, to prove
 * its inclusion later; a lineage attestation's own identity (its payload digest) is already the
 * hash of canonical JSON. The log's name is its *origin* (the first line of its
 * checkpoints), and the note key that signs checkpoints is named by the origin too, as
 * transparency logs do. A checkpoint commits to the whole history up to its size; anyone who keeps
 * an old checkpoint can later demand a consistency proof to the current one.
 *
 * What such a log cannot prevent is its operator showing different histories to different
 * parties (a split view); see SECURITY.md "Provenance: the local log" for how kept checkpoints and
 * consistency proofs detect it.
 *
 * Deliberately not here: verification of proofs and checkpoints (`merkle.ts`, `checkpoint.ts`,
 * `log-verify.ts`, which never import this module), witnesses and cosignatures, tiles.
 *
 * @module
 */

import { equalBytes, fromHex, toHex, utf8 } from '../../internal/bytes.ts';
import { concat, toBase64 } from '../common/bytes.ts';
import { ed25519Sign } from '../common/ed25519-sign.ts';
import { PrivateKey } from '../common/keys.ts';
import { ProvenanceError } from '../errors.ts';
import { type Checkpoint, formatCheckpoint, isValidKeyName, noteKeyId } from './checkpoint.ts';
import {
  consistencyProof,
  HASH_SIZE,
  inclusionProof,
  leafHash,
  type SubtreeCache,
  treeRoot,
} from './merkle.ts';
import type { LogProof } from './verify.ts';

/** The `type` of a proof file written by {@link MerkleLog.prove}. */
export const LOG_PROOF_TYPE = 'confide.log-proof/v1';

/**
 * Signs note text with an Ed25519 key under `name`, producing a C2SP signed note.
 *
 * @throws {ProvenanceError} `PROV_ALGORITHM_UNSUPPORTED` for a non-Ed25519 key, `PROV_KEY_INVALID`
 *   for a bad name, `PROV_NOTE_INVALID` for text that does not end in a newline or holds a blank
 *   line or a control character.
 * @example
 * ```ts
 * signNote('hello\n', 'example.com/log', key); // 'hello\n\n— example.com/log …\n'
 * ```
 */
export function signNote(text: string, name: string, key: PrivateKey): string {
  if (!(key instanceof PrivateKey))
    throw new ProvenanceError('PROV_KEY_INVALID', 'key must be a confide PrivateKey');
  const id = noteKeyId(name, key.publicKey); // checks the name and the algorithm
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (!text.endsWith('\n') || text.includes('\n\n') || /[\u0000-\u0009\u000b-\u001f\u007f]/.test(text)) {
    throw new ProvenanceError(
      'PROV_NOTE_INVALID',
      'note text must end with a newline and hold no blank line or control character',
    );
  }
  const sig = ed25519Sign(key, utf8(text));
  return `${text}\n\u2014 ${name} ${toBase64(concat(fromHex(id), sig))}\n`;
}

/** An append-only Merkle log held in memory. */
export class MerkleLog {
  readonly origin: string;
  readonly #leaves: Uint8Array[];
  /** Heads of complete subtrees: valid for the log's life, since it only appends. */
  readonly #cache: SubtreeCache = new Map();

  /**
   * @param origin the log's name (no spaces, no `+`), e.g. `confide.example/lineage`.
   * @param leafHashes the existing leaf hashes, oldest first.
   * @throws {ProvenanceError} `PROV_KEY_INVALID` for a bad origin, `PROV_LOG_CORRUPT` for a leaf
   *   hash that is not 32 bytes.
   */
  constructor(origin: string, leafHashes: readonly Uint8Array[] = []) {
    if (!isValidKeyName(origin)) {
      throw new ProvenanceError(
        'PROV_KEY_INVALID',
        'the log origin must be non-empty UTF-8 without Unicode white space or +',
      );
    }
    if (!leafHashes.every((h) => h instanceof Uint8Array && h.length === HASH_SIZE)) {
      throw new ProvenanceError('PROV_LOG_CORRUPT', 'every leaf hash must be 32 bytes');
    }
    this.origin = origin;
    this.#leaves = leafHashes.map((h) => Uint8Array.from(h));
  }

  /** Number of entries. */
  get size(): number {
    return this.#leaves.length;
  }

  /** The leaf hash at `index`. */
  leafHashAt(index: number): Uint8Array {
    const h = this.#leaves[index];
    if (h === undefined)
      throw new ProvenanceError('PROV_LOG_RANGE', `no entry ${index} in a log of ${this.size}`);
    return Uint8Array.from(h);
  }

  /** Appends an entry (its bytes) and returns its index. */
  append(entry: Uint8Array): number {
    return this.appendLeafHash(leafHash(entry));
  }

  /** Appends a leaf hash computed elsewhere (e.g. streamed from a large file). */
  appendLeafHash(hash: Uint8Array): number {
    if (!(hash instanceof Uint8Array) || hash.length !== HASH_SIZE) {
      throw new ProvenanceError('PROV_LOG_CORRUPT', 'a leaf hash must be 32 bytes');
    }
    this.#leaves.push(Uint8Array.from(hash));
    return this.#leaves.length - 1;
  }

  /** Indices of the entries with this leaf hash (an entry may be appended more than once). */
  indicesOf(hash: Uint8Array): number[] {
    const out: number[] = [];
    this.#leaves.forEach((h, i) => {
      if (equalBytes(h, hash)) out.push(i);
    });
    return out;
  }

  /** Root hash of the tree of the first `size` entries (default all). */
  root(size: number = this.size): Uint8Array {
    return treeRoot(this.#leaves, size, this.#cache);
  }

  /** The (unsigned) checkpoint of the first `size` entries. */
  checkpoint(size: number = this.size, extensions: readonly string[] = []): Checkpoint {
    return { origin: this.origin, size, rootHash: this.root(size), extensions };
  }

  /**
   * Signs the checkpoint of the first `size` entries with the log's Ed25519 key (key name = origin).
   *
   * @throws {ProvenanceError} `PROV_ALGORITHM_UNSUPPORTED` for non-Ed25519 keys, `PROV_LOG_RANGE`.
   */
  signCheckpoint(key: PrivateKey, size: number = this.size): string {
    return signNote(formatCheckpoint(this.checkpoint(size)), this.origin, key);
  }

  /** Inclusion proof of entry `index` in the tree of `size` entries (RFC 9162 §2.1.3.1). */
  inclusionProof(index: number, size: number = this.size): Uint8Array[] {
    return inclusionProof(this.#leaves, index, size, this.#cache);
  }

  /** Consistency proof from the tree of `from` entries to the tree of `to` (RFC 9162 §2.1.4.1). */
  consistencyProof(from: number, to: number = this.size): Uint8Array[] {
    return consistencyProof(this.#leaves, from, to, this.#cache);
  }

  /**
   * A proof file: the signed checkpoint of `size` entries (given, since only the store knows the
   * signed checkpoints), plus the inclusion proof of `index` and/or the consistency proof from
   * `from`.
   *
   * @throws {ProvenanceError} `PROV_LOG_RANGE`.
   */
  prove(options: {
    readonly checkpoint: string;
    readonly size: number;
    readonly index?: number;
    readonly from?: number;
  }): LogProof {
    const { checkpoint, size, index, from } = options;
    return {
      type: LOG_PROOF_TYPE,
      origin: this.origin,
      treeSize: size,
      checkpoint,
      ...(index === undefined
        ? {}
        : {
            inclusion: {
              index,
              leafHash: toHex(this.leafHashAt(index)),
              hashes: this.inclusionProof(index, size).map(toHex),
            },
          }),
      ...(from === undefined
        ? {}
        : { consistency: { fromSize: from, hashes: this.consistencyProof(from, size).map(toHex) } }),
    };
  }
}
