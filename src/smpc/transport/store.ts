/**
 * Where an aggregation server keeps the round in progress: a minimal async `load / save / clear`
 * of one record (the round id and the server state serialised by `serializeState`, its masked
 * vectors left out: they are the bulk of the state and nothing reads them back), so that a
 * server that restarts finds the round it was running and aborts it cleanly instead of forgetting
 * it. {@link MemoryRoundStore} is the default; {@link FileRoundStore} writes one JSON file
 * atomically (temporary file, `fsync`, rename) with mode 0600.
 *
 * A stored round is never resumed: its clients' secrets lived in other processes that may have
 * restarted, and a client must never continue a session with fresh secrets. The
 * record exists so the restart is noticed, reported, and the round id retired.
 *
 * Deliberately not here: encryption at rest (the server state holds no client secret, only public
 * keys, envelopes it cannot open and masked vectors; protect it like any server log), history of
 * finished rounds, and locking between several servers sharing one file.
 *
 * @module
 */

import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfideArgumentError } from '../../errors.ts';
import { assertString } from '../../internal/assert.ts';
import { SmpcError } from '../errors.ts';
import { toHex } from '../primitives/encoding.ts';
import { randomBytes } from '../primitives/random.ts';

/** The round in progress, as a store keeps it. */
export interface StoredRound {
  /** The service round id (not the protocol round id). */
  readonly roundId: string;
  /** `serializeState(serverState)`, or `announced` before the protocol starts (never resumed either way). */
  readonly state: string;
}

/** Persistence of the round in progress. */
export interface RoundStore {
  /** The stored round, or null when none is stored. */
  load(): Promise<StoredRound | null>;
  /** Replaces the stored round. */
  save(round: StoredRound): Promise<void>;
  /** Removes the stored round (a no-op when none is stored). */
  clear(): Promise<void>;
}

function checkRound(round: unknown, where: string): StoredRound {
  if (typeof round !== 'object' || round === null) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', `${where}: a stored round must be an object`);
  }
  const r = round as Record<string, unknown>;
  return {
    roundId: assertString(r.roundId, 'roundId', 1024),
    state: assertString(r.state, 'state', Number.MAX_SAFE_INTEGER),
  };
}

/**
 * A store in memory: survives nothing but a `close()` / `listen()` on the same object (enough for
 * tests and for servers whose restarts are process restarts anyway).
 *
 * @example
 * ```ts
 * const store = new MemoryRoundStore();
 * const server = await AggregationServer.listen({ clients, store });
 * ```
 */
export class MemoryRoundStore implements RoundStore {
  #round: StoredRound | null = null;

  async load(): Promise<StoredRound | null> {
    return this.#round;
  }

  async save(round: StoredRound): Promise<void> {
    this.#round = checkRound(round, 'MemoryRoundStore.save');
  }

  async clear(): Promise<void> {
    this.#round = null;
  }
}

/**
 * A store in one JSON file, written atomically with mode 0600.
 *
 * @example
 * ```ts
 * const store = new FileRoundStore('/var/lib/confide/round.json');
 * ```
 */
export class FileRoundStore implements RoundStore {
  readonly path: string;
  #writes: Promise<void> = Promise.resolve();

  /** @throws {ConfideArgumentError} `INVALID_ARGUMENT` for an empty path. */
  constructor(path: string) {
    this.path = assertString(path, 'path', 4096);
    if (this.path.length === 0) throw new ConfideArgumentError('INVALID_ARGUMENT', 'path must not be empty');
  }

  /** @throws {SmpcError} `SMPC_MALFORMED_MESSAGE` when the file exists but is not a stored round. */
  async load(): Promise<StoredRound | null> {
    // A failed earlier write is that write's caller's error, not this read's.
    await this.#writes.catch(() => {});
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    try {
      return checkRound(JSON.parse(text), 'FileRoundStore');
    } catch (cause) {
      throw new SmpcError('SMPC_MALFORMED_MESSAGE', `the round store ${this.path} is not a stored round`, {
        cause,
      });
    }
  }

  save(round: StoredRound): Promise<void> {
    const checked = checkRound(round, 'FileRoundStore.save');
    // Writes are serialised so a slow earlier write can never land after a later one.
    this.#writes = this.#writes.catch(() => {}).then(() => this.#write(JSON.stringify(checked)));
    return this.#writes;
  }

  async clear(): Promise<void> {
    this.#writes = this.#writes.catch(() => {}).then(() => rm(this.path, { force: true }));
    return this.#writes;
  }

  async #write(text: string): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    // A fresh name, created exclusively: a leftover file (with whatever mode) is never reused.
    const temporary = `${this.path}.${process.pid}.${toHex(randomBytes(8))}.tmp`;
    const handle = await open(temporary, 'wx', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, this.path);
  }
}
