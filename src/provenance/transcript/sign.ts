/**
 * Signing and logging of round transcripts: the statement of `statement.ts` in a DSSE envelope
 * (payload: its RFC 8785 canonical JSON, type `application/vnd.in-toto+json`), appended to the
 * server's local log (`log/store.ts`, RFC 9162 + C2SP checkpoints) as one entry whose bytes are the
 * canonical JSON of the envelope, and returned as a *transcript bundle*
 * (`confide.round-transcript/v1`: `{ type, envelope, proof }`, the proof an inclusion proof against
 * the checkpoint signed by that append). A client or auditor needs only the bundle and the
 * server's public key.
 *
 * The log's checkpoints and the statements are signed by the same Ed25519 key (the server's
 * identity); the log store checks the key is the log's.
 *
 * Deliberately not here: verification (`verify.ts`, which never imports this module), deciding
 * when a round is committed (the SMPC server and `confide smpc` commands do).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { toBase64 } from '../common/bytes.ts';
import { type DsseEnvelope, IN_TOTO_PAYLOAD_TYPE, preAuthEncoding } from '../common/dsse.ts';
import { PrivateKey } from '../common/keys.ts';
import { keyId } from '../lineage/policy.ts';
import { leafHash } from '../log/merkle.ts';
import type { LogStore } from '../log/store.ts';
import { signMessage } from '../model-signing/sign.ts';
import { type TranscriptStatement, transcriptPayload, transcriptStatementProblems } from './statement.ts';
import { TRANSCRIPT_BUNDLE_TYPE, type TranscriptBundle, transcriptEntry } from './verify.ts';

/**
 * Signs a transcript statement into a DSSE envelope.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for an invalid statement or key.
 */
export function signTranscript(statement: TranscriptStatement, key: PrivateKey): DsseEnvelope {
  if (!(key instanceof PrivateKey))
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'key must be a confide PrivateKey');
  const problems = transcriptStatementProblems(statement);
  if (problems.length > 0) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `invalid transcript statement: ${problems.join(', ')}`,
      {
        fields: problems,
      },
    );
  }
  const payload = transcriptPayload(statement);
  const sig = signMessage(key, preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload));
  return {
    payload: toBase64(payload),
    payloadType: IN_TOTO_PAYLOAD_TYPE,
    signatures: [{ sig: toBase64(sig), keyid: keyId(key.publicKey) }],
  };
}

/**
 * Signs a transcript, appends it to `store` (signing the new checkpoint with the same key) and
 * returns its bundle with the inclusion proof.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT`; {@link ProvenanceError} `PROV_KEY_INVALID`
 *   when `key` is not the log's key, `PROV_IO`.
 * @example
 * ```ts
 * const store = await LogStore.open('log');
 * const bundle = await commitTranscript(store, transcriptStatement(t), serverKey);
 * ```
 */
export async function commitTranscript(
  store: LogStore,
  statement: TranscriptStatement,
  key: PrivateKey,
): Promise<TranscriptBundle> {
  if (typeof store !== 'object' || store === null || typeof store.appendLeafHashes !== 'function')
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'store must be a LogStore');
  const envelope = signTranscript(statement, key);
  const { indices } = await store.appendLeafHashes([leafHash(transcriptEntry(envelope))], key);
  const proof = await store.prove({ index: indices[0] as number });
  return { type: TRANSCRIPT_BUNDLE_TYPE, envelope, proof };
}

/**
 * The consistency prover a server gives `runRound` (`proveTranscriptConsistency`) so clients that
 * pinned an earlier checkpoint of `store` get a consistency proof from it with each transcript:
 * the hashes (hex) from `fromSize` entries to the signed checkpoint of `toSize`.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` when `store` is not a log store; the prover
 *   rejects with `PROV_LOG_RANGE` for sizes the log never signed.
 * @example
 * ```ts
 * await server.runRound({ ..., commitTranscript, proveTranscriptConsistency: transcriptConsistencyProver(store) });
 * ```
 */
export function transcriptConsistencyProver(
  store: LogStore,
): (fromSize: number, toSize: number) => Promise<readonly string[]> {
  if (typeof store !== 'object' || store === null || typeof store.prove !== 'function')
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'store must be a LogStore');
  return async (fromSize, toSize) => {
    const proof = await store.prove({ from: fromSize, size: toSize });
    return proof.consistency?.hashes ?? [];
  };
}
