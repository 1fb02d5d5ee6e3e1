/**
 * What a secure-aggregation round will cost, estimated from its plan before anything is
 * allocated: {@link estimateRoundResources} gives memory and time for a round simulated in one
 * process (`simulateRound`, `confide smpc simulate`) or for the server of a networked round
 * (`AggregationServer`, `confide smpc serve`), and {@link assertRoundFits} refuses a round whose
 * memory exceeds a cap with `SMPC_PLAN_TOO_LARGE`, the figure, the formula and what to change.
 * Pure functions; browser-safe.
 *
 * The coefficients are measured (peak RSS and wall time of `simulateRound` and of an
 * `AggregationServer` in its own process, Node 24 on x86-64, rounded up), so the figures are
 * upper estimates within about a factor of two, not bounds:
 * - simulation: every client lives in the process: 56 B per client per lane (float input,
 *   quantized input, masked vector, wire copy, server copy) and 32 KiB per client per neighbour
 *   (key agreement, Shamir shares and their envelopes, per-client state), plus 96 MiB; time about
 *   1 µs per client per lane and 1.2 ms per client per neighbour;
 * - server: 40 B per client per lane (the accepted masked vectors, the frames still queued, the
 *   stored state) plus 64 B per lane (the unmasking expansions), plus 96 MiB; time about 0.4 µs
 *   per client per lane of its own work.
 *
 * Deliberately not here: the clients' own memory in a networked round (each holds O(k · d)), and
 * network time.
 *
 * @module
 */

import { ConfideArgumentError } from '../errors.ts';
import { assertInteger, assertOneOf } from '../internal/assert.ts';
import { SmpcError } from './errors.ts';

/** Default memory cap of a round (`maxMemoryBytes`, `--max-memory-mb`): 4 GiB. */
export const DEFAULT_MAX_ROUND_MEMORY_BYTES: number = 4 * 1024 ** 3;

const MiB = 1024 ** 2;
const BASE_BYTES = 96 * MiB;

/** What a round is estimated for: all of it in one process, or the server of a networked round. */
export type EstimateRole = 'simulation' | 'server';

/** Input of {@link estimateRoundResources}. */
export interface RoundSize {
  readonly role: EstimateRole;
  /** Clients in the round (for a server: every client that may join). */
  readonly clients: number;
  readonly vectorLength: number;
  /** Neighbours per client (the plan's degree k); only the simulation depends on it. Default n − 1. */
  readonly degree?: number;
}

/** An estimate of a round's peak memory and time. */
export interface ResourceEstimate {
  readonly memoryBytes: number;
  readonly timeMs: number;
  /** How the memory figure was computed, with the round's numbers. */
  readonly formula: string;
}

/**
 * Estimates a round's peak memory and time from its size (see the module doc for the model).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for sizes that are not positive integers.
 * @example
 * ```ts
 * estimateRoundResources({ role: 'server', clients: 100, vectorLength: 1_000_000 }).memoryBytes; // ≈ 4.2 GB
 * ```
 */
export function estimateRoundResources(size: RoundSize): ResourceEstimate {
  if (typeof size !== 'object' || size === null) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'size must be an object');
  }
  const role = assertOneOf(size.role, 'role', ['simulation', 'server'] as const);
  const n = assertInteger(size.clients, 'clients', 1, 2 ** 32);
  const d = assertInteger(size.vectorLength, 'vectorLength', 1, 2 ** 32);
  const k = size.degree === undefined ? n - 1 : assertInteger(size.degree, 'degree', 0, n);
  if (role === 'simulation') {
    return {
      memoryBytes: 56 * n * d + 32 * 1024 * n * k + BASE_BYTES,
      timeMs: 1e-3 * n * d + 1.2 * n * k,
      formula: `${n} clients × ${d} lanes × 56 B + ${n} clients × ${k} neighbours × 32 KiB + 96 MiB`,
    };
  }
  return {
    memoryBytes: 40 * n * d + 64 * d + BASE_BYTES,
    timeMs: 4e-4 * n * d,
    formula: `${n} clients × ${d} lanes × 40 B + ${d} lanes × 64 B + 96 MiB`,
  };
}

/** What to tell the user to change, in their own words (flag or option names). */
export interface FitHints {
  /** How to make the round smaller, e.g. `lower --dim or --clients`. */
  readonly shrink: string;
  /** How to raise the cap, e.g. `raise --max-memory-mb`. */
  readonly raise: string;
}

/**
 * Refuses a round whose estimated memory exceeds `maxMemoryBytes`.
 *
 * @throws {SmpcError} `SMPC_PLAN_TOO_LARGE` with the figure, the formula, the time and the hints.
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a cap that is not a positive integer.
 */
export function assertRoundFits(estimate: ResourceEstimate, maxMemoryBytes: number, hints: FitHints): void {
  assertInteger(maxMemoryBytes, 'maxMemoryBytes', 1, Number.MAX_SAFE_INTEGER);
  if (estimate.memoryBytes <= maxMemoryBytes) return;
  throw new SmpcError(
    'SMPC_PLAN_TOO_LARGE',
    `this round needs ~${formatBytes(estimate.memoryBytes)} (${estimate.formula}) and ~${formatDuration(estimate.timeMs)}; ` +
      `the cap is ${formatBytes(maxMemoryBytes)}: ${hints.shrink}, or ${hints.raise}`,
  );
}

/** Bytes as `12.4 GiB`, `310 MiB` or `512 B`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${v >= 100 ? Math.round(v) : v.toFixed(1)} ${units[u]}`;
}

function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.max(1, Math.round(ms))} ms`;
  if (ms < 120_000) return `${(ms / 1_000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 172_800_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${Math.round(ms / 86_400_000)} days`;
}
