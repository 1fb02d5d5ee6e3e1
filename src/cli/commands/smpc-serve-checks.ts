/**
 * What `confide smpc serve` checks before it listens, and how it logs refused connections: its
 * flags taken together ({@link checkServePlan}: `--min-clients` against the client list, the
 * profile's feasibility for the registered clients, the round's estimated memory against
 * `--max-memory-mb`, and the frame size clients accept), and {@link refusalLog}, which keeps a
 * flood of strangers from flooding stderr. No logic the library lacks: the estimate, the planner
 * and the frame-fit rule are `confide/smpc`'s.
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import {
  assertRoundFits,
  type DpPlan,
  estimateRoundResources,
  formatBytes,
  type Profile,
  planDistributedDiscreteGaussian,
  SmpcError,
} from '../../smpc/index.ts';
import { DEFAULT_MAX_FRAME_BYTES, maxVectorLength, roundFrameBytes } from '../../smpc/protocol/index.ts';
import { planCohort } from '../../smpc/transport/cohort.ts';
import { encodeDp } from '../../smpc/transport/frames.ts';

/** The serve flags the plan depends on. */
/** The DP flags of `smpc serve` (in-process and `--redis --coordinator` alike). */
export interface DpFlags {
  readonly epsilon?: number | undefined;
  readonly delta?: number | undefined;
  readonly clip?: number | undefined;
  readonly valueBits?: number | undefined;
  readonly dpMinSurvivors?: number | undefined;
  readonly rounds: number;
  readonly vectorLength: number;
  readonly minClients: number;
  readonly ringBits: number;
}

/**
 * The distributed-DP plan the flags ask for (`undefined` without `--epsilon`/`--delta`): one rule
 * for the single-process server and the cluster's coordinator.
 */
export function dpPlanFromFlags(flags: DpFlags, registered: number): DpPlan | undefined {
  if (flags.epsilon === undefined && flags.delta === undefined) return undefined;
  if (flags.epsilon === undefined || flags.delta === undefined || flags.clip === undefined) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      '--epsilon needs --delta, --clip (the L2 bound) and --value-bits',
    );
  }
  return planDistributedDiscreteGaussian({
    epsilon: flags.epsilon,
    delta: flags.delta,
    rounds: flags.rounds,
    l2Clip: flags.clip,
    valueBits: flags.valueBits ?? 16,
    dimension: flags.vectorLength,
    expectedClients: registered,
    minSurvivors: flags.dpMinSurvivors ?? flags.minClients,
    ringBits: flags.ringBits,
  });
}

export interface ServePlanFlags {
  readonly minClients: number;
  readonly profile: Profile;
  readonly expectedDropout: number;
  readonly ringBits: number;
  readonly vectorLength: number;
  readonly maxMemoryMb: number;
}

/**
 * Refused connections as progress lines, at most one line a second: the first of a quiet spell at
 * once, the rest counted per code and summed up a second later, so a flood of strangers cannot
 * turn the server's stderr into its bottleneck.
 */
export function refusalLog(write: (line: string) => void): (code: string) => void {
  let last = Number.NEGATIVE_INFINITY;
  const counts = new Map<string, number>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = (): void => {
    timer = undefined;
    last = Date.now();
    for (const [code, n] of counts) write(`connection refused: ${code} (${n} more in the last second)\n`);
    counts.clear();
  };
  return (code) => {
    if (Date.now() - last >= 1_000 && counts.size === 0) {
      last = Date.now();
      write(`connection refused: ${code}\n`);
      return;
    }
    counts.set(code, (counts.get(code) ?? 0) + 1);
    if (timer === undefined) {
      timer = setTimeout(flush, Math.max(0, last + 1_000 - Date.now()));
      timer.unref();
    }
  };
}

/**
 * The serve flags checked together, before listening: whatever would make every round fail is
 * refused now, with the flag to change, instead of after the clients connected.
 */
export function checkServePlan(
  flags: ServePlanFlags,
  registered: number,
  payloadBytes: number,
  dp: DpPlan | undefined,
): void {
  if (flags.minClients > registered) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `--min-clients ${flags.minClients} exceeds the ${registered} clients in --clients: lower it or register more`,
    );
  }
  try {
    planCohort(registered, flags.profile, flags.expectedDropout, 0.05, flags.ringBits);
  } catch (e) {
    if (!(e instanceof SmpcError)) throw e;
    throw new SmpcError(
      e.code,
      `no round of the ${registered} registered clients can run as ${flags.profile}: ${e.message}; ` +
        'register more clients, lower --expected-dropout or choose another --profile',
    );
  }
  assertRoundFits(
    estimateRoundResources({ role: 'server', clients: registered, vectorLength: flags.vectorLength }),
    flags.maxMemoryMb * 1024 * 1024,
    {
      shrink: 'lower --vector-length or register fewer clients',
      raise: 'raise --max-memory-mb',
    },
  );
  const frame = roundFrameBytes(flags.vectorLength, payloadBytes, dp === undefined ? 0 : encodeDp(dp).length);
  if (frame > DEFAULT_MAX_FRAME_BYTES) {
    throw new SmpcError(
      'SMPC_PLAN_TOO_LARGE',
      `a round of ${flags.vectorLength} lanes${payloadBytes > 0 || dp !== undefined ? ' with this payload and plan' : ''} ` +
        `needs frames of ${formatBytes(frame)}; ` +
        `clients accept ${formatBytes(DEFAULT_MAX_FRAME_BYTES)}: lower --vector-length to at most ` +
        `${maxVectorLength(DEFAULT_MAX_FRAME_BYTES)} or shorten --payload`,
    );
  }
}
