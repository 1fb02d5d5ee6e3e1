/**
 * What every `confide provenance …` command group shares: bounded reads and atomic writes in the
 * `PROV` error namespace, repeatable flags, printing a verification report, flags kept under a
 * deprecated name, and the progress of commands that hash a model (`../../progress.ts`).
 *
 * @module
 */

import { type Command, Option } from 'commander';
import {
  formatVerificationReport,
  type HashProgressCallback,
  VerificationError,
  type VerificationErrorCode,
  type VerificationReport,
} from '../../../provenance/index.ts';
import { type InputKind, readJson as readFileJson, readText as readFileText, writeAtomic } from '../../io.ts';
import { createProgress, type Progress } from '../../progress.ts';

export { collect } from '../../flags.ts';

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

/** The progress of a command that hashes a model, on stderr; `--quiet` silences it. */
export interface ModelProgress {
  /** The work enters a new phase (`signing`, `verifying signature`). */
  phase(name: string): void;
  /** Pass as the library's `onProgress`: the phase `hashing N files (X MiB)`, then a bar by bytes. */
  readonly onProgress: HashProgressCallback;
  /** The work is finished. */
  done(): void;
}

const KIB = 1024;
const MIB = 1024 * KIB;

/**
 * Starts the progress of `label` (e.g. `provenance sign-model`). The reporter is created when the
 * library first reports the bytes to hash, so the bar knows its total (counted in KiB below
 * 10 MiB, else in MiB, so the terminal line stays short); phases named before that are shown
 * then, in order. `after` is the phase that follows hashing (sign-model: `signing`).
 */
export function startModelProgress(label: string, flags: { quiet?: boolean }, after?: string): ModelProgress {
  let progress: Progress | undefined;
  const pending: string[] = [];
  let units = 0; // the reporter's total, in KiB or MiB
  let reported = 0;
  let hashed = false;
  const start = (total?: number, unit?: string): Progress => {
    const p = createProgress({
      label,
      stream: process.stderr,
      quiet: flags.quiet === true,
      ...(total === undefined ? {} : { total }),
      ...(unit === undefined ? {} : { unit }),
    });
    for (const name of pending.splice(0)) p.phase(name);
    return p;
  };
  return {
    phase(name) {
      if (progress === undefined) pending.push(name);
      else progress.phase(name);
    },
    onProgress(bytesDone, bytesTotal, files) {
      if (progress === undefined) {
        const size = bytesTotal < 10 * MIB ? KIB : MIB;
        units = bytesTotal === 0 ? 0 : Math.max(1, Math.round(bytesTotal / size));
        progress = start(units, size === KIB ? 'KiB' : 'MiB');
        const mib = (bytesTotal / MIB).toFixed(bytesTotal < 10 * MIB ? 1 : 0);
        progress.phase(`hashing ${files} ${files === 1 ? 'file' : 'files'} (${mib} MiB)`);
      }
      // Whole units, in proportion, so the count ends exactly at the total.
      const target = bytesTotal === 0 ? 0 : Math.min(units, Math.floor((bytesDone / bytesTotal) * units));
      if (target > reported) {
        progress.tick(target - reported);
        reported = target;
      }
      if (!hashed && bytesDone >= bytesTotal) {
        hashed = true;
        if (after !== undefined) progress.phase(after);
      }
    },
    done() {
      progress ??= start();
      progress.done();
    },
  };
}
