/**
 * The transcript parts of `confide smpc simulate`, `serve` and `join` (the library rule is
 * `confide/provenance`'s `commitTranscript` / `verifyRoundTranscript`; this file is file I/O):
 *
 * - `--log DIR` (with `--attest-key KEY`, an Ed25519 key): every round's transcript is signed with
 *   the key, appended to the log in `DIR` (created on first use, origin `--log-origin`, default
 *   `confide.local/smpc`), and its bundle (`confide.round-transcript/v1`: envelope and inclusion
 *   proof) written to `DIR/transcripts/ROUND.json`, so the log directory alone holds every entry an
 *   auditor needs (`confide provenance audit --log-dir DIR`).
 * - `--server-key PUB` on `join`: check every round's transcript against the server's public key;
 *   `--transcripts FILE` appends one JSON line per round: the conclusion (`verified`, `failed` with
 *   its code, `missing`) and the bundle as received, the evidence to keep.
 * - `--log-state FILE` on `join` (with `--server-key`): the log checkpoint pinned
 *   (`confide.log-pin/v1`), read at start and rewritten atomically after every verified
 *   transcript; every transcript must prove the log consistent from it (`smpc/transport/log-pin.ts`).
 *
 * @module
 */

import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ConfideArgumentError } from '../../errors.ts';
import type { PublicKey } from '../../provenance/common/keys.ts';
import type { LogStore } from '../../provenance/log/store.ts';
import type { RoundTranscript } from '../../provenance/transcript/statement.ts';
import type { TranscriptBundle } from '../../provenance/transcript/verify.ts';
import type { ConsistencyProver, LogPin } from '../../smpc/transport/log-pin.ts';
import { readText } from '../io.ts';
import { type PrivateKeyFlags, readPrivateKey } from '../private-key.ts';

/** Default origin of a log created by `--log`. */
export const DEFAULT_SMPC_LOG_ORIGIN = 'confide.local/smpc';

/** Commits a transcript; resolves with its bundle. `proveConsistency` proves the same log's growth. */
export type CliTranscriptCommitter = ((transcript: RoundTranscript) => Promise<TranscriptBundle>) & {
  readonly proveConsistency: ConsistencyProver;
};

/** The flags of the committing side. */
export interface TranscriptLogFlags extends PrivateKeyFlags {
  readonly log?: string;
  readonly logOrigin?: string;
  readonly attestKey?: string;
}

const SAFE_NAME = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Opens (or creates) the log of `--log` with `--attest-key` and returns the committer, or
 * undefined without `--log`.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for `--log` without an Ed25519 `--attest-key`.
 */
export async function transcriptCommitter(
  flags: TranscriptLogFlags,
): Promise<CliTranscriptCommitter | undefined> {
  if (flags.log === undefined) return undefined;
  if (flags.attestKey === undefined) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      '--log needs --attest-key: the key that signs the transcripts and the log checkpoints (Ed25519)',
    );
  }
  const key = await readPrivateKey(flags.attestKey, 'attestation key', flags, 'SMPC');
  if (key.algorithm !== 'ed25519') {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `--log signs C2SP checkpoints, which need an Ed25519 --attest-key (this one is ${key.algorithm}): confide provenance keygen --algorithm ed25519`,
    );
  }
  const provenance = await import('../../provenance/index.ts');
  const dir = flags.log;
  const store: LogStore = (await provenance.LogStore.exists(dir))
    ? await provenance.LogStore.open(dir)
    : await provenance.LogStore.create(dir, flags.logOrigin ?? DEFAULT_SMPC_LOG_ORIGIN, key);
  await mkdir(join(dir, 'transcripts'), { recursive: true });
  const commit = async (transcript: RoundTranscript): Promise<TranscriptBundle> => {
    const bundle = await provenance.commitTranscript(store, provenance.transcriptStatement(transcript), key);
    const name = SAFE_NAME.test(transcript.roundId)
      ? transcript.roundId
      : `entry-${bundle.proof.inclusion?.index}`;
    await writeFile(join(dir, 'transcripts', `${name}.json`), `${JSON.stringify(bundle, null, 2)}\n`);
    return bundle;
  };
  return Object.assign(commit, { proveConsistency: provenance.transcriptConsistencyProver(store) });
}

/**
 * The log pin of `join --log-state FILE` (`confide.log-pin/v1`), or undefined when the file does
 * not exist yet (the first round pins).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` when the file is not a pin.
 */
export async function readLogState(file: string): Promise<LogPin | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return undefined;
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `cannot read --log-state ${file}: check its permissions`,
    );
  }
  const { parseLogPin } = await import('../../smpc/index.ts');
  try {
    return parseLogPin(text);
  } catch (e) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `--log-state ${file}: ${e instanceof Error ? e.message : 'invalid'}; restore it from a backup (deleting it gives up the pin)`,
    );
  }
}

/** Writes the pin atomically (a temporary file in the same directory, then a rename). */
export async function writeLogState(file: string, pin: LogPin): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomUUID()}.tmp`);
  try {
    await writeFile(tmp, `${JSON.stringify(pin, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    await rename(tmp, file);
  } catch {
    await rm(tmp, { force: true }).catch(() => {});
    const { SmpcError } = await import('../../smpc/errors.ts');
    throw new SmpcError(
      'SMPC_IO',
      `cannot write --log-state ${file}: check the directory exists and is writable`,
    );
  }
}

/** Reads the server's public key of `--server-key` (PEM). */
export async function readServerKey(path: string, maxInputBytes?: number): Promise<PublicKey> {
  const pem = await readText(path, 'server public key', {
    scope: 'SMPC',
    kind: 'key',
    ...(maxInputBytes === undefined ? {} : { maxBytes: maxInputBytes }),
  });
  const { parsePublicKeyPem } = await import('../../provenance/index.ts');
  const key = parsePublicKeyPem(pem);
  if (key.algorithm !== 'ed25519')
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      "--server-key must be the server's Ed25519 public key",
    );
  return key;
}

/** Appends one round's transcript conclusion to the `--transcripts` file (JSON lines). */
export async function keepTranscriptEvidence(file: string, line: Record<string, unknown>): Promise<void> {
  await appendFile(file, `${JSON.stringify(line)}\n`, { mode: 0o600 });
}
