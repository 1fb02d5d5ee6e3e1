/**
 * Receipts on the `he` commands, kept apart from the commands themselves:
 *
 * - `he serve --receipt-key K --log DIR [--log-origin NAME]`: reads the Ed25519 key, opens (or
 *   creates) the log directory, and computes the model_signing root digest of each `--model` file
 *   (what `confide provenance sign-model FILE` signs), for `createInferenceServer({ receipts })`.
 * - `he score --receipts FILE --server-key PEM`: the client's receipt check
 *   (`InferenceHttpClient({ receipts })`), starting from the newest checkpoint already in FILE, and
 *   the verified receipt appended to FILE as one JSON line.
 *
 * Deliberately not here: the verification itself (`provenance/receipt/verify.ts`).
 *
 * @module
 */

import { appendFile, open, stat } from 'node:fs/promises';
import { type Command, InvalidArgumentError } from 'commander';
import { HeError } from '../../errors.ts';
import type { ReceiptCheckOptions } from '../../he/http-client.ts';
import type { InferenceReceipt } from '../../provenance/verify.ts';
import type { ReceiptOptions } from '../../server/options.ts';
import { createIo } from '../io.ts';
import { readPrivateKey } from '../private-key.ts';

const { readBytes, readText } = createIo('HE');

/** Default log origin of `he serve --log`. */
export const DEFAULT_LOG_ORIGIN = 'confide.local/he-serve';

/** The receipt flags of `he serve`. */
export interface ServeReceiptFlags {
  receiptKey?: string;
  log?: string;
  logOrigin?: string;
  passwordFile?: string;
  maxInputBytes?: number;
  model: string[];
}

/** Adds `--receipt-key`, `--log`, `--log-origin` to `he serve`. */
export function addServeReceiptOptions(command: Command): Command {
  return command
    .option(
      '--receipt-key <file>',
      'sign a receipt for every scoring request with this Ed25519 key (needs --log)',
    )
    .option('--log <dir>', 'the receipt log directory (created when empty; GET /v1/log/… serve it)')
    .option('--log-origin <name>', `the log's name in new checkpoints (default ${DEFAULT_LOG_ORIGIN})`);
}

/** `createInferenceServer`'s `receipts` option from the flags, or undefined when receipts are off. */
export async function serveReceipts(flags: ServeReceiptFlags): Promise<{ receipts?: ReceiptOptions }> {
  if (flags.receiptKey === undefined && flags.log === undefined) return {};
  if (flags.receiptKey === undefined || flags.log === undefined) {
    throw new InvalidArgumentError('--receipt-key and --log go together');
  }
  const provenance = await import('../../provenance/index.ts');
  const key = await readPrivateKey(flags.receiptKey, 'receipt key', flags, 'HE');
  if (key.algorithm !== 'ed25519') {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      `--receipt-key must be an Ed25519 key (it also signs the log's checkpoints), not ${key.algorithm}: confide provenance keygen --algorithm ed25519`,
    );
  }
  const log = await provenance.ReceiptLog.open(flags.log, flags.logOrigin ?? DEFAULT_LOG_ORIGIN, key);
  if (flags.logOrigin !== undefined && log.origin !== flags.logOrigin) {
    throw new HeError(
      'HE_PARAMETERS_INVALID',
      `the log in ${flags.log} is named '${log.origin}', not '${flags.logOrigin}': a log keeps its name (drop --log-origin, or use a new --log directory)`,
    );
  }
  const modelSigningDigests: Record<string, string> = {};
  for (const spec of flags.model) {
    const eq = spec.indexOf('=');
    if (eq < 1) continue; // readModels reports the bad spec
    const bytes = await readBytes(spec.slice(eq + 1), `model ${spec.slice(0, eq)}`, {
      kind: 'model',
      maxBytes: flags.maxInputBytes,
    });
    modelSigningDigests[spec.slice(0, eq)] = provenance.hashModelBytes(bytes).rootDigest;
  }
  return { receipts: { key, log, modelSigningDigests } };
}

/** The receipt flags of `he score`. */
export interface ScoreReceiptFlags {
  receipts?: string;
  serverKey?: string;
  maxInputBytes?: number;
}

/** Adds `--receipts` and `--server-key` to `he score`. */
export function addScoreReceiptOptions(command: Command): Command {
  return command
    .option(
      '--receipts <file>',
      'verify the signed receipt of the result and append it to this JSON-lines file',
    )
    .option('--server-key <file>', "the server's receipt public key (PEM), to verify receipts with");
}

/**
 * The client's receipt options from the flags (undefined when `--receipts` is not given): the
 * server key, and the newest checkpoint of the receipts already in the file.
 */
export async function scoreReceipts(flags: ScoreReceiptFlags): Promise<ReceiptCheckOptions | undefined> {
  if (flags.receipts === undefined) {
    if (flags.serverKey !== undefined)
      throw new InvalidArgumentError('--server-key goes with --receipts FILE');
    return undefined;
  }
  if (flags.serverKey === undefined) {
    throw new InvalidArgumentError("--receipts needs --server-key PEM (the server's receipt public key)");
  }
  const provenance = await import('../../provenance/verify.ts');
  const serverKey = provenance.parsePublicKeyPem(
    await readText(flags.serverKey, 'server key', { kind: 'key', maxBytes: flags.maxInputBytes }),
  );
  const exists = await stat(flags.receipts).then(
    () => true,
    (error: { code?: unknown }) => error.code !== 'ENOENT',
  );
  const kept = exists
    ? await readText(flags.receipts, 'receipts file', { kind: 'json', maxBytes: flags.maxInputBytes })
    : '';
  let checkpoint: string | undefined;
  let newest = -1;
  for (const [i, line] of kept.split('\n').entries()) {
    if (line.trim() === '') continue;
    let receipt: InferenceReceipt;
    try {
      receipt = provenance.parseReceipt(line);
    } catch (error) {
      throw new HeError(
        'HE_PARAMETERS_INVALID',
        `line ${i + 1} of ${flags.receipts} is not a receipt: keep one receipts file per server, as he score writes it`,
        { cause: error },
      );
    }
    // Each kept receipt was verified when it was written; its checkpoint is re-verified below.
    if (receipt.proof.treeSize > newest) {
      newest = receipt.proof.treeSize;
      checkpoint = receipt.proof.checkpoint;
    }
  }
  return { serverKey, ...(checkpoint === undefined ? {} : { checkpoint }) };
}

/** Appends one verified receipt to the receipts file as a JSON line, flushed. */
export async function keepReceipt(file: string, receipt: InferenceReceipt): Promise<void> {
  try {
    await appendFile(file, `${JSON.stringify(receipt)}\n`, { mode: 0o644 });
    const handle = await open(file, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (cause) {
    throw new HeError('HE_IO', `cannot append the receipt to '${file}'`, { cause });
  }
}

/** The witness flags of `he score`. */
export interface ScoreWitnessFlags {
  witnessUrl: string[];
  witnessKey: string[];
  witnessThreshold?: number;
  maxInputBytes?: number;
}

/** Adds `--witness-url`, `--witness-key`, `--witness-threshold` to `he score`. */
export function addScoreWitnessOptions(command: Command): Command {
  const collect = (value: string, previous: string[]): string[] => [...previous, value];
  return command
    .option(
      '--witness-url <url>',
      'a witness to ask to cosign the receipt checkpoint; repeatable',
      collect,
      [],
    )
    .option(
      '--witness-key <vkey>',
      'a trusted witness key (vkey or a file holding one); repeatable',
      collect,
      [],
    )
    .option(
      '--witness-threshold <k>',
      'how many trusted witnesses must have cosigned a consistent checkpoint',
      (v) => {
        const n = /^\d{1,4}$/.test(v) ? Number(v) : 0;
        if (n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
        return n;
      },
    );
}

/**
 * Asks each `--witness-url` to cosign the receipt's checkpoint (`POST /v1/witness/cosign`) and
 * requires at least `--witness-threshold` distinct trusted witnesses whose cosigned checkpoint
 * verifies and is consistent with the receipt's (a proof from the server when the sizes differ).
 * Returns the names of the witnesses counted.
 *
 * @throws `PROV_WITNESS_THRESHOLD_NOT_MET` (with what each witness answered), verification codes.
 */
export async function witnessReceipt(
  flags: ScoreWitnessFlags,
  server: string,
  receipt: InferenceReceipt,
  serverKey: ReceiptCheckOptions['serverKey'],
): Promise<string[]> {
  const provenance = await import('../../provenance/index.ts');
  const { readWitnessKeys } = await import('./provenance/witness.ts');
  const threshold = flags.witnessThreshold ?? flags.witnessKey.length;
  if (threshold > flags.witnessKey.length || flags.witnessUrl.length === 0) {
    throw new InvalidArgumentError(
      '--witness-threshold K needs at least K --witness-key and one --witness-url',
    );
  }
  const witnesses = await readWitnessKeys(flags.witnessKey, flags.maxInputBytes);
  const checkpoint = receipt.proof.checkpoint;
  const origin = receipt.proof.origin;
  const verifier = provenance.noteVerifier(origin, serverKey);
  const held = provenance.verifyCheckpoint(checkpoint, verifier);
  const counted = new Set<string>();
  const problems: string[] = [];
  for (const url of flags.witnessUrl) {
    try {
      const response = await fetch(new URL('v1/witness/cosign', url.endsWith('/') ? url : `${url}/`), {
        method: 'POST',
        body: checkpoint,
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      if (!response.ok) {
        const code = (() => {
          try {
            return (
              (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? `HTTP ${response.status}`
            );
          } catch {
            return `HTTP ${response.status}`;
          }
        })();
        problems.push(`${url}: ${code}`);
        continue;
      }
      const witnessed = provenance.verifyWitnessedCheckpoint(text, verifier, { witnesses, threshold: 1 });
      const size = witnessed.checkpoint.size;
      // The witness must have seen a tree holding the receipt's entry, not only a prefix before it.
      const index = receipt.proof.inclusion?.index ?? held.size - 1;
      if (size <= index) {
        problems.push(`${url}: cosigned ${size} entries, not the receipt's entry ${index}`);
        continue;
      }
      let proof: string[] = [];
      if (size !== held.size) {
        const [from, to] = size > held.size ? [held.size, size] : [size, held.size];
        const answer = await fetch(
          new URL(
            `v1/log/proof/consistency?from=${from}&size=${to}`,
            server.endsWith('/') ? server : `${server}/`,
          ),
          { signal: AbortSignal.timeout(30_000) },
        );
        proof = answer.ok
          ? ((await answer.json()) as { consistency: { hashes: string[] } }).consistency.hashes
          : [];
      }
      provenance.verifyCheckpointConsistency(checkpoint, text, proof, verifier);
      for (const c of witnessed.cosignatures) counted.add(c.name);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      problems.push(`${url}: ${typeof code === 'string' ? code : 'unreachable'}`);
    }
  }
  if (counted.size < threshold) {
    throw new provenance.VerificationError(
      'PROV_WITNESS_THRESHOLD_NOT_MET',
      `${counted.size} of the required ${threshold} trusted witnesses cosigned a checkpoint consistent with the receipt's${problems.length > 0 ? ` (${problems.join('; ')})` : ''}`,
    );
  }
  return [...counted];
}
