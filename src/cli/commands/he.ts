/**
 * `confide he …` and `confide demo`: flag parsing and printing around `confide/he`.
 *
 * @module
 */

import type { Command } from 'commander';

/** Registers the encrypted-inference commands on the program. */
export function registerHeCommands(program: Command): void {
  program.command('he').description('encrypted inference with CKKS');
}
