/**
 * The one set of flag-value parsers of the CLI: whole numbers, positive numbers, fractions (a
 * fraction flag accepts `0.1` and `10%` alike), byte sizes (`512MiB`), ports, choices and UTC times. Each is a
 * commander argParser that throws commander's `InvalidArgumentError`, so a bad value is a usage
 * error: commander names the flag and the value (`option '--port <n>' argument '-5' is invalid.
 * expected …`) and the CLI exits 2, before any work starts.
 *
 * Also here: the translation of library option names (`inputBound`, `options.featureNames`) in an
 * error's `fields` into the flag the user typed (`--input-bound`), so a hint read on the CLI names
 * a flag, not an API option.
 *
 * Deliberately not here: checks that need more than one flag or a file (the commands and the
 * library make those, with coded errors that exit 1).
 *
 * @module
 */

import { InvalidArgumentError } from 'commander';

/** A commander argParser: the raw value in, the parsed value out, `InvalidArgumentError` if bad. */
export type FlagParser<T> = (value: string) => T;

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Whole numbers from `min` to `max` (decimal digits only: no sign, exponent or fraction). */
export function integer(min: number, max: number): FlagParser<number> {
  return (value) => {
    const n = /^\d{1,16}$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
    if (!(Number.isSafeInteger(n) && n >= min && n <= max)) {
      throw new InvalidArgumentError(
        max >= Number.MAX_SAFE_INTEGER
          ? `expected a whole number ≥ ${min}`
          : `expected a whole number from ${min} to ${max}`,
      );
    }
    return n;
  };
}

/** A TCP port, 0 to 65535 (0: any free port). */
export const port: FlagParser<number> = (value) => {
  try {
    return integer(0, 65_535)(value);
  } catch {
    throw new InvalidArgumentError('expected a port from 0 to 65535 (0: any free port)');
  }
};

const DECIMAL = /^(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

/** A finite number greater than 0 (decimal, optionally with an exponent: `1`, `0.5`, `1e-6`). */
export const positive: FlagParser<number> = (value) => {
  const n = DECIMAL.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!(Number.isFinite(n) && n > 0)) throw new InvalidArgumentError('expected a positive number');
  return n;
};

/** How a fraction flag bounds its value. */
export interface FractionBounds {
  /** Whether 0 is allowed (default true). */
  readonly zero?: boolean;
  /** Whether 1 (100%) is allowed (default false). */
  readonly one?: boolean;
}

/**
 * Fractions within `bounds`, written `0.1` or `10%`: every fraction flag accepts both, and the
 * parsed value is always the fraction (`10%` → 0.1).
 */
export function fractionIn(bounds: FractionBounds = {}): FlagParser<number> {
  const zero = bounds.zero ?? true;
  const one = bounds.one ?? false;
  const range = `${zero ? '[' : '('}0, 1${one ? ']' : ')'}`;
  return (value) => {
    const text = value.trim();
    const isPercent = text.endsWith('%');
    const digits = isPercent ? text.slice(0, -1).trim() : text;
    const n = DECIMAL.test(digits) ? Number(digits) / (isPercent ? 100 : 1) : Number.NaN;
    const ok = Number.isFinite(n) && (zero ? n >= 0 : n > 0) && (one ? n <= 1 : n < 1);
    if (!ok) throw new InvalidArgumentError(`expected a fraction in ${range}, e.g. 0.1 or 10%`);
    return n;
  };
}

/** A fraction in [0, 1), written `0.1` or `10%`. */
export const fraction: FlagParser<number> = fractionIn();

/** A percentage is a fraction: the same parser, so `10%` and `0.1` mean the same everywhere. */
export const percent: FlagParser<number> = fraction;

/** A number of bytes, optionally with B, KiB, MiB or GiB, from `min` to `max` (default 1 to 4 GiB). */
export function size(min = 1, max = 4 * GiB): FlagParser<number> {
  return (value) => {
    const match = /^(\d{1,16})\s*(B|KiB|MiB|GiB)?$/.exec(value.trim());
    const factor = { B: 1, KiB, MiB, GiB }[match?.[2] ?? 'B'] ?? 1;
    const n = match === null ? Number.NaN : Number(match[1]) * factor;
    if (!(Number.isSafeInteger(n) && n >= min && n <= max)) {
      throw new InvalidArgumentError(
        `expected a number of bytes from ${formatBytes(min)} to ${formatBytes(max)} (e.g. 1048576 or 512MiB)`,
      );
    }
    return n;
  };
}

function formatBytes(n: number): string {
  for (const [unit, f] of [
    ['GiB', GiB],
    ['MiB', MiB],
    ['KiB', KiB],
  ] as const) {
    if (n >= f && n % f === 0) return `${n / f}${unit}`;
  }
  return String(n);
}

/** One of `choices`, exactly as written. */
export function oneOf<const T extends string>(choices: readonly T[]): FlagParser<T> {
  return (value) => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`expected one of ${choices.join(', ')}`);
    }
    return value as T;
  };
}

/** An RFC 3339 time in UTC (`2026-11-23T04:00:00Z`, optionally with fractional seconds). */
export const utcTime: FlagParser<string> = (value) => {
  const text = value.trim();
  const ok =
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/.test(text) &&
    Number.isFinite(Date.parse(text)) &&
    new Date(Date.parse(text)).toISOString().slice(0, 19) === text.slice(0, 19);
  if (!ok) throw new InvalidArgumentError('expected an RFC 3339 UTC time, e.g. 2026-11-23T04:00:00Z');
  return text;
};

/** Collects a repeatable flag's values, in order. */
export function collect(value: string, previous: readonly string[] = []): string[] {
  return [...previous, value];
}

/** `inputBound` → `--input-bound`. */
function flagOf(option: string): string {
  return `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** The flags a message may be translated to: all of the CLI's, and the running command's. */
export interface CliFlags {
  /** Every long flag of the CLI. */
  readonly all: ReadonlySet<string>;
  /** The long flags of the command that ran (empty when unknown). */
  readonly command: ReadonlySet<string>;
}

/**
 * The message of an error as the CLI should print it: every library option named in the error's
 * `fields` (`inputBound`, `options.featureNames[2]`) is replaced by its flag (`--input-bound`,
 * `--feature-names entry 3`). A compound name (`inputBound`) is translated when any command has
 * the flag (the hint may point at another command, as `he encrypt` points at `he keygen
 * --input-bound`); a one-word name (`clients`, `key`) only when the running command has it, since
 * another command's `--key` may mean something else. Options without a flag stay as they are.
 */
export function messageForCli(
  message: string,
  fields: readonly string[] | undefined,
  flags: CliFlags,
): string {
  let out = message;
  for (const field of fields ?? []) {
    const match = /^(?:options\.)?([a-z][A-Za-z0-9]*)(\[\d+\])?$/.exec(field);
    if (match === null) continue;
    const name = match[1] as string;
    const flag = flagOf(name);
    const known = /[A-Z]/.test(name) ? flags.all.has(flag) : flags.command.has(flag);
    if (!known) continue;
    const index = match[2] === undefined ? undefined : Number(match[2].slice(1, -1));
    const replacement = index === undefined ? flag : `${flag} entry ${index + 1}`;
    const escaped = field.replace(/[.[\]]/g, (c) => `\\${c}`);
    out = out.replace(new RegExp(`(?<![\\w.-])${escaped}(?![\\w])`, 'g'), replacement);
  }
  return out;
}

/** Says on stderr that `old` is deprecated and which flag replaces it (the old name still works). */
export function deprecated(old: string, replacement: string): void {
  process.stderr.write(
    `confide: warning: ${old} is deprecated and will be removed in the next minor version; use ${replacement}\n`,
  );
}
