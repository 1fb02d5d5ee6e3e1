/**
 * `confide provenance log …`: the verifiable local log (an RFC 9162 Merkle tree with C2SP signed
 * checkpoints).
 *
 * - `log append DIR FILE … --key LOG.key [--origin NAME]`: appends the files as entries and signs
 *   the new checkpoint (creates the log on first use, which needs `--origin` and an Ed25519 key).
 *   `--key` is the log's private key.
 * - `log prove DIR [--index N | --file F] [--from SIZE] [--size SIZE] [--out PROOF]`: a proof file
 *   (the signed checkpoint, the inclusion proof, the consistency proof from SIZE).
 * - `log verify PROOF (--public-key LOG.pub | --vkey KEY) [--file F] [--previous CHECKPOINT]
 *   [--json]`: offline check of a proof file; `log verify DIR [--public-key|--vkey]` checks a
 *   whole log directory (and, with a key, that the log is signed by it). Exit 0 exactly when
 *   valid. `--key` is still accepted for `--public-key`, with a deprecation notice. With
 *   `--witness-key VKEY… [--witness-threshold K]` the proof's checkpoint must also carry K trusted
 *   witness cosignatures (C2SP tlog-cosignature).
 *
 * @module
 */

import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  isConfideError,
  LogStore,
  leafHashOfFile,
  logDirectoryReport,
  noteVerifier,
  noteVerifierKey,
  ProvenanceError,
  parseLogProof,
  parseNoteVerifierKey,
  parsePublicKeyPem,
  publicKeysEqual,
  VerificationError,
  verifyLogProofReport,
  verifyWitnessedCheckpoint,
} from '../../../provenance/index.ts';
import { integer } from '../../flags.ts';
import { addInputLimitOption, readBytes as readFileBytes } from '../../io.ts';
import { readPrivateKey } from '../../private-key.ts';
import {
  addDeprecatedOption,
  collect,
  emitReport,
  fromDeprecated,
  print,
  readText,
  writeOut,
} from './shared.ts';
import { readWitnessKeys } from './witness.ts';

/** A tree size or entry index: a whole number ≥ 0 (whether it is in range is the log's check). */
const treeIndex = integer(0, Number.MAX_SAFE_INTEGER);

/** Registers `log append | prove | verify` on `confide provenance`. */
export function registerLogCommands(provenance: Command): void {
  const log = provenance
    .command('log')
    .description('a verifiable local log: RFC 9162 Merkle tree, C2SP signed checkpoints');

  const logAppendCommand = log
    .command('append')
    .description('append files as log entries and sign the new checkpoint (creates the log with --origin)')
    .argument('<dir>', 'log directory')
    .argument('<files...>', 'entries to append (e.g. attestation files)')
    .requiredOption('--key <file>', "the log's Ed25519 private key (PEM)")
    .option('--password-file <file>', 'password of an encrypted --key (or CONFIDE_KEY_PASSWORD)')
    .option('--origin <name>', 'the log name, to create a new log (e.g. example.org/lineage)')
    .action(
      async (
        dir: string,
        files: string[],
        opts: { key: string; origin?: string; passwordFile?: string; maxInputBytes?: number },
        command: Command,
      ) => {
        const key = await readPrivateKey(opts.key, 'private key', opts);
        // Every entry is hashed first, so a bad one leaves no log created or changed.
        const hashes = [];
        for (const f of files) hashes.push(await leafHashOfFile(f));
        let store: LogStore;
        if (await LogStore.exists(dir)) {
          store = await LogStore.open(dir);
          if (opts.origin !== undefined && opts.origin !== store.log.origin) {
            command.error(`error: '${dir}' is the log '${store.log.origin}', not '${opts.origin}'`);
          }
        } else {
          if (opts.origin === undefined)
            command.error(`error: '${dir}' holds no log yet; give --origin to create one`);
          store = await LogStore.create(dir, opts.origin as string, key);
          print(
            `created log ${store.log.origin}; verifier key: ${noteVerifierKey(store.log.origin, key.publicKey)}`,
          );
        }
        const { indices, checkpoint } = await store.appendLeafHashes(hashes, key);
        const hex = store.leafHashesHex();
        indices.forEach((index, i) => {
          print(`entry ${index}  ${hex[index]}  ${files[i]}`);
        });
        process.stdout.write(checkpoint);
      },
    );
  addInputLimitOption(logAppendCommand);

  log
    .command('prove')
    .description('write a proof file: inclusion of an entry and/or consistency from an earlier size')
    .argument('<dir>', 'log directory')
    .option('--index <n>', 'the entry to prove', treeIndex)
    .option('--file <path>', 'the entry to prove, found by its content')
    .option('--from <size>', 'also prove consistency from this earlier tree size', treeIndex)
    .option('--size <size>', 'prove against the checkpoint of this size (default: the latest)', treeIndex)
    .option('--out <file>', 'where to write the proof (default: stdout)')
    .action(
      async (
        dir: string,
        opts: { index?: number; file?: string; from?: number; size?: number; out?: string },
        command: Command,
      ) => {
        if (opts.index !== undefined && opts.file !== undefined)
          command.error('error: give --index or --file, not both');
        const store = await LogStore.open(dir);
        let index = opts.index;
        if (opts.file !== undefined) {
          const found = store.log.indicesOf(await leafHashOfFile(opts.file));
          if (found.length === 0)
            throw new ProvenanceError('PROV_LOG_RANGE', `'${opts.file}' is not an entry of this log`);
          index = found[0];
        }
        const from = opts.from;
        if (index === undefined && from === undefined) command.error('error: give --index, --file or --from');
        const size = opts.size;
        const proof = await store.prove({
          ...(index === undefined ? {} : { index }),
          ...(from === undefined ? {} : { from }),
          ...(size === undefined ? {} : { size }),
        });
        const text = `${JSON.stringify(proof, null, 2)}\n`;
        if (opts.out === undefined) process.stdout.write(text);
        else {
          await writeOut(opts.out, text);
          print(`proof against size ${proof.treeSize} → ${opts.out}`);
        }
      },
    );

  const logVerifyCommand = log
    .command('verify')
    .description('verify a proof file offline (or a whole log directory); exit 0 exactly when valid')
    .argument('<proof>', 'proof file from `log prove`, or a log directory')
    .option('--public-key <file>', "the log's public key (Ed25519 SPKI PEM), named by the log origin")
    .option('--vkey <key>', "the log's note verifier key (name+id+key)")
    .option('--file <path>', 'the entry the proof must be about')
    .option('--previous <checkpoint>', 'a checkpoint kept earlier: the log must extend it')
    .option('--json', 'print a machine-readable result', false)
    .option(
      '--witness-key <vkey>',
      "a trusted witness key (vkey or a file holding one); repeatable: the proof's checkpoint must be cosigned",
      collect,
      [],
    )
    .option(
      '--witness-threshold <k>',
      'how many trusted witnesses must have cosigned it (default: all)',
      integer(1, 1000),
    )
    .action(
      async (
        target: string,
        flags: {
          witnessKey: string[];
          witnessThreshold?: number;
          publicKey?: string;
          /** Deprecated name of `publicKey`. */
          key?: string;
          vkey?: string;
          file?: string;
          previous?: string;
          json: boolean;
          maxInputBytes?: number;
        },
        command: Command,
      ) => {
        const key = fromDeprecated(command, flags.publicKey, flags.key, '--public-key', '--key');
        const opts = { ...flags, key };
        if (
          await stat(target).then(
            (s) => s.isDirectory(),
            () => false,
          )
        ) {
          if (opts.key !== undefined && opts.vkey !== undefined)
            command.error('error: give at most one of --public-key or --vkey');
          const store = await LogStore.open(target);
          const own = store.verifier;
          if (opts.key !== undefined || opts.vkey !== undefined) {
            const given =
              opts.vkey !== undefined
                ? parseNoteVerifierKey(opts.vkey)
                : noteVerifier(
                    own.name,
                    parsePublicKeyPem(
                      await readText(opts.key as string, 'public key', opts.maxInputBytes, 'key'),
                    ),
                  );
            if (given.name !== own.name || !publicKeysEqual(given.publicKey, own.publicKey)) {
              const error = new VerificationError(
                'PROV_CHECKPOINT_SIGNATURE_INVALID',
                `the log '${own.name}' is signed by ${own.name}+${own.keyId}, not by the key given (${given.name}+${given.keyId})`,
              );
              if (opts.json)
                print(JSON.stringify({ valid: false, code: error.code, message: error.message }, null, 2));
              throw error;
            }
          }
          const report = logDirectoryReport({
            dir: target,
            origin: store.log.origin,
            entries: store.log.size,
            signedSize: store.signedSize,
            verifier: own,
            keyCompared: opts.key !== undefined || opts.vkey !== undefined,
          });
          emitReport(
            report,
            opts.json,
            `valid: log ${store.log.origin}, ${store.log.size} entries, checkpoint of ${store.signedSize} verifies`,
            { origin: store.log.origin, treeSize: store.signedSize, entries: store.log.size },
          );
          return;
        }
        if ((opts.key === undefined) === (opts.vkey === undefined))
          command.error('error: give exactly one of --public-key or --vkey');
        const limit = opts.maxInputBytes;
        const proof = parseLogProof(await readText(target, 'proof', limit));
        const verifier =
          opts.vkey !== undefined
            ? parseNoteVerifierKey(opts.vkey)
            : noteVerifier(
                proof.origin,
                parsePublicKeyPem(await readText(opts.key as string, 'public key', limit, 'key')),
              );
        try {
          const entry =
            opts.file === undefined
              ? undefined
              : await readFileBytes(opts.file, 'entry', { scope: 'PROV', kind: 'data', maxBytes: limit });
          const previous =
            opts.previous === undefined
              ? undefined
              : await readText(opts.previous, 'checkpoint', limit, 'key');
          const report = verifyLogProofReport(
            proof,
            verifier,
            {
              ...(entry === undefined ? {} : { entry }),
              ...(previous === undefined ? {} : { previousCheckpoint: previous }),
            },
            `log proof ${target}`,
          );
          const { result, ...rest } = report;
          const r = result;
          let witnessed = '';
          if (report.valid && (opts.witnessKey.length > 0 || opts.witnessThreshold !== undefined)) {
            const threshold = opts.witnessThreshold ?? opts.witnessKey.length;
            if (threshold > opts.witnessKey.length)
              command.error('error: --witness-threshold is larger than the number of --witness-key');
            const witnesses = await readWitnessKeys(opts.witnessKey, limit);
            try {
              const cosigned = verifyWitnessedCheckpoint(proof.checkpoint, verifier, {
                witnesses,
                threshold,
              });
              witnessed = `, cosigned by ${cosigned.cosignatures.map((c) => c.name).join(', ')}`;
            } catch (error) {
              if (opts.json && isConfideError(error)) {
                print(JSON.stringify({ valid: false, code: error.code, message: error.message }, null, 2));
              }
              throw error;
            }
          }
          emitReport(
            rest,
            opts.json,
            r === undefined
              ? ''
              : `valid: ${r.origin} size ${r.treeSize}${r.inclusion === undefined ? '' : `, entry ${r.inclusion.index} included`}${r.consistentWith === undefined ? '' : `, extends the kept checkpoint of ${r.consistentWith.size}`}${witnessed}`,
            r ?? {},
          );
        } catch (error) {
          if (opts.json && isConfideError(error) && !(error instanceof VerificationError)) {
            print(JSON.stringify({ valid: false, code: error.code, message: error.message }, null, 2));
          }
          throw error;
        }
      },
    );
  addDeprecatedOption(logVerifyCommand, '--key <file>', '--public-key');
  addInputLimitOption(logVerifyCommand);
}
