/**
 * The options and events of the cluster coordinator (`coordinator.ts`) and their validation.
 *
 * Deliberately not here: the round options (`transport/round-types.ts`).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertInteger } from '../../internal/assert.ts';
import type { RedisHandle } from '../../redis/index.ts';
import type { RegisteredClient } from '../transport/connections.ts';
import type { AggregationEvent } from '../transport/round-types.ts';
import { checkKey } from './unmask-jobs.ts';

/** Options of {@link ClusterCoordinator.start}. */
export interface ClusterCoordinatorOptions {
  readonly redis: RedisHandle;
  readonly clients: readonly RegisteredClient[];
  readonly onEvent?: (event: CoordinatorEvent) => void;
  /** Leader lock lifetime (renewed every third); default 3 000 ms. */
  readonly lockTtlMs?: number;
  /** How often fronts' heartbeats are checked; default 1 000 ms. */
  readonly frontCheckMs?: number;
  /** Fan the unmask step out to `confide smpc worker` processes, in this many jobs per vector. */
  readonly unmaskJobs?: number;
  /** How long unmask jobs may take in all before the round aborts; default 120 000 ms. */
  readonly unmaskTimeoutMs?: number;
  readonly maxFrameBytes?: number;
  /**
   * The deployment key shared with the `smpc worker` processes (at least 32 random bytes): unmask
   * jobs and partials are authenticated with it (`unmask-jobs.ts`).
   */
  readonly clusterKey?: Uint8Array;
}

/** What a coordinator reports: the round events, and changes of leadership. */
export type CoordinatorEvent =
  | AggregationEvent
  | { readonly type: 'leader'; readonly value: string }
  | { readonly type: 'standby'; readonly why: 'taken' | 'unavailable' };

/**
 * Checks the options of `ClusterCoordinator.start` (the client list is checked by its registry).
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` naming the first invalid option.
 */
export function checkCoordinatorOptions(options: ClusterCoordinatorOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'options must be an object');
  }
  if (typeof options.redis?.key !== 'function') {
    throw new ConfideArgumentError('INVALID_ARGUMENT', 'redis must be a connected Redis handle');
  }
  if (options.lockTtlMs !== undefined) assertInteger(options.lockTtlMs, 'lockTtlMs', 100, 600_000);
  if (options.frontCheckMs !== undefined) assertInteger(options.frontCheckMs, 'frontCheckMs', 10, 600_000);
  if (options.unmaskJobs !== undefined) assertInteger(options.unmaskJobs, 'unmaskJobs', 1, 4096);
  if (options.unmaskTimeoutMs !== undefined)
    assertInteger(options.unmaskTimeoutMs, 'unmaskTimeoutMs', 1, 2 ** 31 - 1);
  if (options.maxFrameBytes !== undefined)
    assertInteger(options.maxFrameBytes, 'maxFrameBytes', 1024, 2 ** 30);
  checkKey(options.clusterKey);
}
