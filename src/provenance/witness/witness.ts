/**
 * A witness (Node only): keeps, per log origin, the largest checkpoint it has verified, and
 * cosigns a new checkpoint only when a consistency proof shows the log grew from that one
 * (C2SP tlog-witness semantics, c2sp.org/tlog-witness; cosignatures in C2SP tlog-cosignature
 * format, `cosignature.ts`). A checkpoint that does not extend the kept one (a fork, a rewritten
 * history, or another root at the same size) is refused with `PROV_WITNESS_REFUSED` and the kept
 * state does not move; a request from a size the witness does not hold is `PROV_WITNESS_CONFLICT`
 * (the caller retries from the size the error names).
 *
 * State: one JSON file per origin in the state directory (`<sha256(origin) hex>.json`:
 * `{ origin, size, rootHash, checkpoint }`), written to a temporary file, flushed and renamed
 * before the cosignature is returned, so a witness never cosigns a tree it could forget in a crash.
 * Requests are handled one at a time.
 *
 * {@link Witness.cosignFrom} is the pull side: given a checkpoint and a way to fetch consistency
 * proofs from the log, it proves the checkpoint against the kept state itself (either direction)
 * and answers the largest consistent checkpoint, cosigned.
 *
 * Deliberately not here: HTTP (`server.ts`), verifying cosignatures (`cosignature.ts`).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { sha256, toHex, utf8 } from '../../internal/bytes.ts';
import { toBase64 } from '../common/bytes.ts';
import { type PrivateKey, publicKeysEqual } from '../common/keys.ts';
import { ProvenanceError, VerificationError } from '../errors.ts';
import { type Checkpoint, type NoteVerifier, parseNote, verifyCheckpoint } from '../log/checkpoint.ts';
import { verifyConsistency } from '../log/merkle.ts';
import { signMessage } from '../model-signing/sign.ts';
import {
  cosignatureKeyId,
  cosignatureMessage,
  cosignatureVerifier,
  timestampedSignature,
} from './cosignature.ts';

type Fs = typeof import('node:fs/promises');
type Path = typeof import('node:path');

/** What a witness keeps per log. */
interface WitnessState {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: string;
  readonly checkpoint: string;
}

/** A consistency proof source: hashes (hex) from `from` entries to `size` entries of the log. */
export type ConsistencySource = (from: number, size: number) => Promise<readonly string[]>;

/** A C2SP tlog-witness witness over Ed25519 `cosignature/v1`. */
export class Witness {
  readonly name: string;
  readonly keyId: string;
  readonly #key: PrivateKey;
  readonly #logs: readonly NoteVerifier[];
  readonly #dir: string;
  readonly #fs: Fs;
  readonly #path: Path;
  #chain: Promise<unknown> = Promise.resolve();

  private constructor(
    name: string,
    key: PrivateKey,
    logs: readonly NoteVerifier[],
    dir: string,
    fs: Fs,
    path: Path,
  ) {
    this.name = name;
    this.keyId = cosignatureKeyId(name, key.publicKey);
    this.#key = key;
    this.#logs = logs;
    this.#dir = dir;
    this.#fs = fs;
    this.#path = path;
  }

  /**
   * A witness named `name` (its cosignature key name) with an Ed25519 key, the logs it witnesses
   * (their note verifiers: origin and key), and a state directory (created when missing).
   *
   * @throws {ProvenanceError} `PROV_ALGORITHM_UNSUPPORTED`, `PROV_KEY_INVALID`, `PROV_IO`.
   */
  static async open(options: {
    readonly name: string;
    readonly key: PrivateKey;
    readonly logs: readonly NoteVerifier[];
    readonly stateDir: string;
  }): Promise<Witness> {
    const { name, key, logs, stateDir } = options ?? ({} as never);
    if (typeof stateDir !== 'string' || stateDir === '' || !Array.isArray(logs) || logs.length === 0) {
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        'Witness.open({ name, key, logs: NoteVerifier[] (at least one), stateDir })',
      );
    }
    if (key?.algorithm !== 'ed25519') {
      throw new ProvenanceError(
        'PROV_ALGORITHM_UNSUPPORTED',
        'a witness key must be Ed25519 (cosignature/v1)',
      );
    }
    if (logs.some((l) => publicKeysEqual(l.publicKey, key.publicKey))) {
      throw new ProvenanceError('PROV_KEY_INVALID', "a witness must not use a log's own key");
    }
    cosignatureVerifier(name, key.publicKey); // checks the name
    const [fs, path] = await Promise.all([import('node:fs/promises'), import('node:path')]);
    try {
      await fs.mkdir(stateDir, { recursive: true, mode: 0o700 });
    } catch (cause) {
      throw new ProvenanceError('PROV_IO', `cannot create the witness state directory '${stateDir}'`, {
        cause,
      });
    }
    return new Witness(name, key, logs, stateDir, fs, path);
  }

  #file(origin: string): string {
    return this.#path.join(this.#dir, `${toHex(sha256(utf8(origin)))}.json`);
  }

  async #read(origin: string): Promise<WitnessState | undefined> {
    let text: string;
    try {
      text = await this.#fs.readFile(this.#file(origin), 'utf8');
    } catch (cause) {
      if ((cause as { code?: unknown }).code === 'ENOENT') return undefined;
      throw new ProvenanceError('PROV_IO', `cannot read the witness state of '${origin}'`, { cause });
    }
    let state: WitnessState;
    try {
      state = JSON.parse(text) as WitnessState;
    } catch (cause) {
      throw new ProvenanceError('PROV_LOG_CORRUPT', `the witness state of '${origin}' is not JSON`, {
        cause,
      });
    }
    if (
      state?.origin !== origin ||
      !Number.isSafeInteger(state.size) ||
      typeof state.checkpoint !== 'string' ||
      !/^[0-9a-f]{64}$/.test(String(state.rootHash))
    ) {
      throw new ProvenanceError('PROV_LOG_CORRUPT', `the witness state of '${origin}' is not this log's`);
    }
    return state;
  }

  async #write(state: WitnessState): Promise<void> {
    const file = this.#file(state.origin);
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      const handle = await this.#fs.open(tmp, 'w', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(state)}\n`);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await this.#fs.rename(tmp, file);
    } catch (cause) {
      throw new ProvenanceError('PROV_IO', `cannot write the witness state of '${state.origin}'`, { cause });
    }
  }

  /** The largest checkpoint this witness has verified for `origin`, or undefined. */
  async latest(origin: string): Promise<{ size: number; checkpoint: string } | undefined> {
    const state = await this.#read(origin);
    return state === undefined ? undefined : { size: state.size, checkpoint: state.checkpoint };
  }

  #verifyLogSignature(note: string): { checkpoint: Checkpoint; body: string } {
    const body = parseNote(note).text;
    const origin = body.slice(0, body.indexOf('\n'));
    const log = this.#logs.find((l) => l.name === origin);
    if (log === undefined) {
      throw new VerificationError('PROV_CHECKPOINT_ORIGIN', `this witness does not witness log '${origin}'`);
    }
    return { checkpoint: verifyCheckpoint(note, log), body };
  }

  /** The cosignature line (with newline) of this witness over a checkpoint body, dated now. */
  #cosign(body: string): string {
    const time = Math.floor(Date.now() / 1000);
    const signature = signMessage(this.#key, cosignatureMessage(body, time));
    const keyId = Uint8Array.from(this.keyId.match(/../g) as string[], (h) => Number.parseInt(h, 16));
    const blob = new Uint8Array(4 + 72);
    blob.set(keyId, 0);
    blob.set(timestampedSignature(time, signature), 4);
    return `\u2014 ${this.name} ${toBase64(blob)}\n`;
  }

  #serialized<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(run, run);
    this.#chain = next.catch(() => undefined);
    return next;
  }

  #refuse(checkpoint: Checkpoint, held: WitnessState): never {
    throw new ProvenanceError(
      'PROV_WITNESS_REFUSED',
      `the checkpoint of ${checkpoint.size} entries of '${checkpoint.origin}' is not consistent with the ${held.size} entries this witness cosigned: the log forked or rewrote its history`,
    );
  }

  /**
   * C2SP tlog-witness `add-checkpoint`: `oldSize` must be the size this witness holds for the log
   * (0 when it holds none), `proof` the consistency proof (hex) from there to `checkpoint`. Answers
   * this witness's cosignature line.
   *
   * @throws {VerificationError} checkpoint codes (unknown log, bad signature).
   * @throws {ProvenanceError} `PROV_WITNESS_CONFLICT` (another old size; the message names the held
   *   size), `PROV_WITNESS_REFUSED` (the proof does not link the two trees), `PROV_IO`.
   */
  addCheckpoint(note: string, oldSize: number, proof: readonly string[]): Promise<string> {
    if (typeof note !== 'string' || !Number.isSafeInteger(oldSize) || oldSize < 0 || !Array.isArray(proof)) {
      throw new ConfideArgumentError(
        'INVALID_ARGUMENT',
        'addCheckpoint(note: string, oldSize: number, proof: string[])',
      );
    }
    return this.#serialized(async () => {
      const { checkpoint, body } = this.#verifyLogSignature(note);
      const held = await this.#read(checkpoint.origin);
      const heldSize = held?.size ?? 0;
      if (oldSize !== heldSize || checkpoint.size < heldSize) {
        throw new ProvenanceError(
          'PROV_WITNESS_CONFLICT',
          `this witness holds ${heldSize} entries of '${checkpoint.origin}', not ${oldSize}: send a proof from size ${heldSize}`,
        );
      }
      if (held !== undefined && !this.#consistent(held, checkpoint, proof)) this.#refuse(checkpoint, held);
      if (held === undefined || checkpoint.size > held.size) {
        await this.#write({
          origin: checkpoint.origin,
          size: checkpoint.size,
          rootHash: toHex(checkpoint.rootHash),
          checkpoint: note,
        });
      }
      return this.#cosign(body);
    });
  }

  #consistent(held: WitnessState, checkpoint: Checkpoint, proof: readonly string[]): boolean {
    const hex = /^[0-9a-f]{64}$/;
    if (!proof.every((h) => typeof h === 'string' && hex.test(h))) return false;
    const hashes = proof.map((h) =>
      Uint8Array.from(h.match(/../g) as string[], (b) => Number.parseInt(b, 16)),
    );
    const heldRoot = Uint8Array.from(held.rootHash.match(/../g) as string[], (b) => Number.parseInt(b, 16));
    return checkpoint.size >= held.size
      ? verifyConsistency(held.size, checkpoint.size, hashes, heldRoot, checkpoint.rootHash)
      : verifyConsistency(checkpoint.size, held.size, hashes, checkpoint.rootHash, heldRoot);
  }

  /**
   * Pull side: verifies `note` against the kept state with a proof fetched from the log (in the
   * direction the sizes need), keeps it when it is larger, and answers the largest consistent
   * checkpoint (the given one or the kept one) with this witness's cosignature appended.
   *
   * @throws as {@link Witness.addCheckpoint}, and whatever `fetchProof` throws.
   */
  cosignFrom(note: string, fetchProof: ConsistencySource): Promise<string> {
    if (typeof note !== 'string' || typeof fetchProof !== 'function') {
      throw new ConfideArgumentError('INVALID_ARGUMENT', 'cosignFrom(note: string, fetchProof)');
    }
    return this.#serialized(async () => {
      const { checkpoint, body } = this.#verifyLogSignature(note);
      const held = await this.#read(checkpoint.origin);
      let answer = { note, body };
      if (held !== undefined) {
        const [from, size] =
          checkpoint.size >= held.size ? [held.size, checkpoint.size] : [checkpoint.size, held.size];
        const proof = from === size || from === 0 ? [] : await fetchProof(from, size);
        if (!this.#consistent(held, checkpoint, proof)) this.#refuse(checkpoint, held);
        if (checkpoint.size <= held.size) {
          answer = { note: held.checkpoint, body: parseNote(held.checkpoint).text };
        }
      }
      if (held === undefined || checkpoint.size > held.size) {
        await this.#write({
          origin: checkpoint.origin,
          size: checkpoint.size,
          rootHash: toHex(checkpoint.rootHash),
          checkpoint: note,
        });
      }
      const line = this.#cosign(answer.body);
      return `${answer.note}${line}`;
    });
  }
}
