/**
 * Flag parsers of the `confide smpc …` commands: whole numbers in a range, fractions that accept
 * a percentage alike (`0.1` and `10%`), positive numbers, and deprecated flag aliases that still
 * work but say on stderr which name replaces them. A bad value is a commander
 * `InvalidArgumentError`, which the CLI reports as a usage error (status 2) naming the flag.
 *
 * Deliberately local to the smpc commands: a CLI-wide flag module can replace it without changing
 * the grammar.
 *
 * @module
 */

import { InvalidArgumentError } from 'commander';

/** A whole number in [min, max]. */
export function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return Number(value);
  };
}

/** A fraction in [0, 1), written as a number (`0.1`) or a percentage (`10%`). */
export function fraction(value: string): number {
  const text = value.trim();
  const percent = text.endsWith('%');
  const body = percent ? text.slice(0, -1).trim() : text;
  const n = /^[0-9]*\.?[0-9]+(e[-+]?\d+)?$/i.test(body) ? Number(body) / (percent ? 100 : 1) : Number.NaN;
  if (!Number.isFinite(n) || n < 0 || n >= 1) {
    throw new InvalidArgumentError(
      'expected a fraction in [0, 1) or a percentage below 100%, e.g. 0.1 or 10%',
    );
  }
  return n;
}

/** A positive finite number. */
export function positive(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError('expected a positive number');
  return n;
}

/** Says once on stderr that `old` is deprecated and which flag replaces it. */
export function deprecated(old: string, replacement: string): void {
  process.stderr.write(
    `confide: warning: ${old} is deprecated and will be removed in the next minor version; use ${replacement}\n`,
  );
}
