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
 *
 * @module
 */

import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfideArgumentError } from '../../errors.ts';
import type { PublicKey } from '../../provenance/common/keys.ts';
import type { LogStore } from '../../provenance/log/store.ts';
import type { RoundTranscript } from '../../provenance/transcript/statement.ts';
import type { TranscriptBundle } from '../../provenance/transcript/verify.ts';
import { readText } from '../io.ts';
import { type PrivateKeyFlags, readPrivateKey } from '../private-key.ts';

/** Default origin of a log created by `--log`. */
export const DEFAULT_SMPC_LOG_ORIGIN = 'confide.local/smpc';

/** Commits a transcript; resolves with its bundle. */
export type CliTranscriptCommitter = (transcript: RoundTranscript) => Promise<TranscriptBundle>;

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
  return async (transcript) => {
    const bundle = await provenance.commitTranscript(store, provenance.transcriptStatement(transcript), key);
    const name = SAFE_NAME.test(transcript.roundId)
      ? transcript.roundId
      : `entry-${bundle.proof.inclusion?.index}`;
    await writeFile(join(dir, 'transcripts', `${name}.json`), `${JSON.stringify(bundle, null, 2)}\n`);
    return bundle;
  };
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
