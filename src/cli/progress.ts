/**
 * Progress of long CLI work, on stderr (stdout stays for results). When the stream is a terminal:
 * one line redrawn in place with a bar, the count, the rate and the time left (at most ten redraws
 * a second). Otherwise (a pipe, a file, CI logs): one plain line per phase and one when done,
 * `confide: LABEL: PHASE`. `--quiet` (a global flag) silences both.
 *
 * Every command group uses this one reporter: `createProgress({ label, total, stream, quiet })`,
 * then `phase(name)` when the work changes kind, `tick(n)` as units finish, `done()` at the end.
 *
 * Deliberately not here: nested bars, spinners without a total, and colors.
 *
 * @module
 */

import { ConfideArgumentError } from '../errors.ts';

/** The part of a writable stream the reporter uses (`process.stderr` has it). */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** What is running, e.g. `he encrypt`; starts every line. */
  readonly label: string;
  /** Units of work in all (rows, batches, bytes), when known: enables the bar, rate and ETA. */
  readonly total?: number;
  /**
   * What one unit is called, singular (default `item`; `row` → `2 rows`, `batch` → `2 batches`;
   * an abbreviation such as `MiB` stays as it is).
   */
  readonly unit?: string;
  /** Where to write (normally `process.stderr`). */
  readonly stream: ProgressStream;
  /** Write nothing at all (`--quiet`). */
  readonly quiet?: boolean;
  /** Clock in milliseconds, for tests (default `performance.now`). */
  readonly now?: () => number;
}

/** A running progress report. */
export interface Progress {
  /** `n` more units finished (default 1). */
  tick(n?: number): void;
  /** The work enters a new phase (e.g. `generating keys`). */
  phase(name: string): void;
  /** The work is finished: the terminal line is completed; other streams get a closing line. */
  done(): void;
}

const NOOP: Progress = Object.freeze({ tick() {}, phase() {}, done() {} });
const REDRAW_MS = 100;
const BAR = 24;

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s - 60 * m)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function plural(unit: string): string {
  if (/[A-Z]/.test(unit)) return unit; // an abbreviation (`KiB`, `MiB`) has no plural
  return /(s|x|z|ch|sh)$/.test(unit) ? `${unit}es` : `${unit}s`;
}

function formatCount(count: number, unit: string): string {
  return `${count} ${count === 1 ? unit : plural(unit)}`;
}

function formatRate(perSecond: number, unit: string): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return `? ${plural(unit)}/s`;
  const shown = perSecond >= 100 ? Math.round(perSecond) : Number(perSecond.toPrecision(3));
  return `${shown} ${plural(unit)}/s`;
}

/**
 * Starts a progress report.
 *
 * @example
 * ```ts
 * const progress = createProgress({ label: 'he encrypt', total: rows.length, unit: 'row', stream: process.stderr, quiet: flags.quiet });
 * progress.phase('encrypting');
 * progress.tick(rows.length);
 * progress.done();
 * ```
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for an empty label, a negative or
 *   non-finite total, or a stream without `write`.
 */
export function createProgress(options: ProgressOptions): Progress {
  const { label, total, stream } = options;
  if (typeof label !== 'string' || label.trim() === '') {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'progress label must be a non-empty string');
  }
  if (total !== undefined && !(Number.isFinite(total) && total >= 0)) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'progress total must be a finite number ≥ 0');
  }
  if (typeof stream?.write !== 'function') {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'progress stream must have a write method');
  }
  if (options.quiet === true) return NOOP;
  const now = options.now ?? (() => performance.now());
  const unit = options.unit ?? 'item';
  const started = now();
  let count = 0;
  let current: string | undefined;
  let lastDraw = Number.NEGATIVE_INFINITY;
  let finished = false;

  if (stream.isTTY !== true) {
    return {
      tick(n = 1) {
        count += n;
      },
      phase(name) {
        if (finished || name === current) return;
        current = name;
        stream.write(`confide: ${label}: ${name}\n`);
      },
      done() {
        if (finished) return;
        finished = true;
        const seconds = (now() - started) / 1000;
        const what = total !== undefined || count > 0 ? `${formatCount(count, unit)} in ` : '';
        stream.write(`confide: ${label}: done, ${what}${formatSeconds(seconds)}\n`);
      },
    };
  }

  const draw = (force: boolean): void => {
    const t = now();
    if (!force && t - lastDraw < REDRAW_MS) return;
    lastDraw = t;
    const seconds = (t - started) / 1000;
    const rate = seconds > 0 ? count / seconds : Number.NaN;
    const parts = [`confide: ${label}${current === undefined ? '' : ` · ${current}`}`];
    if (total !== undefined && total > 0) {
      const fraction = Math.min(1, count / total);
      const filled = Math.round(fraction * BAR);
      parts.push(`[${'#'.repeat(filled)}${'-'.repeat(BAR - filled)}] ${Math.floor(fraction * 100)}%`);
      parts.push(`${count}/${formatCount(total, unit)}`, formatRate(rate, unit));
      if (count > 0 && count < total) parts.push(`ETA ${formatSeconds((total - count) / rate)}`);
    } else if (count > 0) {
      parts.push(formatCount(count, unit), formatRate(rate, unit));
    }
    parts.push(formatSeconds(seconds));
    let line = parts.join('  ');
    const width = (stream.columns ?? 0) >= 20 ? (stream.columns as number) : 80;
    if (line.length > width - 1) line = `${line.slice(0, Math.max(0, width - 2))}…`;
    stream.write(`\r\x1b[2K${line}`);
  };

  return {
    tick(n = 1) {
      if (finished) return;
      count += n;
      draw(total !== undefined && count >= total);
    },
    phase(name) {
      if (finished) return;
      current = name;
      draw(true);
    },
    done() {
      if (finished) return;
      draw(true);
      finished = true;
      stream.write('\n');
    },
  };
}
