/**
 * {@link VerificationReport}s for the local log: {@link verifyLogProofReport} runs
 * `verifyLogProof` (`log-verify.ts`) and describes what it established (checkpoint signature,
 * inclusion, consistency), the log key that signed, and what a proof cannot show (a split view
 * without witnesses, the time of the checkpoint, which entry a bare leaf hash stands for);
 * {@link logDirectoryReport} describes a log directory that `LogStore.open` accepted. Pure; runs
 * in browsers.
 *
 * Deliberately not here: the checks themselves (`log-verify.ts`, `log-store.ts`), printing.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import {
  labeledFingerprints,
  type SignerDescription,
  type VerificationCheck,
  type VerificationReport,
} from '../common/report.ts';
import { VerificationError } from '../errors.ts';
import type { NoteVerifier } from './checkpoint.ts';
import { type LogProofResult, type VerifyLogProofOptions, verifyLogProof } from './verify.ts';

/** A log verification report with what the proof established. */
export interface LogVerificationReport extends VerificationReport {
  readonly result?: LogProofResult;
}

function noteSigner(verifier: NoteVerifier): SignerDescription {
  return {
    kind: 'note-key',
    name: verifier.name,
    noteKeyId: verifier.keyId,
    algorithm: verifier.publicKey.algorithm,
    fingerprints: labeledFingerprints(verifier.publicKey),
  };
}

const ALWAYS = [
  "witnesses: only the log's own key signed the checkpoint, so a log showing different views to different verifiers is not detected",
  'trusted timestamp: checkpoints carry no time',
];

const CHECK_OF: Readonly<Record<string, string>> = {
  PROV_LOG_PROOF_MALFORMED: 'proof file shape and agreement with the request',
  PROV_CHECKPOINT_MALFORMED: 'checkpoint signed by the log key, for the expected origin',
  PROV_CHECKPOINT_SIGNATURE_INVALID: 'checkpoint signed by the log key, for the expected origin',
  PROV_CHECKPOINT_ORIGIN: 'checkpoint signed by the log key, for the expected origin',
  PROV_LOG_INCLUSION_INVALID: 'inclusion of the entry in the checkpoint tree (RFC 9162)',
  PROV_LOG_CONSISTENCY_INVALID: 'consistency with the kept checkpoint (RFC 9162)',
};

/**
 * Verifies a proof file like `verifyLogProof` and reports the checks, the signer and what was not
 * checked. A {@link VerificationError} becomes `valid: false` with its code; other errors are
 * rethrown.
 *
 * @example
 * ```ts
 * const report = verifyLogProofReport(proofText, parseNoteVerifierKey(vkey), { entry });
 * report.notChecked; // witnesses, timestamps, consistency when no kept checkpoint was given…
 * ```
 */
export function verifyLogProofReport(
  proofInput: unknown,
  verifier: NoteVerifier,
  options: VerifyLogProofOptions = {},
  subject = 'log proof',
): LogVerificationReport {
  const notChecked: string[] = [];
  if (options.previousCheckpoint === undefined)
    notChecked.push(
      'consistency with a checkpoint kept earlier: without one, a log that rewrote its history is not detected (previousCheckpoint; --previous in the CLI)',
    );
  let result: LogProofResult;
  try {
    result = verifyLogProof(proofInput, verifier, options);
  } catch (error) {
    if (!(error instanceof VerificationError)) throw error;
    return {
      valid: false,
      code: error.code,
      subject,
      checks: [
        { name: CHECK_OF[error.code] ?? 'log proof', ok: false, detail: error.message, code: error.code },
      ],
      signers: [],
      notChecked: ['the checks after the failure were not run', ...notChecked, ...ALWAYS],
    };
  }
  const checks: VerificationCheck[] = [
    {
      name: 'checkpoint signed by the log key, for the expected origin',
      ok: true,
      detail: `${result.origin}, ${result.treeSize} entries, root ${result.rootHash}`,
    },
  ];
  if (result.inclusion !== undefined) {
    checks.push({
      name: 'inclusion of the entry in the checkpoint tree (RFC 9162)',
      ok: true,
      detail: `entry ${result.inclusion.index}, leaf hash ${result.inclusion.leafHash}${options.entry === undefined ? '' : ', the leaf hash of the given entry'}`,
    });
    if (options.entry === undefined)
      notChecked.push(
        'which entry this is: the leaf hash was taken from the proof, not computed from a given file (entry; --file in the CLI)',
      );
  } else notChecked.push('inclusion of any entry: the proof has no inclusion part');
  if (result.consistentWith !== undefined)
    checks.push({
      name: 'consistency with the kept checkpoint (RFC 9162)',
      ok: true,
      detail: `extends size ${result.consistentWith.size}, root ${result.consistentWith.rootHash}`,
    });
  return {
    valid: true,
    code: 'OK',
    subject,
    checks,
    signers: [noteSigner(verifier)],
    notChecked: [...notChecked, ...ALWAYS],
    result,
  };
}

/** What `LogStore.open` established about a log directory. */
export interface LogDirectoryFacts {
  readonly dir: string;
  readonly origin: string;
  readonly entries: number;
  readonly signedSize: number;
  /** The key in the log's own `log.json`. */
  readonly verifier: NoteVerifier;
  /** True when the caller also gave the key it trusts and it was compared with the log's. */
  readonly keyCompared: boolean;
}

/**
 * The report of a log directory that opened (`LogStore.open` verified its latest checkpoint with
 * the key in `log.json` and the stored entries against that checkpoint's root).
 *
 * @example
 * ```ts
 * const store = await LogStore.open(dir);
 * logDirectoryReport({ dir, origin: store.log.origin, entries: store.log.size, signedSize: store.signedSize, verifier: store.verifier, keyCompared: false });
 * ```
 */
export function logDirectoryReport(facts: LogDirectoryFacts): VerificationReport {
  if (
    typeof facts !== 'object' ||
    facts === null ||
    typeof facts.origin !== 'string' ||
    !Number.isSafeInteger(facts.entries) ||
    !Number.isSafeInteger(facts.signedSize) ||
    typeof facts.verifier?.name !== 'string' ||
    facts.verifier.publicKey === undefined
  )
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'facts must be LogDirectoryFacts (see LogStore.open)');
  const checks: VerificationCheck[] = [
    { name: 'log configuration (log.json) and its verifier key', ok: true, detail: `origin ${facts.origin}` },
    {
      name: 'latest checkpoint signed by the log key',
      ok: true,
      detail: `${facts.signedSize} entries`,
    },
    {
      name: 'stored entries hash to the checkpoint root',
      ok: true,
      detail: `${facts.entries} entries stored, the first ${facts.signedSize} signed`,
    },
  ];
  if (facts.keyCompared)
    checks.push({
      name: 'log key is the key given',
      ok: true,
      detail: `${facts.verifier.name}+${facts.verifier.keyId}`,
    });
  return {
    valid: true,
    code: 'OK',
    subject: `log directory ${facts.dir}`,
    checks,
    signers: [noteSigner(facts.verifier)],
    notChecked: [
      ...(facts.keyCompared
        ? []
        : [
            "that the log key is one you trust: it was read from the log's own log.json (give --key or --vkey)",
          ]),
      ...(facts.entries > facts.signedSize
        ? [`${facts.entries - facts.signedSize} entries not yet covered by a signed checkpoint`]
        : []),
      'the entries themselves: only their hashes are stored',
      ...ALWAYS,
    ],
  };
}
