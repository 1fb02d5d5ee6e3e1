/**
 * Progress of long `confide smpc` work on stderr: on a terminal one line redrawn in place
 * (phase, count, rate, time elapsed); otherwise — a log, a pipe, a CI job — one line per phase
 * and nothing per tick. `quiet` silences it. Never writes to stdout, so `--json` output stays
 * parseable.
 *
 * Deliberately minimal and local to the smpc commands, with the API a CLI-wide reporter can keep:
 * `createProgress({ label, total, stream, quiet })` → `{ tick(n), phase(name), done() }`.
 *
 * @module
 */

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Prefix of every line, e.g. `simulate`. */
  readonly label: string;
  /** Units of work per phase (e.g. clients), if known: ticks are counted against it. */
  readonly total?: number;
  /** Where to write (default `process.stderr`). */
  readonly stream?: NodeJS.WriteStream;
  /** Write nothing. */
  readonly quiet?: boolean;
}

/** A progress reporter. */
export interface Progress {
  /** `n` more units of the current phase are done (default 1). */
  tick(n?: number): void;
  /** A new phase starts (the previous one is over). */
  phase(name: string, total?: number): void;
  /** The work is over: ends a redrawn line; prints the total time. */
  done(summary?: string): void;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** A reporter on `stream` (stderr by default). */
export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  if (options.quiet === true) return { tick: () => {}, phase: () => {}, done: () => {} };
  const tty = stream.isTTY === true;
  const started = performance.now();
  let name = '';
  let total = options.total;
  let count = 0;
  let phaseStart = started;
  let lastDraw = 0;
  let open = false;
  const draw = (force: boolean): void => {
    const now = performance.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const rate = count / Math.max((now - phaseStart) / 1000, 1e-3);
    const of = total === undefined ? `${count}` : `${count}/${total}`;
    const eta =
      total !== undefined && count > 0 && count < total
        ? `, ~${seconds(((total - count) / rate) * 1000)} left`
        : '';
    stream.write(
      `\r\u001b[2K${options.label}: ${name} ${of} (${rate.toFixed(0)}/s${eta}), ${seconds(now - started)}`,
    );
    open = true;
  };
  return {
    tick(n = 1) {
      count += n;
      if (tty) draw(false);
    },
    phase(next, nextTotal) {
      name = next;
      total = nextTotal ?? options.total;
      count = 0;
      phaseStart = performance.now();
      if (tty) draw(true);
      else stream.write(`${options.label}: ${next} (${seconds(phaseStart - started)})\n`);
    },
    done(summary) {
      const line = `${options.label}: ${summary ?? 'done'} in ${seconds(performance.now() - started)}`;
      if (tty && open) stream.write(`\r\u001b[2K${line}\n`);
      else stream.write(`${line}\n`);
      open = false;
    },
  };
}
