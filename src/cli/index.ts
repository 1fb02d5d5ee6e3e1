#!/usr/bin/env node
/**
 * The `confide` command line. It parses flags, calls the library and prints; it holds no logic
 * the library lacks. Every failure prints one line (`confide: CODE: message`) to stderr and
 * exits non-zero; stack traces are printed only with `CONFIDE_DEBUG=1`. Library option names in a
 * confide error's `fields` are printed as the flags of the running command (`./flags.ts`).
 *
 * @module
 */

import { Command, CommanderError, type Command as CommandType } from 'commander';
import { isConfideError, VERSION } from '../index.ts';
import { registerHeCommands } from './commands/he.ts';
import { registerProvenanceCommands } from './commands/provenance/index.ts';
import { registerSmpcCommands } from './commands/smpc.ts';
import { messageForCli } from './flags.ts';
import { safeText } from './terminal.ts';

/**
 * Exit codes: 0 success, 1 a confide error, 2 a usage error (unknown flag, missing required flag,
 * a flag value its parser refuses), 70 an unexpected internal error.
 */
const EXIT_CONFIDE_ERROR = 1;
const EXIT_USAGE = 2;
const EXIT_INTERNAL = 70;

/** The long flags of the command whose action ran, for {@link messageForCli}. */
let commandFlags: ReadonlySet<string> = new Set();

/** Every long flag of `command` and its subcommands, for {@link messageForCli}. */
function allFlags(command: CommandType, into = new Set<string>()): Set<string> {
  for (const option of command.options) if (option.long !== undefined) into.add(option.long);
  for (const sub of command.commands) allFlags(sub, into);
  return into;
}

function buildProgram(): Command {
  const program = new Command('confide')
    .description('Privacy-preserving computation: encrypted inference, secure aggregation, provenance.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .option('--quiet', 'no progress lines or bars on stderr (errors are still printed)')
    .hook('preAction', (root, action) => {
      // A global flag: every action sees it as its own `quiet` option.
      if (root.opts().quiet === true) action.setOptionValue('quiet', true);
      commandFlags = new Set(action.options.flatMap((o) => (o.long === undefined ? [] : [o.long])));
    });
  registerHeCommands(program);
  registerProvenanceCommands(program);
  registerSmpcCommands(program);
  return program;
}

async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
    return 0;
  } catch (error) {
    // A progress bar may have left a partial line on a terminal: the error starts a clean one.
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0; // --help, --version
      process.stderr.write(`confide: ${safeText(error.message.replace(/^error: /, ''))}\n`);
      return EXIT_USAGE;
    }
    if (process.env.CONFIDE_DEBUG === '1') console.error(error);
    if (isConfideError(error)) {
      const message = messageForCli(error.message, error.fields, {
        all: allFlags(program),
        command: commandFlags,
      });
      process.stderr.write(`confide: ${safeText(`${error.code}: ${message.split('\n')[0]}`)}\n`);
      return EXIT_CONFIDE_ERROR;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(
      `confide: internal error: ${safeText(message.split('\n')[0] ?? '')} (set CONFIDE_DEBUG=1 for details)\n`,
    );
    return EXIT_INTERNAL;
  }
}

process.exitCode = await main(process.argv);
