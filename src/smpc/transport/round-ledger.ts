/**
 * What the aggregation server (`ws-server.ts`) remembers across rounds to decide whether a new one
 * may start: the round ids it used (with their `.retry<n>` sessions, `retry.ts`), and how many
 * rounds ran under each DP plan. Transport-agnostic.
 *
 * Deliberately not here: persistence (a restarted server retires only the id its store held) and
 * the round's own options (`round-types.ts`).
 *
 * @module
 */

import { ConfideArgumentError } from '../../errors.ts';
import { assertInteger } from '../../internal/assert.ts';
import type { DpPlan } from '../dp.ts';
import { SmpcError } from '../errors.ts';
import { MAX_ROUND_ID_LENGTH } from './frames.ts';
import { MAX_RETRIES, parseRetryRoundId, retryRoundId } from './retry.ts';

/**
 * Checks `maxRetries` (default 2) and that `roundId` leaves room for the retry suffix.
 *
 * @throws {ConfideArgumentError} `INVALID_ARGUMENT` for a bad `maxRetries`, or a `roundId` that
 *   ends in `.retry<n>` or is too long for its retries' ids.
 */
export function checkMaxRetries(roundId: string, maxRetries: unknown): number {
  const n = maxRetries === undefined ? 2 : assertInteger(maxRetries, 'maxRetries', 0, MAX_RETRIES);
  if (parseRetryRoundId(roundId).attempt !== 0) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      'roundId must not end in .retry<n>: that suffix names retry sessions',
      { fields: ['roundId'] },
    );
  }
  if (n > 0 && retryRoundId(roundId, n).length > MAX_ROUND_ID_LENGTH) {
    throw new ConfideArgumentError(
      'INVALID_ARGUMENT',
      `roundId leaves no room for the .retry<n> suffix: use at most ${MAX_ROUND_ID_LENGTH - 7} characters or maxRetries 0`,
      { fields: ['roundId'] },
    );
  }
  return n;
}

/** Round ids used, and rounds run under each DP plan object. */
export class RoundLedger {
  readonly #usedRoundIds = new Set<string>();
  readonly #dpPlanUses = new WeakMap<DpPlan, number>();

  /** Marks an id used (a round a previous server left in the store). */
  retire(roundId: string): void {
    this.#usedRoundIds.add(roundId);
  }

  /**
   * Claims `roundId` and its retry ids, and one round of `dp`'s budget.
   *
   * @throws {SmpcError} `SMPC_ROUND_CONFLICT` when one of the ids was used.
   * @throws {ConfideArgumentError} `INVALID_ARGUMENT` when `dp` already ran its `rounds`.
   */
  claim(roundId: string, maxRetries: number, dp: DpPlan | undefined): void {
    for (let a = 0; a <= maxRetries; a++) {
      if (this.#usedRoundIds.has(retryRoundId(roundId, a))) {
        throw new SmpcError('SMPC_ROUND_CONFLICT', `round id ${roundId} was used before: pick a new one`);
      }
    }
    if (dp !== undefined) {
      // A plan is calibrated for its number of rounds: running more under it would spend more than
      // its ε. Counted per plan object — planning again is the operator's deliberate new budget.
      const uses = this.#dpPlanUses.get(dp) ?? 0;
      if (uses >= dp.rounds) {
        throw new ConfideArgumentError(
          'INVALID_ARGUMENT',
          `this DP plan covers ${dp.rounds} round(s) and ran ${uses}: its privacy budget is spent; plan again`,
          { fields: ['dp'] },
        );
      }
      // One use per round, retries included: an aborted session released no sum (retry.ts).
      this.#dpPlanUses.set(dp, uses + 1);
    }
    for (let a = 0; a <= maxRetries; a++) this.#usedRoundIds.add(retryRoundId(roundId, a));
  }
}
