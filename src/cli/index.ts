#!/usr/bin/env node
/**
 * The `confide` command line. It parses flags, calls the library and prints; it holds no logic
 * the library lacks. Every failure prints one line (`confide: CODE: message`) to stderr and
 * exits non-zero; stack traces are printed only with `CONFIDE_DEBUG=1`.
 *
 * @module
 */

import { Command, CommanderError } from 'commander';
import { isConfideError, VERSION } from '../index.ts';
import { registerHeCommands } from './commands/he.ts';
import { registerProvenanceCommands } from './commands/provenance/index.ts';
import { registerSmpcCommands } from './commands/smpc.ts';

/** Exit codes: 0 success, 1 a confide error, 2 a usage error, 70 an unexpected internal error. */
const EXIT_CONFIDE_ERROR = 1;
const EXIT_USAGE = 2;
const EXIT_INTERNAL = 70;

function buildProgram(): Command {
  const program = new Command('confide')
    .description('Privacy-preserving computation: encrypted inference, secure aggregation, provenance.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ outputError: () => {} });
  registerHeCommands(program);
  registerProvenanceCommands(program);
  registerSmpcCommands(program);
  return program;
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv as string[]);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0; // --help, --version
      process.stderr.write(`confide: ${error.message.replace(/^error: /, '')}\n`);
      return EXIT_USAGE;
    }
    if (process.env.CONFIDE_DEBUG === '1') console.error(error);
    if (isConfideError(error)) {
      process.stderr.write(`confide: ${error.code}: ${error.message.split('\n')[0]}\n`);
      return EXIT_CONFIDE_ERROR;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(
      `confide: internal error: ${message.split('\n')[0]} (set CONFIDE_DEBUG=1 for details)\n`,
    );
    return EXIT_INTERNAL;
  }
}

process.exitCode = await main(process.argv);
