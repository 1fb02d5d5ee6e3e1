/**
 * What every `confide provenance …` command group shares: bounded reads and atomic writes in the
 * `PROV` error namespace, repeatable flags, printing a verification report, and flags kept under
 * a deprecated name.
 *
 * @module
 */

import { type Command, Option } from 'commander';
import {
  formatVerificationReport,
  VerificationError,
  type VerificationErrorCode,
  type VerificationReport,
} from '../../../provenance/index.ts';
import { type InputKind, readJson as readFileJson, readText as readFileText, writeAtomic } from '../../io.ts';

/** Commander's accumulator for repeatable flags. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A bounded read in this command group's namespace; `limit` is `--max-input-bytes`. */
export function readText(
  path: string,
  what: string,
  limit: number | undefined,
  kind: InputKind = 'json',
): Promise<string> {
  return readFileText(path, what, { scope: 'PROV', kind, maxBytes: limit });
}

export function readJson(path: string, what: string, limit: number | undefined): Promise<unknown> {
  return readFileJson(path, what, { scope: 'PROV', kind: 'json', maxBytes: limit });
}

/** Writes an output that earlier runs may have written: replaced atomically (not a secret). */
export function writeOut(path: string, data: string): Promise<void> {
  return writeAtomic(path, data, { scope: 'PROV', overwrite: true });
}

export function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Prints a verification report (human lines, or the JSON) and fails with its code when not valid. */
export function emitReport(
  report: VerificationReport,
  json: boolean,
  summary: string,
  extra: object = {},
): void {
  if (json) print(JSON.stringify({ ...report, ...extra }, null, 2));
  else {
    for (const line of formatVerificationReport(report)) print(line);
    if (report.valid) print(summary);
  }
  if (!report.valid) {
    const failed = report.checks.find((c) => !c.ok);
    throw new VerificationError(
      report.code as VerificationErrorCode,
      failed === undefined ? 'verification failed' : `${failed.name}: ${failed.detail}`,
    );
  }
}

/**
 * Adds a flag under its former name: hidden from `--help`, still accepted. Read it with
 * {@link fromDeprecated}.
 */
export function addDeprecatedOption(command: Command, flags: string, replacement: string): Command {
  return command.addOption(new Option(flags, `deprecated: use ${replacement}`).hideHelp());
}

/**
 * The value of a flag that may also be given under its deprecated name: the new one, or the old
 * one with a one-line notice on stderr. Both at once is a usage error.
 */
export function fromDeprecated<T>(
  command: Command,
  value: T | undefined,
  oldValue: T | undefined,
  flag: string,
  oldFlag: string,
): T | undefined {
  if (oldValue === undefined) return value;
  if (value !== undefined) command.error(`error: give ${flag}, not also its deprecated name ${oldFlag}`);
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  process.stderr.write(
    `confide: warning: ${oldFlag} is deprecated in '${names.join(' ')}'; use ${flag} (the old name goes in a future minor release)\n`,
  );
  return oldValue;
}
