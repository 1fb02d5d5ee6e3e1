/**
 * `confide provenance …`: flag parsing, file reading/writing and printing around
 * `confide/provenance`, one file per command group. No logic the library lacks; failures are
 * thrown as coded errors and the CLI's top level prints one line and exits non-zero.
 *
 * - models (OpenSSF model_signing v1): `hash`, `sign-model`, `verify-model` (`model.ts`);
 * - keys: `keygen`, `fingerprint` (`keys.ts`);
 * - signed lineage: `attest`, `countersign`, `verify` (`lineage.ts`);
 * - the verifiable local log: `log append | prove | verify` (`log.ts`);
 * - one audit over all of it: `audit` (`audit.ts`);
 * - witnesses: `witness serve | verify | vkey` (`witness.ts`).
 *
 * One flag grammar: `--key` is a private key in signing commands; verifying commands take
 * `--public-key`, `--trusted-key`, `--ca` or `--trusted-root`. Every command that reads a private
 * key takes `--password-file FILE` (or `CONFIDE_KEY_PASSWORD`) for encrypted keys, and every
 * command that reads inputs takes `--max-input-bytes` (`../../files.ts`).
 *
 * @module
 */

import type { Command } from 'commander';
import { registerAuditCommand } from './audit.ts';
import { registerKeyCommands } from './keys.ts';
import { registerLineageCommands } from './lineage.ts';
import { registerLogCommands } from './log.ts';
import { registerModelCommands } from './model.ts';
import { registerWitnessCommands } from './witness.ts';

/** Registers `confide provenance …` on the program. */
export function registerProvenanceCommands(program: Command): void {
  const provenance = program
    .command('provenance')
    .description(
      'hash, sign and verify models (OpenSSF model_signing v1 compatible), signed lineage and a verifiable log',
    );
  registerModelCommands(provenance);
  registerKeyCommands(provenance);
  registerLineageCommands(provenance);
  registerLogCommands(provenance);
  registerAuditCommand(provenance);
  registerWitnessCommands(provenance);
}
