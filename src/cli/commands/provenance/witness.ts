/**
 * `confide provenance witness …`: a witness against split views of a log (C2SP tlog-witness
 * semantics, tlog-cosignature format) and the check of witnessed checkpoints.
 *
 * - `witness serve --key K --log-url URL --log-key PEM [--name N] [--state DIR] [--host H]
 *   [--port P]`: serves `POST /add-checkpoint`, `POST /v1/witness/cosign` and
 *   `GET /v1/witness/checkpoint` (`provenance/witness/server.ts`) for the log at URL whose
 *   checkpoints `--log-key` signs; prints its witness key (vkey) on stderr, stops on SIGTERM/SIGINT.
 * - `witness verify CHECKPOINT --log-key PEM --witness-key VKEY… --witness-threshold K [--json]`:
 *   the log's signature and at least K of the trusted witnesses' cosignatures; exit 0 exactly when
 *   both hold.
 * - `witness vkey --key K --name N`: prints the witness key (vkey) of a private key.
 *
 * A `--witness-key` is a vkey (`name+id+base64(0x04 ‖ key)`) or a file holding one.
 *
 * @module
 */

import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  type CosignatureVerifier,
  cosignatureVerifierKey,
  createWitnessServer,
  noteVerifier,
  ProvenanceError,
  parseCheckpoint,
  parseCosignatureVerifierKey,
  parseNote,
  parsePublicKeyPem,
  verifyWitnessedCheckpoint,
  Witness,
} from '../../../provenance/index.ts';
import { integer, port } from '../../flags.ts';
import { addInputLimitOption } from '../../io.ts';
import { readPrivateKey } from '../../private-key.ts';
import { collect, print, readText } from './shared.ts';

/** Reads `--witness-key` values: vkeys, or files holding one. */
export async function readWitnessKeys(
  values: readonly string[],
  maxBytes: number | undefined,
): Promise<CosignatureVerifier[]> {
  const keys: CosignatureVerifier[] = [];
  for (const value of values) {
    const isFile = await stat(value).then(
      (s) => s.isFile(),
      () => false,
    );
    const text = isFile ? (await readText(value, 'witness key', maxBytes, 'key')).trim() : value;
    keys.push(parseCosignatureVerifierKey(text));
  }
  return keys;
}

interface ServeFlags {
  key: string;
  name?: string;
  logUrl: string;
  logKey: string;
  logOrigin?: string;
  state?: string;
  host: string;
  port: number;
  passwordFile?: string;
  maxInputBytes?: number;
}

async function serveWitness(flags: ServeFlags): Promise<void> {
  const key = await readPrivateKey(flags.key, 'witness key', flags);
  const name = flags.name ?? 'confide-witness';
  const logKey = parsePublicKeyPem(
    await readText(flags.logKey, 'log public key', flags.maxInputBytes, 'key'),
  );
  let origin = flags.logOrigin;
  if (origin === undefined) {
    // The origin names the log's note key; read it from the log's current checkpoint.
    const response = await fetch(
      new URL('v1/log/checkpoint', flags.logUrl.endsWith('/') ? flags.logUrl : `${flags.logUrl}/`),
      {
        signal: AbortSignal.timeout(10_000),
      },
    ).catch(() => undefined);
    if (response === undefined || !response.ok) {
      throw new ProvenanceError(
        'PROV_IO',
        `cannot read the log's checkpoint at ${flags.logUrl}: start the log first, or give --log-origin NAME`,
      );
    }
    origin = parseCheckpoint(parseNote(await response.text()).text).origin;
  }
  const witness = await Witness.open({
    name,
    key,
    logs: [noteVerifier(origin, logKey)],
    stateDir: flags.state ?? 'witness-state',
  });
  const server = createWitnessServer({ witness, logUrl: flags.logUrl });
  const url = await server.listen({ host: flags.host, port: flags.port });
  process.stderr.write(
    `confide: witness ${cosignatureVerifierKey(name, key.publicKey)} of ${origin} serving on ${url}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      server.close().then(resolve, resolve);
    };
    process.once('SIGTERM', stop).once('SIGINT', stop);
  });
  process.stderr.write('confide: witness stopped\n');
}

/** Registers `witness serve | verify | vkey` on `confide provenance`. */
export function registerWitnessCommands(provenance: Command): void {
  const witness = provenance
    .command('witness')
    .description('witness a log against split views: cosign consistent checkpoints (C2SP tlog-cosignature)');

  const serveCommand = witness
    .command('serve')
    .description('serve a witness for the log at --log-url; cosigns only checkpoints that extend what it saw')
    .requiredOption('--key <file>', "the witness's Ed25519 private key (PEM)")
    .requiredOption(
      '--log-url <url>',
      'the log (confide he serve with --receipt-key), e.g. http://127.0.0.1:8080',
    )
    .requiredOption('--log-key <file>', "the log's public key (Ed25519 SPKI PEM)")
    .option('--log-origin <name>', "the log's origin (default: read from its checkpoint)")
    .option('--name <name>', 'the witness name in its cosignatures', 'confide-witness')
    .option('--state <dir>', 'where the witness keeps the checkpoints it saw', 'witness-state')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free port)', port, 8081)
    .option('--password-file <file>', 'password of an encrypted --key (or CONFIDE_KEY_PASSWORD)')
    .action(serveWitness);
  addInputLimitOption(serveCommand);

  const verifyCommand = witness
    .command('verify')
    .description('verify a checkpoint: the log signature and K of the trusted witness cosignatures')
    .argument('<checkpoint>', 'the checkpoint file (C2SP signed note with cosignature lines)')
    .requiredOption('--log-key <file>', "the log's public key (Ed25519 SPKI PEM)")
    .option(
      '--witness-key <vkey>',
      'a trusted witness key (vkey or a file holding one); repeatable',
      collect,
      [],
    )
    .requiredOption(
      '--witness-threshold <k>',
      'how many trusted witnesses must have cosigned',
      integer(1, 1000),
    )
    .option('--json', 'print a machine-readable result', false)
    .action(
      async (
        file: string,
        flags: {
          logKey: string;
          witnessKey: string[];
          witnessThreshold: number;
          json: boolean;
          maxInputBytes?: number;
        },
        command: Command,
      ) => {
        if (flags.witnessKey.length < flags.witnessThreshold)
          command.error('error: --witness-threshold is larger than the number of --witness-key');
        const note = await readText(file, 'checkpoint', flags.maxInputBytes, 'key');
        const logKey = parsePublicKeyPem(
          await readText(flags.logKey, 'log public key', flags.maxInputBytes, 'key'),
        );
        const origin = parseCheckpoint(parseNote(note).text).origin;
        const witnesses = await readWitnessKeys(flags.witnessKey, flags.maxInputBytes);
        const result = verifyWitnessedCheckpoint(note, noteVerifier(origin, logKey), {
          witnesses,
          threshold: flags.witnessThreshold,
        });
        const summary = {
          valid: true,
          origin,
          treeSize: result.checkpoint.size,
          cosignatures: result.cosignatures,
          threshold: flags.witnessThreshold,
        };
        if (flags.json) print(JSON.stringify(summary, null, 2));
        else
          print(
            `valid: ${origin} size ${result.checkpoint.size}, cosigned by ${result.cosignatures.map((c) => c.name).join(', ')} (${result.cosignatures.length} of ${witnesses.length} trusted, ${flags.witnessThreshold} required)`,
          );
      },
    );
  addInputLimitOption(verifyCommand);

  const vkeyCommand = witness
    .command('vkey')
    .description('print the witness key (vkey) of a private key under a witness name')
    .requiredOption('--key <file>', "the witness's Ed25519 private key (PEM)")
    .option('--name <name>', 'the witness name', 'confide-witness')
    .option('--password-file <file>', 'password of an encrypted --key (or CONFIDE_KEY_PASSWORD)')
    .action(async (flags: { key: string; name: string; passwordFile?: string; maxInputBytes?: number }) => {
      const key = await readPrivateKey(flags.key, 'witness key', flags);
      print(cosignatureVerifierKey(flags.name, key.publicKey));
    });
  addInputLimitOption(vkeyCommand);
}
